//! [`Cooperator`], [`cooperate`] and [`coiterate`]: Twisted's
//! `twisted.internet.task.Cooperator`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::cooperative_task::{CooperativeTask, IntoTaskStep};
use crate::error::SchedulerError;
use crate::interfaces::{ReactorTime, ReactorTimeExt};
use crate::{Deferred, Failure};

/// Schedules a cooperator's next tick: called with the tick, it runs it
/// later and returns what cancels it (Twisted's `scheduler`, which returns
/// an `IDelayedCall`).
pub type Scheduler = Box<dyn Fn(Box<dyn FnOnce()>) -> Box<dyn FnOnce()>>;

/// Called at the start of each tick; the predicate it returns says, after
/// each step, whether the tick should end (Twisted's
/// `terminationPredicateFactory`).
pub type TerminationPredicateFactory = Box<dyn Fn() -> Box<dyn FnMut() -> bool>>;

/// How long a tick runs by default (Twisted's `_Timer.MAX_SLICE`).
pub const MAX_SLICE: Duration = Duration::from_millis(10);

/// The scheduler that runs each tick on `clock` at the next turn (Twisted's
/// `_defaultScheduler`, `callLater(epsilon)`).
pub fn clock_scheduler(clock: Rc<dyn ReactorTime>) -> Scheduler {
    Box::new(move |tick| {
        let call = clock.call_later(Duration::ZERO, tick);
        Box::new(move || {
            let _ = call.cancel();
        })
    })
}

/// The default termination predicate: each tick runs for [`MAX_SLICE`] of
/// wall-clock time (Twisted's `_Timer`).
pub fn time_slice() -> TerminationPredicateFactory {
    Box::new(|| {
        let end = Instant::now() + MAX_SLICE;
        Box::new(move || Instant::now() >= end)
    })
}

pub(super) struct Shared {
    scheduler: Scheduler,
    termination: TerminationPredicateFactory,
    state: RefCell<State>,
}

struct State {
    /// Tasks that want work, in round-robin order.
    tasks: Vec<CooperativeTask>,
    /// Where the round robin goes on from (Twisted's `_metarator`).
    cursor: usize,
    /// Cancels the scheduled tick.
    delayed: Option<Box<dyn FnOnce()>>,
    stopped: bool,
    started: bool,
    must_schedule_on_start: bool,
}

/// Runs many iterators a step at a time, so that long jobs share the
/// reactor thread with I/O and with each other (Twisted's `task.Cooperator`).
///
/// Each tick, scheduled with the [`Scheduler`] (by default on a clock, at
/// its next turn), steps the tasks round robin until the termination
/// predicate says stop (by default after [`MAX_SLICE`] of wall-clock
/// time), then schedules the next tick if any task still wants work. A
/// task whose iterator yields a [`Deferred`] sits out until it fires.
///
/// Handles are cheap clones of one cooperator.
///
/// # Examples
///
/// Two jobs interleaved on a fake clock, one step each per tick:
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::task::{clock_scheduler, Cooperator};
/// use torsion_reactor::Timers;
///
/// let clock = Rc::new(Timers::manual());
/// let cooperator = Cooperator::builder(clock_scheduler(clock.clone()))
///     .termination_predicate(Box::new(|| Box::new(|| true))) // one step per tick
///     .build();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let (a, b) = (log.clone(), log.clone());
/// let first = cooperator.coiterate((1..=2).map(move |n| a.borrow_mut().push(n)));
/// cooperator.coiterate((10..=11).map(move |n| b.borrow_mut().push(n)));
///
/// while !first.is_called() {
///     clock.run_turn(); // one turn of the reactor: one tick
/// }
/// assert_eq!(*log.borrow(), [1, 10, 2, 11]);
/// ```
///
/// # Twisted
///
/// * There is no global reactor, so no global cooperator: the free
///   functions [`cooperate`] and [`coiterate`] take the clock and make a
///   cooperator per call; tasks that should share time slices share a
///   `Cooperator`.
/// * `Cooperator(started=False)` is [`CooperatorBuilder::started`];
///   `running` is [`is_running`](Cooperator::is_running).
/// * A task leaving the round robin mid-tick does not make the next task
///   lose its turn (Python's list iterator skips it), and `stop` ends
///   every task it holds (Twisted's loop over the list it empties can skip
///   some).
#[derive(Clone)]
pub struct Cooperator {
    pub(super) inner: Rc<Shared>,
}

