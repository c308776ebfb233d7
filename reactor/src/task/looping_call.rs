//! [`LoopingCall`]: Twisted's `task.LoopingCall`.

use std::any::type_name;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::error::LoopingCallError;
use crate::interfaces::{ReactorTime, ReactorTimeExt};
use crate::{log_failure, maybe_deferred, Deferred, DelayedCall, Failure, IntoOutcome, Outcome};

/// The wrapped function; a plain one ignores the count.
type Body = Box<dyn FnMut(u64) -> Outcome<()>>;

/// Calls a function repeatedly, every `interval` on a clock: Twisted's
/// `twisted.internet.task.LoopingCall`.
///
/// [`start`](LoopingCall::start) begins the loop and returns a [`Deferred`]
/// that fires with the `LoopingCall` once [`stop`](LoopingCall::stop) has
/// been called, or fails with the function's failure, which ends the loop.
/// The function returns anything [`IntoOutcome`] with `()` as the item:
///
/// * `Ok(())`: the next call is scheduled;
/// * an error (or a panic, caught as a
///   [`PanicError`](crate::error::PanicError)): the loop ends and the
///   Deferred from `start` fails with it;
/// * a `Deferred<()>`: no further call is scheduled until it fires, so
///   iterations never overlap; its failure ends the loop too.
///
/// # Scheduling
///
/// Calls are meant to happen on the boundaries `start + k * interval`.
/// After each iteration the next call goes to the first boundary *strictly
/// after* the present (Twisted's `_scheduleFrom`), so when the clock jumps,
/// or an iteration takes longer than an interval, the missed boundaries are
/// skipped, not replayed, and an iteration finishing exactly on a boundary
/// waits a full interval. [`with_count`](LoopingCall::with_count) tells the
/// function how many boundaries passed since its previous call. A zero
/// interval re-schedules with a zero delay: the loop runs again on the
/// clock's next pass, and the fake clock's `run_until_idle` keeps iterating
/// until the function stops the loop.
///
/// Handles are cheap `Rc` clones of one `!Send` state. No borrow of it is
/// held while the function runs or a Deferred fires, so the function (or a
/// callback) may call `stop`, `reset` or `start` on its own loop.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use torsion_reactor::task::LoopingCall;
/// use torsion_reactor::{Failure, ReactorTime, Timers};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = Rc::new(Timers::manual());
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let (log, time) = (seen.clone(), clock.clone());
/// let lc = LoopingCall::new(clock.clone(), move || {
///     log.borrow_mut().push(time.now().as_millis());
///     Ok::<(), Failure>(())
/// });
/// lc.start(Duration::from_secs(1), true)?;
///
/// // The clock jumps to 3.5 s: one call, then back on the boundaries.
/// for ms in [3500, 4000, 5000] {
///     clock.set_now(Duration::from_millis(ms));
///     clock.run_until_idle();
/// }
/// assert_eq!(*seen.borrow(), [0, 3500, 4000, 5000]);
/// assert_eq!(format!("{lc:?}"), "LoopingCall<1s>(main::{{closure}})");
/// lc.stop()?;
/// # Ok(())
/// # }
/// ```
///
/// # Twisted
///
/// * The clock is given to the constructor; there is no default reactor and
///   no `clock` attribute. Arguments to the function are its captures.
/// * The interval is a [`Duration`]: a negative one (`ValueError`) cannot be
///   expressed, and times are whole nanoseconds, so the float-underflow guard
///   of `_scheduleFrom` has nothing to guard.
/// * Starting a running loop, and stopping or resetting a stopped one, are
///   [`LoopingCallError`]s instead of assertions.
/// * `start` after `stop` while an iteration is still in progress (the
///   function is running, or its Deferred is pending) is
///   [`LoopingCallError::StillStopping`]. Twisted allows it and ends up with
///   two interleaved loops, the first of which never fires its Deferred.
///   Restarting from a callback on the Deferred from `start` is fine.
/// * The `interval` attribute is [`interval`](LoopingCall::interval) and
///   [`set_interval`](LoopingCall::set_interval); the deprecated `deferred`
///   attribute is not provided.
/// * `Debug` follows Twisted's repr, `LoopingCall<interval>(name)`, naming the
///   function by its Rust type name without the crate (a closure shows as
///   `enclosing_fn::{{closure}}`).
/// * A running loop is kept alive by its clock (the pending call holds a
///   handle), as Twisted's reactor keeps it; stop it to free it.
#[derive(Clone)]
pub struct LoopingCall {
    inner: Rc<Inner>,
}

