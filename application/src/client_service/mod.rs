//! [`ClientService`]: keep one client connection alive (Twisted's
//! `twisted.application.internet.ClientService`).

mod machine;
mod proxy;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::error::{NoProtocol, PanicError};
use torsion_reactor::{
    maybe_deferred, Deferred, Failure, IntoOutcome, Outcome, ProtocolFactory, ProtocolRef,
    ReactorTime, ReactorTimeExt, StreamClientEndpoint,
};

use self::machine::{Action, Input, Machine, State};
use self::proxy::{Connection, DisconnectFactory, LostNotify};
use crate::backoff::{default_retry_policy, RetryPolicy};
use crate::service::{Service, ServiceState};

type Prepare<P> = Rc<dyn Fn(&Rc<RefCell<P>>) -> Deferred<()>>;

struct Shared<F: ProtocolFactory> {
    service: ServiceState,
    endpoint: Rc<dyn StreamClientEndpoint>,
    factory: Rc<F>,
    retry_policy: RetryPolicy,
    clock: Rc<dyn ReactorTime>,
    prepare: Option<Prepare<F::Protocol>>,
    machine: RefCell<Machine<F::Protocol>>,
    /// Inputs that arrived while another input's actions were running.
    inbox: RefCell<VecDeque<Input<F::Protocol>>>,
    busy: Cell<bool>,
    me: Weak<Shared<F>>,
}

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
/// The clock is any [`ReactorTime`]: the reactor, or `testing::Clock`.
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
///
/// The clock is required, and the compiler says so: `build` exists only
/// once [`clock`](ClientServiceBuilder::clock) was called (the builder's
/// second type parameter goes from [`NeedsClock`] to the clock), rather
/// than a panic at run time. There is no sensible default: the builder
/// knows no reactor, and a hidden global one is what Torsion avoids.
pub struct ClientService<F: ProtocolFactory> {
    shared: Rc<Shared<F>>,
}

impl<F: ProtocolFactory> Clone for ClientService<F> {
    fn clone(&self) -> Self {
        ClientService {
            shared: self.shared.clone(),
        }
    }
}

/// The state of a [`ClientServiceBuilder`] not given a clock yet: it has no
/// `build` (issue 20: a missing clock is a compile error, not a panic).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeedsClock;

/// Builds a [`ClientService`]; `C` is [`NeedsClock`] until
/// [`clock`](ClientServiceBuilder::clock) is called, and only then is there
/// a [`build`](ClientServiceBuilder::build).
///
/// ```compile_fail
/// use std::rc::Rc;
/// use torsion_application::ClientService;
/// use torsion_reactor::Factory;
/// use torsion_testing::{AccumulatingProtocol, FakeClientEndpoint};
///
/// let endpoint = Rc::new(FakeClientEndpoint::new(false));
/// // No clock: `build` does not exist.
/// let _ = ClientService::builder(endpoint, Factory::for_protocol(AccumulatingProtocol::new)).build();
/// ```
pub struct ClientServiceBuilder<F: ProtocolFactory, C = NeedsClock> {
    endpoint: Rc<dyn StreamClientEndpoint>,
    factory: F,
    retry_policy: Option<RetryPolicy>,
    clock: C,
    prepare: Option<Prepare<F::Protocol>>,
    reset_backoff_after: Option<Duration>,
    name: Option<String>,
}

impl<F: ProtocolFactory, C> ClientServiceBuilder<F, C> {
    /// The delay before each retry, given the failures in a row (1 for the
    /// first retry). Default: Twisted's `backoffPolicy()`.
    pub fn retry_policy(mut self, policy: impl Fn(u32) -> Duration + 'static) -> Self {
        self.retry_policy = Some(Rc::new(policy));
        self
    }