/// Builds a [`Cooperator`] with a scheduler, a termination predicate and a
/// start state of your choosing.
pub struct CooperatorBuilder {
    scheduler: Scheduler,
    termination: TerminationPredicateFactory,
    started: bool,
}

impl CooperatorBuilder {
    /// Ends each tick when `factory`'s predicate says so (default:
    /// [`time_slice`]).
    pub fn termination_predicate(mut self, factory: TerminationPredicateFactory) -> Self {
        self.termination = factory;
        self
    }

    /// Whether tasks run as soon as they are added (the default) or wait
    /// for [`Cooperator::start`].
    pub fn started(mut self, started: bool) -> Self {
        self.started = started;
        self
    }

    /// The cooperator.
    pub fn build(self) -> Cooperator {
        Cooperator {
            inner: Rc::new(Shared {
                scheduler: self.scheduler,
                termination: self.termination,
                state: RefCell::new(State {
                    tasks: Vec::new(),
                    cursor: 0,
                    delayed: None,
                    stopped: false,
                    started: self.started,
                    must_schedule_on_start: false,
                }),
            }),
        }
    }
}

impl Cooperator {
    /// A started cooperator ticking on `clock`, [`MAX_SLICE`] per tick.
    pub fn new(clock: Rc<dyn ReactorTime>) -> Cooperator {
        Cooperator::builder(clock_scheduler(clock)).build()
    }

    /// A builder around `scheduler` (for tests, one that keeps the ticks
    /// for the test to run).
    pub fn builder(scheduler: Scheduler) -> CooperatorBuilder {
        CooperatorBuilder {
            scheduler,
            termination: time_slice(),
            started: true,
        }
    }

    /// Adds `iterator` as a task (Twisted's `cooperate`).
    pub fn cooperate<I>(&self, iterator: I) -> CooperativeTask
    where
        I: Iterator + 'static,
        I::Item: IntoTaskStep,
    {
        CooperativeTask::new(iterator, self)
    }

    /// Adds `iterator` as a task and returns its
    /// [`when_done`](CooperativeTask::when_done) Deferred (Twisted's `coiterate`).
    pub fn coiterate<I>(&self, iterator: I) -> Deferred<()>
    where
        I: Iterator + 'static,
        I::Item: IntoTaskStep,
    {
        self.cooperate(iterator).when_done()
    }

    /// Begins scheduling ticks (after `started(false)` or [`stop`](Cooperator::stop)).
    pub fn start(&self) {
        let schedule = {
            let mut state = self.inner.state.borrow_mut();
            state.stopped = false;
            state.started = true;
            std::mem::take(&mut state.must_schedule_on_start)
        };
        if schedule {
            reschedule(&self.inner);
        }
    }

    /// Stops scheduling ticks and ends every task it holds with
    /// [`SchedulerError::SchedulerStopped`]; tasks added later (or resumed)
    /// end the same way until [`start`](Cooperator::start).
    pub fn stop(&self) {
        let (tasks, delayed) = {
            let mut state = self.inner.state.borrow_mut();
            state.stopped = true;
            state.cursor = 0;
            (std::mem::take(&mut state.tasks), state.delayed.take())
        };
        for task in tasks {
            task.complete_with(
                SchedulerError::SchedulerStopped,
                Err(Failure::new(SchedulerError::SchedulerStopped)),
            );
        }
        if let Some(cancel) = delayed {
            cancel();
        }
    }

    /// Whether it is started and not stopped (Twisted's `running`).
    pub fn is_running(&self) -> bool {
        let state = self.inner.state.borrow();
        state.started && !state.stopped
    }

    /// Whether a tick is scheduled.
    pub fn is_scheduled(&self) -> bool {
        self.inner.state.borrow().delayed.is_some()
    }

    /// How many tasks want work now (paused ones are not counted).
    pub fn len(&self) -> usize {
        self.inner.state.borrow().tasks.len()
    }

