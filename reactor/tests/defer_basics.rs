//! `Deferred` basics: callbacks, errbacks, firing, pausing, helpers and
//! double-fire errors. Ported from Twisted's `twisted/test/test_defer.py`
//! (`DeferredTests`, `AlreadyCalledTests`); each test cites its case in
//! `spec/deferred.md` §12.
//!
//! Over 500 lines: one Twisted test class per file, kept whole so the port
//! reads beside the original.

mod util;

use torsion_reactor::error::{
    AlreadyCalledError, CircularChainError, DeferredTypeError, PanicError,
};
use torsion_reactor::{fail, succeed, Deferred, Failure};
use util::{
    failure_result_of, success_result_of, GenericError, Recorder, RuntimeError, ZeroDivisionError,
};

/// spec/deferred.md §12 case 1: testCallbackWithoutArgs. A callback is called
/// with the result the Deferred was fired with, and nothing else.
#[test]
fn callback_without_args() {
    let results = Recorder::new();
    let d = Deferred::<&str>::new();
    let r = results.clone();
    d.clone().add_callback(move |value| {
        r.push(value);
        Ok(value)
    });
    d.callback("hello");
    assert_eq!(results.get(), ["hello"]);
}

/// spec/deferred.md §12 case 1: testCallbackWithArgs. Extra positional
/// arguments reach the callback after the result; in Rust they are the
/// closure's captures.
#[test]
fn callback_with_args() {
    let results = Recorder::new();
    let d = Deferred::<&str>::new();
    let (r, world) = (results.clone(), "world");
    d.clone().add_callback(move |value| {
        r.push((value, world));
        Ok(value)
    });
    d.callback("hello");
    assert_eq!(results.get(), [("hello", "world")]);
}

/// spec/deferred.md §12 case 1: testCallbackWithKwArgs. Keyword arguments
/// reach the callback too; Rust has no keyword arguments, so a named capture
/// plays `world="world"`.
#[test]
fn callback_with_kw_args() {
    struct Kwargs {
        world: &'static str,
    }
    let results = Recorder::new();
    let d = Deferred::<&str>::new();
    let (r, kwargs) = (results.clone(), Kwargs { world: "world" });
    d.clone().add_callback(move |value| {
        r.push((value, kwargs.world));
        Ok(value)
    });
    d.callback("hello");
    assert_eq!(results.get(), [("hello", "world")]);
}

/// spec/deferred.md §12 case 2: testTwoCallbacks. The second callback gets
/// what the first returned.
#[test]
fn two_callbacks() {
    let (first, second) = (Recorder::new(), Recorder::new());
    let d = Deferred::<&str>::new();
    let (r1, r2) = (first.clone(), second.clone());
    d.clone()
        .add_callback(move |value| {
            r1.push(value);
            Ok(value)
        })
        .add_callback(move |value| {
            r2.push(value);
            Ok(())
        });
    d.callback("hello");
    assert_eq!(first.get(), ["hello"]);
    assert_eq!(second.get(), ["hello"]);
}

/// spec/deferred.md §12 case 3: test_addCallbacksNoneErrback. With no
/// errback the failure passes through unchanged to the next errback. In
/// Rust "no errback" is `add_callback`, whose errback half is the pass-through.
#[test]
fn add_callbacks_none_errback() {
    let error = GenericError::new("oopsie");
    let (callbacks, errbacks) = (Recorder::new(), Recorder::<Failure>::new());
    let d = Deferred::<()>::new();
    let c = callbacks.clone();
    let d2 = d.clone().add_callback(move |value| {
        c.push(value);
        Ok(())
    });
    d.errback(error.clone());
    let e = errbacks.clone();
    d2.add_errback(move |failure| {
        e.push(failure);
        Ok(())
    });
    assert!(callbacks.is_empty());
    let seen = errbacks.get();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].downcast_ref::<GenericError>(), Some(&error));
}

