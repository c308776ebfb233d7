//! [`MemoryReactorClock`]: a [`MemoryReactor`] with a [`Clock`].

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{CannotListenError, ReactorError};
use torsion_reactor::{
    Connector, DelayedCall, DynProtocolFactory, ListeningPort, Phase, ReactorCore,
    ReactorFromThreads, ReactorTcp, ReactorTime, ReactorUnix, ThreadHandle, Trigger, TriggerId,
};

use super::MemoryReactor;
use crate::Clock;

/// A [`MemoryReactor`] that also keeps time with a [`Clock`] (Twisted's
/// `MemoryReactorClock`).
///
/// It implements every trait both implement, so code that needs TCP and
/// time (a client with a connect timeout, a reconnecting service) takes one
/// object. The recording accessors of [`MemoryReactor`] are reached through
/// `Deref` (`reactor.tcp_clients()`); the clock through
/// [`clock`](MemoryReactorClock::clock), or the shortcuts
/// [`advance`](MemoryReactorClock::advance) and [`pump`](MemoryReactorClock::pump).
/// Clones share one reactor and one clock.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use torsion_reactor::{ReactorCore, ReactorTimeExt};
/// use torsion_testing::MemoryReactorClock;
///
/// let reactor = MemoryReactorClock::new();
/// let fired = Rc::new(Cell::new(false));
/// let flag = fired.clone();
/// reactor.call_when_running(Box::new(move || {
///     log::info!("started");
/// }));
/// reactor.call_later(Duration::from_secs(10), move || flag.set(true));
/// assert_eq!(reactor.when_running_hooks(), 1); // MemoryReactor's, via Deref
/// reactor.advance(Duration::from_secs(10));
/// assert!(fired.get());
/// ```
///
/// # Twisted
///
/// Twisted gets this type by multiple inheritance; here it is composition,
/// with `Deref` to the reactor and trait impls forwarding to each half.
/// As in Twisted, `run` does not advance the clock.
#[derive(Debug, Clone, Default)]
pub struct MemoryReactorClock {
    reactor: MemoryReactor,
    clock: Clock,
}

impl MemoryReactorClock {
    /// A reactor that has not run, with its clock at zero.
    pub fn new() -> MemoryReactorClock {
        MemoryReactorClock::default()
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The reactor half (what `Deref` gives).
    pub fn reactor(&self) -> &MemoryReactor {
        &self.reactor
    }

    /// [`Clock::advance`]: moves time forward by `amount` and runs every call
    /// then due.
    ///
    /// # Panics
    ///
    /// Propagates a panic from a call it runs.
    pub fn advance(&self, amount: Duration) {
        self.clock.advance(amount);
    }

    /// [`Clock::pump`]: advances by each amount in turn.
    ///
    /// # Panics
    ///
    /// Propagates a panic from a call it runs.
    pub fn pump(&self, timings: &[Duration]) {
        self.clock.pump(timings);
    }
}

impl Deref for MemoryReactorClock {
    type Target = MemoryReactor;

    fn deref(&self) -> &MemoryReactor {
        &self.reactor
    }
}

impl ReactorTime for MemoryReactorClock {
    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        self.clock.call_later_boxed(delay, call)
    }

    fn delayed_calls(&self) -> Vec<DelayedCall> {
        self.clock.delayed_calls()
    }
}

impl ReactorCore for MemoryReactorClock {
    fn is_running(&self) -> bool {
        self.reactor.is_running()
    }

    fn run(&self) -> Result<(), ReactorError> {
        self.reactor.run()
    }

    fn stop(&self) -> Result<(), ReactorError> {
        self.reactor.stop()
    }

    fn crash(&self) {
        self.reactor.crash()
    }

    fn call_when_running(&self, call: Box<dyn FnOnce()>) -> Option<TriggerId> {
        self.reactor.call_when_running(call)
    }

    fn add_system_event_trigger(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        self.reactor.add_system_event_trigger(phase, event, trigger)
    }

    fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        self.reactor.remove_system_event_trigger(id)
    }

    fn fire_system_event(&self, event: &str) {
        self.reactor.fire_system_event(event)
    }
}

impl ReactorTcp for MemoryReactorClock {
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        self.reactor.listen_tcp(port, factory, backlog, interface)
    }

    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        self.reactor
            .connect_tcp(host, port, factory, timeout, bind_address)
    }
}

impl ReactorUnix for MemoryReactorClock {
    fn listen_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        self.reactor.listen_unix(path, factory, backlog, mode)
    }

    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<dyn Connector> {
        self.reactor.connect_unix(path, factory, timeout)
    }
}

impl ReactorFromThreads for MemoryReactorClock {
    fn thread_handle(&self) -> ThreadHandle {
        self.reactor.thread_handle()
    }
}