    /// Whether no task wants work now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `task` is among those that want work now.
    pub fn contains(&self, task: &CooperativeTask) -> bool {
        let state = self.inner.state.borrow();
        state.tasks.iter().any(|each| each.is_same(task))
    }

    /// Runs one tick now, as the scheduler would (Twisted's `_tick`).
    pub fn tick(&self) {
        tick(&self.inner);
    }
}

/// Twisted's `_addTask`.
pub(super) fn add_task(shared: &Rc<Shared>, task: &CooperativeTask) {
    let stopped = {
        let mut state = shared.state.borrow_mut();
        if !state.stopped {
            state.tasks.push(task.clone());
        }
        state.stopped
    };
    if stopped {
        task.complete_with(
            SchedulerError::SchedulerStopped,
            Err(Failure::new(SchedulerError::SchedulerStopped)),
        );
    } else {
        reschedule(shared);
    }
}

/// Twisted's `_removeTask`: with no task left, the scheduled tick is cancelled.
pub(super) fn remove_task(shared: &Rc<Shared>, task: &CooperativeTask) {
    let cancel = {
        let mut state = shared.state.borrow_mut();
        if let Some(at) = state.tasks.iter().position(|each| each.is_same(task)) {
            state.tasks.remove(at);
            if at < state.cursor {
                state.cursor -= 1;
            }
        }
        if state.tasks.is_empty() {
            state.delayed.take()
        } else {
            None
        }
    };
    if let Some(cancel) = cancel {
        cancel();
    }
}

fn tick(shared: &Rc<Shared>) {
    shared.state.borrow_mut().delayed = None;
    let mut terminated = (shared.termination)();
    'tick: loop {
        if shared.state.borrow().tasks.is_empty() {
            break;
        }
        loop {
            let task = {
                let mut state = shared.state.borrow_mut();
                match state.tasks.get(state.cursor).cloned() {
                    Some(task) => {
                        state.cursor += 1;
                        task
                    }
                    None => break,
                }
            };
            task.one_work_unit();
            if terminated() {
                break 'tick;
            }
        }
        shared.state.borrow_mut().cursor = 0;
    }
    reschedule(shared);
}

fn reschedule(shared: &Rc<Shared>) {
    {
        let mut state = shared.state.borrow_mut();
        if !state.started {
            state.must_schedule_on_start = true;
            return;
        }
        if state.delayed.is_some() || state.tasks.is_empty() {
            return;
        }
    }
    // Strong: a scheduled tick keeps the cooperator alive, as a reactor's
    // pending call keeps Twisted's; the cycle ends when the tick runs or is
    // cancelled.
    let this = shared.clone();
    let cancel = (shared.scheduler)(Box::new(move || tick(&this)));
    let mut state = shared.state.borrow_mut();
    if state.delayed.is_none() {
        state.delayed = Some(cancel);
    } else {
        drop(state);
        cancel(); // a re-entrant reschedule got there first
    }
}

/// Runs `iterator` as a task of a new cooperator on `clock` (Twisted's
/// module-level `cooperate`; see [`Cooperator`]'s `# Twisted` notes).
pub fn cooperate<I>(clock: Rc<dyn ReactorTime>, iterator: I) -> CooperativeTask
where
    I: Iterator + 'static,
    I::Item: IntoTaskStep,
{
    Cooperator::new(clock).cooperate(iterator)
}

/// Runs `iterator` on a new cooperator on `clock` and returns the Deferred
/// that fires when it ends (Twisted's module-level `coiterate`).
pub fn coiterate<I>(clock: Rc<dyn ReactorTime>, iterator: I) -> Deferred<()>
where
    I: Iterator + 'static,
    I::Item: IntoTaskStep,
{
    Cooperator::new(clock).coiterate(iterator)
}

impl fmt::Debug for Cooperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("Cooperator")
            .field("tasks", &state.tasks.len())
            .field("scheduled", &state.delayed.is_some())
            .field("started", &state.started)
            .field("stopped", &state.stopped)
            .finish()
    }
}

impl fmt::Debug for CooperatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CooperatorBuilder")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}
