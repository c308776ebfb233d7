//! [`ClientService`]: the handle users hold.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use torsion_reactor::{Deferred, ProtocolFactory, StreamClientEndpoint};

use super::builder::ClientServiceBuilder;
use super::driver::Driver;
use super::machine::Input;
use crate::service::{Service, ServiceState};

/// Keeps one connection to an endpoint alive, retrying with backoff, and
/// hands the connected protocol, as the user's own type, to whoever asks:
/// Twisted's `ClientService`.
///
/// * [`start_service`](Service::start_service) connects; after a failed
///   attempt or a lost connection it waits `retry_policy(failures in a row)`
///   on its clock (default: [`backoff_policy`](crate::backoff_policy)'s
///   1 s × 1.5ⁿ up to 60 s, plus up to 1 s of jitter) and tries again.
/// * [`when_connected`](ClientService::when_connected) gives the current
///   protocol, or the next one to connect; with `Some(n)` it fails with the
///   attempt's own failure after `n` failed attempts in a row.
/// * [`stop_service`](Service::stop_service) cancels the attempt or the
///   retry, or closes the connection, and fires once nothing is left;
///   waiters then fail with [`CancelledError`](torsion_reactor::error::CancelledError).
/// * `prepare_connection` runs on each new connection before it counts as
///   connected; its failure counts as a failed attempt.
///
/// The clock is any [`ReactorTime`](torsion_reactor::ReactorTime): the
/// reactor, or `testing::Clock`.
///
/// # The state machine
///
/// Seven states (Init, Connecting, Waiting, Connected, Disconnecting,
/// Restarting, Stopped) and seven inputs (start, stop, when_connected,
/// connection made, connection failed, reconnect, client disconnected),
/// with the transition table of Twisted 26 in one `match`
/// (`client_service/machine.rs`). The state switches before any action
/// runs; a target state's entry action runs before the transition's own.
/// An input arriving while another's actions run (a synchronous endpoint
/// connecting from inside `connect`, a waiter's callback calling
/// `stop_service`) is queued and handled right after, before the outer
/// call returns, in arrival order.
///
/// # Examples
///
/// ```
/// use std::{rc::Rc, time::Duration};
/// use torsion_application::{ClientService, Service};
/// use torsion_reactor::{Factory, ReactorTime};
/// use torsion_testing::{success_result_of, AccumulatingProtocol, Clock, FakeClientEndpoint};
///
/// let clock = Clock::new();
/// let endpoint = Rc::new(FakeClientEndpoint::new(false));
/// let service = ClientService::builder(endpoint.clone(), Factory::for_protocol(AccumulatingProtocol::new))
///     .clock(Rc::new(clock.clone()))
///     .build();
/// service.start_service();
///
/// let connected = service.when_connected(None);
/// endpoint.info().pop_connect().errback(torsion_reactor::Failure::msg("refused")); // attempt 1 fails
/// clock.advance(Duration::from_secs(100)); // the retry
/// endpoint.info().pop_connect().callback(()); // attempt 2 succeeds
/// let protocol = success_result_of(&connected); // Rc<RefCell<AccumulatingProtocol>>
/// assert!(protocol.borrow().made);
///
/// let stopped = service.stop_service();
/// endpoint.info().protocol(0).borrow_mut().connection_lost(torsion_reactor::Failure::msg("bye"));
/// success_result_of(&stopped);
/// assert!(clock.delayed_calls().is_empty());
/// ```
///
/// # Twisted
///
/// Where Twisted 26 leaves a hole, this does better:
///
/// * a `prepare_connection` failure closes the connection it was given
///   (Twisted leaves it open and orphaned);
/// * a connection lost while still preparing counts as a failed attempt
///   (Twisted raises `NoTransition` and can end up "connected" to a dead
///   connection);
/// * `when_connected` and `stop_service` may be called from inside a
///   `when_connected` callback (Twisted 26 fails them with `RuntimeError`);
///   they are queued like every re-entrant input;
/// * a waiter whose callbacks fail never stops the other waiters firing;
/// * `endpoint.connect` failing synchronously (even by panicking) is a
///   failed attempt, not an error out of `start_service`;
/// * events from an abandoned attempt are recognised by its id and ignored
///   instead of raising `NoTransition`;
/// * [`reset_backoff_after`](ClientServiceBuilder::reset_backoff_after),
///   opt-in, resets the failure count only for connections that stayed up.
///
/// `prepare_connection` receives the user's protocol (Twisted passes the
/// proxy, whose attributes reach the user's protocol; Rust has no attribute
/// forwarding). The retry log line gives the delay as a `Duration` and,
/// unlike Twisted's, the failure that caused the retry.
pub struct ClientService<F: ProtocolFactory> {
    pub(super) shared: Rc<Driver<F>>,
}

impl<F: ProtocolFactory> Clone for ClientService<F> {
    fn clone(&self) -> Self {
        ClientService {
            shared: self.shared.clone(),
        }
    }
}

impl<F: ProtocolFactory> ClientService<F> {
    /// Starts building a service connecting to `endpoint` with `factory`.
    pub fn builder(endpoint: Rc<dyn StreamClientEndpoint>, factory: F) -> ClientServiceBuilder<F> {
        ClientServiceBuilder::new(endpoint, factory)
    }

    /// The connected protocol: now if connected, else once the next
    /// connection is made (Twisted's `whenConnected`). With
    /// `fail_after_failures = Some(n)`, fails with the attempt's own failure
    /// once `n` attempts in a row have failed after this call (0 and 1 both
    /// mean the next failure). Fails with `CancelledError` when the service
    /// stops, or at once if it is stopped.
    pub fn when_connected(
        &self,
        fail_after_failures: Option<u32>,
    ) -> Deferred<Rc<RefCell<F::Protocol>>> {
        let waiter = Deferred::new();
        self.shared
            .feed(Input::WhenConnected(waiter.clone(), fail_after_failures));
        waiter
    }

    /// The user's factory.
    pub fn factory(&self) -> &F {
        &self.shared.factory
    }

    /// The name of the machine's current state (for logs and tests).
    pub fn state_name(&self) -> &'static str {
        self.shared.machine.borrow().state().name()
    }

    /// Failed attempts in a row so far.
    pub fn failed_attempts(&self) -> u32 {
        self.shared.machine.borrow().failed_attempts()
    }
}

impl<F: ProtocolFactory> Service for ClientService<F> {
    fn state(&self) -> &ServiceState {
        &self.shared.service
    }

    /// Starts connecting. A second start while running logs a warning
    /// (`Duplicate ClientService.start_service`) and does nothing.
    fn start_service(&self) {
        if self.shared.service.is_running() {
            log::warn!("Duplicate ClientService.start_service {self:?}");
            return;
        }
        self.shared.service.set_running(true);
        self.shared.feed(Input::Start);
    }

    /// Stops, even if never started; never fails.
    fn stop_service(&self) -> Deferred<()> {
        self.shared.service.set_running(false);
        let stopped = Deferred::new();
        self.shared.feed(Input::Stop(stopped.clone()));
        stopped
    }
}

impl<F: ProtocolFactory> fmt::Debug for ClientService<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientService")
            .field("endpoint", &self.shared.endpoint.describe())
            .field("factory", &self.shared.factory.describe())
            .field("service", &self.shared.service)
            .field("machine", &self.shared.machine.borrow())
            .finish()
    }
}