/// spec/deferred.md §12 case 4: test_addCallbacksNoneCallbackArgs. `None`
/// callback args and kwargs count as none. Rust handlers have no argument
/// lists, so the behaviour that applies is: the callback of an
/// `add_callbacks` pair gets exactly the result, and the errback is not run.
#[test]
fn add_callbacks_none_callback_args() {
    let (callbacks, errbacks) = (Recorder::new(), Recorder::<Failure>::new());
    let d = Deferred::<&str>::new();
    let (c, e) = (callbacks.clone(), errbacks.clone());
    d.clone().add_callbacks(
        move |value| {
            c.push(value);
            Ok(value)
        },
        move |failure| {
            e.push(failure);
            Ok("")
        },
    );
    d.callback("hello");
    assert!(errbacks.is_empty());
    assert_eq!(callbacks.get(), ["hello"]);
}

/// spec/deferred.md §12 case 4: test_addCallbacksNoneErrbackArgs. As above
/// for the errback half: it gets exactly the failure.
#[test]
fn add_callbacks_none_errback_args() {
    let error = GenericError::new("oopsie");
    let (callbacks, errbacks) = (Recorder::new(), Recorder::<Failure>::new());
    let d = Deferred::<()>::new();
    let (c, e) = (callbacks.clone(), errbacks.clone());
    d.clone().add_callbacks(
        move |value| {
            c.push(value);
            Ok(())
        },
        move |failure| {
            e.push(failure);
            Ok(())
        },
    );
    d.errback(error.clone());
    assert!(callbacks.is_empty());
    let seen = errbacks.get();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].downcast_ref::<GenericError>(), Some(&error));
}

/// spec/deferred.md §12 case 17: testImmediateSuccess. A callback added to
/// `succeed(x)` runs at once with `x`.
#[test]
fn immediate_success() {
    let results = Recorder::new();
    let r = results.clone();
    succeed("success").add_callback(move |value| {
        r.push(value);
        Ok(())
    });
    assert_eq!(results.get(), ["success"]);
}

/// spec/deferred.md §12 case 17: test_succeedMatchesManualSuccess.
/// `succeed(x)` is in the same state as a new Deferred fired with `x`.
#[test]
fn succeed_matches_manual_success() {
    let manual = Deferred::<&str>::new();
    manual.callback("success");
    let helper = succeed("success");
    for d in [&manual, &helper] {
        assert!(d.is_called());
        assert!(d.has_result());
        assert!(!d.has_failure());
        assert!(!d.is_paused());
    }
    assert_eq!(success_result_of(&manual), success_result_of(&helper));
}

/// spec/deferred.md §12 case 17: testImmediateFailure. An errback added to
/// `fail(e)` runs at once with `e`.
#[test]
fn immediate_failure() {
    let errors = Recorder::<Failure>::new();
    let e = errors.clone();
    fail::<()>(GenericError::new("fail")).add_errback(move |failure| {
        e.push(failure);
        Ok(())
    });
    assert_eq!(errors.get()[0].error_message(), "fail");
}

/// spec/deferred.md §12 case 18: testPausedFailure. An errback added to a
/// paused failed Deferred waits for `unpause`.
#[test]
fn paused_failure() {
    let errors = Recorder::<Failure>::new();
    let d = fail::<()>(GenericError::new("fail"));
    d.pause();
    let e = errors.clone();
    let handled = d.clone().add_errback(move |failure| {
        e.push(failure);
        Ok(())
    });
    assert!(errors.is_empty());
    d.unpause();
    assert_eq!(errors.get()[0].error_message(), "fail");
    success_result_of(&handled);
}

/// spec/deferred.md §12 case 19: testCallbackErrors. A callback that raises
/// (returns `Err` in Rust) or returns a Failure switches the chain to the
/// errback path; both are the same thing in Rust, and both are checked.
#[test]
fn callback_errors() {
    let errors = Recorder::<Failure>::new();
    let d = Deferred::<u32>::new();
    let e = errors.clone();
    d.clone()
        .add_callback(|n| Ok(n.checked_div(0).ok_or(ZeroDivisionError)?))
        .add_callback(|n| Ok(n + 1))
        .add_errback(move |failure| {
            e.push(failure);
            Ok(0)
        });
    d.callback(1);
    assert!(errors.get()[0].check::<ZeroDivisionError>());

    let errors = Recorder::<Failure>::new();
    let d2 = Deferred::<u32>::new();
    let e = errors.clone();
    d2.clone()
        .add_callback(|_| Err::<u32, _>(Failure::new(ZeroDivisionError)))
        .add_errback(move |failure| {
            e.push(failure);
            Ok(0)
        });
    d2.callback(1);
    assert!(errors.get()[0].check::<ZeroDivisionError>());
}

