//! The typed [`Deferred<T>`] handle.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::core::{self, Core, CoreRef, Entry, RawOutcome, Slot, Step};
use crate::error::{AlreadyCalledError, PanicError};
use crate::Failure;

/// A result that is not there yet: Twisted's `twisted.internet.defer.Deferred`.
///
/// A `Deferred<T>` is a single-shot slot for a `Result<T, Failure>` plus an
/// ordered chain of callbacks and errbacks. Whoever produces the result fires
/// it once with [`callback`](Deferred::callback) or
/// [`errback`](Deferred::errback); whoever consumes it adds handlers. Firing
/// runs the chain synchronously, on the caller's stack, as far as it can go;
/// adding a handler to an already-fired Deferred runs it at once.
///
/// Handles are cheap clones of one shared, `!Send` state. The producer keeps
/// a clone to fire; the consumer turns the handle into the next one with each
/// `add_*` call, which may change the result type:
///
/// * [`add_callback`](Deferred::add_callback) runs on success,
/// * [`add_errback`](Deferred::add_errback) on failure (it may recover),
/// * [`add_both`](Deferred::add_both) on either,
/// * [`add_callbacks`](Deferred::add_callbacks) takes one of each.
///
/// A handler returns anything [`IntoOutcome`]: `Result<U, Failure>` (use `?`
/// freely: every error converts into a [`Failure`]) or another `Deferred<U>`,
/// in which case the chain waits for that Deferred and continues with its
/// result. Waiting is iterative: a chain of any length, and any depth of
/// Deferreds returned from callbacks, runs in bounded stack.
///
/// # Examples
///
/// ```
/// use torsion_reactor::Deferred;
///
/// let d = Deferred::<u32>::new();
/// let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
/// let log = seen.clone();
/// d.clone()
///     .add_callback(|n| Ok(n * 2))
///     .add_callback(|n| {
///         let parsed: u32 = format!("{n}").parse()?; // any error converts
///         Ok(parsed + 1)
///     })
///     .add_callback(move |n| {
///         log.borrow_mut().push(n);
///         Ok(())
///     });
/// d.callback(20);
/// assert_eq!(*seen.borrow(), [41]);
/// ```
///
/// A callback returning a Deferred makes the chain wait for it:
///
/// ```
/// use torsion_reactor::Deferred;
///
/// let inner = Deferred::<&str>::new();
/// let inner2 = inner.clone();
/// let outer = Deferred::<()>::new();
/// let result = outer.clone().add_callback(move |()| inner2);
/// outer.callback(());
/// assert!(!result.has_result());
/// inner.callback("done");
/// assert!(result.has_result());
/// ```
///
/// # Twisted
///
/// * Handler extra arguments (`*args, **kwargs`) are closures' captures.
/// * `addCallback` returns the same object in Twisted; here it returns a
///   handle to the same chain typed by the new result. Add callbacks through
///   the handle the last call returned: one kept from before a type change
///   would see a [`DeferredTypeError`](crate::error::DeferredTypeError).
/// * Once a Deferred's result has been handed on (returned from a callback
///   into an outer chain, given to a [`DeferredList`](crate::DeferredList),
///   awaited), the Deferred is *consumed*: Twisted leaves `None` there and
///   keeps running later callbacks with it; in Rust there is no `None` of a
///   `T`, so callbacks added afterwards never run and a warning is logged.
/// * Firing twice panics ([`callback`](Deferred::callback)) or returns
///   [`AlreadyCalledError`] ([`try_callback`](Deferred::try_callback)).
/// * A panic in a handler becomes a [`PanicError`] failure, as an exception
///   in a Twisted callback becomes a `Failure`.
/// * A Deferred waiting on one returned by its callback keeps it alive (as
///   Twisted keeps it in `result`), and that one keeps the waiting one
///   alive until it fires. Two such Deferreds that never fire and are
///   dropped by everyone else are never freed: Twisted's garbage collector
///   would reclaim them; Rust's reference counting does not.
/// * A Deferred dropped while holding a failure nobody handled logs
///   `Unhandled error in Deferred: ...` at error level, once.
pub struct Deferred<T> {
    pub(crate) core: CoreRef,
    _type: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        Deferred {
            core: self.core.clone(),
            _type: PhantomData,
        }
    }
}

/// What a handler returns: a result now, or a Deferred to wait for.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The next handler gets this.
    Ready(Result<T, Failure>),
    /// The chain waits for this Deferred and continues with its result.
    Wait(Deferred<T>),
}

