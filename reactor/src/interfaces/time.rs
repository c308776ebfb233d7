//! [`ReactorTime`]: Twisted's `IReactorTime`.

use std::rc::Rc;
use std::time::Duration;

use crate::DelayedCall;

/// Scheduling calls in time: Twisted's `IReactorTime`.
///
/// Implemented by the mio reactor, by `testing::Clock`, and by
/// [`Timers`](crate::Timers), which both of them wrap. Code that only needs
/// time (a retry delay, a timeout) takes `&dyn ReactorTime` or
/// `Rc<dyn ReactorTime>`, so a test can hand it a fake clock.
///
/// The trait is object safe; [`ReactorTimeExt::call_later`] adds the generic
/// convenience on top.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use torsion_reactor::{ReactorTime, ReactorTimeExt, Timers};
///
/// fn remind(time: &dyn ReactorTime, said: Rc<Cell<u32>>) {
///     time.call_later(Duration::from_secs(5), move || said.set(said.get() + 1));
/// }
///
/// let timers = Timers::manual();
/// let said = Rc::new(Cell::new(0));
/// remind(&timers, said.clone());
/// assert_eq!(timers.delayed_calls().len(), 1);
/// timers.set_now(Duration::from_secs(5));
/// timers.run_until_idle();
/// assert_eq!(said.get(), 1);
/// ```
///
/// # Implementing
///
/// Wrap a [`Timers`](crate::Timers) and forward; that is what keeps every
/// clock's ordering rules identical.
///
/// ```
/// use std::time::Duration;
/// use torsion_reactor::{DelayedCall, ReactorTime, Timers};
///
/// #[derive(Debug)]
/// struct MyClock {
///     timers: Timers,
/// }
///
/// impl ReactorTime for MyClock {
///     fn now(&self) -> Duration {
///         self.timers.now()
///     }
///     fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
///         self.timers.call_later_boxed(delay, call)
///     }
///     fn delayed_calls(&self) -> Vec<DelayedCall> {
///         self.timers.delayed_calls()
///     }
/// }
/// # let _ = MyClock { timers: Timers::manual() }.now();
/// ```
pub trait ReactorTime {
    /// The current time, since this clock's epoch (Twisted's `seconds()`, as
    /// a `Duration`).
    fn now(&self) -> Duration;

    /// The current time in seconds as a float, exactly Twisted's `seconds()`.
    fn seconds(&self) -> f64 {
        self.now().as_secs_f64()
    }

    /// Schedules `call` to run `delay` from now (Twisted's `callLater`).
    /// Calls due at the same instant run in the order they were scheduled.
    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall;

    /// The pending calls, earliest first (Twisted's `getDelayedCalls`).
    fn delayed_calls(&self) -> Vec<DelayedCall>;
}

/// Generic conveniences on every [`ReactorTime`], trait objects included.
pub trait ReactorTimeExt: ReactorTime {
    /// Schedules `call` to run `delay` from now (Twisted's `callLater`).
    fn call_later(&self, delay: Duration, call: impl FnOnce() + 'static) -> DelayedCall {
        self.call_later_boxed(delay, Box::new(call))
    }
}

impl<R: ReactorTime + ?Sized> ReactorTimeExt for R {}

impl<R: ReactorTime + ?Sized> ReactorTime for Rc<R> {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        (**self).call_later_boxed(delay, call)
    }
    fn delayed_calls(&self) -> Vec<DelayedCall> {
        (**self).delayed_calls()
    }
}
