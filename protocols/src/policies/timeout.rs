//! Idle timeouts: [`TimeoutMixin`] (Twisted's `policies.TimeoutMixin`) for
//! a protocol's own use, and [`TimeoutFactory`] (`TimeoutFactory`,
//! `TimeoutProtocol`) to put one on any factory's connections.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::{
    Address, DelayedCall, DynProtocolFactory, ReactorTime, ReactorTimeExt, Transport, TransportRef,
};

use super::wrapper::{Admission, Policy, PolicyHooks, WrappingFactory};

/// A protocol with its own reaction to an idle timeout (Twisted's
/// `TimeoutMixin.timeoutConnection` override).
pub trait TimeoutConnection: 'static {
    /// The connection was idle for the whole period.
    fn timeout_connection(&mut self);
}

/// What happens when the period runs out.
enum OnTimeout {
    /// Close this transport (Twisted's default `timeoutConnection`).
    Close(Weak<dyn Transport>),
    /// Call the bound protocol's `timeout_connection`.
    Call(Weak<RefCell<dyn TimeoutConnection>>),
    Nothing,
}

struct Inner {
    clock: Rc<dyn ReactorTime>,
    period: Cell<Option<Duration>>,
    call: RefCell<Option<DelayedCall>>,
    on_timeout: RefCell<OnTimeout>,
}

/// An idle timeout a protocol keeps as a field (Twisted's `TimeoutMixin`):
/// [`set_timeout`](TimeoutMixin::set_timeout) starts the countdown,
/// [`reset_timeout`](TimeoutMixin::reset_timeout) on traffic starts it
/// over, and when it runs out the transport given to
/// [`close_on_timeout`](TimeoutMixin::close_on_timeout) is closed, or the
/// protocol given to [`bind`](TimeoutMixin::bind) has its
/// [`TimeoutConnection::timeout_connection`] called.
///
/// It runs on the clock it is given, so a test drives it with
/// `torsion_testing::Clock`.
///
/// # Examples
///
/// A protocol that hangs up after 30 idle seconds:
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use torsion_protocols::policies::TimeoutMixin;
/// use torsion_reactor::{Protocol, ReactorTime, TransportRef};
///
/// struct Session {
///     timeout: TimeoutMixin,
/// }
///
/// impl Protocol for Session {
///     fn connection_made(&mut self, transport: TransportRef) {
///         self.timeout.close_on_timeout(&transport);
///         self.timeout.set_timeout(Some(Duration::from_secs(30)));
///     }
///     fn data_received(&mut self, _data: &[u8]) {
///         self.timeout.reset_timeout();
///     }
///     fn connection_lost(&mut self, _reason: torsion_reactor::Failure) {
///         self.timeout.set_timeout(None);
///     }
/// }
/// # fn new(clock: Rc<dyn ReactorTime>) -> Session {
/// #     Session { timeout: TimeoutMixin::new(clock) }
/// # }
/// # let _ = new;
/// ```
///
/// # Twisted
///
/// Twisted's mixin calls `self.timeoutConnection()`, and its default
/// closes `self.transport`. A Rust field cannot reach the protocol that
/// owns it, so the protocol says which to do: close a transport
/// ([`close_on_timeout`](TimeoutMixin::close_on_timeout), the default) or
/// call its own hook ([`bind`](TimeoutMixin::bind), e.g. from the
/// factory's `protocol_built`). Periods are `Duration`s; Twisted's
/// `timeOut` attribute is [`timeout`](TimeoutMixin::timeout).
pub struct TimeoutMixin {
    inner: Rc<Inner>,
}

impl TimeoutMixin {
    /// No timeout yet, on `clock`.
    pub fn new(clock: Rc<dyn ReactorTime>) -> TimeoutMixin {
        TimeoutMixin {
            inner: Rc::new(Inner {
                clock,
                period: Cell::new(None),
                call: RefCell::new(None),
                on_timeout: RefCell::new(OnTimeout::Nothing),
            }),
        }
    }

