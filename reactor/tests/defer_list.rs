//! `DeferredList`, `gather_results`, `race` and `FirstError`. Ported from
//! Twisted's `DeferredTests`, `RaceTests`, `FirstErrorTests` and
//! `DeferredListEmptyTests` in `twisted/test/test_defer.py`; each test cites
//! its case in `spec/deferred.md` §12.
//!
//! The list takes each input's result: an input's own chain then continues
//! with `()` (Twisted passes the value on; a Rust `T` is not `Clone`), or
//! with its failure unless `consume_errors`.
//!
//! Over 500 lines: ported test classes kept together by subject so the port
//! reads beside the original.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use torsion_reactor::error::{CancelledError, FailureGroup, FirstError};
use torsion_reactor::{fail, race, succeed, Deferred, DeferredList, DeferredListResult, Failure};
use util::{
    assert_no_result, capture_logs, failure_result_of, fake_callback_canceller, success_result_of,
    take_errors, GenericError, Recorder, RuntimeError,
};

/// The `(success, result)` list of a list that fired with every result.
#[track_caller]
fn all<T>(result: DeferredListResult<T>) -> Vec<Result<T, Failure>> {
    match result {
        DeferredListResult::All(results) => results,
        DeferredListResult::FirstSuccess { .. } => panic!("expected every result"),
    }
}

/// spec/deferred.md §12 case 5: testDeferredList. The list fires with
/// every input's result, in input order, once all have fired.
#[test]
fn deferred_list() {
    let defrs: Vec<Deferred<&str>> = (0..3).map(|_| Deferred::new()).collect();
    let dl = DeferredList::new(defrs.clone()).into_deferred();
    let result = Recorder::new();
    let (r, r2) = (result.clone(), result.clone());
    dl.add_callbacks(
        move |list| {
            r.push(Some(all(list)));
            Ok(())
        },
        move |_| {
            r2.push(None);
            Ok(())
        },
    );
    defrs[0].callback("1");
    // "catch" eats the failure the list passes on, so it is not logged.
    defrs[1].clone().add_errback(|_| Ok(""));
    defrs[1].errback(GenericError::new("2"));
    defrs[2].callback("3");
    let mut lists = result.take();
    let list = lists
        .pop()
        .flatten()
        .expect("the list fired once with results");
    assert!(lists.is_empty());
    assert_eq!(list[0].as_ref().ok(), Some(&"1"));
    assert_eq!(list[1].as_ref().unwrap_err().error_message(), "2");
    assert_eq!(list[2].as_ref().ok(), Some(&"3"));
}

/// spec/deferred.md §12 case 6: testEmptyDeferredList. An empty list fires
/// at once with no results; with fire_on_one_callback it never fires.
#[test]
fn empty_deferred_list() {
    let dl1 = DeferredList::new(Vec::<Deferred<()>>::new()).into_deferred();
    assert!(all(success_result_of(&dl1)).is_empty());
    let dl2 = DeferredList::new(Vec::<Deferred<()>>::new())
        .fire_on_one_callback(true)
        .into_deferred();
    assert!(!dl2.is_called());
}

/// DeferredListEmptyTests.testDeferredListEmpty: a callback on an empty
/// list runs, with an empty list.
#[test]
fn deferred_list_empty() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    DeferredList::new(Vec::<Deferred<()>>::new())
        .into_deferred()
        .add_callback(move |result| {
            assert!(all(result).is_empty());
            r.set(true);
            Ok(())
        });
    assert!(ran.get(), "callback was never run");
}

