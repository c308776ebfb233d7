//! The reactor's doors: `defer_to_thread`, `spawn_local` with a future
//! awaiting a Deferred, `Deferred::from_future` driven by the reactor.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{CancelledError, Message, PanicError};
use torsion_reactor::{Deferred, Failure, Reactor, ReactorTimeExt};

fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn defer_to_thread_delivers_results_errors_and_panics_on_the_reactor_thread() {
    let reactor = Reactor::new().unwrap();
    let reactor_thread = std::thread::current().id();
    let ok = reactor.defer_to_thread(move || Ok(std::thread::current().id()));
    let err = reactor.defer_to_thread(|| Err::<(), _>("no such host".into()));
    let panicked = reactor
        .defer_to_thread(|| -> Result<(), torsion_reactor::ThreadError> { panic!("worker bug") });
    let fired_on = Rc::new(Cell::new(None));
    let f = fired_on.clone();
    let ok = ok.add_callback(move |worker| {
        f.set(Some(std::thread::current().id()));
        Ok(worker)
    });
    run_until(&reactor, "three results", || {
        ok.has_result() && err.has_result() && panicked.has_result()
    });
    assert_ne!(
        ok.take_result().unwrap().unwrap(),
        reactor_thread,
        "ran on a worker"
    );
    assert_eq!(
        fired_on.get(),
        Some(reactor_thread),
        "delivered on the reactor thread"
    );
    let err = err.take_result().unwrap().unwrap_err();
    assert_eq!(err.error_message(), "no such host");
    let panicked = panicked.take_result().unwrap().unwrap_err();
    assert!(panicked.check::<Message>() && panicked.error_message().contains("worker bug"));
    let _ = PanicError::from_payload(&"unused"); // the type the message came from
}

#[test]
fn defer_to_thread_many_jobs_on_a_small_pool() {
    let reactor = Reactor::new().unwrap();
    let jobs: Vec<Deferred<u64>> = (0..64u64)
        .map(|i| {
            reactor.defer_to_thread(move || {
                std::thread::sleep(Duration::from_millis(1));
                Ok(i * i)
            })
        })
        .collect();
    let all = torsion_reactor::gather_results(jobs, false);
    run_until(&reactor, "64 jobs", || all.has_result());
    let squares = all.take_result().unwrap().unwrap();
    assert_eq!(squares, (0..64u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn a_cancelled_thread_job_ignores_its_late_result() {
    let reactor = Reactor::new().unwrap();
    let job = reactor.defer_to_thread(|| {
        std::thread::sleep(Duration::from_millis(30));
        Ok(1)
    });
    job.cancel();
    assert!(job
        .take_result()
        .unwrap()
        .unwrap_err()
        .check::<CancelledError>());
    let later = reactor.defer_to_thread(|| Ok(2));
    run_until(&reactor, "a later job", || later.has_result());
    // Give the cancelled one time to come back too; nothing breaks.
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_millis(60) {
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn a_future_awaits_a_deferred_fired_by_a_timer() {
    let reactor = Reactor::new().unwrap();
    let fired = Deferred::<&str>::new();
    let trigger = fired.clone();
    reactor.call_later(Duration::from_millis(20), move || {
        trigger.callback("from the timer")
    });
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    reactor.spawn_local(async move {
        *s.borrow_mut() = Some(fired.await.unwrap());
    });
    run_until(&reactor, "the future", || seen.borrow().is_some());
    assert_eq!(*seen.borrow(), Some("from the timer"));
}

#[test]
fn from_future_runs_on_the_reactor_and_awaits_a_thread_job() {
    let reactor = Reactor::new().unwrap();
    let r = reactor.clone();
    let result = Deferred::from_future(&reactor, async move {
        let n = r.defer_to_thread(|| Ok(21u32)).await?;
        Ok::<_, Failure>(n * 2)
    });
    run_until(&reactor, "the future's Deferred", || result.has_result());
    assert_eq!(result.take_result().unwrap().unwrap(), 42);
}

#[test]
fn cancelling_a_from_future_deferred_drops_the_future() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let reactor = Reactor::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let flag = Flag(dropped.clone());
    let never = Deferred::<()>::new();
    let waiting = never.clone();
    let d = Deferred::from_future(&reactor, async move {
        let _flag = flag;
        waiting.await
    });
    reactor.iterate(Some(Duration::ZERO)).unwrap();
    assert!(!dropped.get());
    d.cancel();
    reactor.iterate(Some(Duration::ZERO)).unwrap();
    assert!(dropped.get(), "the future was dropped");
    assert!(d
        .take_result()
        .unwrap()
        .unwrap_err()
        .check::<CancelledError>());
}
