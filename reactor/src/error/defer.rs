//! Errors of [`Deferred`](crate::Deferred) chains and of the tools built on
//! them (`twisted.internet.defer`'s `FirstError`, `FailureGroup`,
//! `QueueOverflow`, `QueueUnderflow`, and the `ValueError` of
//! `DeferredSemaphore`).

use std::error::Error;
use std::fmt;

use crate::Failure;

/// One input of a [`DeferredList`](crate::DeferredList) failed first
/// (`defer.FirstError`): the list's failure when it fires on the first errback.
#[derive(Debug, Clone)]
pub struct FirstError {
    /// The input's own failure.
    pub failure: Failure,
    /// The input's index in the list.
    pub index: usize,
}

impl fmt::Display for FirstError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FirstError[#{}, {}]", self.index, self.failure)
    }
}

impl Error for FirstError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.failure.error())
    }
}

impl PartialEq for FirstError {
    /// Equal when the index is equal and the failures are the same failure.
    fn eq(&self, other: &FirstError) -> bool {
        self.index == other.index && self.failure.is_same(&other.failure)
    }
}

/// Every input of a [`race`](crate::race) failed (`defer.FailureGroup`).
#[derive(Debug, Clone)]
pub struct FailureGroup {
    /// The inputs' failures, in input order.
    pub failures: Vec<Failure>,
}

impl fmt::Display for FailureGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "all {} inputs failed", self.failures.len())?;
        for failure in &self.failures {
            write!(f, "; {failure}")?;
        }
        Ok(())
    }
}

impl Error for FailureGroup {}

/// A panic caught in a callback, a timed call or a protocol method, turned
/// into a failure so the reactor keeps going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicError {
    /// The panic's message, when it was a string.
    pub message: String,
}

impl PanicError {
    /// From the payload `std::panic::catch_unwind` returned.
    pub fn from_payload(payload: &(dyn std::any::Any + Send)) -> PanicError {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "<non-string panic payload>".to_string()
        };
        PanicError { message }
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl Error for PanicError {}

/// A callback expected a different result type than the chain carried.
///
/// It only happens when callbacks are added through a stale handle: a
/// `Deferred<T>` kept from before `add_callback` turned the chain into a
/// `Deferred<U>`. Add callbacks through the handle the last call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredTypeError {
    /// The type the callback expected.
    pub expected: &'static str,
    /// The type the chain held.
    pub found: &'static str,
}

impl fmt::Display for DeferredTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "callback expected a {} but the Deferred held a {} (callbacks added through a stale handle?)",
            self.expected, self.found
        )
    }
}

impl Error for DeferredTypeError {}

/// A callback returned the very `Deferred` it was attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircularChainError;

impl fmt::Display for CircularChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a callback returned the Deferred it was attached to")
    }
}

impl Error for CircularChainError {}

/// [`DeferredQueue::put`](crate::DeferredQueue::put) on a queue already
/// holding `size` items with nobody waiting (`defer.QueueOverflow`). It
/// hands the rejected item back: [`into_item`](QueueOverflow::into_item).
pub struct QueueOverflow<T = ()> {
    item: T,
}

impl<T> QueueOverflow<T> {
    /// The error for `item`, which was not queued.
    pub fn new(item: T) -> QueueOverflow<T> {
        QueueOverflow { item }
    }

    /// The item that was not queued.
    pub fn into_item(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for QueueOverflow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueOverflow").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for QueueOverflow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the DeferredQueue is full: it already holds its size limit of items")
    }
}

impl<T> Error for QueueOverflow<T> {}

unit_error!(
    /// [`DeferredQueue::get`](crate::DeferredQueue::get) on an empty queue
    /// that already has `backlog` gets waiting (`defer.QueueUnderflow`).
    QueueUnderflow,
    "the DeferredQueue is empty and already has its backlog limit of gets waiting"
);

/// A [`DeferredSemaphore`](crate::DeferredSemaphore) was asked for fewer
/// than one token (Twisted raises `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTokens {
    /// The count that was asked for.
    pub tokens: usize,
}

impl fmt::Display for InvalidTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a DeferredSemaphore needs at least 1 token, not {}",
            self.tokens
        )
    }
}

impl Error for InvalidTokens {}