struct Inner {
    clock: Rc<dyn ReactorTime>,
    /// Taken out while it runs, so no borrow is held across user code.
    body: RefCell<Option<Body>>,
    /// Built by `with_count`: the body wants the count.
    counted: bool,
    name: &'static str,
    state: RefCell<State>,
}

struct State {
    /// True from `start` until `stop` or a failure (Twisted's `running`).
    running: bool,
    /// `None` until the first `start` (Twisted's `interval`).
    interval: Option<Duration>,
    /// Where the interval boundaries count from (Twisted's `starttime`).
    start_time: Duration,
    /// `start` was called with `now` (Twisted's `_runAtStart`).
    run_at_start: bool,
    /// The scheduled next iteration; `None` while one is in progress.
    call: Option<DelayedCall>,
    /// The Deferred from `start`, until it fires.
    deferred: Option<Deferred<LoopingCall>>,
    /// When the counted body last ran (Twisted's `_realLastTime`).
    last_time: Option<Duration>,
}

impl LoopingCall {
    fn build(clock: Rc<dyn ReactorTime>, body: Body, counted: bool, name: &'static str) -> Self {
        LoopingCall {
            inner: Rc::new(Inner {
                clock,
                body: RefCell::new(Some(body)),
                counted,
                name: without_crate(name),
                state: RefCell::new(State {
                    running: false,
                    interval: None,
                    start_time: Duration::ZERO,
                    run_at_start: false,
                    call: None,
                    deferred: None,
                    last_time: None,
                }),
            }),
        }
    }

    /// A loop that will call `f` on `clock` once started.
    pub fn new<F, R>(clock: Rc<dyn ReactorTime>, mut f: F) -> LoopingCall
    where
        F: FnMut() -> R + 'static,
        R: IntoOutcome<Item = ()>,
    {
        let body: Body = Box::new(move |_| f().into_outcome());
        LoopingCall::build(clock, body, false, type_name::<F>())
    }

    /// A loop whose function receives how many intervals elapsed since its
    /// previous call (Twisted's `LoopingCall.withCount`).
    ///
    /// The count is normally 1; it is more when calls were skipped because
    /// the clock jumped, an iteration took longer than an interval, or a
    /// Deferred the function returned fired late. It counts boundaries
    /// crossed, not time: called at `T`, `2.75T` and `3T`, the counts are
    /// 1, 1 and 1. With a zero interval it is always 1. When the count would
    /// be 0 (after a [`reset`](LoopingCall::reset)), `f` is not called for
    /// that iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    /// use torsion_reactor::{task::LoopingCall, Failure, Timers};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = Rc::new(Timers::manual());
    /// let counts = Rc::new(RefCell::new(Vec::new()));
    /// let log = counts.clone();
    /// let lc = LoopingCall::with_count(clock.clone(), move |n| {
    ///     log.borrow_mut().push(n);
    ///     Ok::<(), Failure>(())
    /// });
    /// lc.start(Duration::from_secs(1), false)?;
    /// for ms in [1000, 3200] {
    ///     clock.set_now(Duration::from_millis(ms));
    ///     clock.run_until_idle();
    /// }
    /// assert_eq!(*counts.borrow(), [1, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_count<F, R>(clock: Rc<dyn ReactorTime>, mut f: F) -> LoopingCall
    where
        F: FnMut(u64) -> R + 'static,
        R: IntoOutcome<Item = ()>,
    {
        let body: Body = Box::new(move |count| f(count).into_outcome());
        LoopingCall::build(clock, body, true, type_name::<F>())
    }