    /// The clock retries are scheduled on (required: without it there is
    /// no `build`).
    pub fn clock(self, clock: Rc<dyn ReactorTime>) -> ClientServiceBuilder<F, Rc<dyn ReactorTime>> {
        ClientServiceBuilder {
            endpoint: self.endpoint,
            factory: self.factory,
            retry_policy: self.retry_policy,
            clock,
            prepare: self.prepare,
            reset_backoff_after: self.reset_backoff_after,
            name: self.name,
        }
    }

    /// Runs `prepare` on each new connection before `when_connected` waiters
    /// hear of it. It may return `Result<T, Failure>` or a `Deferred<T>`
    /// (the value is ignored); a failure, or a panic, counts as a failed
    /// attempt and closes the connection.
    pub fn prepare_connection<R: IntoOutcome>(
        mut self,
        prepare: impl Fn(&Rc<RefCell<F::Protocol>>) -> R + 'static,
    ) -> Self {
        let prepare = Rc::new(prepare);
        self.prepare = Some(Rc::new(move |protocol: &Rc<RefCell<F::Protocol>>| {
            let (prepare, protocol) = (prepare.clone(), protocol.clone());
            maybe_deferred(move || prepare(&protocol)).add_callback(|_| Ok(()))
        }));
        self
    }

    /// Only reset the failure count once a connection has stayed up for
    /// `after`; a peer that accepts and drops at once then meets a growing
    /// delay instead of a reconnect storm. Default (Twisted): reset on every
    /// successful connection.
    pub fn reset_backoff_after(mut self, after: Duration) -> Self {
        self.reset_backoff_after = Some(after);
        self
    }

    /// The service's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<F: ProtocolFactory> ClientServiceBuilder<F, Rc<dyn ReactorTime>> {
    /// Builds the (stopped) service.
    pub fn build(self) -> ClientService<F> {
        let clock = self.clock;
        let service = match self.name {
            Some(name) => ServiceState::named(name),
            None => ServiceState::new(),
        };
        let shared = Rc::new_cyclic(|me| Shared {
            service,
            endpoint: self.endpoint,
            factory: Rc::new(self.factory),
            retry_policy: self.retry_policy.unwrap_or_else(default_retry_policy),
            clock,
            prepare: self.prepare,
            machine: RefCell::new(Machine::new(self.reset_backoff_after)),
            inbox: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            me: me.clone(),
        });
        ClientService { shared }
    }
}

impl<F: ProtocolFactory> ClientService<F> {
    /// Starts building a service connecting to `endpoint` with `factory`.
    pub fn builder(endpoint: Rc<dyn StreamClientEndpoint>, factory: F) -> ClientServiceBuilder<F> {
        ClientServiceBuilder {
            endpoint,
            factory,
            retry_policy: None,
            clock: NeedsClock,
            prepare: None,
            reset_backoff_after: None,
            name: None,
        }
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
        self.shared.machine.borrow().state.name()
    }