/// spec/deferred.md §12 case 7: testDeferredListFireOnOneError. With
/// fire_on_one_errback the first failure fails the list with a FirstError
/// holding the input's failure, intact, and its index.
#[test]
fn deferred_list_fire_on_one_error() {
    let defrs: Vec<Deferred<&str>> = (0..3).map(|_| Deferred::new()).collect();
    let dl = DeferredList::new(defrs.clone())
        .fire_on_one_errback(true)
        .into_deferred();
    let result = Recorder::<Failure>::new();
    let r = result.clone();
    dl.add_errback(move |failure| {
        r.push(failure);
        Ok(DeferredListResult::All(Vec::new()))
    });
    defrs[1].clone().add_errback(|_| Ok(""));
    defrs[0].callback("1");
    assert!(result.is_empty());
    defrs[1].errback(GenericError::new("from def2"));
    let failures = result.get();
    assert_eq!(failures.len(), 1);
    let first_error = failures[0]
        .downcast_ref::<FirstError>()
        .expect("a FirstError");
    assert_eq!(
        first_error.failure.downcast_ref::<GenericError>(),
        Some(&GenericError::new("from def2"))
    );
    assert_eq!(first_error.index, 1);
}

/// spec/deferred.md §12 case 8: testDeferredListDontConsumeErrors. Without
/// consume_errors the input's failure goes on down the input's own chain,
/// and the list records it.
#[test]
fn deferred_list_dont_consume_errors() {
    let d1 = Deferred::<()>::new();
    let dl = DeferredList::new([d1.clone()]).into_deferred();
    let error_trap = Recorder::<Failure>::new();
    let e = error_trap.clone();
    d1.clone().add_errback(move |failure| {
        e.push(failure);
        Ok(())
    });
    d1.errback(GenericError::new("Bang"));
    assert_eq!(error_trap.get()[0].error_message(), "Bang");
    let results = all(success_result_of(&dl));
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap_err().error_message(), "Bang");
}

/// spec/deferred.md §12 case 8: testDeferredListConsumeErrors. With
/// consume_errors the input's chain continues with a success; the list
/// still records the failure.
#[test]
fn deferred_list_consume_errors() {
    let d1 = Deferred::<()>::new();
    let dl = DeferredList::new([d1.clone()])
        .consume_errors(true)
        .into_deferred();
    let error_trap = Recorder::<Failure>::new();
    let e = error_trap.clone();
    d1.clone().add_errback(move |failure| {
        e.push(failure);
        Ok(())
    });
    d1.errback(GenericError::new("Bang"));
    assert!(error_trap.is_empty());
    let results = all(success_result_of(&dl));
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap_err().error_message(), "Bang");
}

/// spec/deferred.md §12 case 9:
/// testDeferredListFireOnOneErrorWithAlreadyFiredDeferreds. An input that
/// already failed fails a fire_on_one_errback list at once.
#[test]
fn deferred_list_fire_on_one_error_with_already_fired_deferreds() {
    let d1 = Deferred::<()>::new();
    let d2 = Deferred::<()>::new();
    d1.errback(GenericError::new("Bang"));
    let dl = DeferredList::new([d1.clone(), d2])
        .fire_on_one_errback(true)
        .into_deferred();
    assert!(failure_result_of(&dl).check::<FirstError>());
    d1.add_errback(|_| Ok(())); // swallow the error
}

/// spec/deferred.md §12 case 9: testDeferredListWithAlreadyFiredDeferreds.
/// Inputs that already fired count at once.
#[test]
fn deferred_list_with_already_fired_deferreds() {
    let d1 = Deferred::<i32>::new();
    let d2 = Deferred::<i32>::new();
    d1.errback(GenericError::new("Bang"));
    d2.callback(2);
    let dl = DeferredList::new([d1.clone(), d2]).into_deferred();
    let results = all(success_result_of(&dl));
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].as_ref().ok(), Some(&2));
    d1.add_errback(|_| Ok(0)); // swallow the error
}

/// spec/deferred.md §12 case 10: test_cancelDeferredList. Cancelling an
/// unfired list cancels every input.
#[test]
fn cancel_deferred_list() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let dl = DeferredList::new([one.clone(), two.clone()]).into_deferred();
    dl.cancel();
    assert!(failure_result_of(&one).check::<CancelledError>());
    assert!(failure_result_of(&two).check::<CancelledError>());
}

