//! Deferreds returned from callbacks (implicit chaining), `chain_deferred`
//! (explicit chaining), pause interplay and stack depth. Ported from
//! Twisted's `DeferredTests` in `twisted/test/test_defer.py`; each test cites
//! its case in `spec/deferred.md` §12.
//!
//! Over 500 lines: ported test cases kept together by subject so the port
//! reads beside the original.

mod util;

use torsion_reactor::{fail, gather_results, succeed, Deferred, Failure};
use util::{
    assert_no_result, capture_logs, failure_result_of, success_result_of, take_errors, take_logs,
    Recorder, RuntimeError,
};

/// spec/deferred.md §12 case 20: test_callbackReturnsDeferred. Callbacks
/// can return Deferreds; the next callback waits until that Deferred fires,
/// even a paused one that already has its result, and gets its value.
#[test]
fn callback_returns_deferred() {
    let results = Recorder::new();
    let d1 = Deferred::<i32>::new();
    let d2 = Deferred::<i32>::new();
    d2.pause();
    let (inner, r) = (d2.clone(), results.clone());
    d1.clone()
        .add_callback(move |_| inner)
        .add_callback(move |n| {
            r.push(n);
            Ok(n)
        });
    d1.callback(1);
    assert!(results.is_empty(), "should not have been called yet");
    d2.callback(2);
    assert!(results.is_empty(), "still should not have been called yet");
    d2.unpause();
    assert_eq!(
        results.get(),
        [2],
        "result should come from the second Deferred"
    );
}

/// spec/deferred.md §12 case 22: test_errbackReturnsDeferred. Errbacks can
/// return Deferreds just as callbacks can. (Twisted switches the chain from
/// `int` to `str` here; an errback in Rust keeps the chain's type, so both
/// Deferreds carry `&str`.)
#[test]
fn errback_returns_deferred() {
    let d = Deferred::<&str>::new();
    let d2 = Deferred::<&str>::new();
    let values = Recorder::new();
    let (inner, v) = (d2.clone(), values.clone());
    d.clone()
        .add_errback(move |_| inner)
        .add_callback(move |result| {
            v.push(result);
            Ok(())
        });
    d.errback(RuntimeError("ValueError".into()));
    assert_no_result(&d);
    assert!(values.is_empty());
    d2.callback("result");
    assert_eq!(values.get(), ["result"]);
}

/// spec/deferred.md §12 case 23: test_chainedPausedDeferredWithResult. A
/// paused Deferred that has a result, returned from a callback of another
/// Deferred, makes the other wait until it is unpaused.
#[test]
fn chained_paused_deferred_with_result() {
    let paused = Deferred::<&str>::new();
    paused.callback("expected");
    paused.pause();
    let chained = Deferred::<()>::new();
    let inner = paused.clone();
    let chained_tail = chained.clone().add_callback(move |()| inner);
    chained.callback(());
    let chained = chained_tail;
    let result = Recorder::new();
    let r = result.clone();
    chained.add_callback(move |value| {
        r.push(value);
        Ok(())
    });
    assert!(result.is_empty());
    paused.unpause();
    assert_eq!(result.get(), ["expected"]);
}

/// spec/deferred.md §12 case 23: test_pausedDeferredChained. A paused
/// Deferred met while a result is pushed forward does not stop the Deferred
/// it waits on from running its own callbacks: `second` runs its callbacks
/// and hands its result on although `first` is paused; `first` resumes on
/// `unpause`. (Twisted then calls a callback added to `second` with `None`;
/// in Rust `second` is consumed and such a callback never runs, see the
/// `# Twisted` section of `Deferred`.)
#[test]
fn paused_deferred_chained() {
    let first = Deferred::<&str>::new();
    let second = Deferred::<&str>::new();
    let seen_by_second = Recorder::new();
    let s = seen_by_second.clone();
    let second_tail = second.clone().add_callback(move |value| {
        s.push(value);
        Ok(value)
    });
    let first_tail = first.clone().add_callback(move |_| second_tail);
    first.callback("ignored");
    first.pause();
    second.callback("value");
    assert_eq!(seen_by_second.get(), ["value"]);
    assert!(second.is_consumed(), "second handed its result to first");
    let first_seen = Recorder::new();
    let f = first_seen.clone();
    first_tail.add_callback(move |value| {
        f.push(value);
        Ok(())
    });
    assert!(first_seen.is_empty(), "first is paused");
    first.unpause();
    assert_eq!(first_seen.get(), ["value"]);
}

