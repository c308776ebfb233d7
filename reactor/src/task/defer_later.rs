//! [`defer_later`]: Twisted's `task.deferLater`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::interfaces::{ReactorTime, ReactorTimeExt};
use crate::{Deferred, DelayedCall, IntoOutcome};

/// Calls `f` once `delay` has passed on `clock` and gives its outcome as a
/// Deferred (Twisted's `task.deferLater`).
///
/// `f` runs as the Deferred's first callback, so an error it returns, or a
/// panic (as a [`PanicError`](crate::error::PanicError)), fails the
/// Deferred, and a Deferred it returns is waited for. Cancelling the
/// Deferred before the delay has passed cancels the scheduled call: `f`
/// never runs and the Deferred fails with
/// [`CancelledError`](crate::error::CancelledError). Cancelling it later,
/// while it waits on a Deferred `f` returned, cancels that one.
///
/// For a plain delay, pass `|| Ok::<(), Failure>(())`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_reactor::{error::CancelledError, task::defer_later, Failure, Timers};
///
/// let clock = Timers::manual();
/// let answer = defer_later(&clock, Duration::from_secs(3), || Ok::<_, Failure>(42));
/// let never = defer_later(&clock, Duration::from_secs(3), || -> Result<(), Failure> {
///     unreachable!("cancelled before the delay passed")
/// });
/// never.cancel();
/// assert!(matches!(never.take_result(), Some(Err(f)) if f.check::<CancelledError>()));
/// assert_eq!(clock.len(), 1);
///
/// clock.set_now(Duration::from_secs(3));
/// clock.run_until_idle();
/// assert!(matches!(answer.take_result(), Some(Ok(42))));
/// ```
///
/// # Twisted
///
/// Twisted's `callable` is optional and takes `*args, **kwargs`; here `f` is
/// required and arguments are its captures.
pub fn defer_later<R, F>(clock: &dyn ReactorTime, delay: Duration, f: F) -> Deferred<R::Item>
where
    R: IntoOutcome,
    F: FnOnce() -> R + 'static,
{
    let scheduled: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
    let to_cancel = scheduled.clone();
    let deferred = Deferred::<()>::with_canceller(move |_| {
        let call = to_cancel.borrow_mut().take();
        if let Some(call) = call {
            let _ = call.cancel();
        }
    });
    let fire = deferred.clone();
    let call = clock.call_later(delay, move || {
        // Cannot be fired already: cancelling removes this call first.
        let _ = fire.try_callback(());
    });
    *scheduled.borrow_mut() = Some(call);
    deferred.add_callback(move |()| f())
}
