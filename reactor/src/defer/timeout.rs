//! [`Deferred::add_timeout`].

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::deferred::Deferred;
use crate::error::{CancelledError, TimeoutError};
use crate::interfaces::{ReactorTime, ReactorTimeExt};
use crate::Failure;

impl<T: 'static> Deferred<T> {
    /// Cancels the Deferred if it has no result `timeout` from now, turning
    /// the resulting [`CancelledError`] into a [`TimeoutError`]
    /// (Twisted's `addTimeout`).
    ///
    /// The timeout covers the callbacks added *before* this call. A manual
    /// cancel before the timeout stays a `CancelledError`; a canceller that
    /// fires with a success or another error wins over the timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use torsion_reactor::{error::TimeoutError, Deferred, Timers};
    ///
    /// let clock = Timers::manual();
    /// let d = Deferred::<()>::new().add_timeout(Duration::from_secs(10), &clock);
    /// clock.set_now(Duration::from_secs(15));
    /// clock.run_until_idle();
    /// assert!(d.take_result().unwrap().unwrap_err().check::<TimeoutError>());
    /// ```
    pub fn add_timeout(self, timeout: Duration, clock: &dyn ReactorTime) -> Deferred<T> {
        self.add_timeout_with(timeout, clock, move |result, timeout| match result {
            Err(failure) if failure.check::<CancelledError>() => {
                Err(Failure::new(TimeoutError::new(Some(timeout), "Deferred")))
            }
            other => other,
        })
    }

    /// [`add_timeout`](Deferred::add_timeout) with a custom conversion,
    /// called with the result and the timeout only if the timeout fired
    /// (Twisted's `onTimeoutCancel`).
    pub fn add_timeout_with(
        self,
        timeout: Duration,
        clock: &dyn ReactorTime,
        on_timeout_cancel: impl FnOnce(Result<T, Failure>, Duration) -> Result<T, Failure> + 'static,
    ) -> Deferred<T> {
        let timed_out = Rc::new(Cell::new(false));
        let (flag, target) = (timed_out.clone(), self.clone());
        let call = clock.call_later(timeout, move || {
            flag.set(true);
            target.cancel();
        });
        self.add_both(move |result| {
            if timed_out.get() {
                on_timeout_cancel(result, timeout)
            } else {
                result
            }
        })
        .add_both(move |result| {
            if call.active() {
                let _ = call.cancel();
            }
            result
        })
    }
}