/// Anything a callback or errback may return: `Result<U, Failure>`,
/// `Deferred<U>`, `()` (success with `()`), or an [`Outcome`].
pub trait IntoOutcome: 'static {
    /// The result type the chain continues with.
    type Item: 'static;
    /// Converts into an outcome.
    fn into_outcome(self) -> Outcome<Self::Item>;
}

impl<T: 'static> IntoOutcome for Result<T, Failure> {
    type Item = T;
    fn into_outcome(self) -> Outcome<T> {
        Outcome::Ready(self)
    }
}

impl<T: 'static> IntoOutcome for Deferred<T> {
    type Item = T;
    fn into_outcome(self) -> Outcome<T> {
        Outcome::Wait(self)
    }
}

impl<T: 'static> IntoOutcome for Outcome<T> {
    type Item = T;
    fn into_outcome(self) -> Outcome<T> {
        self
    }
}

/// A handler that returns nothing succeeds with `()` (Twisted's callback
/// returning `None`): `d.add_callback(|line| println!("{line}"))`.
impl IntoOutcome for () {
    type Item = ();
    fn into_outcome(self) -> Outcome<()> {
        Outcome::Ready(Ok(()))
    }
}

/// Turns a handler's return value into the chain's next step, reusing `slot`.
fn step_from<R: IntoOutcome>(returned: R, slot: Option<Slot>) -> Step {
    match returned.into_outcome() {
        Outcome::Ready(Ok(value)) => Step::Done(Ok(match slot {
            Some(slot) => slot.put(value),
            None => Slot::new(value),
        })),
        Outcome::Ready(Err(failure)) => Step::Done(Err(failure)),
        Outcome::Wait(deferred) => Step::Chain(deferred.core),
    }
}

impl<T: 'static> Default for Deferred<T> {
    fn default() -> Self {
        Deferred::new()
    }
}

