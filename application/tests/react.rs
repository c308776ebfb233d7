//! `react` (Twisted's `task.react`): Twisted's `ReactTests` and
//! `ReactCoroutineFunctionTests`, on a fake reactor that, like Twisted's
//! `_FakeReactor`, runs timed calls on a `Clock` until it is stopped.
//!
//! `test_defaultReactor` has no counterpart: there is no global reactor;
//! `react` makes a new one and `react_on` takes the one given.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use torsion_application::{react_on, Exit};
use torsion_reactor::error::ReactorError;
use torsion_reactor::{
    events, fail, succeed, Deferred, DelayedCall, Failure, LocalExecutor, LocalFuture, LocalSpawn,
    Phase, ReactorCore, ReactorTime, ReactorTimeExt, Trigger, TriggerId,
};
use torsion_testing::{Clock, LogCapture};

/// Twisted's `_FakeReactor`: `run` calls the `call_when_running` hooks,
/// then advances its clock to each next timed call until stopped (and
/// panics, as Twisted raises, if none is left), then fires the shutdown
/// triggers. It also polls a local executor, for `async` mains.
#[derive(Clone, Default)]
struct FakeReactor {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    clock: Clock,
    executor: LocalExecutor,
    running: Cell<bool>,
    has_run: Cell<bool>,
    when_running: RefCell<Vec<Box<dyn FnOnce()>>>,
    triggers: RefCell<Vec<(TriggerId, Phase, Trigger)>>,
    next_id: Cell<u64>,
}

impl FakeReactor {
    fn seconds(&self) -> u64 {
        self.inner.clock.now().as_secs()
    }

    fn run_triggers(&self, phase: Phase) {
        let triggers: Vec<_> = {
            let mut all = self.inner.triggers.borrow_mut();
            let (these, rest) = all.drain(..).partition(|(_, p, _)| *p == phase);
            *all = rest;
            these
        };
        for (_, _, mut trigger) in triggers {
            let _ = trigger();
        }
    }
}

impl ReactorTime for FakeReactor {
    fn now(&self) -> Duration {
        self.inner.clock.now()
    }
    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        self.inner.clock.call_later_boxed(delay, call)
    }
    fn delayed_calls(&self) -> Vec<DelayedCall> {
        self.inner.clock.delayed_calls()
    }
}

impl LocalSpawn for FakeReactor {
    fn spawn_local_boxed(&self, future: LocalFuture) {
        self.inner.executor.spawn_local(future);
    }
}

impl ReactorCore for FakeReactor {
    fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    fn run(&self) -> Result<(), ReactorError> {
        self.inner.running.set(true);
        self.inner.has_run.set(true);
        let hooks = std::mem::take(&mut *self.inner.when_running.borrow_mut());
        for hook in hooks {
            hook();
        }
        loop {
            self.inner.executor.run_until_stalled();
            if !self.inner.running.get() {
                break;
            }
            let next = self.inner.clock.delayed_calls().first().map(|c| c.time());
            let next = next.expect("No DelayedCalls left");
            self.inner.clock.advance(next - self.inner.clock.now());
        }
        self.run_triggers(Phase::Before);
        self.run_triggers(Phase::During);
        Ok(())
    }

    fn stop(&self) -> Result<(), ReactorError> {
        if !self.inner.running.get() {
            return Err(ReactorError::NotRunning);
        }
        self.inner.running.set(false);
        Ok(())
    }

    fn crash(&self) {
        self.inner.running.set(false);
    }

    fn call_when_running(&self, call: Box<dyn FnOnce()>) -> Option<TriggerId> {
        if self.inner.has_run.get() {
            call();
            return None;
        }
        self.inner.when_running.borrow_mut().push(call);
        None
    }

    fn add_system_event_trigger(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        assert_eq!(event, events::SHUTDOWN);
        let id = TriggerId(self.inner.next_id.get());
        self.inner.next_id.set(id.0 + 1);
        self.inner.triggers.borrow_mut().push((id, phase, trigger));
        id
    }

    fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        let mut triggers = self.inner.triggers.borrow_mut();
        let before = triggers.len();
        triggers.retain(|(t, _, _)| *t != id);
        triggers.len() != before
    }

    fn fire_system_event(&self, _event: &str) {}
}

#[derive(Debug)]
struct ExpectedException;