/// spec/deferred.md §12 case 10: test_cancelDeferredListWithFireOnOneCallback.
/// The same with fire_on_one_callback.
#[test]
fn cancel_deferred_list_with_fire_on_one_callback() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let dl = DeferredList::new([one.clone(), two.clone()])
        .fire_on_one_callback(true)
        .into_deferred();
    dl.cancel();
    assert!(failure_result_of(&one).check::<CancelledError>());
    assert!(failure_result_of(&two).check::<CancelledError>());
}

/// spec/deferred.md §12 case 11: test_cancelDeferredListCallback. An input
/// whose canceller calls back: the list fires with mixed results.
#[test]
fn cancel_deferred_list_callback() {
    let one = Deferred::with_canceller(fake_callback_canceller);
    let two = Deferred::<&str>::new();
    let dl = DeferredList::new([one, two.clone()]).into_deferred();
    dl.cancel();
    assert!(failure_result_of(&two).check::<CancelledError>());
    let results = all(success_result_of(&dl));
    assert_eq!(results[0].as_ref().ok(), Some(&"Callback Result"));
    assert!(results[1].as_ref().unwrap_err().check::<CancelledError>());
}

/// spec/deferred.md §12 case 12:
/// test_cancelDeferredListWithFireOnOneCallbackAndDeferredCallback. With
/// fire_on_one_callback, an input whose canceller calls back fires the list
/// with that value and its index.
#[test]
fn cancel_deferred_list_with_fire_on_one_callback_and_deferred_callback() {
    let one = Deferred::with_canceller(fake_callback_canceller);
    let two = Deferred::<&str>::new();
    let dl = DeferredList::new([one, two.clone()])
        .fire_on_one_callback(true)
        .into_deferred();
    dl.cancel();
    assert!(failure_result_of(&two).check::<CancelledError>());
    match success_result_of(&dl) {
        DeferredListResult::FirstSuccess { value, index } => {
            assert_eq!((value, index), ("Callback Result", 0))
        }
        DeferredListResult::All(_) => panic!("expected the first success"),
    }
}

/// spec/deferred.md §12 case 13: test_cancelDeferredListWithFireOnOneErrback.
/// With fire_on_one_errback the list fails with FirstError(CancelledError).
#[test]
fn cancel_deferred_list_with_fire_on_one_errback() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let dl = DeferredList::new([one.clone(), two.clone()])
        .fire_on_one_errback(true)
        .into_deferred();
    dl.cancel();
    assert!(failure_result_of(&one).check::<CancelledError>());
    assert!(failure_result_of(&two).check::<CancelledError>());
    let failure = failure_result_of(&dl);
    let first_error = failure.downcast_ref::<FirstError>().expect("a FirstError");
    assert!(first_error.failure.check::<CancelledError>());
}

/// spec/deferred.md §12 case 13:
/// test_cancelDeferredListWithFireOnOneErrbackAllDeferredsCallback. If
/// every input's canceller calls back, the list fires with every result.
#[test]
fn cancel_deferred_list_with_fire_on_one_errback_all_deferreds_callback() {
    let one = Deferred::with_canceller(fake_callback_canceller);
    let two = Deferred::with_canceller(fake_callback_canceller);
    let dl = DeferredList::new([one, two])
        .fire_on_one_errback(true)
        .into_deferred();
    dl.cancel();
    let results = all(success_result_of(&dl));
    assert_eq!(results[0].as_ref().ok(), Some(&"Callback Result"));
    assert_eq!(results[1].as_ref().ok(), Some(&"Callback Result"));
}