impl<T: 'static> Deferred<T> {
    pub(crate) fn from_core(core: CoreRef) -> Deferred<T> {
        Deferred {
            core,
            _type: PhantomData,
        }
    }

    /// A new, unfired Deferred with no canceller: [`cancel`](Deferred::cancel)
    /// fails it with [`CancelledError`](crate::error::CancelledError) and the
    /// producer's one later fire is silently ignored.
    pub fn new() -> Deferred<T> {
        Deferred::from_core(Core::new(None))
    }

    /// A new Deferred whose [`cancel`](Deferred::cancel) first calls
    /// `canceller` with it. If the canceller does not fire the Deferred
    /// itself, it then fails with `CancelledError`, and any later fire by the
    /// producer is an [`AlreadyCalledError`].
    pub fn with_canceller(canceller: impl FnOnce(&Deferred<T>) + 'static) -> Deferred<T> {
        Deferred::from_core(Core::new(Some(Box::new(move |core: &CoreRef| {
            canceller(&Deferred::from_core(core.clone()))
        }))))
    }

    /// An already-succeeded Deferred (Twisted's `succeed`).
    pub fn succeeded(value: T) -> Deferred<T> {
        Deferred::from_core(Core::fired(Ok(Slot::new(value))))
    }

    /// An already-failed Deferred (Twisted's `fail`).
    pub fn failed(failure: impl Into<Failure>) -> Deferred<T> {
        Deferred::from_core(Core::fired(Err(failure.into())))
    }

    /// Fires with `value` and runs the chain.
    ///
    /// # Panics
    ///
    /// If the Deferred was already fired (Twisted raises `AlreadyCalledError`);
    /// see [`try_callback`](Deferred::try_callback).
    pub fn callback(&self, value: T) {
        if let Err(error) = self.try_callback(value) {
            panic!("Deferred::callback: {error}");
        }
    }

    /// Fires with `value` and runs the chain.
    ///
    /// # Errors
    ///
    /// [`AlreadyCalledError`] if it was already fired (except the one late
    /// fire swallowed after a canceller-less [`cancel`](Deferred::cancel)).
    pub fn try_callback(&self, value: T) -> Result<(), AlreadyCalledError> {
        core::fire(&self.core, Ok(Slot::new(value)))
    }

    /// Fails with `failure` and runs the chain.
    ///
    /// # Panics
    ///
    /// If the Deferred was already fired; see [`try_errback`](Deferred::try_errback).
    pub fn errback(&self, failure: impl Into<Failure>) {
        if let Err(error) = self.try_errback(failure) {
            panic!("Deferred::errback: {error}");
        }
    }

    /// Fails with `failure` and runs the chain.
    ///
    /// # Errors
    ///
    /// [`AlreadyCalledError`] if it was already fired.
    pub fn try_errback(&self, failure: impl Into<Failure>) -> Result<(), AlreadyCalledError> {
        core::fire(&self.core, Err(failure.into()))
    }

    /// Fires with `result`: [`try_callback`](Deferred::try_callback) or
    /// [`try_errback`](Deferred::try_errback).
    ///
    /// # Errors
    ///
    /// [`AlreadyCalledError`] if it was already fired.
    pub fn try_resolve(&self, result: Result<T, Failure>) -> Result<(), AlreadyCalledError> {
        core::fire(&self.core, result.map(Slot::new))
    }

    /// Adds a (callback, errback) pair; exactly one of them runs, on the
    /// result the previous handler left (Twisted's `addCallbacks`).
    pub fn add_callbacks<R, E>(
        self,
        callback: impl FnOnce(T) -> R + 'static,
        errback: impl FnOnce(Failure) -> E + 'static,
    ) -> Deferred<R::Item>
    where
        R: IntoOutcome,
        E: IntoOutcome<Item = R::Item>,
    {
        self.push(move |outcome| match outcome {
            Ok(mut slot) => match slot.take::<T>() {
                Ok(value) => step_from(callback(value), Some(slot)),
                Err(failure) => step_from(errback(failure), None),
            },
            Err(failure) => step_from(errback(failure), None),
        })
    }

    /// Adds a callback, run on success; a failure passes by it unchanged.
    pub fn add_callback<R: IntoOutcome>(
        self,
        callback: impl FnOnce(T) -> R + 'static,
    ) -> Deferred<R::Item> {
        self.push(move |outcome| match outcome {
            Ok(mut slot) => match slot.take::<T>() {
                Ok(value) => step_from(callback(value), Some(slot)),
                Err(failure) => Step::Done(Err(failure)),
            },
            Err(failure) => Step::Done(Err(failure)),
        })
    }

    /// Adds an errback, run on failure; a success passes by it unchanged.
    /// Returning `Ok` recovers the chain.
    pub fn add_errback<E: IntoOutcome<Item = T>>(
        self,
        errback: impl FnOnce(Failure) -> E + 'static,
    ) -> Deferred<T> {
        self.push(move |outcome| match outcome {
            Ok(slot) => Step::Done(Ok(slot)),
            Err(failure) => step_from(errback(failure), None),
        })
    }

    /// Adds a handler run on either outcome (Twisted's `addBoth`).
    pub fn add_both<R: IntoOutcome>(
        self,
        handler: impl FnOnce(Result<T, Failure>) -> R + 'static,
    ) -> Deferred<R::Item> {
        self.push(move |outcome| match outcome {
            Ok(mut slot) => {
                let value = slot.take::<T>();
                step_from(handler(value), Some(slot))
            }
            Err(failure) => step_from(handler(Err(failure)), None),
        })
    }

    /// Hands this chain's result to `other` when it arrives (Twisted's
    /// `chainDeferred`); this chain continues with `()`, as Twisted's with
    /// `None`. Firing `other` does not affect this one.
    pub fn chain_deferred(self, other: Deferred<T>) -> Deferred<()> {
        {
            let mut state = other.core.state.borrow_mut();
            if !state.called {
                state.explicit_chain = Some(Rc::downgrade(&self.core));
            }
        }
        // Fired by the running chain's own loop, not by a nested fire from
        // inside this callback: chains of any length use bounded stack. A
        // second fire of `other` is the producer's bug, reported like any
        // failure in a callback (an AlreadyCalledError for this chain).
        self.push(move |outcome| Step::Hand(other.core, outcome.and_then(Slot::checked::<T>)))
    }

    fn push<U: 'static>(self, handler: impl FnOnce(RawOutcome) -> Step + 'static) -> Deferred<U> {
        core::push(&self.core, Entry::Run(Box::new(handler)));
        Deferred::from_core(self.core)
    }

    /// Suspends the chain until as many [`unpause`](Deferred::unpause) calls.
    pub fn pause(&self) {
        core::pause(&self.core);
    }

    /// Undoes one [`pause`](Deferred::pause); at zero, resumes the chain.
    pub fn unpause(&self) {
        core::unpause(&self.core);
    }

    /// Cancels the Deferred (Twisted's `cancel`).
    ///
    /// * Not yet fired: calls the canceller if there is one; if the Deferred
    ///   is still unfired after that, fails it with
    ///   [`CancelledError`](crate::error::CancelledError).
    /// * Fired and waiting on a Deferred returned by a callback: cancels that one.
    /// * Otherwise: nothing.
    pub fn cancel(&self) {
        core::cancel(&self.core);
    }

    /// Whether it has been fired (Twisted's `called`), even if the result has
    /// since moved on.
    pub fn is_called(&self) -> bool {
        self.core.state.borrow().called
    }

    /// Whether a result sits in it right now: fired, not paused, not waiting
    /// on another Deferred and not handed on.
    pub fn has_result(&self) -> bool {
        let state = self.core.state.borrow();
        state.result.is_some() && state.paused == 0 && !self.core.is_running()
    }

    /// Whether the result sitting in it is a failure.
    pub fn has_failure(&self) -> bool {
        matches!(self.core.state.borrow().result, Some(Err(_)))
    }

    /// Whether its result was handed on to another Deferred or consumer.
    pub fn is_consumed(&self) -> bool {
        self.core.state.borrow().consumed
    }

    /// Whether it is paused (explicitly, or waiting on a chained Deferred).
    pub fn is_paused(&self) -> bool {
        self.core.state.borrow().paused > 0
    }

    /// Whether it is waiting on a Deferred returned by one of its callbacks,
    /// or on one that [`chain_deferred`](Deferred::chain_deferred) will fire
    /// it from (Twisted's `_chainedTo`).
    pub fn is_waiting_on(&self, other: &Deferred<impl Sized>) -> bool {
        waiting_on(&self.core).is_some_and(|inner| Rc::ptr_eq(&inner, &other.core))
    }

    /// Whether `other` is a handle to this very Deferred.
    pub fn is_same<U>(&self, other: &Deferred<U>) -> bool {
        Rc::ptr_eq(&self.core, &other.core)
    }

    /// Takes the result out if one is there now, consuming the Deferred:
    /// what `success_result_of` and `.await` build on.
    pub fn take_result(&self) -> Option<Result<T, Failure>> {
        let mut state = self.core.state.borrow_mut();
        if state.paused > 0 || self.core.is_running() || !state.chain.is_empty() {
            return None;
        }
        let outcome = state.result.take()?;
        state.consumed = true;
        Some(outcome.and_then(Slot::into_inner))
    }
}

