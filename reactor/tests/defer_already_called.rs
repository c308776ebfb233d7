//! Firing a Deferred twice. Ported from Twisted's `AlreadyCalledTests` in
//! `twisted/test/test_defer.py` (spec/deferred.md §12 case 40): `try_callback`
//! and `try_errback` return the `AlreadyCalledError`; `callback` and
//! `errback` panic with it.

mod util;

use std::panic::{catch_unwind, AssertUnwindSafe};

use torsion_reactor::error::{AlreadyCalledError, PanicError};
use torsion_reactor::Deferred;
use util::RuntimeError;

/// A `Deferred<(), ...>` with Twisted's `AlreadyCalledTests` chain:
/// `addCallbacks(_callback, _errback)`.
fn already_called_fixture() -> Deferred<&'static str> {
    let d = Deferred::<&str>::new();
    d.clone().add_callbacks(|_| Ok(()), |_| Ok(()));
    d
}

/// spec/deferred.md §12 case 40: testAlreadyCalled_CC. A second callback is
/// an [`AlreadyCalledError`] (`try_callback`; `callback` panics instead).
#[test]
fn already_called_cc() {
    let d = already_called_fixture();
    d.callback("hello");
    assert_eq!(d.try_callback("twice"), Err(AlreadyCalledError));
}

/// spec/deferred.md §12 case 40: testAlreadyCalled_CE. An errback after a
/// callback is an [`AlreadyCalledError`].
#[test]
fn already_called_ce() {
    let d = already_called_fixture();
    d.callback("hello");
    assert_eq!(
        d.try_errback(RuntimeError(String::new())),
        Err(AlreadyCalledError)
    );
}

/// spec/deferred.md §12 case 40: testAlreadyCalled_EE. A second errback is
/// an [`AlreadyCalledError`].
#[test]
fn already_called_ee() {
    let d = already_called_fixture();
    d.errback(RuntimeError(String::new()));
    assert_eq!(
        d.try_errback(RuntimeError(String::new())),
        Err(AlreadyCalledError)
    );
}

/// spec/deferred.md §12 case 40: testAlreadyCalled_EC. A callback after an
/// errback is an [`AlreadyCalledError`].
#[test]
fn already_called_ec() {
    let d = already_called_fixture();
    d.errback(RuntimeError(String::new()));
    assert_eq!(d.try_callback("twice"), Err(AlreadyCalledError));
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    PanicError::from_payload(payload.as_ref()).message
}

/// spec/deferred.md §12 case 40: testAlreadyCalledDebug_CC / _CE / _EC / _EE.
/// In debug mode Twisted's message lists the creator (" C:") and first
/// invoker (" I:") stacks. Rust has no debug mode: `callback`/`errback` on a
/// fired Deferred panic with the [`AlreadyCalledError`] message, naming the
/// method, and carry no stack lines.
#[test]
fn already_called_debug() {
    for (first_is_callback, second_is_callback) in
        [(true, true), (true, false), (false, true), (false, false)]
    {
        let d = already_called_fixture();
        if first_is_callback {
            d.callback("hello");
        } else {
            d.errback(RuntimeError(String::new()));
        }
        let message = panic_message(|| {
            if second_is_callback {
                d.callback("twice");
            } else {
                d.errback(RuntimeError(String::new()));
            }
        });
        let method = if second_is_callback {
            "callback"
        } else {
            "errback"
        };
        assert_eq!(
            message,
            format!("Deferred::{method}: {AlreadyCalledError}"),
            "first callback: {first_is_callback}"
        );
        assert!(!message
            .lines()
            .any(|l| l.starts_with(" C:") || l.starts_with(" I:")));
    }
}

/// spec/deferred.md §12 case 40: testNoDebugging. Without debugging the
/// error carries no arguments: in Rust [`AlreadyCalledError`] is a unit
/// struct with a fixed message.
#[test]
fn no_debugging() {
    let d = already_called_fixture();
    d.callback("hello");
    let error = d.try_callback("twice").unwrap_err();
    assert_eq!(error, AlreadyCalledError);
    assert_eq!(error.to_string(), "the Deferred has already been fired");
}