/// spec/deferred.md §12 case 26: test_innerCallbacksPreserved. When a
/// Deferred meets a Deferred waiting on a third one, the middle one's
/// callbacks run after the third fires and before the first gets a result.
#[test]
fn inner_callbacks_preserved() {
    let results = Recorder::<String>::new();
    let failures = Recorder::<Failure>::new();
    let inner = Deferred::<String>::new();
    let (r, f, waiting) = (results.clone(), failures.clone(), inner.clone());
    let cb = move |result: &str| {
        r.push(format!("start-of-cb {result}"));
        let (r1, r2) = (r.clone(), r.clone());
        succeed("inner")
            .add_callback(move |_| {
                r1.push("firstCallback inner".into());
                waiting
            })
            .add_callback(move |result: String| {
                r2.push(format!("secondCallback {result}"));
                Ok(result.repeat(2))
            })
            .add_errback(move |failure| {
                f.push(failure);
                Ok(String::new())
            })
    };
    let outer = succeed("outer").add_callback(cb);
    inner.callback("orange".into());
    let (r, f1, f2) = (results.clone(), failures.clone(), failures.clone());
    outer
        .add_callback(move |value| {
            r.push(value);
            Ok(())
        })
        .add_errback(move |failure| {
            f2.push(failure);
            Ok(())
        });
    inner.add_errback(move |failure| {
        f1.push(failure);
        Ok(String::new())
    });
    assert!(failures.is_empty());
    assert_eq!(
        results.get(),
        [
            "start-of-cb outer",
            "firstCallback inner",
            "secondCallback orange",
            "orangeorange"
        ]
    );
}

/// spec/deferred.md §12 case 27: test_continueCallbackNotFirst. The
/// "continue" entry of a Deferred waiting on another is not necessarily the
/// first entry of that other's chain.
#[test]
fn continue_callback_not_first() {
    let results = Recorder::<String>::new();
    let failures = Recorder::<Failure>::new();
    let a = Deferred::<&str>::new();
    let (r, f, waited) = (results.clone(), failures.clone(), a.clone());
    let cb = move |result: &str| {
        r.push(format!("cb {result}"));
        let d = Deferred::<()>::new();
        let (r1, r2) = (r.clone(), r.clone());
        let returner = d
            .clone()
            .add_callback(move |()| {
                r1.push("firstCallback ()".into());
                gather_results([waited], false)
            })
            .add_callback(move |list| {
                r2.push(format!("secondCallback {list:?}"));
                Ok(())
            })
            .add_errback(move |failure| {
                f.push(failure);
                Ok(())
            });
        d.callback(());
        returner
    };
    let f = failures.clone();
    succeed("outer")
        .add_callback(cb)
        .add_errback(move |failure| {
            f.push(failure);
            Ok(())
        });
    assert_eq!(results.get(), ["cb outer", "firstCallback ()"]);
    a.callback("withers");
    assert!(failures.is_empty());
    assert_eq!(
        results.get(),
        [
            "cb outer",
            "firstCallback ()",
            "secondCallback [\"withers\"]"
        ]
    );
}