    /// On timeout, close `transport` (held weakly).
    pub fn close_on_timeout(&self, transport: &TransportRef) {
        *self.inner.on_timeout.borrow_mut() = OnTimeout::Close(Rc::downgrade(transport));
    }

    /// On timeout, call `protocol`'s
    /// [`timeout_connection`](TimeoutConnection::timeout_connection)
    /// (held weakly). If the protocol is busy in one of its own methods at
    /// that moment, the call is retried on the clock's next turn.
    pub fn bind<P: TimeoutConnection>(&self, protocol: &Rc<RefCell<P>>) {
        let protocol: Rc<RefCell<dyn TimeoutConnection>> = protocol.clone();
        *self.inner.on_timeout.borrow_mut() = OnTimeout::Call(Rc::downgrade(&protocol));
    }

    /// The current period (Twisted's `timeOut`).
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.period.get()
    }

    /// Whether a countdown is running.
    pub fn is_pending(&self) -> bool {
        self.inner
            .call
            .borrow()
            .as_ref()
            .is_some_and(DelayedCall::active)
    }

    /// Starts the countdown over, if one is running (Twisted's `resetTimeout`).
    pub fn reset_timeout(&self) {
        let call = self.inner.call.borrow().clone();
        if let (Some(call), Some(period)) = (call, self.inner.period.get()) {
            let _ = call.reset(period);
        }
    }

    /// Changes the period: `None` cancels the countdown, `Some` starts it
    /// (or restarts it with the new period). Returns the previous period
    /// (Twisted's `setTimeout`).
    pub fn set_timeout(&self, period: Option<Duration>) -> Option<Duration> {
        let previous = self.inner.period.replace(period);
        let call = self.inner.call.borrow().clone();
        match (call, period) {
            (Some(call), None) => {
                // Already run or cancelled elsewhere: nothing to undo.
                let _ = call.cancel();
                self.inner.call.borrow_mut().take();
            }
            (Some(call), Some(period)) if call.active() => {
                let _ = call.reset(period);
            }
            (_, Some(period)) => {
                let weak = Rc::downgrade(&self.inner);
                let call = self
                    .inner
                    .clock
                    .call_later(period, move || timed_out(&weak));
                *self.inner.call.borrow_mut() = Some(call);
            }
            (None, None) => {}
        }
        previous
    }
}

/// Twisted's `__timedOut`.
fn timed_out(inner: &Weak<Inner>) {
    let Some(inner) = inner.upgrade() else { return };
    inner.call.borrow_mut().take();
    let action = match &*inner.on_timeout.borrow() {
        OnTimeout::Close(transport) => OnTimeout::Close(transport.clone()),
        OnTimeout::Call(protocol) => OnTimeout::Call(protocol.clone()),
        OnTimeout::Nothing => OnTimeout::Nothing,
    };
    match action {
        OnTimeout::Close(transport) => {
            if let Some(transport) = transport.upgrade() {
                transport.lose_connection();
            }
        }
        OnTimeout::Call(protocol) => {
            let Some(protocol) = protocol.upgrade() else {
                return;
            };
            let Ok(mut target) = protocol.try_borrow_mut() else {
                // Busy in one of its own methods: try again next turn.
                let weak = Rc::downgrade(&protocol);
                inner.clock.call_later(Duration::ZERO, move || {
                    if let Some(protocol) = weak.upgrade() {
                        protocol.borrow_mut().timeout_connection();
                    }
                });
                return;
            };
            target.timeout_connection();
        }
        OnTimeout::Nothing => {
            log::warn!("idle timeout ran out, but nothing to close was given")
        }
    }
}

impl fmt::Debug for TimeoutMixin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutMixin")
            .field("timeout", &self.timeout())
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// The policy of a [`TimeoutFactory`]: a [`TimeoutHooks`] per connection.
pub struct TimeoutPolicy {
    clock: Rc<dyn ReactorTime>,
    period: Option<Duration>,
}

