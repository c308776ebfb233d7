//! Combining Deferreds: [`DeferredList`], [`gather_results`], [`race`].

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::deferred::Deferred;
use crate::error::{FailureGroup, FirstError};
use crate::Failure;

/// What a [`DeferredList`] fires with.
#[derive(Debug)]
pub enum DeferredListResult<T> {
    /// Every input's result, in input order (Twisted's list of
    /// `(success, result)` pairs).
    All(Vec<Result<T, Failure>>),
    /// With [`fire_on_one_callback`](DeferredList::fire_on_one_callback): the
    /// first success and its input index.
    FirstSuccess {
        /// The input's value.
        value: T,
        /// The input's index.
        index: usize,
    },
}

/// Waits for several Deferreds at once: Twisted's `DeferredList`.
///
/// By default it fires with [`DeferredListResult::All`] once every input has
/// fired (inputs already fired count at once; an empty list fires at once).
/// [`fire_on_one_callback`](DeferredList::fire_on_one_callback) fires on the
/// first success, [`fire_on_one_errback`](DeferredList::fire_on_one_errback)
/// fails with [`FirstError`] on the first failure. Results arriving after it
/// fired are recorded and ignored.
///
/// The list takes each input's result. Without
/// [`consume_errors`](DeferredList::consume_errors) a failed input's chain
/// goes on failing (so a clone of that input still sees the failure, and it is
/// logged if nobody handles it); with it, the input's chain continues with `()`.
///
/// Cancelling the list's Deferred cancels every input it was built from; a
/// canceller that panics is logged and the others are still cancelled.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Deferred, DeferredList, DeferredListResult, Failure};
///
/// let a = Deferred::<u8>::new();
/// let b = Deferred::<u8>::new();
/// let list = DeferredList::new([a.clone(), b.clone()]).consume_errors(true).into_deferred();
/// b.errback(Failure::msg("no"));
/// a.callback(1);
/// let Some(Ok(DeferredListResult::All(results))) = list.take_result() else { unreachable!() };
/// assert_eq!(results[0].as_ref().ok(), Some(&1));
/// assert!(results[1].is_err());
/// ```
pub struct DeferredList<T> {
    inputs: Vec<Deferred<T>>,
    fire_on_one_callback: bool,
    fire_on_one_errback: bool,
    consume_errors: bool,
}

impl<T> fmt::Debug for DeferredList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredList")
            .field("inputs", &self.inputs.len())
            .field("fire_on_one_callback", &self.fire_on_one_callback)
            .field("fire_on_one_errback", &self.fire_on_one_errback)
            .field("consume_errors", &self.consume_errors)
            .finish()
    }
}

struct ListState<T> {
    results: Vec<Option<Result<T, Failure>>>,
    finished: usize,
}

impl<T: 'static> DeferredList<T> {
    /// A list over `inputs`, with every option off.
    pub fn new(inputs: impl IntoIterator<Item = Deferred<T>>) -> DeferredList<T> {
        DeferredList {
            inputs: inputs.into_iter().collect(),
            fire_on_one_callback: false,
            fire_on_one_errback: false,
            consume_errors: false,
        }
    }

    /// Fire with the first success ([`DeferredListResult::FirstSuccess`]).
    pub fn fire_on_one_callback(mut self, yes: bool) -> Self {
        self.fire_on_one_callback = yes;
        self
    }

    /// Fail with [`FirstError`] on the first failure.
    pub fn fire_on_one_errback(mut self, yes: bool) -> Self {
        self.fire_on_one_errback = yes;
        self
    }

    /// Mark inputs' failures handled once recorded.
    pub fn consume_errors(mut self, yes: bool) -> Self {
        self.consume_errors = yes;
        self
    }

    /// Attaches to the inputs, in order, and returns the list's Deferred.
    pub fn into_deferred(self) -> Deferred<DeferredListResult<T>> {
        let count = self.inputs.len();
        let snapshot = self.inputs.clone();
        let result = Deferred::with_canceller(move |_| cancel_all(&snapshot));
        if count == 0 && !self.fire_on_one_callback {
            result.callback(DeferredListResult::All(Vec::new()));
            return result;
        }
        let state = Rc::new(RefCell::new(ListState {
            results: (0..count).map(|_| None).collect(),
            finished: 0,
        }));
        for (index, input) in self.inputs.into_iter().enumerate() {
            let state = state.clone();
            let result = result.clone();
            let (on_callback, on_errback, consume) = (
                self.fire_on_one_callback,
                self.fire_on_one_errback,
                self.consume_errors,
            );
            input.add_both(move |outcome: Result<T, Failure>| {
                let passed_on = match &outcome {
                    Err(failure) if !consume => Err(failure.clone()),
                    _ => Ok(()),
                };
                let fire = {
                    let mut state = state.borrow_mut();
                    state.finished += 1;
                    let done = state.finished == state.results.len();
                    let already = result.is_called();
                    match outcome {
                        Ok(value) if on_callback && !already => {
                            Some(Ok(DeferredListResult::FirstSuccess { value, index }))
                        }
                        Err(failure) if on_errback && !already => {
                            state.results[index] = Some(Err(failure.clone()));
                            Some(Err(Failure::new(FirstError { failure, index })))
                        }
                        outcome => {
                            state.results[index] = Some(outcome);
                            (done && !already).then(|| {
                                let all = state
                                    .results
                                    .iter_mut()
                                    .map(|r| r.take().expect("every input finished"))
                                    .collect();
                                Ok(DeferredListResult::All(all))
                            })
                        }
                    }
                };
                if let Some(outcome) = fire {
                    let _ = result.try_resolve(outcome);
                }
                passed_on
            });
        }
        result
    }
}

