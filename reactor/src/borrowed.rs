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
use std::rc::Rc;

use crate::error::PanicError;
use crate::{Failure, Protocol, ProtocolRef};

/// The cause a panic or log line names when a protocol is found borrowed.
pub(crate) const BORROWED: &str = "protocol borrowed elsewhere: held across .await?";

/// A postponed call: tries again, true once it was made.
type Attempt = Box<dyn FnMut() -> bool>;

thread_local! {
    static POSTPONED: RefCell<Vec<Attempt>> = const { RefCell::new(Vec::new()) };
    static ANY_POSTPONED: Cell<bool> = const { Cell::new(false) };
}

fn postpone(attempt: Attempt) {
    POSTPONED.with(|p| p.borrow_mut().push(attempt));
    ANY_POSTPONED.with(|any| any.set(true));
}

/// Calls `call` on `protocol` now, or, if it is borrowed, as soon as the
/// borrow ends (in order with other postponed calls): for the calls that
/// must not be lost (`connection_lost` and the like). A panic in a
/// postponed call is logged; the payload of one in a call made now is
/// returned.
pub(crate) fn call_or_postpone<P: ?Sized + 'static>(
    protocol: &Rc<RefCell<P>>,
    method: &'static str,
    call: impl FnOnce(&mut P) + 'static,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    let Ok(mut borrowed) = protocol.try_borrow_mut() else {
        log::error!("{BORROWED} {method} postponed until the borrow ends");
        let protocol = protocol.clone();
        let mut call = Some(call);
        postpone(Box::new(move || {
            let Ok(mut borrowed) = protocol.try_borrow_mut() else {
                return false;
            };
            if let Some(call) = call.take() {
                let outcome = catch_unwind(AssertUnwindSafe(|| call(&mut *borrowed)));
                if let Err(payload) = outcome {
                    log::error!(
                        "protocol panicked in a postponed {method}: {}",
                        PanicError::from_payload(payload.as_ref()).message
                    );
                }
            }
            true
        }));
        return Ok(());
    };
    catch_unwind(AssertUnwindSafe(|| call(&mut *borrowed)))
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
    call_or_postpone(protocol, "connection_lost", move |p| {
        p.connection_lost(reason)
    })
}

/// Makes the postponed calls whose protocol is free now, in order; cheap
/// when there are none.
pub(crate) fn deliver_postponed() {
    if !ANY_POSTPONED.with(Cell::get) {
        return;
    }
    let waiting = POSTPONED.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let mut still: Vec<Attempt> = Vec::new();
    for mut attempt in waiting {
        if !attempt() {
            still.push(attempt);
        }
    }
    POSTPONED.with(|p| {
        let mut postponed = p.borrow_mut();
        // A call just made may have postponed another: it comes after.
        still.append(&mut postponed);
        *postponed = still;
        ANY_POSTPONED.with(|any| any.set(!postponed.is_empty()));
    });
}
