//! `task::Cooperator`: Twisted's `CooperatorTests`, `AliasTests` and
//! `RunStateTests` (`twisted/test/test_cooperator.py`), on
//! `Timers::manual()` or a fake scheduler.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::error::{PanicError, SchedulerError};
use torsion_reactor::task::{
    clock_scheduler, coiterate, cooperate, CooperativeTask, Cooperator, Scheduler, TaskStep,
};
use torsion_reactor::{Deferred, DeferredList, Failure, ReactorTime, ReactorTimeExt, Timers};

/// A scheduled tick and whether it was cancelled (Twisted's `FakeDelayedCall`).
type FakeDelayedCall = (Box<dyn FnOnce()>, Rc<Cell<bool>>);

/// Twisted's `FakeScheduler`: keeps the ticks for the test to run.
#[derive(Clone, Default)]
struct FakeScheduler {
    work: Rc<RefCell<Vec<FakeDelayedCall>>>,
}

impl FakeScheduler {
    fn scheduler(&self) -> Scheduler {
        let work = self.work.clone();
        Box::new(move |tick| {
            let cancelled = Rc::new(Cell::new(false));
            work.borrow_mut().push((tick, cancelled.clone()));
            Box::new(move || cancelled.set(true))
        })
    }

    /// Do all of the work that is currently available to be done.
    fn pump(&self) {
        let work = std::mem::take(&mut *self.work.borrow_mut());
        for (tick, cancelled) in work {
            if !cancelled.get() {
                tick();
            }
        }
    }

    fn last_cancelled(&self) -> Option<bool> {
        self.work
            .borrow()
            .last()
            .map(|(_, cancelled)| cancelled.get())
    }
}

fn one_step_per_tick() -> torsion_reactor::task::TerminationPredicateFactory {
    Box::new(|| Box::new(|| true))
}

fn new_clock() -> Rc<Timers> {
    Rc::new(Timers::manual())
}

/// Twisted's `ebIter`: traps `SchedulerStopped` and returns `RESULT`.
fn trap_stopped(failure: Failure) -> Result<&'static str, Failure> {
    match failure.downcast_ref::<SchedulerError>() {
        Some(SchedulerError::SchedulerStopped) => Ok("done"),
        _ => Err(failure),
    }
}

fn scheduler_error(failure: &Failure) -> Option<SchedulerError> {
    failure.downcast_ref::<SchedulerError>().copied()
}

/// Twisted's `testStoppedRejectsNewTasks`: test that Cooperators refuse new
/// tasks when they have been stopped.
#[test]
fn stopped_rejects_new_tasks() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    c.stop();
    let d = c
        .coiterate(std::iter::empty::<()>())
        .add_callback(|()| -> Result<&str, Failure> { panic!("cbIter: it ran") })
        .add_errback(trap_stopped);
    assert!(matches!(d.take_result(), Some(Ok("done"))));
    assert!(clock.is_empty());
}

/// Twisted's `testStopRunning`: test that a running iterator will not run to
/// completion when the cooperator is stopped.
#[test]
fn stop_running() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let value = Rc::new(Cell::new(-1));
    let v = value.clone();
    let d = c
        .coiterate((0..3).map(move |i| v.set(i)))
        .add_callback(|()| -> Result<&str, Failure> { panic!("cbIter: it ran") })
        .add_errback(trap_stopped);
    c.stop();
    clock.run_until_idle();
    assert!(matches!(d.take_result(), Some(Ok("done"))));
    assert_eq!(value.get(), -1);
}

/// Twisted's `testStopOutstanding`: an iterator run with `coiterate` paused
/// on a Deferred yielded by that iterator will fire its own Deferred (the
/// one returned by `coiterate`) when `Cooperator::stop` is called.
#[test]
fn stop_outstanding() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let outstanding = Deferred::<()>::new();
    let yielded = outstanding.clone();
    let mut items = vec![yielded].into_iter();
    let d = c
        .coiterate(std::iter::from_fn(move || {
            let next = items.next();
            assert!(next.is_some(), "the iterator was resumed after stop");
            next
        }))
        .add_errback(|f| trap_stopped(f).map(drop));
    clock.run_until_idle();
    assert!(!d.is_called());
    c.stop();
    outstanding.callback(());
    clock.run_until_idle();
    assert!(matches!(d.take_result(), Some(Ok(()))));
}

#[derive(Debug)]
struct RuntimeError;
impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuntimeError")
    }
}
impl std::error::Error for RuntimeError {}

/// Twisted's `testUnexpectedError`: an iterator failing fails `coiterate`'s
/// Deferred with that error.
#[test]
fn unexpected_error() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let d = c.coiterate(std::iter::once(Err::<(), _>(RuntimeError)));
    clock.run_until_idle();
    assert!(d
        .take_result()
        .unwrap()
        .unwrap_err()
        .check::<RuntimeError>());
}

