//! A protocol found borrowed when the framework must call it.
//!
//! The reactor never calls into a protocol it is already calling, so a
//! protocol that is borrowed when data arrives is borrowed by user code
//! that has not let go: almost always a `protocol.borrow_mut()` held across
//! an `.await` (of the protocol's own Deferred, say). Clippy's
//! `await_holding_refcell_ref` lint, on in this workspace, catches most.
//!
//! * A call that cannot wait (`data_received`) panics with a message naming
//!   the cause, [`BORROWED`]; the reactor contains the panic to the
//!   connection and aborts it.
//! * `connection_lost` is never lost: if the protocol is borrowed it is
//!   postponed and delivered as soon as the borrow ends, checked after
//!   every poll of an `async` task (the only place a borrow held across an
//!   `.await` can end) and every reactor turn, so the protocol fails its
//!   pending Deferreds and whatever awaits them moves on. The queue is per
//!   thread, as reactors are. A task awaiting a Deferred only the borrowed
//!   protocol could fire keeps the borrow until a timeout or a cancel ends
//!   its await; the error lines logged here say why it waits.

use std::cell::{Cell, RefCell, RefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::PanicError;
use crate::{Failure, Protocol, ProtocolRef};

/// The cause a panic or log line names when a protocol is found borrowed.
pub(crate) const BORROWED: &str = "protocol borrowed elsewhere: held across .await?";

thread_local! {
    static POSTPONED: RefCell<Vec<(ProtocolRef, Failure)>> = const { RefCell::new(Vec::new()) };
    static ANY_POSTPONED: Cell<bool> = const { Cell::new(false) };
}

/// Borrows `protocol` to call `method`: what every transport and wrapper
/// does before calling into a protocol, so a protocol held borrowed across
/// an `.await` is reported with its cause rather than as "RefCell already
/// borrowed" (transports outside this crate, such as TLS, use it too).
///
/// # Panics
///
/// If it is borrowed elsewhere, with a message naming the likely cause.
pub fn borrow_protocol<'a>(
    protocol: &'a RefCell<dyn Protocol>,
    method: &str,
) -> RefMut<'a, dyn Protocol> {
    match protocol.try_borrow_mut() {
        Ok(protocol) => protocol,
        Err(_) => panic!(
            "{BORROWED} cannot call {method}: drop every borrow of the protocol \
             before awaiting (clippy: await_holding_refcell_ref)"
        ),
    }
}

/// Delivers `connection_lost(reason)` to `protocol` now, or, if it is
/// borrowed, as soon as the borrow ends (checked after every poll of an
/// `async` task and every reactor turn), so it is never lost. Returns the
/// panic payload of the call made now, if it panicked.
///
/// # Errors
///
/// The payload of a panic in the protocol's `connection_lost`, for the
/// caller to contain or resume.
pub fn deliver_connection_lost(
    protocol: &ProtocolRef,
    reason: Failure,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    let Ok(mut borrowed) = protocol.try_borrow_mut() else {
        log::error!("{BORROWED} connection_lost ({reason}) postponed until the borrow ends");
        POSTPONED.with(|p| p.borrow_mut().push((protocol.clone(), reason)));
        ANY_POSTPONED.with(|any| any.set(true));
        return Ok(());
    };
    catch_unwind(AssertUnwindSafe(|| borrowed.connection_lost(reason)))
}

/// Delivers the postponed `connection_lost` calls whose protocol is free
/// now; cheap when there are none.
pub(crate) fn deliver_postponed() {
    if !ANY_POSTPONED.with(Cell::get) {
        return;
    }
    let waiting = POSTPONED.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let mut still = Vec::new();
    for (protocol, reason) in waiting {
        let Ok(mut borrowed) = protocol.try_borrow_mut() else {
            still.push((protocol, reason));
            continue;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| borrowed.connection_lost(reason)));
        drop(borrowed);
        if let Err(payload) = outcome {
            log::error!(
                "protocol panicked in a postponed connection_lost: {}",
                PanicError::from_payload(payload.as_ref()).message
            );
        }
    }
    POSTPONED.with(|p| {
        let mut postponed = p.borrow_mut();
        // A connection_lost just delivered may have postponed another.
        postponed.extend(still);
        ANY_POSTPONED.with(|any| any.set(!postponed.is_empty()));
    });
}