impl fmt::Display for ExpectedException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected")
    }
}

impl Error for ExpectedException {}

/// `react` runs the reactor until the Deferred returned by the function it
/// is passed is called back, then stops it.
#[test]
fn runs_until_async_callback() {
    let time_passed = Rc::new(Cell::new(false));
    let r = FakeReactor::default();
    let passed = time_passed.clone();
    let code = react_on(&r, |reactor| {
        let finished = Deferred::<()>::new();
        reactor.call_later(Duration::from_secs(1), move || passed.set(true));
        let firing = finished.clone();
        reactor.call_later(Duration::from_secs(2), move || firing.callback(()));
        finished
    });
    assert_eq!(code, 0);
    assert!(time_passed.get());
    assert_eq!(r.seconds(), 2);
}

/// `react` returns quickly if the Deferred returned by the function it is
/// passed has already been called back at the time it is returned.
#[test]
fn runs_until_sync_callback() {
    let r = FakeReactor::default();
    let code = react_on(&r, |_| succeed(()));
    assert_eq!(code, 0);
    assert_eq!(r.seconds(), 0);
}

/// `react` runs the reactor until the Deferred returned by the function it
/// is passed is errbacked, then it stops the reactor and reports the error.
#[test]
fn runs_until_async_errback() {
    let logs = LogCapture::strict();
    let r = FakeReactor::default();
    let code = react_on(&r, |reactor| {
        let finished = Deferred::<()>::new();
        let failing = finished.clone();
        reactor.call_later(Duration::from_secs(1), move || {
            failing.errback(ExpectedException)
        });
        finished
    });
    assert_eq!(code, 1);
    assert_eq!(logs.flush_logged_errors::<ExpectedException>().len(), 1);
}

/// `react` returns quickly if the Deferred returned by the function it is
/// passed has already been errbacked at the time it is returned.
#[test]
fn runs_until_sync_errback() {
    let logs = LogCapture::strict();
    let r = FakeReactor::default();
    let code = react_on(&r, |_| fail::<()>(ExpectedException));
    assert_eq!(code, 1);
    assert_eq!(r.seconds(), 0);
    assert_eq!(logs.flush_logged_errors::<ExpectedException>().len(), 1);
}

/// `react` doesn't try to stop the reactor if the Deferred the function it
/// is passed is called back after the reactor has already been stopped.
#[test]
fn single_stop_callback() {
    let r = FakeReactor::default();
    let code = react_on(&r, |reactor| {
        let stopper = reactor.clone();
        reactor.call_later(Duration::from_secs(1), move || {
            stopper.stop().expect("running");
        });
        let finished = Deferred::<()>::new();
        let firing = finished.clone();
        reactor.add_system_event_trigger(
            Phase::During,
            events::SHUTDOWN,
            Box::new(move || {
                firing.callback(());
                None
            }),
        );
        finished
    });
    assert_eq!(r.seconds(), 1);
    assert_eq!(code, 0);
}

/// `react` doesn't try to stop the reactor if the Deferred the function it
/// is passed is errbacked after the reactor has already been stopped.
#[test]
fn single_stop_errback() {
    let logs = LogCapture::strict();
    let r = FakeReactor::default();
    let code = react_on(&r, |reactor| {
        let stopper = reactor.clone();
        reactor.call_later(Duration::from_secs(1), move || {
            stopper.stop().expect("running");
        });
        let finished = Deferred::<()>::new();
        let failing = finished.clone();
        reactor.add_system_event_trigger(
            Phase::During,
            events::SHUTDOWN,
            Box::new(move || {
                failing.errback(ExpectedException);
                None
            }),
        );
        finished
    });
    assert_eq!(code, 1);
    assert_eq!(r.seconds(), 1);
    assert_eq!(logs.flush_logged_errors::<ExpectedException>().len(), 1);
}

/// `react` passes the elements of the list it is passed as positional
/// arguments to the function it is passed. (In Rust the closure captures
/// them.)
#[test]
fn arguments() {
    let args = Rc::new(RefCell::new(Vec::new()));
    let (x, y, z) = (1, 2, 3);
    let seen = args.clone();
    let code = react_on(&FakeReactor::default(), move |_| {
        seen.borrow_mut().extend([x, y, z]);
        succeed(())
    });
    assert_eq!(code, 0);
    assert_eq!(*args.borrow(), [1, 2, 3]);
}

