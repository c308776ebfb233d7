//! [`run`]: run an application until the reactor stops (Twisted's `twistd`
//! / `react`, reduced to what a Rust `main` needs).

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{ReactorError, TimeoutError};
use torsion_reactor::{events, log_failure, DeferredList, Phase, ReactorCore, ReactorTime};

use crate::service::{MultiService, Service};
use crate::start_error::StartError;

/// How long [`run`] waits for the services to stop by default.
pub const DEFAULT_STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Why [`run`] did not end cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The reactor failed or could not run.
    Reactor(ReactorError),
    /// These services had not stopped when the deadline passed.
    StopTimedOut(Vec<String>),
    /// A service could not start (a server could not listen, say); the
    /// others were stopped and the reactor with them.
    Start(StartError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Reactor(e) => write!(f, "the reactor failed: {e}"),
            RunError::StopTimedOut(names) => {
                write!(f, "services did not stop in time: {}", names.join(", "))
            }
            RunError::Start(e) => e.fmt(f),
        }
    }
}

impl Error for RunError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RunError::Reactor(e) => Some(e),
            RunError::StopTimedOut(_) => None,
            RunError::Start(e) => Some(e),
        }
    }
}

/// Runs `root` on `reactor`: starts the tree (privileged start, then start,
/// through [`Service::try_privileged_start_service`] and
/// [`Service::try_start_service`]) once the reactor runs; when the reactor
/// is asked to stop (`stop()`, SIGINT or SIGTERM), stops the children in
/// reverse order and holds the shutdown until they have stopped or
/// `deadline` passed, logging each service that missed it. Returns when the
/// reactor has stopped.
///
/// A service that fails to start (a
/// [`StreamServerEndpointService`](crate::StreamServerEndpointService) with
/// [`raise_synchronously`](crate::StreamServerEndpointService::raise_synchronously)
/// whose port is taken, say) starts no later sibling and stops the
/// reactor, so the tree is stopped and `run` returns [`RunError::Start`]
/// naming it, as `twistd` exits when `startService` raises.
///
/// # Errors
///
/// [`RunError::Start`] naming the service that could not start,
/// [`RunError::StopTimedOut`] naming the services that did not stop in
/// time, or [`RunError::Reactor`].
///
/// # Examples
///
/// ```
/// use std::{rc::Rc, time::Duration};
/// use torsion_application::{run, MultiService, Service, ServiceState, set_service_parent};
/// use torsion_reactor::{Reactor, ReactorCore, ReactorTimeExt};
///
/// struct Hello(ServiceState);
/// impl Service for Hello {
///     fn state(&self) -> &ServiceState {
///         &self.0
///     }
///     fn start_service(&self) {
///         self.0.set_running(true);
///         log::info!("hello");
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// let root = MultiService::new();
/// let hello: Rc<dyn Service> = Rc::new(Hello(ServiceState::named("hello")));
/// set_service_parent(&hello, &root)?;
/// let stopper = reactor.clone();
/// reactor.call_later(Duration::from_millis(20), move || drop(stopper.stop()));
/// run(&root, &reactor, Duration::from_secs(5))?;
/// assert!(!hello.is_running());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run<R>(root: &Rc<MultiService>, reactor: &R, deadline: Duration) -> Result<(), RunError>
where
    R: ReactorCore + ReactorTime + Clone + 'static,
{
    let late: Rc<RefCell<Vec<String>>> = Rc::default();
    let failed: Rc<RefCell<Option<StartError>>> = Rc::default();
    let (starting, stopper, failure_slot) = (root.clone(), reactor.clone(), failed.clone());
    reactor.call_when_running(Box::new(move || {
        let started = starting
            .try_privileged_start_service()
            .and_then(|()| starting.try_start_service());
        if let Err(failure) = started {
            *failure_slot.borrow_mut() = Some(StartError::named(&*starting, failure));
            // Running, so this cannot fail; a stop already under way is fine.
            let _ = stopper.stop();
        }
    }));
    let (stopping, clock, missed) = (root.clone(), reactor.clone(), late.clone());
    reactor.add_system_event_trigger(
        Phase::Before,
        events::SHUTDOWN,
        Box::new(move || Some(stop_tree(&stopping, &clock, deadline, &missed))),
    );
    reactor.run().map_err(RunError::Reactor)?;
    if let Some(error) = failed.borrow_mut().take() {
        return Err(RunError::Start(error));
    }
    let late = late.borrow().clone();
    if late.is_empty() {
        Ok(())
    } else {
        Err(RunError::StopTimedOut(late))
    }
}

/// Stops `root`'s children in reverse order; the result fires when all have
/// stopped or at `deadline`, recording who was late.
fn stop_tree<R: ReactorTime>(
    root: &Rc<MultiService>,
    clock: &R,
    deadline: Duration,
    late: &Rc<RefCell<Vec<String>>>,
) -> torsion_reactor::Deferred<()> {
    root.state().set_running(false);
    let children: Vec<Rc<dyn Service>> = root.services().into_iter().rev().collect();
    let mut pending = Vec::new();
    for child in children {
        let name = child.name().unwrap_or_else(|| "<unnamed>".to_string());
        let late = late.clone();
        // The timeout must come first: it covers the callbacks added before it.
        let stopped = torsion_reactor::maybe_deferred(|| child.stop_service())
            .add_timeout(deadline, clock)
            .add_errback(move |failure| {
                if failure.check::<TimeoutError>() {
                    log::error!("service {name} did not stop within {deadline:?}");
                    late.borrow_mut().push(name);
                } else {
                    log_failure(&format!("service {name} failed to stop"), &failure);
                }
                Ok(())
            });
        pending.push(stopped);
    }
    DeferredList::new(pending)
        .into_deferred()
        .add_callback(|_| Ok(()))
}
