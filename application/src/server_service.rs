//! [`StreamServerEndpointService`]: listen while the service runs
//! (Twisted's `twisted.application.internet.StreamServerEndpointService`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use torsion_reactor::error::CancelledError;
use torsion_reactor::{
    log_failure, succeed, Deferred, DynProtocolFactory, Failure, ListeningPort, Outcome,
    StreamServerEndpoint,
};

use crate::service::{Service, ServiceState};

type PortResult = Option<Rc<dyn ListeningPort>>;

/// Runs a server on an endpoint: listens when started, stops listening when
/// stopped (Twisted's `StreamServerEndpointService`).
///
/// * `privileged_start_service` (or `start_service`, if that did not run)
///   calls `endpoint.listen(factory)` once; calling it again does nothing.
/// * A listen failure is logged once (a `CancelledError` from stopping
///   before the port was up is not); with
///   [`raise_synchronously`](StreamServerEndpointService::raise_synchronously),
///   a failure already known when starting is returned by
///   [`try_start_service`](Service::try_start_service)
///   instead (later ones are still only logged).
/// * `stop_service` cancels a pending listen, or stops the port, and fires
///   once the port has stopped; then the service is no longer running.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_application::{Service, StreamServerEndpointService};
/// use torsion_reactor::{Deferred, DynProtocolFactory, Factory, ListeningPort, StreamServerEndpoint};
/// use torsion_testing::AccumulatingProtocol;
///
/// /// An endpoint whose listen never completes.
/// struct Pending;
/// impl StreamServerEndpoint for Pending {
///     fn listen_dyn(&self, _: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
///         Deferred::new()
///     }
/// }
///
/// let service = StreamServerEndpointService::new(Rc::new(Pending), Rc::new(Factory::for_protocol(AccumulatingProtocol::new)));
/// service.start_service();
/// assert!(service.is_running());
/// let stopped = service.stop_service(); // cancels the listen
/// assert!(stopped.is_called() && !service.is_running());
/// ```
///
/// # Twisted
///
/// Twisted raises from `startService`; `Service::start_service` cannot
/// return an error, so the synchronous raise is
/// [`try_start_service`](Service::try_start_service) /
/// [`try_privileged_start_service`](Service::try_privileged_start_service),
/// and the trait methods log the failure. Stopping a service that never
/// started fires at once (Twisted raises `AttributeError`).
pub struct StreamServerEndpointService {
    state: ServiceState,
    endpoint: Rc<dyn StreamServerEndpoint>,
    factory: Rc<dyn DynProtocolFactory>,
    waiting_for_port: RefCell<Option<Deferred<PortResult>>>,
    /// Read when the listen fails, as Twisted reads the attribute: it is
    /// reset once the start returns, so later failures are only logged.
    raise_synchronously: Rc<Cell<bool>>,
    stopping: RefCell<Option<Rc<RefCell<StopWaiters>>>>,
}

#[derive(Default)]
struct StopWaiters {
    done: bool,
    waiters: Vec<Deferred<()>>,
}

impl StreamServerEndpointService {
    /// A service listening on `endpoint` with `factory`.
    pub fn new(
        endpoint: Rc<dyn StreamServerEndpoint>,
        factory: Rc<dyn DynProtocolFactory>,
    ) -> StreamServerEndpointService {
        StreamServerEndpointService {
            state: ServiceState::new(),
            endpoint,
            factory,
            waiting_for_port: RefCell::new(None),
            raise_synchronously: Rc::new(Cell::new(false)),
            stopping: RefCell::new(None),
        }
    }

    /// Twisted's `_raiseSynchronously`: make a listen failure already known
    /// at start come back from the `try_` start methods, so that
    /// [`run`](crate::run) fails instead of serving without a port (Twisted's
    /// `strports.service` sets it).
    pub fn raise_synchronously(&self, yes: bool) {
        self.raise_synchronously.set(yes);
    }
}