    /// Starts calling the function every `interval`: at once if `now`,
    /// otherwise first one interval from now.
    ///
    /// The returned Deferred fires with this `LoopingCall` after
    /// [`stop`](LoopingCall::stop) (once any iteration in progress has
    /// finished), or fails with the function's failure. With `now`, the first
    /// call happens inside `start`, so the Deferred may already have fired
    /// when it is returned.
    ///
    /// # Errors
    ///
    /// [`LoopingCallError::AlreadyRunning`] if it is running;
    /// [`LoopingCallError::StillStopping`] if it was stopped but an
    /// iteration is still in progress.
    pub fn start(
        &self,
        interval: Duration,
        now: bool,
    ) -> Result<Deferred<LoopingCall>, LoopingCallError> {
        let start_time = self.inner.clock.now();
        let deferred = Deferred::new();
        {
            let mut state = self.inner.state.borrow_mut();
            if state.running {
                return Err(LoopingCallError::AlreadyRunning);
            }
            if state.deferred.is_some() {
                return Err(LoopingCallError::StillStopping);
            }
            state.running = true;
            state.deferred = Some(deferred.clone());
            state.start_time = start_time;
            state.interval = Some(interval);
            state.run_at_start = now;
        }
        if now {
            self.iterate();
        } else {
            self.schedule_from(start_time);
        }
        Ok(deferred)
    }

    /// Stops the loop. If the next iteration is merely scheduled, it is
    /// cancelled and the Deferred from [`start`](LoopingCall::start) fires
    /// now; if one is in progress (the function is running, or its Deferred
    /// is pending), the Deferred fires when it finishes.
    ///
    /// # Errors
    ///
    /// [`LoopingCallError::NotRunning`] if it is not running.
    pub fn stop(&self) -> Result<(), LoopingCallError> {
        let scheduled = {
            let mut state = self.inner.state.borrow_mut();
            if !state.running {
                return Err(LoopingCallError::NotRunning);
            }
            state.running = false;
            state.call.take().map(|call| (call, state.deferred.take()))
        };
        if let Some((call, deferred)) = scheduled {
            // The call is pending: `iterate` clears `call` before running.
            let _ = call.cancel();
            if let Some(deferred) = deferred {
                // Only fails if the user fired it; nothing to hand it to then.
                let _ = deferred.try_callback(self.clone());
            }
        }
        Ok(())
    }

    /// Skips the next iteration and restarts the interval from now: the
    /// boundaries become `now + k * interval`. Does nothing while an
    /// iteration is in progress (Twisted's `reset`).
    ///
    /// # Errors
    ///
    /// [`LoopingCallError::NotRunning`] if it is not running.
    pub fn reset(&self) -> Result<(), LoopingCallError> {
        let now = self.inner.clock.now();
        let call = {
            let mut state = self.inner.state.borrow_mut();
            if !state.running {
                return Err(LoopingCallError::NotRunning);
            }
            let call = state.call.take();
            if call.is_some() {
                state.start_time = now;
            }
            call
        };
        if let Some(call) = call {
            let _ = call.cancel();
            self.schedule_from(now);
        }
        Ok(())
    }

    /// Whether it was started and neither stopped nor failed since
    /// (Twisted's `running`). It is `false` by the time the Deferred from
    /// [`start`](LoopingCall::start) fires.
    pub fn is_running(&self) -> bool {
        self.inner.state.borrow().running
    }

    /// The interval of the last [`start`](LoopingCall::start), or `None` if
    /// never started.
    pub fn interval(&self) -> Option<Duration> {
        self.inner.state.borrow().interval
    }

    /// Changes the interval (Twisted assigns `interval`). It applies from
    /// the next scheduling on: an iteration already scheduled keeps its time.
    /// The boundaries still count from the start (or the last
    /// [`reset`](LoopingCall::reset)).
    pub fn set_interval(&self, interval: Duration) {
        self.inner.state.borrow_mut().interval = Some(interval);
    }

    /// Whether `other` is a handle to this very loop.
    pub fn is_same(&self, other: &LoopingCall) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// One iteration (Twisted's `__call__`).
    fn iterate(&self) {
        let count = {
            let mut state = self.inner.state.borrow_mut();
            state.call = None;
            if self.inner.counted {
                self.count(&mut state)
            } else {
                Some(1)
            }
        };
        let outcome = match count {
            Some(count) => {
                let mut body = self.inner.body.borrow_mut().take().expect(
                    "LoopingCall: one iteration at a time (start refuses while one is in progress)",
                );
                let outcome = maybe_deferred(|| body(count));
                *self.inner.body.borrow_mut() = Some(body);
                outcome
            }
            // Nothing due yet: like Twisted's counter returning None.
            None => Deferred::succeeded(()),
        };
        let (on_success, on_failure) = (self.clone(), self.clone());
        outcome.add_callbacks(
            move |()| {
                on_success.iteration_succeeded();
                Ok(())
            },
            move |failure| {
                on_failure.iteration_failed(failure);
                Ok(())
            },
        );
    }