/// spec/deferred.md §12 case 14: test_cancelDeferredListWithOriginalDeferreds.
/// Cancelling cancels the inputs the list was built from, not Deferreds
/// added later to the caller's collection.
#[test]
fn cancel_deferred_list_with_original_deferreds() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let mut argument_list = vec![one.clone(), two.clone()];
    let dl = DeferredList::new(argument_list.clone()).into_deferred();
    let three = Deferred::<()>::new();
    argument_list.push(three.clone());
    dl.cancel();
    assert!(failure_result_of(&one).check::<CancelledError>());
    assert!(failure_result_of(&two).check::<CancelledError>());
    assert_no_result(&three);
}

/// spec/deferred.md §12 case 15: test_cancelDeferredListWithException. A
/// canceller that raises (panics, in Rust) is logged once at error level,
/// and the other inputs are still cancelled.
#[test]
fn cancel_deferred_list_with_exception() {
    capture_logs();
    let one = Deferred::<()>::with_canceller(|_| panic!("test"));
    let two = Deferred::<()>::new();
    let dl = DeferredList::new([one, two.clone()]).into_deferred();
    dl.cancel();
    assert!(failure_result_of(&two).check::<CancelledError>());
    let errors = take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("canceller panicked"),
        "{errors:?}"
    );
}

/// spec/deferred.md §12 case 16: test_cancelFiredOnOneCallbackDeferredList.
/// Once a fire_on_one_callback list fired, cancelling it does nothing.
#[test]
fn cancel_fired_on_one_callback_deferred_list() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let dl = DeferredList::new([one.clone(), two.clone()])
        .fire_on_one_callback(true)
        .into_deferred();
    one.callback(());
    dl.cancel();
    assert_no_result(&two);
    assert!(!two.is_called());
}

/// spec/deferred.md §12 case 16: test_cancelFiredOnOneErrbackDeferredList.
/// Once a fire_on_one_errback list failed, cancelling it does nothing.
#[test]
fn cancel_fired_on_one_errback_deferred_list() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let dl = DeferredList::new([one.clone(), two.clone()])
        .fire_on_one_errback(true)
        .into_deferred();
    one.errback(GenericError::new("test"));
    dl.cancel();
    assert!(!two.is_called());
    assert!(failure_result_of(&one).check::<GenericError>());
    assert!(failure_result_of(&dl).check::<FirstError>());
}

/// spec/deferred.md §8 edge: results arriving after the list fired are
/// recorded but ignored; the list fires once.
#[test]
fn later_results_after_fire_are_ignored() {
    let (one, two) = (Deferred::<u8>::new(), Deferred::<u8>::new());
    let fired = Recorder::new();
    let f = fired.clone();
    DeferredList::new([one.clone(), two.clone()])
        .fire_on_one_callback(true)
        .into_deferred()
        .add_callback(move |result| {
            if let DeferredListResult::FirstSuccess { value, index } = result {
                f.push((value, index));
            }
            Ok(())
        });
    two.callback(2);
    one.callback(1);
    assert_eq!(fired.get(), [(2, 1)]);
}

/// spec/deferred.md §12 case 24: test_gatherResults. Successes gather into
/// a list in order; a failure fails the whole with a Failure.
#[test]
fn gather_results() {
    let results = Recorder::new();
    let r = results.clone();
    torsion_reactor::gather_results([succeed(1), succeed(2)], false).add_callback(move |list| {
        r.push(list);
        Ok(())
    });
    assert_eq!(results.get(), [vec![1, 2]]);

    let errors = Recorder::<Failure>::new();
    let dl = [succeed(1), fail(GenericError::new("ValueError"))];
    let e = errors.clone();
    torsion_reactor::gather_results(dl.clone(), false).add_errback(move |failure| {
        e.push(failure);
        Ok(Vec::new())
    });
    assert_eq!(errors.len(), 1);
    assert!(errors.get()[0].check::<FirstError>());
    dl[1].clone().add_errback(|_| Ok(1)); // get rid of the error
}

