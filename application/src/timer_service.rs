//! [`TimerService`]: run a function every so often while the service runs
//! (Twisted's `twisted.application.internet.TimerService`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::task::LoopingCall;
use torsion_reactor::{log_failure, succeed, Deferred, IntoOutcome, ReactorTime};

use crate::service::{Service, ServiceState};

type Call = Rc<RefCell<dyn FnMut() -> Deferred<()>>>;

/// Calls a function every `step` while running, the first time at start
/// (Twisted's `TimerService`, on a [`LoopingCall`]).
///
/// The function may return `Result<T, Failure>` or a `Deferred<T>` (the
/// value is ignored); a Deferred holds the next call until it fires. A
/// failure stops the loop and is logged once. `stop_service` fires once any
/// call in flight has finished.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use torsion_application::{Service, TimerService};
/// use torsion_reactor::Failure;
/// use torsion_testing::{success_result_of, Clock};
///
/// let clock = Clock::new();
/// let ticks = Rc::new(Cell::new(0));
/// let counter = ticks.clone();
/// let service = TimerService::new(Duration::from_secs(2), Rc::new(clock.clone()), move || {
///     counter.set(counter.get() + 1);
///     Ok::<_, Failure>(())
/// });
/// service.start_service(); // runs at once
/// clock.pump(&[Duration::from_secs(2), Duration::from_secs(2)]); // at 2 and 4
/// assert_eq!(ticks.get(), 3);
/// clock.advance(Duration::from_secs(5)); // one call at 9: missed intervals are skipped
/// assert_eq!(ticks.get(), 4);
/// success_result_of(&service.stop_service());
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(ticks.get(), 4); // stopped: no more calls
/// ```
///
/// # Twisted
///
/// The clock is given to the constructor; Twisted falls back to the global
/// reactor, which Torsion does not have.
pub struct TimerService {
    state: ServiceState,
    step: Duration,
    clock: Rc<dyn ReactorTime>,
    call: Call,
    looping: RefCell<Option<LoopingCall>>,
    finished: RefCell<Option<Deferred<()>>>,
}

impl TimerService {
    /// Calls `call` every `step` on `clock` while running.
    pub fn new<R: IntoOutcome>(
        step: Duration,
        clock: Rc<dyn ReactorTime>,
        mut call: impl FnMut() -> R + 'static,
    ) -> TimerService {
        let call: Call = Rc::new(RefCell::new(move || {
            torsion_reactor::maybe_deferred(&mut call).add_callback(|_| Ok(()))
        }));
        TimerService {
            state: ServiceState::new(),
            step,
            clock,
            call,
            looping: RefCell::new(None),
            finished: RefCell::new(None),
        }
    }

    /// The loop of the current run (Twisted's `_loop`).
    pub fn looping_call(&self) -> Option<LoopingCall> {
        self.looping.borrow().clone()
    }
}

impl Service for TimerService {
    fn state(&self) -> &ServiceState {
        &self.state
    }

    fn start_service(&self) {
        self.state.set_running(true);
        let call = self.call.clone();
        let looping = LoopingCall::new(self.clock.clone(), move || (call.borrow_mut())());
        *self.looping.borrow_mut() = Some(looping.clone());
        match looping.start(self.step, true) {
            Ok(done) => {
                let finished = done.add_callbacks(
                    |_| Ok(()),
                    |failure| {
                        log_failure("TimerService call failed; the timer stopped", &failure);
                        Ok(())
                    },
                );
                *self.finished.borrow_mut() = Some(finished);
            }
            Err(error) => log::error!("TimerService could not start its loop: {error}"),
        }
    }

    fn stop_service(&self) -> Deferred<()> {
        let looping = self.looping.borrow().clone();
        if let Some(looping) = looping.filter(LoopingCall::is_running) {
            let _ = looping.stop();
        }
        let finished = self.finished.borrow_mut().take();
        let running = self.state.running_flag();
        match finished {
            Some(finished) => finished.add_callback(move |()| {
                running.set(false);
                Ok(())
            }),
            None => {
                running.set(false);
                succeed(())
            }
        }
    }
}

impl fmt::Debug for TimerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerService")
            .field("state", &self.state)
            .field("step", &self.step)
            .field("looping", &self.looping.borrow())
            .finish()
    }
}