impl Policy for TimeoutPolicy {
    type Hooks = TimeoutHooks;

    fn admit(&self, _addr: &Address) -> Admission<TimeoutHooks> {
        let hooks = TimeoutHooks {
            timeout: TimeoutMixin::new(self.clock.clone()),
        };
        // Twisted's TimeoutProtocol starts counting when it is built.
        hooks.set_timeout(self.period);
        Admission::Wrap(hooks)
    }

    fn name(&self) -> &'static str {
        "TimeoutFactory"
    }
}

impl fmt::Debug for TimeoutPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutPolicy")
            .field("period", &self.period)
            .finish()
    }
}

/// One connection's idle timeout under a [`TimeoutFactory`] (Twisted's
/// `TimeoutProtocol`): reads and writes restart the countdown; when it
/// runs out the connection is closed.
pub struct TimeoutHooks {
    timeout: TimeoutMixin,
}

impl TimeoutHooks {
    /// Cancels any countdown, then starts one of `period` (`None`: none).
    pub fn set_timeout(&self, period: Option<Duration>) {
        self.cancel_timeout();
        self.timeout.set_timeout(period);
    }

    /// Cancels the countdown; does nothing if none runs (Twisted's
    /// `cancelTimeout`, which tolerates one already run or cancelled).
    pub fn cancel_timeout(&self) {
        self.timeout.set_timeout(None);
    }

    /// Starts the countdown over (Twisted's `resetTimeout`).
    pub fn reset_timeout(&self) {
        self.timeout.reset_timeout();
    }

    /// The period, while a countdown is set.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.timeout()
    }

    /// Whether a countdown is running (Twisted's `timeoutCall` is set).
    pub fn is_pending(&self) -> bool {
        self.timeout.is_pending()
    }
}

impl PolicyHooks for TimeoutHooks {
    fn connection_made(&self, transport: &TransportRef) {
        self.timeout.close_on_timeout(transport);
    }

    fn data_received(&self, _data: &[u8]) {
        self.reset_timeout();
    }

    fn write(&self, _data: &[u8]) {
        self.reset_timeout();
    }

    fn write_sequence(&self, _data: &[&[u8]]) {
        self.reset_timeout();
    }

    fn connection_lost(&self, _reason: &torsion_reactor::Failure) {
        self.cancel_timeout();
    }
}

impl fmt::Debug for TimeoutHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutHooks")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Closes any connection of the wrapped factory that is idle (nothing read,
/// nothing written) for the period (Twisted's `policies.TimeoutFactory`).
///
/// # Examples
///
/// ```
/// use std::{rc::Rc, time::Duration};
/// use torsion_protocols::policies::TimeoutFactory;
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory, Timers};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let clock = Rc::new(Timers::manual());
/// let factory = TimeoutFactory::new(
///     Rc::new(Factory::for_protocol(|| Quiet)),
///     clock.clone(),
///     Some(Duration::from_secs(30)),
/// );
/// let protocol = factory.build_protocol(&Address::Unix(None));
/// assert!(protocol.is_some_and(|p| p.hooks().is_pending()));
/// ```
pub type TimeoutFactory = WrappingFactory<TimeoutPolicy>;

impl WrappingFactory<TimeoutPolicy> {
    /// Wraps `wrapped`, closing connections idle for `period` on `clock`
    /// (`None`: count nothing until [`TimeoutHooks::set_timeout`]).
    /// Twisted's default period is 30 minutes.
    pub fn new(
        wrapped: Rc<dyn DynProtocolFactory>,
        clock: Rc<dyn ReactorTime>,
        period: Option<Duration>,
    ) -> TimeoutFactory {
        WrappingFactory::with_policy(wrapped, TimeoutPolicy { clock, period })
    }
}