fn cancel_all<T: 'static>(inputs: &[Deferred<T>]) {
    for input in inputs {
        let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| input.cancel()));
        if cancelled.is_err() {
            log::error!("a canceller panicked while cancelling a DeferredList input");
        }
    }
}

/// Waits for all of `inputs` and gives their values in order, or fails with
/// [`FirstError`] on the first failure (Twisted's `gatherResults`).
/// Cancelling it cancels every input.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{gather_results, succeed};
///
/// let all = gather_results([succeed(1), succeed(2)], false);
/// assert_eq!(all.take_result().unwrap().unwrap(), [1, 2]);
/// ```
pub fn gather_results<T: 'static>(
    inputs: impl IntoIterator<Item = Deferred<T>>,
    consume_errors: bool,
) -> Deferred<Vec<T>> {
    DeferredList::new(inputs)
        .fire_on_one_errback(true)
        .consume_errors(consume_errors)
        .into_deferred()
        .add_callback(|result| match result {
            DeferredListResult::All(results) => {
                results.into_iter().collect::<Result<Vec<T>, Failure>>()
            }
            DeferredListResult::FirstSuccess { .. } => unreachable!("fire_on_one_callback is off"),
        })
}

/// The first of `inputs` to succeed, with its index; every other input is
/// then cancelled (Twisted's `race`). If all fail, fails with a
/// [`FailureGroup`] in input order. Cancelling it cancels every input.
/// Results arriving after the race is decided are dropped silently.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{race, Deferred};
///
/// let slow = Deferred::<&str>::new();
/// let fast = Deferred::<&str>::new();
/// let winner = race([slow.clone(), fast.clone()]);
/// fast.callback("fast");
/// assert_eq!(winner.take_result().unwrap().unwrap(), (1, "fast"));
/// assert!(slow.is_called()); // cancelled
/// ```
pub fn race<T: 'static>(inputs: impl IntoIterator<Item = Deferred<T>>) -> Deferred<(usize, T)> {
    let inputs: Vec<Deferred<T>> = inputs.into_iter().collect();
    let snapshot = inputs.clone();
    let result = Deferred::with_canceller(move |_| cancel_all(&snapshot));
    let failures: Rc<RefCell<Vec<Option<Failure>>>> =
        Rc::new(RefCell::new(vec![None; inputs.len()]));
    let decided = Rc::new(std::cell::Cell::new(false));
    let others = Rc::new(inputs.clone());
    for (index, input) in inputs.into_iter().enumerate() {
        let (result, failures, decided, others) = (
            result.clone(),
            failures.clone(),
            decided.clone(),
            others.clone(),
        );
        input.add_both(move |outcome: Result<T, Failure>| {
            match outcome {
                Ok(value) => {
                    if !decided.replace(true) {
                        for (i, other) in others.iter().enumerate() {
                            if i != index {
                                other.cancel();
                            }
                        }
                        let _ = result.try_callback((index, value));
                    }
                }
                Err(failure) => {
                    let all_failed = {
                        let mut failures = failures.borrow_mut();
                        failures[index] = Some(failure);
                        failures.iter().all(Option::is_some)
                    };
                    if all_failed && !decided.replace(true) {
                        let failures = failures
                            .borrow_mut()
                            .iter_mut()
                            .filter_map(Option::take)
                            .collect();
                        let _ = result.try_errback(FailureGroup { failures });
                    }
                }
            }
            Ok(())
        });
    }
    result
}
