//! [`Clock`]: a deterministic [`ReactorTime`] (Twisted's `task.Clock`).

use std::time::Duration;

use torsion_reactor::{DelayedCall, ReactorTime, Timers};

/// Time that moves only when the test says so: Twisted's `task.Clock`.
///
/// It runs on the very [`Timers`] the mio reactor uses, so ordering cannot
/// drift from the real thing:
///
/// * time starts at zero; [`advance`](Clock::advance) moves it forward and
///   then runs, one at a time, every call that is due, including calls that
///   those calls schedule for a time already reached (e.g. `call_later(0)`);
/// * calls due at the same instant run in the order they were scheduled;
/// * calls run at the advanced time: `advance(3.5 s)` over calls due at 1, 2
///   and 3 s runs all three with `now() == 3.5 s`;
/// * a panic in a call propagates out of `advance`, as Twisted's exception
///   does; calls not yet run stay queued.
///
/// Clones share one clock.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use torsion_reactor::{ReactorTime, ReactorTimeExt};
/// use torsion_testing::Clock;
///
/// let clock = Clock::new();
/// let rang = Rc::new(Cell::new(false));
/// let bell = rang.clone();
/// clock.call_later(Duration::from_secs(60), move || bell.set(true));
/// clock.advance(Duration::from_secs(59));
/// assert!(!rang.get());
/// clock.advance(Duration::from_secs(1));
/// assert!(rang.get());
/// assert!(clock.delayed_calls().is_empty());
/// ```
///
/// # Twisted
///
/// `DelayedCall.reset`/`delay` put the moved call behind calls already due
/// at its new instant; Twisted's `Clock` keeps its old list position among
/// equal times.
#[derive(Debug, Clone)]
pub struct Clock {
    timers: Timers,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock at time zero with nothing scheduled.
    pub fn new() -> Clock {
        Clock {
            timers: Timers::manual(),
        }
    }

    /// Moves time forward by `amount` and runs every call then due.
    ///
    /// # Panics
    ///
    /// Propagates a panic from a call it runs.
    pub fn advance(&self, amount: Duration) {
        self.timers
            .set_now(self.timers.now().saturating_add(amount));
        self.timers.run_until_idle();
    }

    /// [`advance`](Clock::advance)s by each amount in turn (Twisted's `pump`).
    pub fn pump(&self, timings: &[Duration]) {
        for amount in timings {
            self.advance(*amount);
        }
    }

    /// The shared timers underneath.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }
}

impl ReactorTime for Clock {
    fn now(&self) -> Duration {
        self.timers.now()
    }

    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        self.timers.call_later_boxed(delay, call)
    }

    fn delayed_calls(&self) -> Vec<DelayedCall> {
        self.timers.delayed_calls()
    }
}
