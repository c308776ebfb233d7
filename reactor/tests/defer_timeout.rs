//! `Deferred::add_timeout` on the fake clock (`Timers::manual`). Ported
//! from Twisted's `DeferredAddTimeoutTests` in `twisted/test/test_defer.py`
//! (timeout 10 s, clock advanced 15 s); each test cites its case in
//! `spec/deferred.md` §12.

mod util;

use std::time::Duration;

use torsion_reactor::error::{CancelledError, TimeoutError};
use torsion_reactor::{Deferred, Failure, Timers};
use util::{
    advance, assert_no_result, failure_result_of, success_result_of, GenericError, Recorder,
};

const TEN: Duration = Duration::from_secs(10);

/// Twisted's `_overrideFunc`: the custom `onTimeoutCancel`.
fn override_func<T>(_: Result<T, Failure>, _: Duration) -> Result<&'static str, Failure> {
    Ok("OVERRIDDEN")
}

/// spec/deferred.md §12 case 52: test_timeoutChainable. `add_timeout`
/// hands back the chain so callbacks can follow it.
#[test]
fn timeout_chainable() {
    let d = Deferred::<&str>::new();
    let tail = d
        .clone()
        .add_timeout(Duration::from_secs(5), &Timers::manual())
        .add_callback(|_| Ok("done"));
    d.callback("start");
    assert_eq!(success_result_of(&tail), "done");
}

/// spec/deferred.md §12 case 53: test_successResultBeforeTimeout (and the
/// Custom variant, `with_custom` true). A success before the timeout is
/// kept, and the timer no longer cancels anything, in particular not a
/// Deferred a later callback returned.
fn check_success_result_before_timeout(with_custom: bool) {
    let clock = Timers::manual();
    let d = Deferred::<&str>::new();
    let timed = if with_custom {
        d.clone().add_timeout_with(TEN, &clock, override_func)
    } else {
        d.clone().add_timeout(TEN, &clock)
    };
    let inner = Deferred::<()>::new();
    let called = Recorder::new();
    let (c, i) = (called.clone(), inner.clone());
    timed.add_callback(move |results| {
        c.push(results);
        i
    });
    d.callback("results");
    assert_eq!(called.get(), ["results"]);
    advance(&clock, 15);
    assert_no_result(&inner);
    assert!(!inner.is_called());
}

/// spec/deferred.md §12 case 53: test_successResultBeforeTimeout.
#[test]
fn success_result_before_timeout() {
    check_success_result_before_timeout(false);
}

/// spec/deferred.md §12 case 53: test_successResultBeforeTimeoutCustom.
#[test]
fn success_result_before_timeout_custom() {
    check_success_result_before_timeout(true);
}

/// spec/deferred.md §12 case 53: test_failureBeforeTimeout (and Custom).
/// A failure before the timeout reaches the errback; nothing is cancelled
/// when the clock passes the timeout.
fn check_failure_before_timeout(with_custom: bool) {
    let clock = Timers::manual();
    let d = Deferred::<&str>::new();
    let timed = if with_custom {
        d.clone().add_timeout_with(TEN, &clock, override_func)
    } else {
        d.clone().add_timeout(TEN, &clock)
    };
    let inner = Deferred::<&str>::new();
    let errbacked = Recorder::<Failure>::new();
    let (e, i) = (errbacked.clone(), inner.clone());
    timed.add_errback(move |failure| {
        e.push(failure);
        i
    });
    let error = Failure::new(GenericError::new("fail"));
    d.errback(error.clone());
    assert!(errbacked.get()[0].is_same(&error));
    advance(&clock, 15);
    assert_no_result(&inner);
    assert!(!inner.is_called());
}

/// spec/deferred.md §12 case 53: test_failureBeforeTimeout.
#[test]
fn failure_before_timeout() {
    check_failure_before_timeout(false);
}

/// spec/deferred.md §12 case 53: test_failureBeforeTimeoutCustom.
#[test]
fn failure_before_timeout_custom() {
    check_failure_before_timeout(true);
}

/// spec/deferred.md §12 case 54: test_timedOut. With no result in time the
/// Deferred fails with a TimeoutError naming the timeout.
#[test]
fn timed_out() {
    let clock = Timers::manual();
    let d = Deferred::<()>::new().add_timeout(TEN, &clock);
    assert_no_result(&d);
    advance(&clock, 15);
    let failure = failure_result_of(&d);
    let error = failure
        .downcast_ref::<TimeoutError>()
        .expect("TimeoutError");
    assert_eq!(error, &TimeoutError::new(Some(TEN), "Deferred"));
}

