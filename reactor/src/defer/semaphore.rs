//! [`DeferredSemaphore`]: Twisted's `twisted.internet.defer.DeferredSemaphore`.

use std::fmt;

use super::deferred::{Deferred, IntoOutcome};
use super::permits::{self, Permit, Permits};
use crate::error::InvalidTokens;

/// A semaphore for event-driven code: at most `tokens` holders at once.
/// [`acquire`](DeferredSemaphore::acquire) gives a [`Deferred`] that fires
/// with a [`SemaphoreToken`] once one is free; dropping the token (or
/// [`SemaphoreToken::release`]) gives it back to the next waiter.
///
/// Handles are cheap clones of one semaphore.
///
/// # Examples
///
/// At most two downloads at a time:
///
/// ```
/// use torsion_reactor::{Deferred, DeferredSemaphore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let slots = DeferredSemaphore::new(2)?;
/// let downloads: Vec<Deferred<()>> = (0..3).map(|_| Deferred::new()).collect();
/// let results: Vec<_> = downloads
///     .iter()
///     .map(|download| {
///         let download = download.clone();
///         slots.run(move || download)
///     })
///     .collect();
/// assert_eq!((slots.tokens(), slots.waiting()), (0, 1));
///
/// downloads[0].callback(()); // the third one starts now
/// assert!(results[0].has_result());
/// assert_eq!((slots.tokens(), slots.waiting()), (0, 0));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`new`](DeferredSemaphore::new) refuses fewer than one token.
///
/// # Twisted
///
/// As [`DeferredLock`](crate::DeferredLock): `release()` becomes the
/// token, releases from inside a waiter's callback are handed on after it
/// returns, in bounded stack, and a cancelled waiter leaves the queue.
/// Twisted's `limit` and `tokens` attributes are the methods of the same name.
#[derive(Clone, Debug)]
pub struct DeferredSemaphore {
    permits: Permits<SemaphoreToken>,
}

impl DeferredSemaphore {
    /// A semaphore with `tokens` tokens, all free.
    ///
    /// # Errors
    ///
    /// [`InvalidTokens`] if `tokens` is 0 (Twisted's `ValueError`).
    pub fn new(tokens: usize) -> Result<DeferredSemaphore, InvalidTokens> {
        if tokens == 0 {
            return Err(InvalidTokens { tokens });
        }
        Ok(DeferredSemaphore {
            permits: Permits::new(tokens, |permit| SemaphoreToken { permit }),
        })
    }

    /// A Deferred that fires with a token once one is free.
    pub fn acquire(&self) -> Deferred<SemaphoreToken> {
        self.permits.acquire()
    }

    /// Acquires, calls `f`, and releases once what `f` returned has fired,
    /// whatever the outcome; the returned Deferred fires with `f`'s result.
    pub fn run<R: IntoOutcome>(&self, f: impl FnOnce() -> R + 'static) -> Deferred<R::Item> {
        permits::run(self.acquire(), f)
    }

    /// How many tokens are free.
    pub fn tokens(&self) -> usize {
        self.permits.available()
    }

    /// How many tokens there are in all.
    pub fn limit(&self) -> usize {
        self.permits.limit()
    }

    /// How many acquires are waiting.
    pub fn waiting(&self) -> usize {
        self.permits.waiting()
    }
}

/// One token of a [`DeferredSemaphore`]: dropping it gives it back.
#[must_use = "dropping the token releases it at once"]
pub struct SemaphoreToken {
    permit: Permit<SemaphoreToken>,
}

impl SemaphoreToken {
    /// Gives the token back (Twisted's `release`).
    pub fn release(self) {
        self.permit.release();
    }
}

impl fmt::Debug for SemaphoreToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreToken")
    }
}