/// spec/deferred.md §12 case 24: test_gatherResultsWithConsumeErrors. With
/// consume_errors a failed input's chain continues with a success; the
/// gathered failure is a FirstError wrapping the input's failure.
#[test]
fn gather_results_with_consume_errors() {
    let dgood = succeed(1);
    let dbad = fail::<i32>(RuntimeError("oh noes".into()));
    let d = torsion_reactor::gather_results([dgood, dbad.clone()], true);
    let unconsumed = Recorder::<Failure>::new();
    let gathered = Recorder::<Failure>::new();
    let (u, g) = (unconsumed.clone(), gathered.clone());
    dbad.add_errback(move |failure| {
        u.push(failure);
        Ok(0)
    });
    d.add_errback(move |failure| {
        g.push(failure);
        Ok(Vec::new())
    });
    assert_eq!((unconsumed.len(), gathered.len()), (0, 1));
    let gathered = gathered.get();
    let first_error = gathered[0]
        .downcast_ref::<FirstError>()
        .expect("FirstError");
    assert!(first_error.failure.check::<RuntimeError>());
}

/// spec/deferred.md §12 case 24: test_cancelGatherResults. Cancelling
/// cancels every input; the result is FirstError(CancelledError).
#[test]
fn cancel_gather_results() {
    let (one, two) = (Deferred::<()>::new(), Deferred::<()>::new());
    let result = torsion_reactor::gather_results([one.clone(), two.clone()], false);
    result.cancel();
    assert!(failure_result_of(&one).check::<CancelledError>());
    assert!(failure_result_of(&two).check::<CancelledError>());
    let failure = failure_result_of(&result);
    let first_error = failure.downcast_ref::<FirstError>().expect("FirstError");
    assert!(first_error.failure.check::<CancelledError>());
}

/// spec/deferred.md §12 case 24: test_cancelGatherResultsWithAllDeferredsCallback.
/// If every canceller calls back, the gathered result is their values.
#[test]
fn cancel_gather_results_with_all_deferreds_callback() {
    let one = Deferred::with_canceller(fake_callback_canceller);
    let two = Deferred::with_canceller(fake_callback_canceller);
    let result = torsion_reactor::gather_results([one, two], false);
    result.cancel();
    assert_eq!(
        success_result_of(&result),
        ["Callback Result", "Callback Result"]
    );
}

/// Twisted's `RaceTests`.
mod race_tests {
    use super::*;

    /// Twisted's `_setupRaceState`: `n` Deferreds whose cancellers count calls.
    fn setup_race_state(n: usize) -> (Vec<Rc<Cell<u32>>>, Vec<Deferred<&'static str>>) {
        let counts: Vec<Rc<Cell<u32>>> = (0..n).map(|_| Rc::default()).collect();
        let ds = counts
            .iter()
            .map(|count| {
                let count = count.clone();
                Deferred::with_canceller(move |_| count.set(count.get() + 1))
            })
            .collect();
        (counts, ds)
    }

    fn counts(cells: &[Rc<Cell<u32>>]) -> Vec<u32> {
        cells.iter().map(|c| c.get()).collect()
    }

    /// RaceTests.test_success: when one input succeeds, the race fires with
    /// its index and value and cancels every other input once. Twisted draws
    /// 0..=3 inputs before and after the winner with hypothesis; here every
    /// combination runs.
    #[test]
    fn success() {
        for before in 0..=3 {
            for after in 0..=3 {
                let (cancelled, ds) = setup_race_state(before + 1 + after);
                let race_result = race(ds.clone());
                ds[before].callback("expected");
                assert_eq!(success_result_of(&race_result), (before, "expected"));
                let mut expected = vec![1; before];
                expected.push(0);
                expected.extend(vec![1; after]);
                assert_eq!(counts(&cancelled), expected);
            }
        }
    }