impl Service for StreamServerEndpointService {
    fn state(&self) -> &ServiceState {
        &self.state
    }

    fn privileged_start_service(&self) {
        if let Err(failure) = Service::try_privileged_start_service(self) {
            log_failure("StreamServerEndpointService could not listen", &failure);
        }
    }

    fn start_service(&self) {
        if let Err(failure) = Service::try_start_service(self) {
            log_failure("StreamServerEndpointService could not listen", &failure);
        }
    }

    /// Listens (Twisted's `privilegedStartService`).
    ///
    /// # Errors
    ///
    /// With [`raise_synchronously`](StreamServerEndpointService::raise_synchronously),
    /// the listen failure if it is already known.
    fn try_privileged_start_service(&self) -> Result<(), Failure> {
        if self.waiting_for_port.borrow().is_some() {
            // Already listening (or trying to): Twisted would listen again
            // and fail with "address in use".
            return Ok(());
        }
        let raised_now: Rc<RefCell<Option<Failure>>> = Rc::default();
        let (raise, raised) = (self.raise_synchronously.clone(), raised_now.clone());
        let factory = self.factory.clone();
        let port = self
            .endpoint
            .listen_dyn(self.factory.clone())
            .add_callbacks(
                move |port| {
                    // Twisted's Port logs "<factory> starting on <port>".
                    log::info!("{} starting on {}", factory.describe(), port.host());
                    Ok(Some(port))
                },
                move |failure: Failure| {
                    if raise.get() {
                        *raised.borrow_mut() = Some(failure);
                    } else if !failure.check::<CancelledError>() {
                        log_failure("StreamServerEndpointService could not listen", &failure);
                    }
                    Ok(None)
                },
            );
        *self.waiting_for_port.borrow_mut() = Some(port);
        self.raise_synchronously.set(false);
        let raised = raised_now.borrow_mut().take();
        raised.map_or(Ok(()), Err)
    }

    /// Marks the service running and listens unless already listening
    /// (Twisted's `startService`).
    ///
    /// # Errors
    ///
    /// As [`try_privileged_start_service`](Service::try_privileged_start_service).
    fn try_start_service(&self) -> Result<(), Failure> {
        self.state.set_running(true);
        if self.waiting_for_port.borrow().is_none() {
            return self.try_privileged_start_service();
        }
        Ok(())
    }

    fn stop_service(&self) -> Deferred<()> {
        let waiter = Deferred::new();
        let existing = self.stopping.borrow().clone();
        if let Some(waiters) = existing {
            // Stopping already: wait with the first caller.
            let mut waiters = waiters.borrow_mut();
            if waiters.done {
                return succeed(());
            }
            waiters.waiters.push(waiter.clone());
            return waiter;
        }
        let Some(port) = self.waiting_for_port.borrow().clone() else {
            self.state.set_running(false);
            return succeed(());
        };
        let waiters = Rc::new(RefCell::new(StopWaiters {
            done: false,
            waiters: vec![waiter.clone()],
        }));
        *self.stopping.borrow_mut() = Some(waiters.clone());
        port.cancel();
        let running = self.state.running_flag();
        port.add_callback(|port: PortResult| match port {
            Some(port) => Outcome::Wait(port.stop_listening()),
            None => Outcome::Ready(Ok(())),
        })
        .add_both(move |result| {
            running.set(false);
            let waiting = {
                let mut waiters = waiters.borrow_mut();
                waiters.done = true;
                std::mem::take(&mut waiters.waiters)
            };
            for waiter in waiting {
                let _ = waiter.try_resolve(result.clone());
            }
            Ok(())
        });
        waiter
    }
}

impl fmt::Debug for StreamServerEndpointService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServerEndpointService")
            .field("state", &self.state)
            .field("factory", &self.factory.describe())
            .field("listening", &self.waiting_for_port.borrow().is_some())
            .finish()
    }
}
