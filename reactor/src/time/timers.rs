//! [`Timers`] and [`DelayedCall`]: scheduled calls on a [`TimerQueue`], with
//! Twisted's `IDelayedCall` semantics.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::queue::{TimerId, TimerQueue};
use crate::error::{DelayedCallError, PanicError};
use crate::interfaces::ReactorTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Called,
    Cancelled,
}

struct CallState {
    status: Cell<Status>,
    id: Cell<TimerId>,
    deadline: Cell<Duration>,
}

struct Scheduled {
    call: Box<dyn FnOnce()>,
    state: Rc<CallState>,
}

enum TimeSource {
    /// Moved only by [`Timers::set_now`] (the fake clock).
    Manual(Cell<Duration>),
    /// Real monotonic time since this instant.
    Monotonic(Instant),
}

struct TimerState {
    queue: RefCell<TimerQueue<Scheduled>>,
    source: TimeSource,
}

/// Scheduled calls on one [`TimerQueue`] and one notion of "now": the timer
/// machinery shared by the mio reactor (real monotonic time) and
/// `testing::Clock` (time that moves only when told), so the fake cannot
/// drift from the real thing.
///
/// `Timers` implements [`ReactorTime`]. Two ways of running due calls match
/// the two owners:
///
/// * [`run_until_idle`](Timers::run_until_idle) (Twisted's `Clock.advance`):
///   runs calls one at a time while any is due, those scheduled by the calls
///   themselves included; a panic propagates to the caller, the remaining
///   calls stay queued.
/// * [`run_turn`](Timers::run_turn) (Twisted's `runUntilCurrent`): runs the
///   calls that were due when the turn began, in order; a call scheduled
///   during the turn for "now" waits for the next turn; a panic is caught,
///   logged, and the turn goes on.
///
/// Both run calls for the same instant in scheduling order, skip calls
/// cancelled by an earlier call of the same turn, and hold no borrow while a
/// call runs, so a call may schedule, cancel and reset freely.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_reactor::{ReactorTimeExt, Timers};
///
/// let timers = Timers::manual();
/// let fired = std::rc::Rc::new(std::cell::Cell::new(false));
/// let flag = fired.clone();
/// let call = timers.call_later(Duration::from_secs(2), move || flag.set(true));
/// timers.set_now(Duration::from_secs(1));
/// timers.run_until_idle();
/// assert!(call.active() && !fired.get());
/// timers.set_now(Duration::from_secs(2));
/// timers.run_until_idle();
/// assert!(!call.active() && fired.get());
/// ```
#[derive(Clone)]
pub struct Timers {
    shared: Rc<TimerState>,
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("now", &self.now())
            .field("pending", &self.len())
            .finish()
    }
}

impl Timers {
    fn with_source(source: TimeSource) -> Timers {
        Timers {
            shared: Rc::new(TimerState {
                queue: RefCell::new(TimerQueue::new()),
                source,
            }),
        }
    }

    /// Timers whose time starts at zero and moves only by
    /// [`set_now`](Timers::set_now).
    pub fn manual() -> Timers {
        Timers::with_source(TimeSource::Manual(Cell::new(Duration::ZERO)))
    }

    /// Timers on real monotonic time, zero being now.
    pub fn monotonic() -> Timers {
        Timers::with_source(TimeSource::Monotonic(Instant::now()))
    }

    /// Sets the current time of [`manual`](Timers::manual) timers.
    ///
    /// # Panics
    ///
    /// On monotonic timers, whose time cannot be set.
    pub fn set_now(&self, now: Duration) {
        match &self.shared.source {
            TimeSource::Manual(cell) => cell.set(now),
            TimeSource::Monotonic(_) => panic!("Timers::set_now on monotonic timers"),
        }
    }

    /// How many calls are pending.
    pub fn len(&self) -> usize {
        self.shared.queue.borrow().len()
    }

    /// Whether no call is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the earliest pending call is due.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.shared.queue.borrow_mut().next_deadline()
    }

    fn start(scheduled: Scheduled) {
        scheduled.state.status.set(Status::Called);
        (scheduled.call)();
    }

    /// Runs due calls one at a time until none is due at the current time,
    /// including calls scheduled meanwhile. Returns how many ran.
    ///
    /// # Panics
    ///
    /// A panicking call's panic propagates; calls not yet run stay queued.
    pub fn run_until_idle(&self) -> usize {
        let mut ran = 0;
        loop {
            let now = self.now();
            let next = self.shared.queue.borrow_mut().pop_due(now);
            match next {
                Some((_, scheduled)) => {
                    Timers::start(scheduled);
                    ran += 1;
                }
                None => return ran,
            }
        }
    }

    /// Runs the calls due when the turn begins, in order, skipping those
    /// cancelled or rescheduled meanwhile; calls scheduled during the turn
    /// wait for the next. A panic is caught and logged. Returns how many ran.
    pub fn run_turn(&self) -> usize {
        // Most turns have nothing due: no clock read, no list.
        let now = match self.next_deadline() {
            None => return 0,
            Some(next) => {
                let now = self.now();
                if next > now {
                    return 0;
                }
                now
            }
        };
        let mut due = Vec::new();
        self.shared.queue.borrow_mut().due(now, &mut due);
        let mut ran = 0;
        for id in due {
            let next = self.shared.queue.borrow_mut().remove(id);
            if let Some(scheduled) = next {
                ran += 1;
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| Timers::start(scheduled))) {
                    let error = PanicError::from_payload(payload.as_ref());
                    log::error!("a timed call panicked: {}", error.message);
                }
            }
        }
        ran
    }

    fn handle(&self, state: Rc<CallState>) -> DelayedCall {
        DelayedCall {
            timers: Rc::downgrade(&self.shared),
            state,
        }
    }
}

