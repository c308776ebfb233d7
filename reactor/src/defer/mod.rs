//! `Deferred` and its helpers (Twisted's `twisted.internet.defer`).

mod core;
mod deferred;
mod list;
mod timeout;

pub use deferred::{fail, maybe_deferred, succeed, Deferred, IntoOutcome, Outcome};
pub use list::{gather_results, race, DeferredList, DeferredListResult};
