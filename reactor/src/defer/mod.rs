//! `Deferred` and its helpers (Twisted's `twisted.internet.defer`).

mod core;
mod deferred;
mod list;
mod lock;
mod permits;
mod queue;
mod semaphore;
mod timeout;

pub use deferred::{fail, maybe_deferred, succeed, Deferred, IntoOutcome, Outcome};
pub use list::{gather_results, race, DeferredList, DeferredListResult};
pub use lock::{DeferredLock, LockGuard};
pub use queue::DeferredQueue;
pub use semaphore::{DeferredSemaphore, SemaphoreToken};