    /// `with_count`'s count for an iteration now, updating the last time
    /// (Twisted's `counter`); `None` if no boundary passed.
    fn count(&self, state: &mut State) -> Option<u64> {
        let now = self.inner.clock.now();
        let interval = state.interval.unwrap_or_default();
        if interval.is_zero() {
            state.last_time = Some(now);
            return Some(1);
        }
        let this_interval = interval_of(now, state.start_time, interval);
        let last_interval = match state.last_time {
            Some(last) => interval_of(last, state.start_time, interval),
            // The first call counts from one interval before the start when
            // it happens at the start.
            None if state.run_at_start => -1,
            None => 0,
        };
        let count = this_interval - last_interval;
        if count > 0 {
            state.last_time = Some(now);
            Some(u64::try_from(count).unwrap_or(u64::MAX))
        } else {
            None
        }
    }

    fn iteration_succeeded(&self) {
        let finished = {
            let mut state = self.inner.state.borrow_mut();
            if state.running {
                None
            } else {
                // Stopped while the iteration was in progress.
                Some(state.deferred.take())
            }
        };
        match finished {
            None => self.schedule_from(self.inner.clock.now()),
            Some(Some(deferred)) => {
                let _ = deferred.try_callback(self.clone());
            }
            Some(None) => {}
        }
    }

    fn iteration_failed(&self, failure: Failure) {
        let deferred = {
            let mut state = self.inner.state.borrow_mut();
            state.running = false;
            state.deferred.take()
        };
        match deferred {
            Some(deferred) => {
                if deferred.try_errback(failure.clone()).is_err() {
                    log_failure("Unhandled error in LoopingCall", &failure);
                }
            }
            None => log_failure("Unhandled error in LoopingCall", &failure),
        }
    }

    /// Schedules the next iteration at the first interval boundary strictly
    /// after `when` (Twisted's `_scheduleFrom`).
    fn schedule_from(&self, when: Duration) {
        let delay = {
            let state = self.inner.state.borrow();
            if !state.running {
                return;
            }
            let interval = state.interval.unwrap_or_default();
            if interval.is_zero() {
                Duration::ZERO
            } else {
                // A clock set back before the start counts as the start.
                let running_for = when.saturating_sub(state.start_time);
                interval - nanos(running_for.as_nanos() % interval.as_nanos())
            }
        };
        let this = self.clone();
        let call = self.inner.clock.call_later(delay, move || this.iterate());
        self.inner.state.borrow_mut().call = Some(call);
    }
}

/// How many whole intervals from `start` to `t`, truncated toward zero as
/// Twisted's `int()` does (so negative for times before the start).
fn interval_of(t: Duration, start: Duration, interval: Duration) -> i128 {
    let elapsed = t.as_nanos() as i128 - start.as_nanos() as i128;
    elapsed / interval.as_nanos() as i128
}

fn nanos(n: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(n / PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (n % PER_SEC) as u32)
}

/// `my_crate::module::tick` -> `module::tick`: the nearest Rust has to
/// Python's `__qualname__`.
fn without_crate(name: &'static str) -> &'static str {
    let end = name.find('<').unwrap_or(name.len());
    match name[..end].find("::") {
        Some(i) => &name[i + 2..],
        None => name,
    }
}

impl fmt::Debug for LoopingCall {
    /// Twisted's repr: `LoopingCall<interval>(name)`, `None` before `start`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let interval = self.inner.state.try_borrow().ok().and_then(|s| s.interval);
        match interval {
            Some(interval) => write!(f, "LoopingCall<{interval:?}>({})", self.inner.name),
            None => write!(f, "LoopingCall<None>({})", self.inner.name),
        }
    }
}