impl ReactorTime for Timers {
    fn now(&self) -> Duration {
        match &self.shared.source {
            TimeSource::Manual(cell) => cell.get(),
            TimeSource::Monotonic(epoch) => epoch.elapsed(),
        }
    }

    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        let deadline = self.now().saturating_add(delay);
        let state = Rc::new(CallState {
            status: Cell::new(Status::Pending),
            id: Cell::new(TimerId::placeholder()),
            deadline: Cell::new(deadline),
        });
        let id = self.shared.queue.borrow_mut().insert(
            deadline,
            Scheduled {
                call,
                state: state.clone(),
            },
        );
        state.id.set(id);
        self.handle(state)
    }

    fn delayed_calls(&self) -> Vec<DelayedCall> {
        let queue = self.shared.queue.borrow();
        queue
            .iter()
            .map(|(_, _, s)| self.handle(s.state.clone()))
            .collect()
    }
}

/// A call scheduled with [`ReactorTime::call_later_boxed`]: Twisted's
/// `IDelayedCall`.
///
/// # Twisted
///
/// [`reset`](DelayedCall::reset) and [`delay`](DelayedCall::delay) reschedule
/// the call behind any call already scheduled for its new instant. Twisted's
/// `Clock` keeps a moved call's old place among equal times instead; the
/// reactor's heap promises no order for ties at all.
#[derive(Clone)]
pub struct DelayedCall {
    timers: Weak<TimerState>,
    state: Rc<CallState>,
}

impl DelayedCall {
    fn check_pending(&self) -> Result<(), DelayedCallError> {
        match self.state.status.get() {
            Status::Pending => Ok(()),
            Status::Called => Err(DelayedCallError::AlreadyCalled),
            Status::Cancelled => Err(DelayedCallError::AlreadyCancelled),
        }
    }

    /// Whether it has neither run nor been cancelled (Twisted's `active`).
    pub fn active(&self) -> bool {
        self.state.status.get() == Status::Pending
    }

    /// When it is (or was) due, since the clock's epoch (Twisted's `getTime`).
    pub fn time(&self) -> Duration {
        self.state.deadline.get()
    }

    /// Cancels it.
    ///
    /// # Errors
    ///
    /// [`DelayedCallError::AlreadyCalled`] or
    /// [`DelayedCallError::AlreadyCancelled`].
    pub fn cancel(&self) -> Result<(), DelayedCallError> {
        self.check_pending()?;
        self.state.status.set(Status::Cancelled);
        let removed = self
            .timers
            .upgrade()
            .and_then(|shared| shared.queue.borrow_mut().remove(self.state.id.get()));
        // Drop the callable outside the queue borrow: its captures may
        // schedule or cancel calls when dropped.
        drop(removed);
        Ok(())
    }

    /// Reschedules it `from_now` after the current time.
    ///
    /// # Errors
    ///
    /// As [`cancel`](DelayedCall::cancel).
    pub fn reset(&self, from_now: Duration) -> Result<(), DelayedCallError> {
        self.check_pending()?;
        if let Some(shared) = self.timers.upgrade() {
            let now = Timers {
                shared: shared.clone(),
            }
            .now();
            self.move_to(&shared, now.saturating_add(from_now));
        }
        Ok(())
    }

    /// Pushes it `later` past its current deadline.
    ///
    /// # Errors
    ///
    /// As [`cancel`](DelayedCall::cancel).
    pub fn delay(&self, later: Duration) -> Result<(), DelayedCallError> {
        self.check_pending()?;
        if let Some(shared) = self.timers.upgrade() {
            self.move_to(&shared, self.state.deadline.get().saturating_add(later));
        }
        Ok(())
    }

    fn move_to(&self, shared: &TimerState, deadline: Duration) {
        let new_id = shared
            .queue
            .borrow_mut()
            .reschedule(self.state.id.get(), deadline);
        if let Some(id) = new_id {
            self.state.id.set(id);
            self.state.deadline.set(deadline);
        }
    }

    /// Whether `other` is a handle to this very call.
    pub fn is_same(&self, other: &DelayedCall) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }
}

impl fmt::Debug for DelayedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayedCall")
            .field("time", &self.state.deadline.get())
            .field("status", &self.state.status.get())
            .finish()
    }
}

impl PartialEq for DelayedCall {
    fn eq(&self, other: &DelayedCall) -> bool {
        self.is_same(other)
    }
}
