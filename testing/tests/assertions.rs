//! Deferred assertions: each passes on what it expects and panics with a
//! message saying what the Deferred actually holds.

use std::panic::{catch_unwind, AssertUnwindSafe};

use torsion_reactor::error::{CancelledError, ConnectionDone};
use torsion_reactor::{fail, succeed, Deferred, Failure};
use torsion_testing::{
    assert_no_result, failure_result_of, failure_result_of_type, success_result_of,
};

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("should panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn success_result_of_takes_the_value() {
    assert_eq!(success_result_of(&succeed("v")), "v");
}

#[test]
fn success_result_of_reports_no_result() {
    let message = panic_message(|| {
        success_result_of(&Deferred::<u8>::new());
    });
    assert!(message.contains("found no result instead"), "{message}");
    assert!(message.contains("not fired yet"), "{message}");
}

#[test]
fn success_result_of_reports_a_failure() {
    let message = panic_message(|| {
        success_result_of(&fail::<u8>(Failure::msg("kaboom")));
    });
    assert!(
        message.contains("found failure result instead"),
        "{message}"
    );
    assert!(message.contains("kaboom"), "{message}");
}

#[test]
fn success_result_of_reports_a_waiting_deferred() {
    let inner = Deferred::<u8>::new();
    let waiting = inner.clone();
    let outer = succeed(1u8).add_callback(move |_| waiting);
    let message = panic_message(|| {
        success_result_of(&outer);
    });
    assert!(message.contains("waiting on Deferred"), "{message}");
    inner.callback(2);
    assert_eq!(success_result_of(&outer), 2);
}

#[test]
fn failure_result_of_takes_the_failure() {
    let failure = Failure::new(ConnectionDone);
    let got = failure_result_of(&fail::<()>(failure.clone()));
    assert!(got.is_same(&failure));
}

#[test]
fn failure_result_of_reports_a_success() {
    let message = panic_message(|| {
        failure_result_of(&succeed(3u32));
    });
    assert!(
        message.contains("found success result (u32) instead"),
        "{message}"
    );
}

#[test]
fn failure_result_of_type_checks_the_type() {
    let d = Deferred::<()>::new();
    d.cancel();
    failure_result_of_type::<CancelledError, _>(&d);
    let message = panic_message(|| {
        failure_result_of_type::<CancelledError, _>(&fail::<()>(ConnectionDone));
    });
    assert!(message.contains("CancelledError expected"), "{message}");
    assert!(message.contains("ConnectionDone"), "{message}");
}

#[test]
fn assert_no_result_passes_on_pending_and_paused() {
    assert_no_result(&Deferred::<()>::new());
    let paused = succeed(());
    paused.pause();
    assert_no_result(&paused);
    paused.unpause();
    success_result_of(&paused);
}

#[test]
fn assert_no_result_reports_what_it_found() {
    let message = panic_message(|| assert_no_result(&succeed(1i64)));
    assert!(
        message.contains("found success result (i64) instead"),
        "{message}"
    );
    let message = panic_message(|| assert_no_result(&fail::<()>(Failure::msg("oops"))));
    assert!(
        message.contains("found failure result instead: Message: oops"),
        "{message}"
    );
}
