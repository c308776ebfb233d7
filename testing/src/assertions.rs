//! Deferred assertions: trial's `successResultOf`, `failureResultOf` and
//! `assertNoResult`.

use std::error::Error;

use torsion_reactor::{Deferred, Failure};

fn describe<T: 'static>(deferred: &Deferred<T>) -> String {
    if deferred.is_consumed() {
        return format!("{deferred:?} (its result was already handed on)");
    }
    if deferred.is_paused() {
        return format!("{deferred:?} (paused, or waiting on another Deferred)");
    }
    if !deferred.is_called() {
        return format!("{deferred:?} (not fired yet)");
    }
    format!("{deferred:?}")
}

/// Takes the success value out of an already-fired Deferred (trial's
/// `successResultOf`). The Deferred is consumed.
///
/// # Panics
///
/// If it holds no result yet, or holds a failure; the message says which.
///
/// # Examples
///
/// ```
/// use torsion_reactor::succeed;
/// use torsion_testing::success_result_of;
///
/// assert_eq!(success_result_of(&succeed(3).add_callback(|n| Ok(n * 2))), 6);
/// ```
#[track_caller]
pub fn success_result_of<T: 'static>(deferred: &Deferred<T>) -> T {
    let state = describe(deferred);
    match deferred.take_result() {
        Some(Ok(value)) => value,
        Some(Err(failure)) => {
            panic!("success result expected on {state}, found failure result instead: {failure}")
        }
        None => panic!("success result expected on {state}, found no result instead"),
    }
}

/// Takes the failure out of an already-failed Deferred (trial's
/// `failureResultOf` with no types). The failure is thereby handled.
///
/// # Panics
///
/// If it holds no result yet, or holds a success.
#[track_caller]
pub fn failure_result_of<T: 'static>(deferred: &Deferred<T>) -> Failure {
    let state = describe(deferred);
    match deferred.take_result() {
        Some(Err(failure)) => failure,
        Some(Ok(_)) => panic!(
            "failure result expected on {state}, found success result ({}) instead",
            std::any::type_name::<T>()
        ),
        None => panic!("failure result expected on {state}, found no result instead"),
    }
}

/// [`failure_result_of`], also checking that the failure wraps an `E`
/// (trial's `failureResultOf(d, E)`).
///
/// # Panics
///
/// If it holds no result, a success, or a failure of another type.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{error::CancelledError, Deferred};
/// use torsion_testing::failure_result_of_type;
///
/// let d = Deferred::<()>::new();
/// d.cancel();
/// let failure = failure_result_of_type::<CancelledError, _>(&d);
/// assert!(failure.check::<CancelledError>());
/// ```
#[track_caller]
pub fn failure_result_of_type<E: Error + 'static, T: 'static>(deferred: &Deferred<T>) -> Failure {
    let failure = failure_result_of(deferred);
    assert!(
        failure.check::<E>(),
        "failure of type {} expected, found {failure}",
        std::any::type_name::<E>()
    );
    failure
}

/// Asserts the Deferred has no result right now (trial's `assertNoResult`):
/// unfired, paused, or waiting on another Deferred.
///
/// # Panics
///
/// If it has a result; a failure it held is handled (taken) first so that
/// the panic is the only report.
///
/// # Examples
///
/// ```
/// use torsion_reactor::Deferred;
/// use torsion_testing::assert_no_result;
///
/// assert_no_result(&Deferred::<u8>::new());
/// ```
#[track_caller]
pub fn assert_no_result<T: 'static>(deferred: &Deferred<T>) {
    if !deferred.has_result() {
        return;
    }
    let state = describe(deferred);
    match deferred.take_result() {
        Some(Err(failure)) => {
            panic!("no result expected on {state}, found failure result instead: {failure}")
        }
        _ => panic!(
            "no result expected on {state}, found success result ({}) instead",
            std::any::type_name::<T>()
        ),
    }
}