/// Twisted's `testUnexpectedErrorActuallyLater`: a yielded Deferred that
/// fails later fails the task.
#[test]
fn unexpected_error_actually_later() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let later = clock.clone();
    let d = c.coiterate(std::iter::once(()).map(move |()| {
        let d = Deferred::<()>::new();
        let fire = d.clone();
        later.call_later(std::time::Duration::ZERO, move || {
            fire.errback(RuntimeError)
        });
        d
    }));
    clock.run_until_idle();
    assert!(d
        .take_result()
        .unwrap()
        .unwrap_err()
        .check::<RuntimeError>());
}

/// Twisted's `testUnexpectedErrorNotActuallyLater`: a yielded Deferred that
/// already failed fails the task.
#[test]
fn unexpected_error_not_actually_later() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let d = c.coiterate(std::iter::once(()).map(|()| Deferred::<()>::failed(RuntimeError)));
    clock.run_until_idle();
    assert!(d
        .take_result()
        .unwrap()
        .unwrap_err()
        .check::<RuntimeError>());
}

/// Twisted's `testCooperation`: tasks take turns, one step each.
#[test]
fn cooperation() {
    let clock = new_clock();
    let c = Cooperator::new(clock.clone());
    let log = Rc::new(RefCell::new(Vec::new()));
    let groups = ["abc", "123", "def", "456"];
    let tasks: Vec<_> = groups
        .iter()
        .map(|group| {
            let log = log.clone();
            c.coiterate(group.chars().map(move |ch| log.borrow_mut().push(ch)))
        })
        .collect();
    let all = DeferredList::new(tasks).into_deferred();
    clock.run_until_idle();
    assert!(all.has_result());
    let expected: String = (0..3)
        .flat_map(|i| groups.iter().map(move |g| g.as_bytes()[i] as char))
        .collect();
    assert_eq!(log.borrow().iter().collect::<String>(), expected);
}

/// Twisted's `testResourceExhaustion`: a tick ends as soon as the
/// termination predicate says so.
#[test]
fn resource_exhaustion() {
    let stopped = Rc::new(Cell::new(false));
    let output = Rc::new(RefCell::new(Vec::new()));
    let fake = FakeScheduler::default();
    let predicate = stopped.clone();
    let c = Cooperator::builder(fake.scheduler())
        .termination_predicate(Box::new(move || {
            let predicate = predicate.clone();
            Box::new(move || predicate.get())
        }))
        .build();
    let (out, flag) = (output.clone(), stopped.clone());
    let d = c
        .coiterate((0..100).map(move |i| {
            out.borrow_mut().push(i);
            if i == 9 {
                flag.set(true);
            }
        }))
        .add_errback(|f| trap_stopped(f).map(drop));
    c.tick();
    c.stop();
    assert!(stopped.get());
    assert_eq!(*output.borrow(), (0..10).collect::<Vec<_>>());
    assert!(matches!(d.take_result(), Some(Ok(()))));
}

/// Twisted's `testCallbackReCoiterate`: if a callback to a Deferred returned
/// by coiterate calls coiterate on the same Cooperator, we should make sure
/// to only do the minimal amount of scheduling work.
#[test]
fn callback_re_coiterate() {
    type Calls = Rc<RefCell<Vec<Box<dyn FnOnce()>>>>;
    let calls: Calls = Rc::default();
    let sched = calls.clone();
    let c = Cooperator::builder(Box::new(move |tick| {
        assert!(sched.borrow().is_empty(), "a second tick was scheduled");
        sched.borrow_mut().push(tick);
        Box::new(|| {})
    }))
    .termination_predicate(one_step_per_tick())
    .build();
    let done = Rc::new(Cell::new(false));
    let (again, flag) = (c.clone(), done.clone());
    c.coiterate(std::iter::empty::<()>())
        .add_callback(move |()| {
            again
                .coiterate(std::iter::empty::<()>())
                .add_both(move |_| flag.set(true));
        });
    let mut work = 0;
    while !done.get() {
        work += 1;
        loop {
            let next = {
                let mut calls = calls.borrow_mut();
                if calls.is_empty() {
                    break;
                }
                calls.remove(0)
            };
            next();
            work += 1;
        }
        assert!(work <= 50, "Cooperator took too long");
    }
}

/// Twisted's `test_removingLastTaskStopsScheduledCall`: if the last task in
/// a Cooperator is removed, the scheduled call for the next tick is
/// cancelled, since it is no longer necessary.
#[test]
fn removing_last_task_stops_scheduled_call() {
    let fake = FakeScheduler::default();
    let coop = Cooperator::builder(fake.scheduler()).build();
    let task1 = coop.cooperate([(), ()].into_iter());
    let task2 = coop.cooperate([(), ()].into_iter());
    assert_eq!(fake.work.borrow().len(), 1);
    assert!(coop.is_scheduled());

    task1.stop().unwrap();
    assert_eq!(fake.last_cancelled(), Some(false));
    assert!(coop.is_scheduled());

    task2.stop().unwrap();
    assert_eq!(fake.last_cancelled(), Some(true));
    assert!(!coop.is_scheduled());

    coop.cooperate([(), ()].into_iter());
    assert_eq!(fake.work.borrow().len(), 2);
    assert_eq!(fake.last_cancelled(), Some(false));
    assert!(coop.is_scheduled());
}

