//! Helpers shared by the `defer_*` integration tests: Twisted's
//! `successResultOf` / `failureResultOf` / `assertNoResult`, a recorder for
//! what callbacks saw, a fake clock step, and a per-thread log capture.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use torsion_reactor::{Deferred, Failure, ReactorTime, Timers};

/// Twisted's `GenericError`: a test-only error type with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GenericError(pub(crate) String);

impl GenericError {
    pub(crate) fn new(message: &str) -> GenericError {
        GenericError(message.to_string())
    }
}

impl fmt::Display for GenericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for GenericError {}

/// A list that callbacks append to and the test reads: Twisted tests'
/// `l = []; d.addCallback(l.append)`.
#[derive(Debug)]
pub(crate) struct Recorder<T>(Rc<RefCell<Vec<T>>>);

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder(self.0.clone())
    }
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Recorder(Rc::new(RefCell::new(Vec::new())))
    }
}

impl<T> Recorder<T> {
    pub(crate) fn new() -> Recorder<T> {
        Recorder::default()
    }

    pub(crate) fn push(&self, value: T) {
        self.0.borrow_mut().push(value);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Everything recorded so far, leaving the recorder empty.
    pub(crate) fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

impl<T: Clone> Recorder<T> {
    pub(crate) fn get(&self) -> Vec<T> {
        self.0.borrow().clone()
    }
}

/// Twisted's `successResultOf`: the success sitting in `d` right now.
#[track_caller]
pub(crate) fn success_result_of<T: 'static>(d: &Deferred<T>) -> T {
    match d.take_result() {
        Some(Ok(value)) => value,
        Some(Err(failure)) => panic!("expected a success, found {failure}"),
        None => panic!("expected a success, found no result: {d:?}"),
    }
}

/// Twisted's `failureResultOf`: the failure sitting in `d` right now.
#[track_caller]
pub(crate) fn failure_result_of<T: 'static>(d: &Deferred<T>) -> Failure {
    match d.take_result() {
        Some(Err(failure)) => failure,
        Some(Ok(_)) => panic!("expected a failure, found a success"),
        None => panic!("expected a failure, found no result: {d:?}"),
    }
}

/// Twisted's `assertNoResult`.
#[track_caller]
pub(crate) fn assert_no_result<T: 'static>(d: &Deferred<T>) {
    assert!(!d.has_result(), "expected no result: {d:?}");
}

/// Twisted's `Clock.advance(seconds)` on manual [`Timers`].
pub(crate) fn advance(clock: &Timers, seconds: u64) {
    clock.set_now(clock.now() + Duration::from_secs(seconds));
    clock.run_until_idle();
}

/// Twisted's `fakeCallbackCanceller`: fires the cancelled Deferred with
/// `"Callback Result"`.
pub(crate) fn fake_callback_canceller(d: &Deferred<&'static str>) {
    d.callback("Callback Result");
}

/// Runs `f` on a thread with exactly a 2 MiB stack (the default test thread
/// stack), so a test proves it needs no more.
pub(crate) fn on_2mib_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .expect("the 2 MiB-stack test thread panicked");
}

/// One captured log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) level: log::Level,
    pub(crate) message: String,
}

thread_local! {
    /// Records logged by this thread. Tests run on their own threads, so
    /// parallel tests never see each other's records.
    static RECORDS: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let captured = Record {
            level: record.level(),
            message: record.args().to_string(),
        };
        // A record logged while the thread is being torn down has nowhere to go.
        let _ = RECORDS.try_with(|records| records.borrow_mut().push(captured));
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per process) and forgets anything
/// this thread logged before.
pub(crate) fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        static CAPTURE: Capture = Capture;
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
    RECORDS.with(|records| records.borrow_mut().clear());
}

/// What this thread logged since [`capture_logs`] or the last call.
pub(crate) fn take_logs() -> Vec<Record> {
    RECORDS.with(|records| std::mem::take(&mut *records.borrow_mut()))
}

/// The error-level records this thread logged since the last take.
pub(crate) fn take_errors() -> Vec<Record> {
    take_logs()
        .into_iter()
        .filter(|r| r.level == log::Level::Error)
        .collect()
}

/// Twisted tests' `1 // 0`: a distinct error type to check failures against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZeroDivisionError;

impl fmt::Display for ZeroDivisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("integer division or modulo by zero")
    }
}

impl Error for ZeroDivisionError {}

/// Twisted tests' `RuntimeError(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuntimeError(pub(crate) String);

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for RuntimeError {}
