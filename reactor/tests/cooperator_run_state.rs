//! `task::Cooperator`: Twisted's `RunStateTests`
//! (`twisted/test/test_cooperator.py`): pausing, resuming, stopping and
//! `when_done` of one task on a fake scheduler, one step per tick.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::error::{PanicError, SchedulerError};
use torsion_reactor::task::{CooperativeTask, Cooperator, TaskStep};
use torsion_reactor::{Deferred, Failure};

mod cooperator_util;

use cooperator_util::{new_clock, one_step_per_tick, FakeScheduler};

fn scheduler_error(failure: &Failure) -> Option<SchedulerError> {
    failure.downcast_ref::<SchedulerError>().copied()
}

/// What `RunStateTests.worker` recorded.
#[derive(Debug)]
enum Work {
    N(u32),
    D(Deferred<()>),
}

impl Work {
    fn number(&self) -> Option<u32> {
        match self {
            Work::N(n) => Some(*n),
            Work::D(_) => None,
        }
    }
}

/// Twisted's `RunStateTests` fixture: a cooperator on a fake scheduler, one
/// step per tick, running a worker that yields Deferreds, stops or dies on
/// request.
struct RunState {
    scheduler: FakeScheduler,
    cooperator: Cooperator,
    task: CooperativeTask,
    work: Rc<RefCell<Vec<Work>>>,
    defer_next: Rc<Cell<bool>>,
    stop_next: Rc<Cell<bool>>,
    die_next: Rc<Cell<bool>>,
}

impl RunState {
    fn new() -> RunState {
        let scheduler = FakeScheduler::default();
        let cooperator = Cooperator::builder(scheduler.scheduler())
            .termination_predicate(one_step_per_tick())
            .build();
        let work: Rc<RefCell<Vec<Work>>> = Rc::default();
        let flag = || Rc::new(Cell::new(false));
        let (defer_next, stop_next, die_next) = (flag(), flag(), flag());
        let (w, dn, sn, kn) = (
            work.clone(),
            defer_next.clone(),
            stop_next.clone(),
            die_next.clone(),
        );
        let mut i = 0;
        let worker = std::iter::from_fn(move || {
            i += 1;
            if dn.replace(false) {
                let d = Deferred::new();
                w.borrow_mut().push(Work::D(d.clone()));
                Some(TaskStep::Wait(d))
            } else if sn.get() {
                None
            } else if kn.get() {
                Some(TaskStep::Fail(Failure::msg("UnhandledException")))
            } else {
                w.borrow_mut().push(Work::N(i));
                Some(TaskStep::Continue)
            }
        });
        let task = cooperator.cooperate(worker);
        cooperator.start();
        RunState {
            scheduler,
            cooperator,
            task,
            work,
            defer_next,
            stop_next,
            die_next,
        }
    }

    fn numbers(&self) -> Vec<u32> {
        self.work.borrow().iter().filter_map(Work::number).collect()
    }
}

/// Twisted's `test_pauseResume`: Cooperators should stop running their
/// tasks when they're paused, and start again when they're resumed.
#[test]
fn pause_resume() {
    let s = RunState::new();
    s.scheduler.pump();
    assert_eq!(s.numbers(), [1]);
    s.scheduler.pump();
    assert_eq!(s.numbers(), [1, 2]);

    s.task.pause().unwrap();
    s.scheduler.pump();
    assert_eq!(s.numbers(), [1, 2]);
    s.task.resume().unwrap();
    assert_eq!(s.numbers(), [1, 2]);
    s.scheduler.pump();
    assert_eq!(s.numbers(), [1, 2, 3]);
}

/// Twisted's `test_resumeNotPaused`: `resume` returns `NotPaused` if the
/// task was not paused.
#[test]
fn resume_not_paused() {
    let s = RunState::new();
    assert_eq!(s.task.resume(), Err(SchedulerError::NotPaused));
    s.task.pause().unwrap();
    s.task.resume().unwrap();
    assert_eq!(s.task.resume(), Err(SchedulerError::NotPaused));
}