/// A panic in a callback becomes a [`PanicError`] failure carrying the
/// panic's message, as an exception in a Twisted callback becomes a Failure
/// (spec/deferred.md §3, "raises → failure path continues").
#[test]
fn panic_in_callback_becomes_panic_error() {
    let d = Deferred::<u32>::new();
    let after = d
        .clone()
        .add_callback(|_| -> Result<u32, Failure> { panic!("callback bug") })
        .add_callback(|n| Ok(n + 1));
    d.callback(1);
    let failure = failure_result_of(&after);
    let panic = failure.downcast_ref::<PanicError>().expect("a PanicError");
    assert_eq!(panic.message, "callback bug");
}

/// testUnpauseBeforeCallback (no numbered case; spec/deferred.md §4):
/// pausing and unpausing an unfired Deferred is harmless and runs nothing.
#[test]
fn unpause_before_callback() {
    let results = Recorder::new();
    let d = Deferred::<()>::new();
    d.pause();
    let r = results.clone();
    d.clone().add_callback(move |value| {
        r.push(value);
        Ok(())
    });
    d.unpause();
    assert!(results.is_empty());
    assert!(!d.is_called());
    d.callback(());
    assert_eq!(results.len(), 1);
}

/// spec/deferred.md §12 case 21: test_callbackMaybeReturnsFailure. A
/// callback may return a failure; the very same failure object arrives at
/// the end of the chain.
#[test]
fn callback_maybe_returns_failure() {
    let rte = Failure::new(RuntimeError(String::new()));
    let maybe_fail = |should_fail: bool, rte: Failure| {
        move |result: u32| {
            if should_fail {
                Err(rte)
            } else {
                Ok(result + 1)
            }
        }
    };
    let d = Deferred::<u32>::new();
    d.callback(6);
    let d = d.add_callback(maybe_fail(false, rte.clone()));
    assert_eq!(success_result_of(&d), 7);

    let d = Deferred::<u32>::new();
    d.callback(6);
    let d = d
        .add_callback(maybe_fail(true, rte.clone()))
        .add_callback(maybe_fail(true, rte.clone()));
    let failure = failure_result_of(&d);
    assert!(failure.check::<RuntimeError>());
    assert!(failure.is_same(&rte));
}

/// spec/deferred.md §12 case 28: test_reentrantRunCallbacks. A callback
/// added by a callback of the same Deferred goes to the end of the chain.
#[test]
fn reentrant_run_callbacks() {
    let called = Recorder::new();
    let d = Deferred::<()>::new();
    let (c1, c2, c3, again) = (called.clone(), called.clone(), called.clone(), d.clone());
    d.clone()
        .add_callback(move |()| {
            c1.push(1);
            again.add_callback(move |()| {
                c3.push(3);
                Ok(())
            });
            Ok(())
        })
        .add_callback(move |()| {
            c2.push(2);
            Ok(())
        });
    d.callback(());
    assert_eq!(called.get(), [1, 2, 3]);
}

/// spec/deferred.md §12 case 29: test_nonReentrantCallbacks. A callback
/// added by a running callback does not run before that callback returns.
#[test]
fn non_reentrant_callbacks() {
    let called = Recorder::new();
    let d = Deferred::<()>::new();
    let (c1, c2, again) = (called.clone(), called.clone(), d.clone());
    d.clone().add_callback(move |()| {
        c1.push(1);
        again.add_callback(move |()| {
            c2.push(2);
            Ok(())
        });
        assert_eq!(c1.get(), [1]);
        Ok(())
    });
    d.callback(());
    assert_eq!(called.get(), [1, 2]);
}

