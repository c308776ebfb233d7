//! `maybe_deferred`, and where `Deferred` meets `async`: `.await` on a Deferred (Twisted's
//! `Deferred.asFuture` / `await d`) inside a `LocalExecutor` task, and
//! `Deferred::from_future` (Twisted's `Deferred.fromCoroutine`,
//! `ensureDeferred`, `Deferred.fromFuture`). Ported from the coroutine tests
//! of `twisted/test/test_defer.py` (`DeferredTests`, `EnsureDeferredTests`,
//! `DeferredFutureAdapterTests`, `InlineCallbackTests`) and spec/deferred.md
//! §11 and §12 case 25.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use torsion_reactor::error::{CancelledError, PanicError};
use torsion_reactor::{maybe_deferred, succeed, Deferred, Failure, LocalExecutor};
use util::{
    assert_no_result, failure_result_of, success_result_of, GenericError, Recorder, RuntimeError,
};

/// A one-shot future set by hand: asyncio's `Future` in Twisted's tests.
#[derive(Clone, Default)]
struct Oneshot<T>(Rc<RefCell<(Option<T>, Option<Waker>)>>);

impl<T> Oneshot<T> {
    fn set_result(&self, value: T) {
        let waker = {
            let mut state = self.0.borrow_mut();
            state.0 = Some(value);
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Oneshot<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.0.borrow_mut();
        match state.0.take() {
            Some(value) => Poll::Ready(value),
            None => {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// DeferredFutureAdapterTests.test_asFuture: awaiting a Deferred in a task
/// completes when the Deferred fires, with its value. The Deferred is then
/// consumed (Twisted leaves `None` in it, `successResultOf(d) is None`).
#[test]
fn as_future() {
    let executor = LocalExecutor::new();
    let d = Deferred::<i32>::new();
    let got = Recorder::new();
    let (awaited, g) = (d.clone(), got.clone());
    executor.spawn_local(async move {
        g.push(awaited.await.ok());
    });
    executor.run_until_stalled();
    assert!(got.is_empty());
    assert_eq!(executor.len(), 1);
    d.callback(13);
    executor.run_until_stalled();
    assert_eq!(got.get(), [Some(13)]);
    assert!(d.is_consumed());
    assert!(executor.is_empty());
}

/// DeferredFutureAdapterTests.test_asFutureFailure: awaiting a failed
/// Deferred gives its failure as the `Err`, the very same failure.
#[test]
fn as_future_failure() {
    let executor = LocalExecutor::new();
    let d = Deferred::<()>::new();
    let the_failure = Failure::new(GenericError::new("ZeroDivisionError"));
    let got = Recorder::<Failure>::new();
    let (awaited, g) = (d.clone(), got.clone());
    executor.spawn_local(async move {
        g.push(awaited.await.unwrap_err());
    });
    executor.run_until_stalled();
    d.errback(the_failure.clone());
    executor.run_until_stalled();
    assert!(got.get()[0].is_same(&the_failure));
}

/// `.await` on a Deferred that waits on another one returned from its
/// callback wakes the task only once the whole chain has run.
#[test]
fn await_a_deferred_waiting_on_a_chained_one() {
    let executor = LocalExecutor::new();
    let outer = Deferred::<()>::new();
    let inner = Deferred::<u32>::new();
    let i = inner.clone();
    let tail = outer
        .clone()
        .add_callback(move |()| i)
        .add_callback(|n| Ok(n * 2));
    let got = Recorder::new();
    let g = got.clone();
    executor.spawn_local(async move {
        g.push(tail.await.ok());
    });
    executor.run_until_stalled();
    outer.callback(());
    executor.run_until_stalled();
    assert!(got.is_empty(), "still waiting on inner");
    inner.callback(21);
    executor.run_until_stalled();
    assert_eq!(got.get(), [Some(42)]);
}

/// Awaiting an already-fired Deferred completes on the first poll.
#[test]
fn await_an_already_fired_deferred() {
    let executor = LocalExecutor::new();
    let got = Recorder::new();
    let g = got.clone();
    executor.spawn_local(async move {
        g.push(succeed("foo").await.ok());
    });
    assert_eq!(executor.run_until_stalled(), 1);
    assert_eq!(got.get(), [Some("foo")]);
}

/// test_fromCoroutine: `from_future` gives a Deferred with the future's
/// output, once the executor has run it.
#[test]
fn from_coroutine() {
    let executor = LocalExecutor::new();
    let d = Deferred::from_future(&executor, async { Ok::<_, Failure>(1) });
    assert_no_result(&d);
    executor.run_until_stalled();
    assert_eq!(success_result_of(&d), 1);
}

/// spec/deferred.md §12 case 25: test_maybeDeferredCoroutineSuccess (and
/// ...SuccessIndirect). Twisted's `maybeDeferred` wraps a returned
/// coroutine; a Rust closure returning a future is wrapped by
/// `Deferred::from_future`, whose Deferred takes callbacks as usual.
#[test]
fn maybe_deferred_coroutine_success() {
    let executor = LocalExecutor::new();
    async fn f() -> Result<i32, Failure> {
        Ok(7)
    }
    let g = || f();
    let d = Deferred::from_future(&executor, g()).add_callback(|result| Ok(result + 1));
    executor.run_until_stalled();
    assert_eq!(success_result_of(&d), 8);
}

/// spec/deferred.md §12 case 25: test_maybeDeferredCoroutineFailure. An
/// error from the future becomes the Deferred's failure, with its type.
#[test]
fn maybe_deferred_coroutine_failure() {
    let executor = LocalExecutor::new();
    let d = Deferred::<()>::from_future(&executor, async {
        Err(GenericError::new("SomeException").into())
    });
    executor.run_until_stalled();
    assert!(failure_result_of(&d).check::<GenericError>());
}

/// EnsureDeferredTests.test_ensureDeferredCoroutine: a future that awaits a
/// Deferred becomes a Deferred with the awaited value.
#[test]
fn ensure_deferred_coroutine() {
    let executor = LocalExecutor::new();
    let d = Deferred::from_future(&executor, async {
        let res = succeed("foo").await?;
        Ok::<_, Failure>(res)
    });
    executor.run_until_stalled();
    assert_eq!(success_result_of(&d), "foo");
}

/// DeferredFutureAdapterTests.test_fromFuture: the Deferred fires when the
/// future it wraps completes.
#[test]
fn from_future() {
    let executor = LocalExecutor::new();
    let a_future = Oneshot::<i32>::default();
    let awaited = a_future.clone();
    let d = Deferred::from_future(&executor, async move { Ok::<_, Failure>(awaited.await) });
    executor.run_until_stalled();
    assert_no_result(&d);
    a_future.set_result(7);
    executor.run_until_stalled();
    assert_eq!(success_result_of(&d), 7);
}

/// DeferredFutureAdapterTests.test_fromFutureDeferredCancelled: cancelling
/// the Deferred drops the future it was made from (Rust's way of
/// cancelling a future), and the Deferred fails with CancelledError.
#[test]
fn from_future_deferred_cancelled() {
    let executor = LocalExecutor::new();
    let dropped = Rc::new(Cell::new(false));
    let guard = DropFlag(dropped.clone());
    let never = Oneshot::<()>::default();
    let d = Deferred::<()>::from_future(&executor, async move {
        let _guard = guard;
        never.await;
        Ok(())
    });
    executor.run_until_stalled();
    assert!(!dropped.get());
    d.cancel();
    assert!(dropped.get(), "cancel dropped the future");
    assert!(failure_result_of(&d).check::<CancelledError>());
    executor.run_until_stalled();
    assert!(
        executor.is_empty(),
        "cancelling woke the task, which then ended"
    );
}

/// Cancelling a `from_future` Deferred before the executor first polled it:
/// the future is dropped without ever running.
#[test]
fn from_future_cancelled_before_first_poll() {
    let executor = LocalExecutor::new();
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let (r, guard) = (ran.clone(), DropFlag(dropped.clone()));
    let d = Deferred::<()>::from_future(&executor, async move {
        let _guard = guard;
        r.set(true);
        Ok(())
    });
    d.cancel();
    assert!(dropped.get());
    executor.run_until_stalled();
    assert!(!ran.get());
    assert!(failure_result_of(&d).check::<CancelledError>());
}

/// InlineCallbackTests.test_coroutineNoCircularReference: once the
/// `from_future` Deferred has fired and its handles are dropped, nothing
/// keeps the future's value alive.
#[test]
fn coroutine_no_circular_reference() {
    let executor = LocalExecutor::new();
    let obj = Rc::new(());
    let weak = Rc::downgrade(&obj);
    let func_d = Deferred::from_future(&executor, async move { Ok::<_, Failure>(obj) });
    executor.run_until_stalled();
    let result = success_result_of(&func_d);
    drop((result, func_d));
    assert!(weak.upgrade().is_none());
    assert!(executor.is_empty());
}

/// spec/deferred.md §12 case 25: test_maybeDeferredSync. The function's
/// value becomes the Deferred's success.
#[test]
fn maybe_deferred_sync() {
    let d = maybe_deferred(|| Ok::<_, Failure>("result"));
    assert_eq!(success_result_of(&d), "result");
}

/// spec/deferred.md §12 case 25: test_maybeDeferredSyncWithArgs. Arguments
/// are the closure's captures.
#[test]
fn maybe_deferred_sync_with_args() {
    let plus_five = |x: i32| Ok::<_, Failure>(x + 5);
    let ten = 10;
    let d = maybe_deferred(move || plus_five(ten));
    assert_eq!(success_result_of(&d), 15);
}

/// spec/deferred.md §12 case 25: test_maybeDeferredSyncException. A raising
/// function gives a failed Deferred. Rust functions "raise" by panicking
/// (caught as a [`PanicError`] with the message) or by returning `Err`;
/// both are checked.
#[test]
fn maybe_deferred_sync_exception() {
    let d = maybe_deferred(|| -> Result<u32, Failure> { panic!("that value is unacceptable") });
    let failure = failure_result_of(&d);
    assert_eq!(
        failure
            .downcast_ref::<PanicError>()
            .map(|p| p.message.as_str()),
        Some("that value is unacceptable")
    );

    let d =
        maybe_deferred(|| Err::<u32, _>(GenericError::new("that value is unacceptable").into()));
    assert_eq!(
        failure_result_of(&d).error_message(),
        "that value is unacceptable"
    );
}

/// spec/deferred.md §12 case 25: test_maybeDeferredSyncFailure. A returned
/// failure fails the Deferred with that very failure.
#[test]
fn maybe_deferred_sync_failure() {
    let expected = Failure::new(GenericError::new("type error"));
    let returned = expected.clone();
    let d = maybe_deferred(move || Err::<u32, _>(returned));
    assert!(failure_result_of(&d).is_same(&expected));
}

/// spec/deferred.md §12 case 25: test_maybeDeferredAsync. A returned
/// Deferred is passed through as is, so its result is the result.
#[test]
fn maybe_deferred_async() {
    let d1 = Deferred::<&str>::new();
    let inner = d1.clone();
    let d2 = maybe_deferred(move || inner);
    assert!(d2.is_same(&d1));
    d1.callback("Success");
    assert_eq!(success_result_of(&d2), "Success");
}

/// spec/deferred.md §12 case 25: test_maybeDeferredAsyncError. The returned
/// Deferred's failure is the result's failure.
#[test]
fn maybe_deferred_async_error() {
    let d1 = Deferred::<()>::new();
    let inner = d1.clone();
    let d2 = maybe_deferred(move || inner);
    d1.errback(RuntimeError(String::new()));
    assert!(failure_result_of(&d2).check::<RuntimeError>());
}
