//! Twisted's `TimerServiceTests` (`twisted/application/test/test_internet.py`):
//! `TimerService(2, call)` on a `Clock`, where `call` returns a pending
//! Deferred. The two pickling tests are Python-only and not ported.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_application::{Service, TimerService};
use torsion_reactor::{Deferred, Failure, ReactorTime};
use torsion_testing::{assert_no_result, success_result_of, Clock, LogCapture};

#[derive(Debug)]
struct ZeroDivisionError;
impl std::fmt::Display for ZeroDivisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("division by zero")
    }
}
impl std::error::Error for ZeroDivisionError {}

struct SetUp {
    clock: Clock,
    deferred: Deferred<()>,
    calls: Rc<RefCell<u32>>,
    timer: TimerService,
}

/// `TimerService(2, self.call)` with `timer.clock = Clock()`; `call` returns
/// `self.deferred`.
fn set_up() -> SetUp {
    let clock = Clock::new();
    let deferred = Deferred::<()>::new();
    let calls = Rc::new(RefCell::new(0));
    let (d, c) = (deferred.clone(), calls.clone());
    let timer = TimerService::new(Duration::from_secs(2), Rc::new(clock.clone()), move || {
        *c.borrow_mut() += 1;
        d.clone()
    });
    SetUp {
        clock,
        deferred,
        calls,
        timer,
    }
}

/// When the service is started, it is running and its loop is a running
/// LoopingCall on the service's clock.
#[test]
fn start_service() {
    let s = set_up();
    s.timer.start_service();
    assert!(s.timer.is_running());
    let looping = s.timer.looping_call().expect("a loop");
    assert!(looping.is_running());
    assert_eq!(
        s.clock.delayed_calls().len(),
        0,
        "waiting on the call's Deferred, nothing scheduled"
    );
    s.deferred.callback(());
    assert_eq!(
        s.clock.delayed_calls().len(),
        1,
        "the next call is scheduled on the service's clock"
    );
}

/// The callable runs synchronously within `start_service`.
#[test]
fn start_service_runs_call_immediately() {
    let s = set_up();
    s.timer.start_service();
    assert_eq!(*s.calls.borrow(), 1);
}

/// (Twisted: the global reactor is used when no clock is set.) Here the
/// clock is a constructor argument; the loop runs on exactly that clock.
#[test]
fn start_service_uses_given_clock() {
    let s = set_up();
    s.timer.start_service();
    s.deferred.callback(());
    s.clock.advance(Duration::from_secs(2));
    assert_eq!(*s.calls.borrow(), 2);
}

/// Stopping while the call's Deferred is pending returns a pending Deferred
/// and the service still runs; it fires once the call's Deferred fires.
#[test]
fn stop_service_waits() {
    let s = set_up();
    s.timer.start_service();
    let stopped = s.timer.stop_service();
    assert_no_result(&stopped);
    assert!(s.timer.is_running());
    s.deferred.callback(());
    success_result_of(&stopped);
    assert!(!s.timer.is_running());
}

/// If the call's Deferred has fired, stopping completes at once.
#[test]
fn stop_service_immediately() {
    let s = set_up();
    s.timer.start_service();
    s.deferred.callback(());
    success_result_of(&s.timer.stop_service());
    assert!(!s.timer.is_running());
}

/// A failing call is logged once; stopping still completes.
#[test]
fn failed_call_logs_error() {
    let logs = LogCapture::strict();
    let s = set_up();
    s.timer.start_service();
    s.deferred.errback(Failure::new(ZeroDivisionError));
    assert_eq!(logs.flush_logged_errors::<ZeroDivisionError>().len(), 1);
    success_result_of(&s.timer.stop_service());
}

/// Beyond Twisted: a stopped timer can be started again, and calls resume.
#[test]
fn restart_after_stop() {
    let s = set_up();
    s.timer.start_service();
    s.deferred.callback(());
    success_result_of(&s.timer.stop_service());
    s.timer.start_service();
    assert_eq!(*s.calls.borrow(), 2);
    assert!(s.timer.is_running());
    s.clock.advance(Duration::from_secs(2));
    assert_eq!(*s.calls.borrow(), 3);
    success_result_of(&s.timer.stop_service());
}
