//! Logging of unhandled failures: a Deferred whose last handle is dropped
//! while it holds a failure logs `Unhandled error in Deferred: ...` once, at
//! error level; handled or handed-on failures are not logged. Ported from
//! Twisted's `LogTests` in `twisted/test/test_defer.py`; each test cites its
//! case in `spec/deferred.md` §12. Records are captured per thread by
//! `util::capture_logs`.

mod util;

use torsion_reactor::{fail, Deferred, DeferredList, Failure};
use util::{
    capture_logs, take_errors, take_logs, GenericError, Recorder, RuntimeError, ZeroDivisionError,
};

/// Twisted's `_check`: exactly one error record, the unhandled
/// ZeroDivisionError. (Twisted logs two events, the header and the failure;
/// one Rust record carries both.)
#[track_caller]
fn check() {
    let errors = take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .starts_with("Unhandled error in Deferred: ZeroDivisionError: "),
        "{errors:?}"
    );
}

/// A callback doing Twisted's `1 // 0`.
fn divide_by_zero(x: i32) -> Result<i32, Failure> {
    Ok(x.checked_div(0).ok_or(ZeroDivisionError)?)
}

/// spec/deferred.md §12 case 49: test_errorLog. An unreferenced Deferred
/// whose final result is a failure logs it (in Rust: when its last handle
/// is dropped, which here is at once).
#[test]
fn error_log() {
    capture_logs();
    let d = Deferred::<i32>::new();
    d.clone().add_callback(divide_by_zero);
    d.callback(1);
    assert!(
        take_errors().is_empty(),
        "nothing is logged while a handle lives"
    );
    drop(d);
    check();
}

/// spec/deferred.md §12 case 49: test_errorLogWithInnerFrameRef. The same
/// when the Deferred lives in an inner function.
#[test]
fn error_log_with_inner_frame_ref() {
    capture_logs();
    fn sub_error_log_with_inner_frame_ref() {
        let d = Deferred::<i32>::new();
        d.clone().add_callback(divide_by_zero);
        d.callback(1);
    }
    sub_error_log_with_inner_frame_ref();
    check();
}

/// spec/deferred.md §12 case 49: test_errorLogWithInnerFrameCycle. The same
/// with a cycle: the callback holds its own Deferred. The cycle ends when
/// the callback runs (it is consumed), so reference counting frees it.
#[test]
fn error_log_with_inner_frame_cycle() {
    capture_logs();
    fn sub_error_log_with_inner_frame_cycle() {
        let d = Deferred::<i32>::new();
        let cycle = d.clone();
        d.clone().add_callback(move |x| {
            let _keep = &cycle;
            divide_by_zero(x)
        });
        d.callback(1);
    }
    sub_error_log_with_inner_frame_cycle();
    check();
}

/// spec/deferred.md §12 case 50: test_errorLogNoRepr. Twisted's text starts
/// "Unhandled Error\nTraceback " with no repr of the failure object. Rust
/// failures have no traceback: the record is one line, the fixed header
/// and the failure's Display (`Type: message`), not its Debug.
#[test]
fn error_log_no_repr() {
    capture_logs();
    Deferred::<i32>::new()
        .add_callback(divide_by_zero)
        .callback(1);
    let logs = take_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(
        logs[0].message,
        format!(
            "Unhandled error in Deferred: {}",
            Failure::new(ZeroDivisionError)
        )
    );
    assert!(!logs[0].message.contains("Failure {"), "no Debug form");
}

/// spec/deferred.md §12 case 50: test_errorLogDebugInfo. Twisted adds
/// "(debug:  I..." creator/invoker stacks in debug mode; Rust has no debug
/// mode, so what applies is that the record is at error level and names the
/// failure, whatever the Deferred's history.
#[test]
fn error_log_debug_info() {
    capture_logs();
    fn doit() {
        let d = Deferred::<i32>::new();
        d.clone().add_callback(divide_by_zero);
        d.callback(1);
    }
    doit();
    let logs = take_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].level, log::Level::Error);
    assert!(logs[0].message.contains("ZeroDivisionError"), "{logs:?}");
}