/// Twisted's `test_runningWhenStarted`: `Cooperator::is_running` reports
/// true if the Cooperator was started on creation.
#[test]
fn running_when_started() {
    assert!(Cooperator::new(new_clock()).is_running());
}

/// Twisted's `test_runningWhenNotStarted`: `is_running` reports false if
/// the Cooperator has not been started.
#[test]
fn running_when_not_started() {
    let c = Cooperator::builder(clock_scheduler(new_clock()))
        .started(false)
        .build();
    assert!(!c.is_running());
}

/// Twisted's `test_runningWhenRunning`: `is_running` reports true when the
/// Cooperator is running.
#[test]
fn running_when_running() {
    let c = Cooperator::builder(clock_scheduler(new_clock()))
        .started(false)
        .build();
    c.start();
    assert!(c.is_running());
    c.stop();
}

/// Twisted's `test_runningWhenStopped`: `is_running` reports false after
/// the Cooperator has been stopped.
#[test]
fn running_when_stopped() {
    let c = Cooperator::builder(clock_scheduler(new_clock()))
        .started(false)
        .build();
    c.start();
    c.stop();
    assert!(!c.is_running());
}

/// Twisted's `AliasTests.test_cooperate`: the free `cooperate` ought to run
/// the iterator that it is given.
#[test]
fn cooperate_alias() {
    let clock = new_clock();
    let d = Deferred::<&str>::new();
    let fire = d.clone();
    let mut steps = 0;
    let task = cooperate(
        clock.clone(),
        std::iter::from_fn(move || {
            steps += 1;
            match steps {
                1..=3 => Some(()),
                _ => {
                    fire.callback("yay");
                    None
                }
            }
        }),
    );
    assert_eq!(task.completion(), None);
    clock.run_until_idle();
    assert!(matches!(d.take_result(), Some(Ok("yay"))));
    assert_eq!(task.completion(), Some(SchedulerError::TaskDone));
    let done = coiterate(clock.clone(), (0..3).map(drop));
    clock.run_until_idle();
    assert!(matches!(done.take_result(), Some(Ok(()))));
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

/// The same scenario twice gives the same interleaving: determinism on the
/// fake clock.
#[test]
fn cooperation_is_deterministic() {
    let run = || {
        let clock = new_clock();
        let c = Cooperator::builder(clock_scheduler(clock.clone()))
            .termination_predicate(one_step_per_tick())
            .build();
        let log = Rc::new(RefCell::new(Vec::new()));
        for name in ["x", "y"] {
            let log = log.clone();
            c.cooperate((0..3).map(move |i| log.borrow_mut().push(format!("{name}{i}"))));
        }
        while !c.is_empty() {
            clock.run_turn();
        }
        assert!(clock.is_empty());
        let log = log.borrow().clone();
        log
    };
    assert_eq!(run(), run());
    assert_eq!(run(), ["x0", "y0", "x1", "y1", "x2", "y2"]);
    let _ = new_clock().now();
}

/// On the real reactor: two jobs that run until a timer fires share the
/// thread with it: they never block it, and both end once it has fired.
/// Bounded by a 10 s deadline.
#[test]
fn cooperates_on_the_real_reactor() {
    use std::time::{Duration, Instant};
    let reactor = torsion_reactor::Reactor::new().expect("a reactor");
    let c = Cooperator::new(Rc::new(reactor.clone()));
    let ticked = Rc::new(Cell::new(false));
    let steps = Rc::new(Cell::new(0u32));
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let (steps, ticked) = (steps.clone(), ticked.clone());
            c.coiterate(std::iter::from_fn(move || {
                steps.set(steps.get() + 1);
                (!ticked.get()).then_some(())
            }))
        })
        .collect();
    let flag = ticked.clone();
    reactor.call_later(Duration::from_millis(30), move || flag.set(true));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !jobs.iter().all(Deferred::is_called) {
        assert!(
            Instant::now() < deadline,
            "the timer never ran: the jobs blocked it"
        );
        reactor
            .iterate(Some(Duration::from_millis(5)))
            .expect("iterate");
    }
    assert!(ticked.get());
    assert!(
        steps.get() > 2,
        "the jobs ran while waiting: {}",
        steps.get()
    );
    assert!(jobs.iter().all(|d| matches!(d.take_result(), Some(Ok(())))));
    assert!(!c.is_scheduled());
}