/// spec/deferred.md §12 case 27: test_callbackOrderPreserved. A callback
/// added after one that returned a Deferred runs after that Deferred's
/// callbacks.
#[test]
fn callback_order_preserved() {
    let results = Recorder::<String>::new();
    let failures = Recorder::<Failure>::new();
    let a = Deferred::<&str>::new();
    let (r, f, waited) = (results.clone(), failures.clone(), a.clone());
    let cb = move |result: &str| {
        r.push(format!("cb {result}"));
        let d = Deferred::<()>::new();
        let (r1, r2) = (r.clone(), r.clone());
        let returner = d
            .clone()
            .add_callback(move |()| {
                r1.push("firstCallback ()".into());
                gather_results([waited], false)
            })
            .add_callback(move |list| {
                r2.push(format!("secondCallback {list:?}"));
                Ok(())
            })
            .add_errback(move |failure| {
                f.push(failure);
                Ok(())
            });
        d.callback(());
        returner
    };
    let outer = Deferred::<&str>::new();
    let (r, f) = (results.clone(), failures.clone());
    outer
        .clone()
        .add_callback(cb)
        .add_callback(move |()| {
            r.push("final".into());
            Ok(())
        })
        .add_errback(move |failure| {
            f.push(failure);
            Ok(())
        });
    outer.callback("outer");
    assert_eq!(results.get(), ["cb outer", "firstCallback ()"]);
    a.callback("withers");
    assert!(failures.is_empty());
    assert_eq!(
        results.get(),
        [
            "cb outer",
            "firstCallback ()",
            "secondCallback [\"withers\"]",
            "final"
        ]
    );
}

/// spec/deferred.md §12 case 26: test_nestedAsynchronousChainedDeferreds.
/// Callbacks may return Deferreds that themselves wait on Deferreds; when
/// the innermost fires, even out of order, the chains continue.
#[test]
fn nested_asynchronous_chained_deferreds() {
    let results = Recorder::<String>::new();
    let failures = Recorder::<Failure>::new();
    let inner = Deferred::<String>::new();
    let (r, f, waiting) = (results.clone(), failures.clone(), inner.clone());
    let cb = move |result: &str| {
        r.push(format!("start-of-cb {result}"));
        let (r1, r2) = (r.clone(), r.clone());
        let d = succeed("inner");
        d.add_callback(move |_| {
            r1.push("firstCallback inner".into());
            // A Deferred that has not fired: the Deferreds fire out of order.
            waiting
        })
        .add_callback(move |result: String| {
            r2.push(format!("secondCallback {result}"));
            Ok(result.repeat(2))
        })
        .add_errback(move |failure| {
            f.push(failure);
            Ok(String::new())
        })
    };
    let r = results.clone();
    let outer = succeed("outer")
        .add_callback(cb)
        .add_callback(move |value| {
            r.push(value);
            Ok(())
        });
    assert_eq!(results.get(), ["start-of-cb outer", "firstCallback inner"]);
    inner.callback("orange".into());
    let f = failures.clone();
    outer.add_errback(move |failure| {
        f.push(failure);
        Ok(())
    });
    assert!(failures.is_empty(), "got errbacks but wasn't expecting any");
    assert_eq!(
        results.get(),
        [
            "start-of-cb outer",
            "firstCallback inner",
            "secondCallback orange",
            "orangeorange"
        ]
    );
}

/// spec/deferred.md §12 case 26:
/// test_nestedAsynchronousChainedDeferredsWithExtraCallbacks. The returned
/// inner Deferred may carry its own callbacks (here a transform), which run
/// before the outer chains continue.
#[test]
fn nested_asynchronous_chained_deferreds_with_extra_callbacks() {
    let results = Recorder::<String>::new();
    let failures = Recorder::<Failure>::new();
    let inner = Deferred::<&str>::new();
    let (r, f, waiting) = (results.clone(), failures.clone(), inner.clone());
    let cb = move |result: &str| {
        r.push(format!("start-of-cb {result}"));
        let (r1, r2) = (r.clone(), r.clone());
        succeed("inner")
            .add_callback(move |result| {
                r1.push(format!("firstCallback {result}"));
                waiting.add_callback(|result| Ok(vec![result]))
            })
            .add_callback(move |result: Vec<&str>| {
                r2.push(format!("secondCallback {result:?}"));
                Ok(result.repeat(2))
            })
            .add_errback(move |failure| {
                f.push(failure);
                Ok(Vec::new())
            })
    };
    let outer = succeed("outer").add_callback(cb);
    let r = results.clone();
    let outer = outer.add_callback(move |value| {
        r.push(format!("{value:?}"));
        Ok(())
    });
    assert_eq!(results.get(), ["start-of-cb outer", "firstCallback inner"]);
    inner.callback("withers");
    let f = failures.clone();
    outer.add_errback(move |failure| {
        f.push(failure);
        Ok(())
    });
    assert!(failures.is_empty(), "got errbacks but wasn't expecting any");
    assert_eq!(
        results.get(),
        [
            "start-of-cb outer",
            "firstCallback inner",
            "secondCallback [\"withers\"]",
            "[\"withers\", \"withers\"]"
        ]
    );
}

