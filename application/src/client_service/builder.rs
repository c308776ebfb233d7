//! [`ClientServiceBuilder`]: how a [`ClientService`] is configured.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::{
    maybe_deferred, IntoOutcome, ProtocolFactory, ReactorTime, StreamClientEndpoint,
};

use super::driver::{Driver, Prepare};
use super::handle::ClientService;
use super::machine::Machine;
use crate::backoff::{default_retry_policy, RetryPolicy};
use crate::service::ServiceState;

/// The state of a [`ClientServiceBuilder`] not given a clock yet: it has no
/// `build`, so a missing clock is a compile error rather than a panic.
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

impl<F: ProtocolFactory> ClientServiceBuilder<F> {
    pub(super) fn new(endpoint: Rc<dyn StreamClientEndpoint>, factory: F) -> Self {
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
        let shared = Driver::new(
            service,
            self.endpoint,
            Rc::new(self.factory),
            self.retry_policy.unwrap_or_else(default_retry_policy),
            clock,
            self.prepare,
            Machine::new(self.reset_backoff_after),
        );
        ClientService { shared }
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