/// spec/deferred.md §12 case 51: test_chainedErrorCleanup. A failed
/// Deferred returned from a callback hands its failure on; once that
/// failure is handled, dropping everything logs nothing.
#[test]
fn chained_error_cleanup() {
    capture_logs();
    let d = Deferred::<()>::new();
    let tail = d
        .clone()
        .add_callback(|()| fail::<()>(RuntimeError("zoop".into())));
    d.callback(());
    let (results, errors) = (Recorder::new(), Recorder::<Failure>::new());
    let (r, e) = (results.clone(), errors.clone());
    tail.add_callbacks(
        move |()| {
            r.push(());
            Ok(())
        },
        move |failure| {
            e.push(failure);
            Ok(())
        },
    );
    assert!(results.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(errors.get()[0].check::<RuntimeError>());
    drop((results, errors, d));
    assert!(take_errors().is_empty());
}

/// spec/deferred.md §12 case 51: test_errorClearedByChaining. An errback
/// that chains the failed Deferred to another clears its failure: nothing
/// is logged. (The two Deferreds then keep each other alive until `good`
/// fires, see the `# Twisted` section of `Deferred`; they never hold a
/// failure, which is what this checks.)
#[test]
fn error_cleared_by_chaining() {
    capture_logs();
    let bad = fail::<()>(GenericError::new("oh no"));
    let good = Deferred::<()>::new();
    let waiting = good.clone();
    let bad = bad.add_errback(move |_| waiting);
    assert!(!bad.has_failure());
    drop((good, bad));
    assert!(take_errors().is_empty());
}

/// A handled failure is not logged: an errback that recovers consumes it.
#[test]
fn handled_failure_is_not_logged() {
    capture_logs();
    let d = fail::<()>(GenericError::new("handled"));
    let d = d.add_errback(|_| Ok(()));
    drop(d);
    assert!(take_errors().is_empty());
}

/// A failure taken out of the Deferred (`take_result`, as `.await` does) is
/// handed on, not logged.
#[test]
fn taken_failure_is_not_logged() {
    capture_logs();
    let d = fail::<()>(GenericError::new("taken"));
    assert!(d.take_result().expect("a result").is_err());
    drop(d);
    assert!(take_errors().is_empty());
}

/// The unhandled failure is logged once, when the *last* handle goes, no
/// matter how many clones there were.
#[test]
fn unhandled_failure_logged_once_when_last_handle_dropped() {
    capture_logs();
    let d = fail::<()>(GenericError::new("once"));
    let clones: Vec<Deferred<()>> = (0..3).map(|_| d.clone()).collect();
    drop(d);
    drop(clones);
    let errors = take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].message,
        "Unhandled error in Deferred: GenericError: once"
    );
}

/// A failure given to a DeferredList without `consume_errors` keeps
/// propagating on the input, and is logged if nobody handles it there; with
/// `consume_errors` it is not (spec/deferred.md §8).
#[test]
fn deferred_list_consume_errors_decides_logging() {
    for consume in [false, true] {
        capture_logs();
        let input = Deferred::<()>::new();
        let list = DeferredList::new([input.clone()])
            .consume_errors(consume)
            .into_deferred();
        input.errback(GenericError::new("input failed"));
        drop((input, list));
        let errors = take_errors();
        assert_eq!(errors.len(), usize::from(!consume), "{consume}: {errors:?}");
    }
}

/// Adding a callback to a consumed Deferred logs a warning: the callback
/// will never run (the documented `# Twisted` difference: no `None`).
#[test]
fn callback_on_consumed_deferred_warns() {
    capture_logs();
    let d = Deferred::<u8>::new();
    d.callback(1);
    assert_eq!(d.take_result().map(Result::ok), Some(Some(1)));
    d.clone().add_callback(|n| Ok(n + 1));
    let logs = take_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].level, log::Level::Warn);
    assert!(logs[0].message.contains("will never run"), "{logs:?}");
}

/// A panicking callback is logged at error level as it becomes a
/// `PanicError` failure; handling that failure logs nothing more.
#[test]
fn panicking_callback_is_logged() {
    capture_logs();
    let d = Deferred::<()>::new();
    let handled = d
        .clone()
        .add_callback(|()| -> Result<(), Failure> { panic!("oops") })
        .add_errback(|_| Ok(()));
    d.callback(());
    drop((d, handled));
    let errors = take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("oops"), "{errors:?}");
}