/// Twisted's `test_pauseTwice`: pauses on tasks should behave like a stack.
/// If a task is paused twice, it needs to be resumed twice.
#[test]
fn pause_twice() {
    let s = RunState::new();
    s.task.pause().unwrap();
    s.scheduler.pump();
    assert!(s.numbers().is_empty());
    s.task.pause().unwrap();
    s.scheduler.pump();
    assert!(s.numbers().is_empty());
    s.task.resume().unwrap();
    s.scheduler.pump();
    assert!(s.numbers().is_empty());
    s.task.resume().unwrap();
    s.scheduler.pump();
    assert_eq!(s.numbers(), [1]);
}

/// Twisted's `test_pauseWhileDeferred`: pausing a task while it is waiting
/// on an outstanding Deferred should put the task into a state where the
/// outstanding Deferred must be called back and the task is resumed
/// before it will continue processing.
#[test]
fn pause_while_deferred() {
    let s = RunState::new();
    s.defer_next.set(true);
    s.scheduler.pump();
    assert_eq!(s.work.borrow().len(), 1);
    assert!(matches!(s.work.borrow()[0], Work::D(_)));
    s.scheduler.pump();
    assert_eq!(s.work.borrow().len(), 1);
    s.task.pause().unwrap();
    s.scheduler.pump();
    assert_eq!(s.work.borrow().len(), 1);
    s.task.resume().unwrap();
    s.scheduler.pump();
    assert_eq!(s.work.borrow().len(), 1);
    let d = match &s.work.borrow()[0] {
        Work::D(d) => d.clone(),
        Work::N(_) => unreachable!(),
    };
    d.callback(());
    s.scheduler.pump();
    assert_eq!(s.work.borrow().len(), 2);
    assert_eq!(s.numbers(), [2]);
}

/// Twisted's `test_whenDone`: `when_done` returns a Deferred which fires
/// when the iterator is exhausted; a new one each call, so callbacks added
/// to one do not change what another fires with.
#[test]
fn when_done() {
    let s = RunState::new();
    let finals = Rc::new(RefCell::new(Vec::new()));
    let (f1, f2) = (finals.clone(), finals.clone());
    s.task
        .when_done()
        .add_callback(|()| Ok(1))
        .add_callback(move |n| f1.borrow_mut().push(n));
    s.task
        .when_done()
        .add_callback(|()| Ok(2))
        .add_callback(move |n| f2.borrow_mut().push(n));
    s.stop_next.set(true);
    s.scheduler.pump();
    assert_eq!(*finals.borrow(), [1, 2]);
}

/// Twisted's `test_whenDoneError`: `when_done` fails when the iterator
/// fails, with that failure.
#[test]
fn when_done_error() {
    let s = RunState::new();
    let d = s.task.when_done();
    s.die_next.set(true);
    s.scheduler.pump();
    let failure = d.take_result().unwrap().unwrap_err();
    assert_eq!(
        failure.to_string(),
        Failure::msg("UnhandledException").to_string()
    );
    assert_eq!(s.task.completion(), Some(SchedulerError::TaskFailed));
}

/// A panic in the iterator fails the task with `PanicError`; the
/// cooperator goes on.
#[test]
fn when_done_panic() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let d = c.coiterate(std::iter::from_fn(|| -> Option<()> { panic!("boom") }));
    let other = c.coiterate((0..3).map(drop));
    clock.run_until_idle();
    assert!(d.take_result().unwrap().unwrap_err().check::<PanicError>());
    assert!(matches!(other.take_result(), Some(Ok(()))));
}

/// Twisted's `test_whenDoneStop`: `when_done` fails with `TaskStopped` when
/// `stop` is called on that task.
#[test]
fn when_done_stop() {
    let s = RunState::new();
    let d = s.task.when_done();
    s.task.stop().unwrap();
    let failure = d.take_result().unwrap().unwrap_err();
    assert_eq!(scheduler_error(&failure), Some(SchedulerError::TaskStopped));
}