/// spec/deferred.md §12 case 31: test_synchronousImplicitChain. A Deferred
/// with a result, returned from a callback of another, gives that one its
/// result. Twisted leaves `None` in the first; in Rust the first is
/// *consumed*: a callback added to it never runs and a warning is logged.
#[test]
fn synchronous_implicit_chain() {
    capture_logs();
    let first = succeed("result");
    let second = Deferred::<()>::new();
    let inner = first.clone();
    let second_tail = second.clone().add_callback(move |()| inner);
    second.callback(());
    let results = Recorder::new();
    let r = results.clone();
    first.clone().add_callback(move |value| {
        r.push(value);
        Ok(())
    });
    assert!(first.is_consumed());
    assert!(
        results.is_empty(),
        "a consumed Deferred runs no more callbacks"
    );
    assert!(take_logs()
        .iter()
        .any(|r| r.level == log::Level::Warn && r.message.contains("already handed on")));
    assert_eq!(success_result_of(&second_tail), "result");
}

/// spec/deferred.md §12 case 31: test_asynchronousImplicitChain. A Deferred
/// without a result, returned from a callback of another, gives that one
/// its result once it has one (and is then consumed, Twisted's `None`).
#[test]
fn asynchronous_implicit_chain() {
    let first = Deferred::<&str>::new();
    let second = Deferred::<()>::new();
    let inner = first.clone();
    let second_tail = second.clone().add_callback(move |()| inner);
    second.callback(());
    let second_result = Recorder::new();
    let r = second_result.clone();
    second_tail.add_callback(move |value| {
        r.push(value);
        Ok(())
    });
    assert!(second_result.is_empty());
    first.callback("result");
    assert!(first.is_consumed());
    assert_eq!(second_result.get(), ["result"]);
}

/// spec/deferred.md §12 case 32: test_synchronousImplicitErrorChain. A
/// failed Deferred returned from a callback hands its failure on, and logs
/// no unhandled error when dropped.
#[test]
fn synchronous_implicit_error_chain() {
    capture_logs();
    let first = fail::<()>(RuntimeError("First Deferred's Failure".into()));
    let second = Deferred::<()>::new();
    let inner = first.clone();
    let second_tail = second.clone().add_callback(move |()| inner);
    second.callback(());
    assert!(first.is_consumed());
    assert!(!first.has_failure());
    drop(first);
    assert!(take_errors().is_empty());
    assert!(failure_result_of(&second_tail).check::<RuntimeError>());
}

/// spec/deferred.md §12 case 32: test_asynchronousImplicitErrorChain. When
/// the returned Deferred fails later, its failure moves to the waiting
/// Deferred, and it is left without one (nothing logged when dropped).
#[test]
fn asynchronous_implicit_error_chain() {
    capture_logs();
    let first = Deferred::<()>::new();
    let second = Deferred::<()>::new();
    let inner = first.clone();
    let second_error = Recorder::<Failure>::new();
    let second_result = Recorder::new();
    let (e, r) = (second_error.clone(), second_result.clone());
    second
        .clone()
        .add_callback(move |()| inner)
        .add_errback(move |failure| {
            e.push(failure);
            Ok(())
        })
        .add_callback(move |()| {
            r.push(());
            Ok(())
        });
    second.callback(());
    assert!(second_result.is_empty());
    first.errback(RuntimeError("First Deferred's Failure".into()));
    assert!(second_error.get()[0].check::<RuntimeError>());
    assert_eq!(second_result.len(), 1);
    assert!(first.is_consumed() && !first.has_failure());
    drop(first);
    assert!(take_errors().is_empty());
}