/// An already-succeeded Deferred (Twisted's `succeed`).
pub fn succeed<T: 'static>(value: T) -> Deferred<T> {
    Deferred::succeeded(value)
}

/// An already-failed Deferred (Twisted's `fail`).
pub fn fail<T: 'static>(failure: impl Into<Failure>) -> Deferred<T> {
    Deferred::failed(failure)
}

/// Calls `f` now and gives its outcome as a Deferred (Twisted's
/// `maybeDeferred`): a returned Deferred is returned as is, a
/// `Result` becomes a fired Deferred, and a panic becomes a
/// [`PanicError`] failure.
pub fn maybe_deferred<R: IntoOutcome>(f: impl FnOnce() -> R) -> Deferred<R::Item> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(returned) => match returned.into_outcome() {
            Outcome::Ready(Ok(value)) => Deferred::succeeded(value),
            Outcome::Ready(Err(failure)) => Deferred::failed(failure),
            Outcome::Wait(deferred) => deferred,
        },
        Err(payload) => Deferred::failed(PanicError::from_payload(payload.as_ref())),
    }
}

/// The Deferred `core` waits on: implicitly (returned by a callback) or
/// explicitly (`chain_deferred`).
fn waiting_on(core: &CoreRef) -> Option<CoreRef> {
    let state = core.state.borrow();
    state
        .chained_to
        .clone()
        .or_else(|| state.explicit_chain.as_ref().and_then(Weak::upgrade))
}

impl<T> fmt::Debug for Deferred<T> {
    /// Twisted's repr: `<Deferred at 0x...>`, with `current result: ...` or
    /// `waiting on Deferred at 0x...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Deferred at {:p}", Rc::as_ptr(&self.core))?;
        let waiting_on = waiting_on(&self.core);
        let state = self.core.state.borrow();
        if let Some(inner) = &waiting_on {
            write!(f, " waiting on Deferred at {:p}", Rc::as_ptr(inner))?;
        } else {
            match &state.result {
                Some(Ok(slot)) => write!(f, " current result: <{}>", slot.type_name())?,
                Some(Err(failure)) => write!(f, " current result: {failure}")?,
                None if state.consumed => f.write_str(" (result handed on)")?,
                None => {}
            }
        }
        f.write_str(">")
    }
}

impl<T: 'static> std::future::Future for Deferred<T> {
    type Output = Result<T, Failure>;

    /// Ready once the chain has run to its end; the result is taken out
    /// (the Deferred is then consumed). Wakes the task when the chain
    /// finishes, from whatever fired it.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.take_result() {
            return Poll::Ready(result);
        }
        self.core.state.borrow_mut().waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