/// spec/deferred.md §12 case 54: test_timedOutCustom. A custom converter's
/// value is the result, and it may be a success.
#[test]
fn timed_out_custom() {
    let clock = Timers::manual();
    let d = Deferred::<&str>::new().add_timeout_with(TEN, &clock, override_func);
    assert_no_result(&d);
    advance(&clock, 15);
    assert_eq!(success_result_of(&d), "OVERRIDDEN");
}

/// spec/deferred.md §12 case 55: test_timedOutProvidedCancelSuccess. A
/// canceller's success wins over the timeout.
#[test]
fn timed_out_provided_cancel_success() {
    let clock = Timers::manual();
    let d = Deferred::with_canceller(|c: &Deferred<&str>| c.callback("I was cancelled!"))
        .add_timeout(TEN, &clock);
    assert_no_result(&d);
    advance(&clock, 15);
    assert_eq!(success_result_of(&d), "I was cancelled!");
}

/// spec/deferred.md §12 case 55: test_timedOutProvidedCancelFailure. A
/// canceller's own (non-CancelledError) failure wins over the timeout.
#[test]
fn timed_out_provided_cancel_failure() {
    let clock = Timers::manual();
    let error = Failure::new(GenericError::new("what!"));
    let e = error.clone();
    let d = Deferred::<()>::with_canceller(move |c| c.errback(e)).add_timeout(TEN, &clock);
    assert_no_result(&d);
    advance(&clock, 15);
    assert!(failure_result_of(&d).is_same(&error));
}

/// spec/deferred.md §12 case 56: test_cancelBeforeTimeout (and Custom). A
/// manual cancel before the timeout stays a plain CancelledError (the
/// converter does not run), and the timer later cancels nothing.
fn check_cancel_before_timeout(with_custom: bool) {
    let clock = Timers::manual();
    let d = Deferred::<&str>::new();
    let timed = if with_custom {
        d.clone().add_timeout_with(TEN, &clock, override_func)
    } else {
        d.clone().add_timeout(TEN, &clock)
    };
    let inner = Deferred::<&str>::new();
    let cancelled = Recorder::<Failure>::new();
    let (c, i) = (cancelled.clone(), inner.clone());
    timed.add_errback(move |failure| {
        c.push(failure);
        i
    });
    d.cancel();
    assert!(cancelled.get()[0].check::<CancelledError>());
    advance(&clock, 15);
    assert_no_result(&inner);
    assert!(!inner.is_called());
}

/// spec/deferred.md §12 case 56: test_cancelBeforeTimeout.
#[test]
fn cancel_before_timeout() {
    check_cancel_before_timeout(false);
}

/// spec/deferred.md §12 case 56: test_cancelBeforeTimeoutCustom.
#[test]
fn cancel_before_timeout_custom() {
    check_cancel_before_timeout(true);
}

/// spec/deferred.md §7 (test_providedCancelCalledBeforeTimeoutCustom): a
/// custom converter also handles a canceller's own failure.
#[test]
fn provided_cancel_called_before_timeout_custom() {
    let clock = Timers::manual();
    let d = Deferred::<&str>::with_canceller(|c| c.errback(GenericError::new("what!")))
        .add_timeout_with(TEN, &clock, override_func);
    assert_no_result(&d);
    advance(&clock, 15);
    assert_eq!(success_result_of(&d), "OVERRIDDEN");
}

/// An errback added before `add_timeout`, recording what it saw, and the
/// timed chain.
fn errback_before_timeout(
    clock: &Timers,
    suppress: bool,
    custom: bool,
) -> (Recorder<Failure>, Deferred<&'static str>) {
    let d = Deferred::<&str>::new();
    let seen = Recorder::<Failure>::new();
    let s = seen.clone();
    let d = d.add_errback(move |failure| {
        s.push(failure.clone());
        if suppress {
            failure.trap::<CancelledError>()?;
            Ok("")
        } else {
            Err(failure)
        }
    });
    let d = if custom {
        d.add_timeout_with(TEN, clock, override_func)
    } else {
        d.add_timeout(TEN, clock)
    };
    (seen, d)
}

