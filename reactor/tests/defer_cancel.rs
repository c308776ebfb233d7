//! `Deferred::cancel`: cancellers, the one swallowed late fire, repeated
//! cancels, nested Deferreds. Ported from Twisted's `DeferredCancellerTests`
//! (and the canceller reference-cycle tests of `DeferredTests`) in
//! `twisted/test/test_defer.py`; each test cites its case in
//! `spec/deferred.md` §12.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use torsion_reactor::error::{AlreadyCalledError, CancelledError};
use torsion_reactor::{Deferred, Failure};
use util::{failure_result_of, success_result_of, GenericError, Recorder};

/// What Twisted's `DeferredCancellerTests` fixture records: the callback's
/// and errback's arguments, and how often the canceller ran.
#[derive(Default)]
struct Seen {
    callbacks: Recorder<&'static str>,
    errbacks: Recorder<Failure>,
    canceller_calls: Rc<Cell<u32>>,
}

impl Seen {
    /// `d.addCallbacks(self._callback, self._errback)`.
    fn attach(&self, d: &Deferred<&'static str>) {
        let (c, e) = (self.callbacks.clone(), self.errbacks.clone());
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
    }

    /// A canceller counting its calls, then doing `then` to the Deferred.
    fn canceller(
        &self,
        then: impl FnOnce(&Deferred<&'static str>) + 'static,
    ) -> impl FnOnce(&Deferred<&'static str>) + 'static {
        let calls = self.canceller_calls.clone();
        move |d| {
            calls.set(calls.get() + 1);
            then(d);
        }
    }

    fn only_errback(&self) -> Failure {
        let errbacks = self.errbacks.get();
        assert_eq!(errbacks.len(), 1, "one errback call");
        errbacks[0].clone()
    }
}

impl Drop for Seen {
    fn drop(&mut self) {
        // Twisted's tearDown: the canceller ran at most once.
        if !std::thread::panicking() {
            assert!(self.canceller_calls.get() <= 1);
        }
    }
}

/// spec/deferred.md §12 case 41: test_noCanceller. A Deferred without a
/// canceller errbacks with CancelledError and does not callback.
#[test]
fn no_canceller() {
    let seen = Seen::default();
    let d = Deferred::new();
    seen.attach(&d);
    d.cancel();
    assert!(seen.only_errback().check::<CancelledError>());
    assert!(seen.callbacks.is_empty());
}

/// spec/deferred.md §12 case 42: test_raisesAfterCancelAndCallback. Without
/// a canceller, one extra callback after cancel is swallowed; the next
/// callback or errback is an AlreadyCalledError.
#[test]
fn raises_after_cancel_and_callback() {
    let seen = Seen::default();
    let d = Deferred::new();
    seen.attach(&d);
    d.cancel();
    assert_eq!(
        d.try_callback("late"),
        Ok(()),
        "a single extra callback is swallowed"
    );
    assert_eq!(d.try_callback("late"), Err(AlreadyCalledError));
    assert_eq!(
        d.try_errback(GenericError::new("late")),
        Err(AlreadyCalledError)
    );
}

/// spec/deferred.md §12 case 42: test_raisesAfterCancelAndErrback. The
/// same with an extra errback.
#[test]
fn raises_after_cancel_and_errback() {
    let seen = Seen::default();
    let d = Deferred::new();
    seen.attach(&d);
    d.cancel();
    assert_eq!(d.try_errback(GenericError::new("late")), Ok(()));
    assert_eq!(d.try_callback("late"), Err(AlreadyCalledError));
    assert_eq!(
        d.try_errback(GenericError::new("late")),
        Err(AlreadyCalledError)
    );
}

/// spec/deferred.md §12 case 43:
/// test_noCancellerMultipleCancelsAfterCancelAndCallback. Cancelled, then
/// called back (swallowed), then cancelled again: no effect, same failure.
#[test]
fn no_canceller_multiple_cancels_after_cancel_and_callback() {
    let seen = Seen::default();
    let d = Deferred::new();
    seen.attach(&d);
    d.cancel();
    let current = seen.only_errback();
    d.callback("ignored");
    d.cancel();
    assert!(seen.only_errback().is_same(&current));
}

/// spec/deferred.md §12 case 43:
/// test_noCancellerMultipleCancelsAfterCancelAndErrback. The same with an
/// errback: the result stays the first CancelledError.
#[test]
fn no_canceller_multiple_cancels_after_cancel_and_errback() {
    let seen = Seen::default();
    let d = Deferred::new();
    seen.attach(&d);
    d.cancel();
    let current = seen.only_errback();
    assert!(current.check::<CancelledError>());
    d.errback(GenericError::new("ignored"));
    assert!(seen.only_errback().check::<CancelledError>());
    d.cancel();
    assert!(seen.only_errback().is_same(&current));
}

/// spec/deferred.md §12 case 43: test_noCancellerMultipleCancel. Cancelling
/// twice without a canceller: one CancelledError, the second cancel is harmless.
#[test]
fn no_canceller_multiple_cancel() {
    let seen = Seen::default();
    let d = Deferred::new();
    seen.attach(&d);
    d.cancel();
    let current = seen.only_errback();
    assert!(current.check::<CancelledError>());
    d.cancel();
    assert!(seen.only_errback().is_same(&current));
}

/// spec/deferred.md §12 case 43: test_cancellerMultipleCancel. With a
/// canceller that does not fire the Deferred: CancelledError, repeated
/// cancels harmless, the canceller called once.
#[test]
fn canceller_multiple_cancel() {
    let seen = Seen::default();
    let d = Deferred::with_canceller(seen.canceller(|_| {}));
    seen.attach(&d);
    d.cancel();
    let current = seen.only_errback();
    assert!(current.check::<CancelledError>());
    d.cancel();
    assert!(seen.only_errback().is_same(&current));
    assert_eq!(seen.canceller_calls.get(), 1);
}

/// spec/deferred.md §12 case 44: test_simpleCanceller. The canceller is
/// called once on cancel, and later callbacks/errbacks are *not* swallowed.
#[test]
fn simple_canceller() {
    let seen = Seen::default();
    let d = Deferred::with_canceller(seen.canceller(|_| {}));
    seen.attach(&d);
    d.cancel();
    assert_eq!(seen.canceller_calls.get(), 1);
    assert!(seen.only_errback().check::<CancelledError>());
    assert_eq!(d.try_callback("late"), Err(AlreadyCalledError));
    assert_eq!(
        d.try_errback(GenericError::new("late")),
        Err(AlreadyCalledError)
    );
}

/// spec/deferred.md §12 case 45: test_cancellerArg. The canceller is given
/// the Deferred being cancelled.
#[test]
fn canceller_arg() {
    let received = Recorder::<Deferred<&str>>::new();
    let r = received.clone();
    let d = Deferred::with_canceller(move |d1: &Deferred<&str>| r.push(d1.clone()));
    let seen = Seen::default();
    seen.attach(&d);
    d.cancel();
    let received = received.take();
    assert_eq!(received.len(), 1);
    assert!(received[0].is_same(&d));
}

/// spec/deferred.md §12 case 46: test_cancelAfterCallback. Cancelling after
/// a callback does nothing: the canceller is not called.
#[test]
fn cancel_after_callback() {
    let seen = Seen::default();
    let d = Deferred::with_canceller(seen.canceller(|d| d.errback(GenericError::new("no"))));
    seen.attach(&d);
    d.callback("biff!");
    d.cancel();
    assert_eq!(seen.canceller_calls.get(), 0);
    assert!(seen.errbacks.is_empty());
    assert_eq!(seen.callbacks.get(), ["biff!"]);
}

/// spec/deferred.md §12 case 46: test_cancelAfterErrback. Cancelling after
/// an errback does not produce a CancelledError.
#[test]
fn cancel_after_errback() {
    let seen = Seen::default();
    let d = Deferred::with_canceller(seen.canceller(|d| d.errback(GenericError::new("no"))));
    seen.attach(&d);
    d.errback(GenericError::new("first"));
    d.cancel();
    assert_eq!(seen.canceller_calls.get(), 0);
    assert!(seen.only_errback().check::<GenericError>());
    assert!(seen.callbacks.is_empty());
}

/// spec/deferred.md §12 case 47: test_cancellerThatErrbacks. A canceller
/// that errbacks decides the failure.
#[test]
fn canceller_that_errbacks() {
    let seen = Seen::default();
    let d = Deferred::with_canceller(seen.canceller(|d| d.errback(GenericError::new("mine"))));
    seen.attach(&d);
    d.cancel();
    assert_eq!(seen.canceller_calls.get(), 1);
    assert!(seen.only_errback().check::<GenericError>());
}

/// spec/deferred.md §12 case 47: test_cancellerThatCallbacks. A canceller
/// that calls back decides the result.
#[test]
fn canceller_that_callbacks() {
    let seen = Seen::default();
    let d = Deferred::with_canceller(seen.canceller(|d| d.callback("hello!")));
    seen.attach(&d);
    d.cancel();
    assert_eq!(seen.canceller_calls.get(), 1);
    assert_eq!(seen.callbacks.get(), ["hello!"]);
    assert!(seen.errbacks.is_empty());
}

/// spec/deferred.md §12 case 48: test_cancelNestedDeferred. Cancelling `a`,
/// which waits on `b` returned from its callback, cancels `b` (not `a`'s
/// own canceller), and `a` gets the CancelledError.
#[test]
fn cancel_nested_deferred() {
    let seen = Seen::default();
    let b = Deferred::<&str>::with_canceller(seen.canceller(|_| {}));
    let a = Deferred::<()>::with_canceller(|_| panic!("a's canceller must not be called"));
    a.callback(());
    let inner = b.clone();
    let a_tail = a.clone().add_callback(move |()| inner);
    a.cancel();
    seen.attach(&a_tail);
    // The one cancel was b's.
    assert_eq!(seen.canceller_calls.get(), 1);
    // b's canceller did not errback, so cancel failed b with CancelledError.
    assert!(seen.only_errback().check::<CancelledError>());
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A canceller that keeps its Deferred alive, and that Deferred's shared state.
fn cyclic_canceller() -> (Deferred<DropFlag>, Rc<Cell<bool>>, Rc<Cell<bool>>) {
    let (canceller_freed, deferred_freed) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let slot: Rc<std::cell::RefCell<Option<Deferred<DropFlag>>>> = Rc::default();
    let (guard, keep) = (DropFlag(canceller_freed.clone()), slot.clone());
    let d = Deferred::with_canceller(move |_| {
        let _ = (&guard, &keep);
    });
    *slot.borrow_mut() = Some(d.clone());
    (d, canceller_freed, deferred_freed)
}

/// test_canceller_circular_reference_callback (no numbered case; spec §1,
/// "canceller dropped once fired"): a cycle between a Deferred and its
/// canceller is broken when the Deferred is called back, so both are freed.
#[test]
fn canceller_circular_reference_callback() {
    let (d, canceller_freed, deferred_freed) = cyclic_canceller();
    d.callback(DropFlag(deferred_freed.clone()));
    assert!(canceller_freed.get());
    drop(d);
    assert!(
        deferred_freed.get(),
        "the Deferred and its result were freed"
    );
}

/// test_canceller_circular_reference_errback (no numbered case): the same
/// when the Deferred fails.
#[test]
fn canceller_circular_reference_errback() {
    let (d, canceller_freed, _) = cyclic_canceller();
    d.errback(GenericError::new("The test demands failures."));
    let _ = failure_result_of(&d);
    assert!(canceller_freed.get());
}

/// test_canceller_circular_reference_non_final (no numbered case): the
/// canceller is freed on firing even when a callback then makes the
/// Deferred wait on another one.
#[test]
fn canceller_circular_reference_non_final() {
    let (d, canceller_freed, _) = cyclic_canceller();
    let waiting = d.clone().add_callback(|_| Deferred::<()>::new());
    d.callback(DropFlag(Rc::default()));
    assert!(canceller_freed.get());
    assert!(!waiting.has_result());
}

/// spec/deferred.md §5 edge: a canceller that fires the Deferred with a
/// success wins, and the success is delivered.
#[test]
fn canceller_success_is_the_result() {
    let d = Deferred::with_canceller(|d: &Deferred<u8>| d.callback(7));
    d.cancel();
    assert_eq!(success_result_of(&d), 7);
}