    /// Failed attempts in a row so far.
    pub fn failed_attempts(&self) -> u32 {
        self.shared.machine.borrow().failed_attempts
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

impl<F: ProtocolFactory> Shared<F> {
    /// Handles `input`, or queues it if another input is being handled.
    fn feed(&self, input: Input<F::Protocol>) {
        self.inbox.borrow_mut().push_back(input);
        if self.busy.replace(true) {
            return;
        }
        loop {
            let next = self.inbox.borrow_mut().pop_front();
            let Some(input) = next else { break };
            let now = self.clock.now();
            let actions = self.machine.borrow_mut().transition(input, now);
            for action in actions {
                self.perform(action);
            }
        }
        self.busy.set(false);
    }

    /// Carries out one action, with no borrow held across user code.
    fn perform(&self, action: Action<F::Protocol>) {
        match action {
            Action::AttemptConnection(id) => {
                let attempt = self.attempt_connection(id);
                if let State::Connecting { attempt: slot } = &mut self.machine.borrow_mut().state {
                    *slot = Some(attempt);
                }
            }
            Action::WaitForRetry(reason) => {
                let failures = {
                    let mut machine = self.machine.borrow_mut();
                    machine.failed_attempts = machine.failed_attempts.saturating_add(1);
                    machine.failed_attempts
                };
                let delay = (self.retry_policy)(failures);
                // Issue 20: say why, once per attempt, at info.
                log::info!(
                    "Scheduling retry {failures} to connect {} in {delay:?} ({reason}).",
                    self.endpoint.describe()
                );
                let me = self.me.clone();
                let retry = self.clock.call_later(delay, move || {
                    if let Some(shared) = me.upgrade() {
                        shared.feed(Input::Reconnect);
                    }
                });
                if let State::Waiting { retry: slot } = &mut self.machine.borrow_mut().state {
                    *slot = Some(retry);
                }
            }
            Action::Notify(waiters, protocol) => {
                for waiter in waiters {
                    // A waiter the user already fired or cancelled is skipped.
                    let _ = waiter.try_callback(protocol.clone());
                }
            }
            Action::Fail(waiters, failure) => {
                for waiter in waiters {
                    let _ = waiter.try_errback(failure.clone());
                }
            }
            Action::FinishStopping(waiters) => {
                for waiter in waiters {
                    let _ = waiter.try_callback(());
                }
            }
            Action::CancelAttempt(attempt) => attempt.cancel(),
            Action::CancelRetry(retry) => {
                let _ = retry.cancel();
            }
            Action::LoseConnection(connection) => connection.lose(),
            Action::Ignore(state, input) => {
                log::debug!("ClientService: {input} ignored in state {state} (stale or no effect)");
            }
        }
    }

    /// Twisted's `_connect`: one attempt, through a fresh wrapping factory;
    /// its outcome comes back as `ConnectionMade` or `ConnectionFailed`.
    fn attempt_connection(&self, id: u64) -> Deferred<()> {
        let me = self.me.clone();
        let on_lost: LostNotify = Rc::new(move |id, reason| {
            if let Some(shared) = me.upgrade() {
                shared.feed(Input::ClientDisconnected(id, reason));
            }
        });
        let factory = Rc::new(DisconnectFactory::new(self.factory.clone(), id, on_lost));
        let endpoint = self.endpoint.clone();
        let for_endpoint = factory.clone();
        let connected = catch_unwind(AssertUnwindSafe(|| endpoint.connect_dyn(for_endpoint)))
            .unwrap_or_else(|payload| Deferred::failed(PanicError::from_payload(payload.as_ref())));
        let prepare = self.prepare.clone();
        let me = self.me.clone();
        connected
            .add_callback(move |protocol: ProtocolRef| {
                let Some(connection) = factory.connection_of(&protocol) else {
                    return Outcome::Ready(Err(Failure::new(NoProtocol)));
                };
                match prepare {
                    None => Outcome::Ready(Ok(connection)),
                    Some(prepare) => Outcome::Wait(prepare_connection(&prepare, connection)),
                }
            })
            .add_both(
                move |result: Result<Rc<Connection<F::Protocol>>, Failure>| {
                    if let Some(shared) = me.upgrade() {
                        shared.feed(match result {
                            Ok(connection) => Input::ConnectionMade(id, connection),
                            Err(failure) => Input::ConnectionFailed(id, failure),
                        });
                    }
                    Ok(())
                },
            )
    }
}

/// Runs `prepare` on the connection's protocol; on failure (or
/// cancellation) closes the connection before passing the failure on.
fn prepare_connection<P: 'static>(
    prepare: &Prepare<P>,
    connection: Rc<Connection<P>>,
) -> Deferred<Rc<Connection<P>>> {
    prepare(&connection.protocol).add_both(move |result| match result {
        Ok(()) => Ok(connection),
        Err(failure) => {
            connection.lose();
            Err(failure)
        }
    })
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

impl<F: ProtocolFactory, C> fmt::Debug for ClientServiceBuilder<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientServiceBuilder")
            .field("endpoint", &self.endpoint.describe())
            .field("factory", &self.factory.describe())
            .finish()
    }
}