/// Twisted's `test_whenDoneAlreadyDone`: `when_done` succeeds immediately if
/// the iterator has already completed.
#[test]
fn when_done_already_done() {
    let s = RunState::new();
    s.stop_next.set(true);
    s.scheduler.pump();
    assert!(matches!(s.task.when_done().take_result(), Some(Ok(()))));
}

/// Twisted's `test_stopStops`: stopping a task removes it from the run as
/// pausing does, but later `stop` and `pause` return `TaskStopped`.
#[test]
fn stop_stops() {
    let s = RunState::new();
    let d = s.task.when_done();
    s.task.stop().unwrap();
    s.scheduler.pump();
    assert!(s.work.borrow().is_empty());
    assert_eq!(s.task.stop(), Err(SchedulerError::TaskStopped));
    assert_eq!(s.task.pause(), Err(SchedulerError::TaskStopped));
    s.scheduler.pump();
    assert!(s.work.borrow().is_empty());
    assert!(d.has_failure());
    drop(d.take_result());
}

/// Twisted's `test_pauseStopResume`: resuming a paused, stopped task is a
/// no-op: no error, and no more work.
#[test]
fn pause_stop_resume() {
    let s = RunState::new();
    let d = s.task.when_done();
    s.task.pause().unwrap();
    s.task.stop().unwrap();
    s.task.resume().unwrap();
    s.scheduler.pump();
    assert!(s.work.borrow().is_empty());
    drop(d.take_result());
}

/// Twisted's `test_stopDeferred`: stopping a task which is waiting on a
/// Deferred shuts it down gracefully: it is not resumed when the Deferred
/// fires.
#[test]
fn stop_deferred() {
    let s = RunState::new();
    let done = s.task.when_done();
    s.defer_next.set(true);
    s.scheduler.pump();
    let Some(Work::D(d)) = s.work.borrow_mut().pop() else {
        panic!("the worker yielded a Deferred")
    };
    assert!(s.task.is_paused());
    let results = Rc::new(RefCell::new(Vec::new()));
    let r = results.clone();
    let d2 = d.clone();
    d2.add_both(move |outcome| r.borrow_mut().push(outcome.is_ok()));
    s.scheduler.pump();
    s.task.stop().unwrap();
    s.scheduler.pump();
    d.callback(());
    s.scheduler.pump();
    assert_eq!(*results.borrow(), [true]);
    assert!(s.work.borrow().is_empty());
    drop(done.take_result());
}

/// Twisted's `test_stopExhausted`: stopping a task whose iterator has been
/// exhausted returns `TaskDone`.
#[test]
fn stop_exhausted() {
    let s = RunState::new();
    s.stop_next.set(true);
    s.scheduler.pump();
    assert_eq!(s.task.stop(), Err(SchedulerError::TaskDone));
}

/// Twisted's `test_stopErrored`: stopping a task whose iterator has
/// encountered an error returns `TaskFailed`.
#[test]
fn stop_errored() {
    let s = RunState::new();
    let d = s.task.when_done();
    s.die_next.set(true);
    s.scheduler.pump();
    assert_eq!(s.task.stop(), Err(SchedulerError::TaskFailed));
    drop(d.take_result());
}

/// Twisted's `test_stopCooperatorReentrancy`: a `when_done` callback that
/// stops the cooperator finds its own task already removed.
#[test]
fn stop_cooperator_reentrancy() {
    let s = RunState::new();
    let phases = Rc::new(RefCell::new(Vec::new()));
    let (p, coop) = (phases.clone(), s.cooperator.clone());
    s.task.when_done().add_callback(move |()| {
        p.borrow_mut().push("done-fired");
        coop.stop();
        p.borrow_mut().push("done");
    });
    s.stop_next.set(true);
    s.scheduler.pump();
    assert_eq!(*phases.borrow(), ["done-fired", "done"]);
    assert!(s.cooperator.is_empty());
}
