//! [`DeferredLock`]: Twisted's `twisted.internet.defer.DeferredLock`.

use std::fmt;

use super::deferred::{Deferred, IntoOutcome};
use super::permits::{self, Permit, Permits};

/// A lock for event-driven code: [`acquire`](DeferredLock::acquire) gives a
/// [`Deferred`] that fires with a [`LockGuard`] once the lock is free;
/// dropping the guard (or calling [`LockGuard::release`]) unlocks it and
/// hands it to the next waiter, first come first served.
///
/// Handles are cheap clones of one lock.
///
/// # Examples
///
/// Two jobs that must not overlap, the second one waiting for the first:
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{Deferred, DeferredLock};
///
/// let lock = DeferredLock::new();
/// let log = Rc::new(RefCell::new(Vec::new()));
///
/// let first_done = Deferred::<()>::new();
/// let (l, wait) = (log.clone(), first_done.clone());
/// lock.run(move || {
///     l.borrow_mut().push("first starts");
///     wait // the lock is held until this fires
/// });
/// let l = log.clone();
/// let second = lock.run(move || {
///     l.borrow_mut().push("second starts");
///     Ok(2)
/// });
/// assert_eq!(*log.borrow(), ["first starts"]);
///
/// first_done.callback(());
/// assert_eq!(*log.borrow(), ["first starts", "second starts"]);
/// assert!(matches!(second.take_result(), Some(Ok(2))));
/// assert!(!lock.is_locked());
/// ```
///
/// From `async` code, `.await` the Deferred and keep the guard in scope:
///
/// ```
/// # use torsion_reactor::{DeferredLock, Failure};
/// async fn critical(lock: &DeferredLock) -> Result<(), Failure> {
///     let _guard = lock.acquire().await?;
///     // ... only one task at a time here ...
///     Ok(())
/// }
/// # let _ = critical;
/// ```
///
/// # Twisted
///
/// * Twisted's `lock.release()` becomes the guard: only the holder can
///   unlock, at most once, and a holder that goes away (a dropped
///   Deferred, a failing callback that drops the guard) unlocks instead of
///   holding the lock forever. `locked` is [`is_locked`](DeferredLock::is_locked).
/// * Twisted hands the lock to the next waiter inside `release()`, so a
///   chain of waiters each releasing at once recurses; here a release
///   from inside a waiter's callback is handed on after that callback
///   returns, by the outer release, in the same order and in bounded stack.
///   An `acquire` made meanwhile queues behind the waiters instead of
///   jumping ahead of them.
/// * Cancelling a waiting acquire fails it with
///   [`CancelledError`](crate::error::CancelledError) and removes it from
///   the queue; cancelling one that already has the lock does nothing.
/// * `run(f, *args)` takes a closure; it may return a `Result` or a
///   `Deferred`. A panic in it becomes a
///   [`PanicError`](crate::error::PanicError) failure and the lock is
///   released, as an exception is in Twisted.
#[derive(Clone, Debug)]
pub struct DeferredLock {
    permits: Permits<LockGuard>,
}

impl Default for DeferredLock {
    fn default() -> Self {
        DeferredLock::new()
    }
}

impl DeferredLock {
    /// An unlocked lock.
    pub fn new() -> DeferredLock {
        DeferredLock {
            permits: Permits::new(1, |permit| LockGuard { permit }),
        }
    }

    /// A Deferred that fires with the guard once the lock is ours: at
    /// once if it is free, else after the holders before us released it.
    pub fn acquire(&self) -> Deferred<LockGuard> {
        self.permits.acquire()
    }

    /// Acquires, calls `f`, and releases once what `f` returned has fired
    /// (or at once if it returned a `Result`), whatever the outcome; the
    /// returned Deferred fires with `f`'s result.
    pub fn run<R: IntoOutcome>(&self, f: impl FnOnce() -> R + 'static) -> Deferred<R::Item> {
        permits::run(self.acquire(), f)
    }

    /// Whether someone holds the lock (Twisted's `locked`).
    pub fn is_locked(&self) -> bool {
        self.permits.available() == 0
    }

    /// How many acquires are waiting.
    pub fn waiting(&self) -> usize {
        self.permits.waiting()
    }
}

/// Holding a [`DeferredLock`]: dropping it releases the lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard {
    permit: Permit<LockGuard>,
}

impl LockGuard {
    /// Releases the lock (Twisted's `release`): the next waiter gets it.
    pub fn release(self) {
        self.permit.release();
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