/// spec/deferred.md §12 case 30: test_reentrantRunCallbacksWithFailure. An
/// error from a callback that another callback added becomes the
/// Deferred's failure.
#[test]
fn reentrant_run_callbacks_with_failure() {
    let d = Deferred::<()>::new();
    let again = d.clone();
    d.clone().add_callback(move |()| {
        again
            .add_callback(|()| Err::<(), _>(GenericError::new("callback raised exception").into()));
        Ok(())
    });
    d.callback(());
    let failure = failure_result_of(&d);
    assert_eq!(
        failure.downcast_ref::<GenericError>(),
        Some(&GenericError::new("callback raised exception"))
    );
}

/// spec/deferred.md §12 case 35: test_circularChainWarning. A callback
/// returning the Deferred it is attached to: Twisted warns
/// (DeprecationWarning) and carries on; Rust has no warning machinery, so
/// this always takes the path of test_circularChainException below.
#[test]
fn circular_chain_warning() {
    let d = Deferred::<&str>::new();
    let same = d.clone();
    let calls = Recorder::new();
    let c = calls.clone();
    d.clone().add_callback(move |value| {
        c.push(value);
        same
    });
    d.callback("foo");
    assert_eq!(calls.get(), ["foo"], "the circular callback ran once");
    assert!(failure_result_of(&d).check::<CircularChainError>());
}

/// spec/deferred.md §12 case 35: test_circularChainException. With warnings
/// as errors, the circular return becomes the Deferred's failure: in Rust
/// always, as a [`CircularChainError`] (the DeprecationWarning class has no
/// Rust counterpart).
#[test]
fn circular_chain_exception() {
    let d = Deferred::<&str>::new();
    let same = d.clone();
    d.clone().add_callback(move |_| same);
    d.callback("foo");
    let failure = failure_result_of(&d);
    assert!(failure.trap::<CircularChainError>().is_ok());
}

/// The hex address in `<Deferred at 0x...>`.
fn address(repr: &str) -> &str {
    let rest = repr.strip_prefix("<Deferred at ").expect("a Deferred repr");
    &rest[..rest.find([' ', '>']).expect("an address")]
}

/// spec/deferred.md §12 case 36: test_repr. The Debug form is Twisted's
/// `<Deferred at 0x...>`. The address is the shared state's, so all handles
/// of one Deferred print the same one (Python prints `id(d)`).
#[test]
fn repr() {
    let d = Deferred::<()>::new();
    let text = format!("{d:?}");
    assert!(text.starts_with("<Deferred at 0x"), "{text}");
    assert_eq!(text, format!("<Deferred at {}>", address(&text)));
    assert_eq!(format!("{:?}", d.clone()), text);
    assert_ne!(format!("{:?}", Deferred::<()>::new()), text);
}

/// spec/deferred.md §12 case 36: test_reprWithResult. A fired Deferred's
/// repr shows its current result. Rust cannot print an arbitrary `T`, so it
/// shows the result's type (`'orange'` becomes `<&str>`); a failure is
/// shown in full.
#[test]
fn repr_with_result() {
    let d = Deferred::<&str>::new();
    d.callback("orange");
    let text = format!("{d:?}");
    assert_eq!(
        text,
        format!("<Deferred at {} current result: <&str>>", address(&text))
    );
    let failed = fail::<()>(GenericError::new("orange"));
    let text = format!("{failed:?}");
    assert!(
        text.contains("current result: GenericError: orange"),
        "{text}"
    );
    let _ = failed.take_result();
}

/// spec/deferred.md §12 case 39: test_errbackWithNoArgsNoDebug (and
/// test_errbackWithNoArgs). Twisted's bare `errback()` wraps "the current
/// exception" and captures frame variables only in debug mode. Rust has no
/// current exception and no frames in a Failure: what applies is that the
/// failure carries exactly the error the producer passed.
#[test]
fn errback_with_no_args_no_debug() {
    let exc = GenericError::new("Bang");
    let errors = Recorder::<Failure>::new();
    let d = Deferred::<()>::new();
    d.errback(exc.clone());
    let e = errors.clone();
    d.add_errback(move |failure| {
        e.push(failure);
        Ok(())
    });
    assert_eq!(errors.get()[0].downcast_ref::<GenericError>(), Some(&exc));
}