/// `react` forwards the exit code specified by the `SystemExit` error
/// returned by the passed function, if any.
#[test]
fn exit_with_defined_code() {
    let logs = LogCapture::strict();
    let code = react_on(&FakeReactor::default(), |_| fail::<()>(Exit::new(23)));
    assert_eq!(code, 23);
    logs.assert_nothing_at(log::Level::Error);
}

/// `react` handles when the reactor is stopped just before the returned
/// Deferred fires.
#[test]
fn synchronous_stop() {
    let code = react_on(&FakeReactor::default(), |reactor| {
        let d = Deferred::<()>::new();
        let (stopper, firing) = (reactor.clone(), d.clone());
        reactor.call_when_running(Box::new(move || {
            stopper.stop().expect("running");
            firing.callback(());
        }));
        d
    });
    assert_eq!(code, 0);
}

/// `react` handles when the reactor is stopped and the returned Deferred
/// doesn't fire.
#[test]
fn asynchronous_stop() {
    let code = react_on(&FakeReactor::default(), |reactor| {
        let stopper = reactor.clone();
        reactor.call_later(Duration::from_secs(1), move || {
            stopper.stop().expect("running");
        });
        Deferred::<()>::new()
    });
    assert_eq!(code, 0);
}

/// `ReactCoroutineFunctionTests.test_runsUntilAsyncCallback`: an `async`
/// main runs until its future completes.
#[test]
fn coroutine_runs_until_async_callback() {
    let time_passed = Rc::new(Cell::new(false));
    let r = FakeReactor::default();
    let passed = time_passed.clone();
    let code = react_on(&r, |reactor| {
        let finished = Deferred::<()>::new();
        reactor.call_later(Duration::from_secs(1), move || passed.set(true));
        let firing = finished.clone();
        reactor.call_later(Duration::from_secs(2), move || firing.callback(()));
        Deferred::from_future(reactor, async move {
            finished.await?;
            Ok(())
        })
    });
    assert_eq!(code, 0);
    assert!(time_passed.get());
    assert_eq!(r.seconds(), 2);
}

/// `ReactCoroutineFunctionTests.test_runsUntilSyncCallback`.
#[test]
fn coroutine_runs_until_sync_callback() {
    let r = FakeReactor::default();
    let code = react_on(&r, |reactor| {
        Deferred::from_future(reactor, async {
            succeed(()).await?;
            Ok(())
        })
    });
    assert_eq!(code, 0);
    assert_eq!(r.seconds(), 0);
}

/// `ReactCoroutineFunctionTests.test_runsUntilAsyncErrback`.
#[test]
fn coroutine_runs_until_async_errback() {
    let logs = LogCapture::strict();
    let r = FakeReactor::default();
    let code = react_on(&r, |reactor| {
        let finished = Deferred::<()>::new();
        let failing = finished.clone();
        reactor.call_later(Duration::from_secs(1), move || {
            failing.errback(ExpectedException)
        });
        Deferred::from_future(reactor, async move {
            finished.await?;
            Ok(())
        })
    });
    assert_eq!(code, 1);
    assert_eq!(r.seconds(), 1);
    assert_eq!(logs.flush_logged_errors::<ExpectedException>().len(), 1);
}

/// `ReactCoroutineFunctionTests.test_exitWithDefinedCode`.
#[test]
fn coroutine_exit_with_defined_code() {
    let code = react_on(&FakeReactor::default(), |reactor| {
        Deferred::from_future(reactor, async { Err::<(), Failure>(Exit::new(23).into()) })
    });
    assert_eq!(code, 23);
}

/// Beyond Twisted: on the real reactor, a `main` that never fires ends
/// when the reactor is stopped (as SIGINT does, through the same `stop`),
/// with status 0.
#[test]
fn real_reactor_stopped_gracefully() -> Result<(), Box<dyn Error>> {
    let reactor = torsion_reactor::Reactor::new()?;
    reactor.set_install_signal_handlers(false);
    let code = react_on(&reactor, |reactor| {
        let stopper = reactor.clone();
        reactor.call_later(Duration::from_millis(5), move || {
            stopper.stop().expect("running");
        });
        Deferred::<()>::new()
    });
    assert_eq!(code, 0);
    Ok(())
}