    /// RaceTests.test_failure: when every input fails, the race fails with a
    /// FailureGroup of their failures, in order; nothing is cancelled.
    #[test]
    fn failure() {
        for before in 0..=3 {
            for after in 0..=3 {
                let (cancelled, ds) = setup_race_state(before + 1 + after);
                let failure = Failure::new(GenericError::new("The test demands failures."));
                let race_result = race(ds.clone());
                for d in &ds {
                    d.errback(failure.clone());
                }
                let actual = failure_result_of(&race_result);
                let group = actual.downcast_ref::<FailureGroup>().expect("FailureGroup");
                assert_eq!(group.failures.len(), ds.len());
                assert!(group.failures.iter().all(|f| f.is_same(&failure)));
                assert_eq!(counts(&cancelled), vec![0; ds.len()]);
            }
        }
    }

    /// RaceTests.test_resultAfterCancel: an input firing after it was
    /// cancelled (no canceller: the one late fire is swallowed) goes nowhere
    /// and logs no error.
    #[test]
    fn result_after_cancel() {
        capture_logs();
        for before in 0..=3 {
            for after in 0..=3 {
                let ds: Vec<Deferred<()>> =
                    (0..before + 2 + after).map(|_| Deferred::new()).collect();
                let race_result = race(ds.clone());
                ds[before].callback(());
                ds[before + 1].callback(());
                success_result_of(&race_result);
            }
        }
        assert!(take_errors().is_empty());
    }

    /// RaceTests.test_resultFromCancel: an input whose canceller fires it with
    /// a success does no harm: the first winner stays the result.
    #[test]
    fn result_from_cancel() {
        let winner = Deferred::<&str>::new();
        let ds = [
            winner.clone(),
            Deferred::with_canceller(|d: &Deferred<&str>| d.callback("from cancel")),
        ];
        let race_result = race(ds);
        winner.callback("expected");
        assert_eq!(success_result_of(&race_result), (0, "expected"));
    }

    /// RaceTests.test_cancel: cancelling the race cancels every input once,
    /// and the race fails with a FailureGroup.
    #[test]
    fn cancel() {
        for n in 1..=3 {
            let (cancelled, ds) = setup_race_state(n);
            let race_result = race(ds);
            race_result.cancel();
            assert_eq!(counts(&cancelled), vec![1; n]);
            assert!(failure_result_of(&race_result).check::<FailureGroup>());
        }
    }
}

/// Twisted's `FirstErrorTests`.
mod first_error_tests {
    use super::*;

    /// FirstErrorTests.test_repr: the Debug form of a FirstError shows the
    /// index and the sub-failure's error. (Twisted's repr is
    /// `FirstError[#3, ValueError('some text')]`; Rust's Debug is the derived
    /// struct form, and the Twisted layout is its Display, below.)
    #[test]
    fn repr() {
        let exc = GenericError::new("some text");
        let error = FirstError {
            failure: Failure::new(exc.clone()),
            index: 3,
        };
        let text = format!("{error:?}");
        assert!(text.contains("index: 3"), "{text}");
        assert!(text.contains(&format!("{exc:?}")), "{text}");
    }

    /// FirstErrorTests.test_str: the Display of a FirstError is
    /// `FirstError[#index, <sub-failure>]`.
    #[test]
    fn str() {
        let f = Failure::new(GenericError::new("some text"));
        let error = FirstError {
            failure: f.clone(),
            index: 5,
        };
        assert_eq!(error.to_string(), format!("FirstError[#5, {f}]"));
    }

    /// FirstErrorTests.test_comparison: FirstErrors are equal when their index
    /// and failure are. (Comparing with a value of another type, `one == 10`, does
    /// not compile in Rust.)
    #[test]
    fn comparison() {
        let first_failure = Failure::new(GenericError::new("1 // 0"));
        let one = FirstError {
            failure: first_failure.clone(),
            index: 13,
        };
        let another_one = FirstError {
            failure: first_failure,
            index: 13,
        };
        let another = FirstError {
            failure: Failure::new(GenericError::new("bar")),
            index: 9,
        };
        assert!(one == another_one);
        assert!(one != another);
        assert!(!(one == another));
        assert!(!(one != another_one));
    }
}