/// spec/deferred.md §12 case 39: test_errorInCallbackDoesNotCaptureVars (and
/// test_errorInCallbackCapturesVarsWhenDebugging). An error returned by a
/// callback becomes a Failure holding that error; there is no debug mode
/// nor captured variables in Rust.
#[test]
fn error_in_callback_does_not_capture_vars() {
    let errors = Recorder::<Failure>::new();
    let d = Deferred::<()>::new();
    d.callback(());
    let e = errors.clone();
    d.add_callback(|()| Err::<(), _>(GenericError::new("Bang").into()))
        .add_errback(move |failure| {
            e.push(failure);
            Ok(())
        });
    let failure = &errors.get()[0];
    assert_eq!(
        failure.downcast_ref::<GenericError>(),
        Some(&GenericError::new("Bang"))
    );
    assert_eq!(failure.to_string(), "GenericError: Bang");
}

/// A callback added through a handle kept from before a type change gets a
/// [`DeferredTypeError`] failure instead of a value (the documented `# Twisted`
/// difference: chains are typed).
#[test]
fn stale_handle_gives_deferred_type_error() {
    let d = Deferred::<u32>::new();
    d.clone().add_callback(|n| Ok(n.to_string()));
    let stale = d.clone().add_callback(|n: u32| Ok(n + 1));
    d.callback(1);
    let failure = failure_result_of(&stale);
    let error = failure
        .downcast_ref::<DeferredTypeError>()
        .expect("a type error");
    assert_eq!(error.expected, "u32");
    assert_eq!(error.found, "alloc::string::String");
}

/// spec/deferred.md §4 edge: `pause` is a counter; the chain resumes only
/// when every `pause` has been undone.
#[test]
fn pause_is_a_counter() {
    let results = Recorder::new();
    let d = succeed(1);
    d.pause();
    d.pause();
    let r = results.clone();
    d.clone().add_callback(move |n| {
        r.push(n);
        Ok(())
    });
    d.unpause();
    assert!(results.is_empty(), "still paused once");
    d.unpause();
    assert_eq!(results.get(), [1]);
}

/// spec/deferred.md §3 edge: firing with a failure value (Twisted's
/// `callback(Failure)`) behaves as an errback: `try_resolve(Err(..))`.
#[test]
fn resolve_with_failure_is_an_errback() {
    let errors = Recorder::<Failure>::new();
    let d = Deferred::<u8>::new();
    let e = errors.clone();
    d.clone()
        .add_callback(|n| Ok(n + 1))
        .add_errback(move |failure| {
            e.push(failure);
            Ok(0)
        });
    d.try_resolve(Err(GenericError::new("as errback").into()))
        .unwrap();
    assert_eq!(errors.get()[0].error_message(), "as errback");
}

/// spec/deferred.md §2 edge: `chain_deferred` hands the result on; the
/// source's chain continues with `()` (Twisted's `None`), and firing the
/// target itself does not affect the source.
#[test]
fn chain_deferred_hands_the_result_on() {
    let a = Deferred::<&str>::new();
    let b = Deferred::<&str>::new();
    let b_tail = b.clone().chain_deferred(a.clone());
    b.callback("value");
    assert_eq!(success_result_of(&a), "value");
    success_result_of(&b_tail);

    // A target fired by someone else first: the source's chain gets the
    // AlreadyCalledError, the target keeps its own result.
    let a = Deferred::<&str>::new();
    let b = Deferred::<&str>::new();
    let b_tail = b.clone().chain_deferred(a.clone());
    a.callback("own");
    assert!(!b.is_called());
    b.callback("late");
    assert!(failure_result_of(&b_tail).check::<AlreadyCalledError>());
    assert_eq!(success_result_of(&a), "own");
}

/// A callback returning nothing continues the chain with `()`, as a Twisted
/// callback returning `None` does.
#[test]
fn callback_returning_nothing() {
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let s = seen.clone();
    let d = torsion_reactor::succeed(41).add_callback(move |n| s.set(n + 1));
    assert_eq!(seen.get(), 42);
    assert!(d.take_result().unwrap().is_ok());
    let m = torsion_reactor::maybe_deferred(|| ());
    assert!(m.take_result().unwrap().is_ok());
}