/// spec/deferred.md §12 case 57: test_errbackAddedBeforeTimeout. An errback
/// added before the timeout sees the CancelledError; passed on, it becomes
/// a TimeoutError.
#[test]
fn errback_added_before_timeout() {
    let clock = Timers::manual();
    let (seen, d) = errback_before_timeout(&clock, false, false);
    advance(&clock, 15);
    assert!(seen.get()[0].check::<CancelledError>());
    assert!(failure_result_of(&d).check::<TimeoutError>());
}

/// spec/deferred.md §12 case 57:
/// test_errbackAddedBeforeTimeoutSuppressesCancellation. If that errback
/// swallows the CancelledError, the Deferred succeeds.
#[test]
fn errback_added_before_timeout_suppresses_cancellation() {
    let clock = Timers::manual();
    let (seen, d) = errback_before_timeout(&clock, true, false);
    advance(&clock, 15);
    assert!(seen.get()[0].check::<CancelledError>());
    success_result_of(&d);
}

/// spec/deferred.md §12 case 57: test_errbackAddedBeforeTimeoutCustom. The
/// custom converter runs on the passed-on CancelledError.
#[test]
fn errback_added_before_timeout_custom() {
    let clock = Timers::manual();
    let (seen, d) = errback_before_timeout(&clock, false, true);
    advance(&clock, 15);
    assert!(seen.get()[0].check::<CancelledError>());
    assert_eq!(success_result_of(&d), "OVERRIDDEN");
}

/// spec/deferred.md §12 case 57:
/// test_errbackAddedBeforeTimeoutSuppressesCancellationCustom. The custom
/// converter runs even when the errback swallowed the cancellation.
#[test]
fn errback_added_before_timeout_suppresses_cancellation_custom() {
    let clock = Timers::manual();
    let (seen, d) = errback_before_timeout(&clock, true, true);
    advance(&clock, 15);
    assert!(seen.get()[0].check::<CancelledError>());
    assert_eq!(success_result_of(&d), "OVERRIDDEN");
}

/// spec/deferred.md §12 case 58: test_callbackAddedToCancelerBeforeTimeout
/// (and Custom). With a canceller that calls back, a callback added before
/// the timeout runs when it fires and the Deferred succeeds, without a
/// TimeoutError; a custom converter still runs.
fn check_callback_added_to_canceler_before_timeout(custom: bool) -> &'static str {
    let clock = Timers::manual();
    let d = Deferred::with_canceller(|d: &Deferred<&str>| d.callback("success"));
    let called = Recorder::new();
    let c = called.clone();
    let d = d.add_callback(move |value| {
        c.push(value);
        Ok(value)
    });
    let d = if custom {
        d.add_timeout_with(TEN, &clock, override_func)
    } else {
        d.add_timeout(TEN, &clock)
    };
    advance(&clock, 15);
    assert_eq!(called.get(), ["success"]);
    success_result_of(&d)
}

/// spec/deferred.md §12 case 58: test_callbackAddedToCancelerBeforeTimeout.
#[test]
fn callback_added_to_canceler_before_timeout() {
    assert_eq!(
        check_callback_added_to_canceler_before_timeout(false),
        "success"
    );
}

/// spec/deferred.md §12 case 58: test_callbackAddedToCancelerBeforeTimeoutCustom.
#[test]
fn callback_added_to_canceler_before_timeout_custom() {
    assert_eq!(
        check_callback_added_to_canceler_before_timeout(true),
        "OVERRIDDEN"
    );
}

/// A result before the timeout leaves no timer behind on the clock.
#[test]
fn result_before_timeout_cancels_the_timer() {
    let clock = Timers::manual();
    let d = Deferred::<()>::new();
    let timed = d.clone().add_timeout(TEN, &clock);
    assert_eq!(clock.len(), 1);
    d.callback(());
    assert!(clock.is_empty());
    success_result_of(&timed);
}

/// The timeout fires exactly at its deadline, not before: the fake clock
/// is deterministic, so the same scenario gives the same result twice.
#[test]
fn timeout_fires_at_the_deadline_deterministically() {
    for _ in 0..2 {
        let clock = Timers::manual();
        let d = Deferred::<()>::new().add_timeout(TEN, &clock);
        advance(&clock, 9);
        assert_no_result(&d);
        advance(&clock, 1);
        assert!(failure_result_of(&d).check::<TimeoutError>());
    }
}