/// spec/deferred.md §12 case 33: test_doubleAsynchronousImplicitChaining.
/// Chaining is transitive: C returned from B's callback, B from A's: when C
/// fires, A fires.
#[test]
fn double_asynchronous_implicit_chaining() {
    let first = Deferred::<&str>::new();
    let second = Deferred::<()>::new();
    let third = Deferred::<()>::new();
    let f = first.clone();
    let second_tail = second.clone().add_callback(move |()| f);
    let third_result = Recorder::new();
    let r = third_result.clone();
    third
        .clone()
        .add_callback(move |()| second_tail)
        .add_callback(move |value| {
            r.push(value);
            Ok(())
        });
    // Second now waits for first to tell it to continue...
    second.callback(());
    // ...and third waits for second.
    third.callback(());
    assert!(third_result.is_empty());
    first.callback("result");
    assert_eq!(third_result.get(), ["result"]);
}

/// spec/deferred.md §12 case 34: test_chainDeferredRecordsExplicitChain.
/// `b.chain_deferred(a)` records that `a` waits on `b`.
#[test]
fn chain_deferred_records_explicit_chain() {
    let a = Deferred::<()>::new();
    let b = Deferred::<()>::new();
    b.clone().chain_deferred(a.clone());
    assert!(a.is_waiting_on(&b));
    assert!(!b.is_waiting_on(&a));
}

/// spec/deferred.md §12 case 34: test_explicitChainClearedWhenResolved. Once
/// `b` has fired `a`, the recorded dependency is gone.
#[test]
fn explicit_chain_cleared_when_resolved() {
    let a = Deferred::<()>::new();
    let b = Deferred::<()>::new();
    b.clone().chain_deferred(a.clone());
    b.callback(());
    assert!(!a.is_waiting_on(&b));
    assert!(a.has_result());
}

/// spec/deferred.md §12 case 34: test_chainDeferredRecordsImplicitChain. A
/// callback returning a Deferred records the dependency as soon as it is known.
#[test]
fn chain_deferred_records_implicit_chain() {
    let a = Deferred::<()>::new();
    let b = Deferred::<()>::new();
    let inner = b.clone();
    a.clone().add_callback(move |()| inner);
    a.callback(());
    assert!(a.is_waiting_on(&b));
}

/// spec/deferred.md §12 case 36: test_reprWithChaining. A Deferred waiting
/// on another says so in its Debug form:
/// `<Deferred at 0x.. waiting on Deferred at 0x..>`.
#[test]
fn repr_with_chaining() {
    let a = Deferred::<()>::new();
    let b = Deferred::<()>::new();
    b.clone().chain_deferred(a.clone());
    let (a_text, b_text) = (format!("{a:?}"), format!("{b:?}"));
    let a_addr = a_text
        .trim_start_matches("<Deferred at ")
        .trim_end_matches('>');
    let b_addr = b_text
        .trim_start_matches("<Deferred at ")
        .trim_end_matches('>');
    let a_addr = a_addr.split(' ').next().unwrap();
    assert_eq!(
        a_text,
        format!("<Deferred at {a_addr} waiting on Deferred at {b_addr}>")
    );
}

/// spec/deferred.md §12 case 38:
/// test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled. Three
/// Deferreds each chained to the next: when the last fires, the value
/// travels to the first. Twisted then calls a callback added to the middle
/// one with `None`; in Rust the middle one is consumed and such a callback
/// never runs (the documented difference), which is checked instead.
#[test]
fn result_of_deferred_result_of_deferred_of_fired_deferred_called() {
    let first = Deferred::<()>::new();
    let second = Deferred::<()>::new();
    let third = Deferred::<&str>::new();
    let (s, t) = (second.clone(), third.clone());
    let second_tail = second.clone().add_callback(move |()| t);
    let first_tail = first.clone().add_callback(move |()| second_tail);
    drop(s);
    second.callback(());
    first.callback(());
    third.callback("third");
    let results = Recorder::new();
    let r = results.clone();
    second.clone().add_callback(move |()| {
        r.push(());
        Ok(())
    });
    assert!(second.is_consumed() && third.is_consumed());
    assert!(results.is_empty());
    assert_eq!(success_result_of(&first_tail), "third");
}
