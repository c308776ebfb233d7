//! `task::Cooperator`: Twisted's `CooperatorTests` and `AliasTests`
//! (`twisted/test/test_cooperator.py`), on `Timers::manual()` or a fake
//! scheduler; `RunStateTests` are in `cooperator_run_state.rs`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::error::SchedulerError;
use torsion_reactor::task::{clock_scheduler, coiterate, cooperate, Cooperator};
use torsion_reactor::{Deferred, DeferredList, Failure, ReactorTime, ReactorTimeExt};

mod cooperator_util;

use cooperator_util::{new_clock, one_step_per_tick, FakeScheduler};

/// Twisted's `ebIter`: traps `SchedulerStopped` and returns `RESULT`.
fn trap_stopped(failure: Failure) -> Result<&'static str, Failure> {
    match failure.downcast_ref::<SchedulerError>() {
        Some(SchedulerError::SchedulerStopped) => Ok("done"),
        _ => Err(failure),
    }
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
