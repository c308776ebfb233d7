//! `LogCapture`: scoped per thread, typed flushing, strict mode.

use std::panic::{catch_unwind, AssertUnwindSafe};

use log::Level;
use torsion_reactor::error::{CancelledError, ConnectionDone};
use torsion_reactor::{log_failure, Deferred, Failure};
use torsion_testing::LogCapture;

#[test]
fn captures_this_threads_records_only() {
    let logs = LogCapture::start();
    log::info!("mine");
    std::thread::spawn(|| log::info!("not mine"))
        .join()
        .unwrap();
    assert_eq!(logs.messages(), ["mine"]);
}

#[test]
fn parallel_captures_do_not_mix() {
    let workers: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let logs = LogCapture::start();
                for j in 0..50 {
                    log::debug!("{i}:{j}");
                }
                let messages = logs.messages();
                assert_eq!(messages.len(), 50);
                assert!(messages.iter().all(|m| m.starts_with(&format!("{i}:"))));
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn nested_captures_go_to_the_innermost() {
    let outer = LogCapture::start();
    {
        let inner = LogCapture::start();
        log::warn!("inner");
        assert_eq!(inner.messages(), ["inner"]);
    }
    log::warn!("outer");
    assert_eq!(outer.messages(), ["outer"]);
}

#[test]
fn assert_logged_and_levels() {
    let logs = LogCapture::start();
    log::warn!("Duplicate ClientService.start_service <service>");
    logs.assert_logged(Level::Warn, "Duplicate ClientService.start_service");
    logs.assert_nothing_at(Level::Error);
    let result = catch_unwind(AssertUnwindSafe(|| {
        logs.assert_logged(Level::Error, "Duplicate")
    }));
    assert!(result.is_err());
}

#[test]
fn unhandled_failure_in_a_dropped_deferred_is_logged_with_its_type() {
    let logs = LogCapture::start();
    drop(Deferred::<()>::failed(ConnectionDone));
    let errors = logs.errors();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]
        .message
        .starts_with("Unhandled error in Deferred: ConnectionDone"));
    assert_eq!(
        errors[0].failure_type.as_deref(),
        Some(std::any::type_name::<ConnectionDone>())
    );
}

#[test]
fn flush_logged_errors_matches_by_type() {
    let logs = LogCapture::strict();
    log_failure("first", &Failure::new(CancelledError));
    log_failure("second", &Failure::new(ConnectionDone));
    assert!(logs.flush_logged_errors::<std::io::Error>().is_empty());
    let flushed = logs.flush_logged_errors::<CancelledError>();
    assert_eq!(flushed.len(), 1);
    assert!(flushed[0].message.starts_with("first: "));
    assert_eq!(logs.errors().len(), 1);
    logs.flush_errors();
}

#[test]
#[should_panic(expected = "errors were logged and not flushed")]
fn strict_capture_fails_on_unflushed_errors() {
    let _logs = LogCapture::strict();
    drop(Deferred::<()>::failed(Failure::msg("nobody handled me")));
}

#[test]
fn a_handled_failure_is_not_logged() {
    let logs = LogCapture::strict();
    let d = Deferred::<()>::failed(Failure::msg("handled")).add_errback(|_| Ok(()));
    drop(d);
    assert!(logs.errors().is_empty());
}
