//! [`Service`] and [`MultiService`]: Twisted's `twisted.application.service`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::rc::{Rc, Weak};

use torsion_reactor::{
    log_failure, maybe_deferred, succeed, Deferred, DeferredList, DeferredListResult, Failure,
};

use crate::start_error::StartError;

/// The state every service carries: its name, whether it runs, its parent.
/// Embed one and return it from [`Service::state`].
#[derive(Default)]
pub struct ServiceState {
    name: RefCell<Option<String>>,
    running: Rc<Cell<bool>>,
    parent: RefCell<Option<Weak<MultiService>>>,
}

impl ServiceState {
    /// Unnamed, not running, no parent.
    pub fn new() -> ServiceState {
        ServiceState::default()
    }

    /// Named `name`.
    pub fn named(name: impl Into<String>) -> ServiceState {
        let state = ServiceState::default();
        *state.name.borrow_mut() = Some(name.into());
        state
    }

    /// Its name.
    pub fn name(&self) -> Option<String> {
        self.name.borrow().clone()
    }

    /// Renames it (Twisted's `setName`).
    ///
    /// # Errors
    ///
    /// [`ServiceError::HasParent`]: a service cannot be renamed while it has
    /// a parent, whose name index would go stale.
    pub fn set_name(&self, name: impl Into<String>) -> Result<(), ServiceError> {
        if self.parent().is_some() {
            return Err(ServiceError::HasParent);
        }
        *self.name.borrow_mut() = Some(name.into());
        Ok(())
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.running.get()
    }

    /// Marks it running or not.
    pub fn set_running(&self, running: bool) {
        self.running.set(running);
    }

    /// The running flag itself, for a service that marks itself stopped
    /// from a callback at the end of its stop chain (Twisted's
    /// `self.running = False` inside an `addBoth`).
    pub fn running_flag(&self) -> Rc<Cell<bool>> {
        self.running.clone()
    }

    /// Its parent, if it has one and it still exists.
    pub fn parent(&self) -> Option<Rc<MultiService>> {
        self.parent.borrow().as_ref().and_then(Weak::upgrade)
    }
}

impl fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceState")
            .field("name", &self.name.borrow())
            .field("running", &self.running.get())
            .finish()
    }
}

/// Misuse of the service tree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceError {
    /// Two children of one parent with the same name.
    DuplicateName(String),
    /// The service is not a child of that parent.
    NotAChild,
    /// Renaming a service that has a parent.
    HasParent,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::DuplicateName(name) => {
                write!(f, "cannot have two services with same name {name:?}")
            }
            ServiceError::NotAChild => f.write_str("the service is not a child of this parent"),
            ServiceError::HasParent => f.write_str("cannot rename a service that has a parent"),
        }
    }
}

impl Error for ServiceError {}

/// Something started and stopped with the application: Twisted's `IService`.
///
/// Services are shared (`Rc<dyn Service>`), so methods take `&self`; keep
/// mutable state in cells. The defaults only flip the running flag.
///
/// # Implementing
///
/// ```
/// use torsion_application::{Service, ServiceState};
/// use torsion_reactor::{succeed, Deferred};
///
/// #[derive(Default)]
/// struct Heartbeat {
///     state: ServiceState,
/// }
///
/// impl Service for Heartbeat {
///     fn state(&self) -> &ServiceState {
///         &self.state
///     }
///     fn start_service(&self) {
///         self.state.set_running(true);
///         log::info!("beating");
///     }
///     fn stop_service(&self) -> Deferred<()> {
///         self.state.set_running(false);
///         succeed(())
///     }
/// }
/// # let _ = Heartbeat::default();
/// ```
pub trait Service: 'static {
    /// Its name, running flag and parent.
    fn state(&self) -> &ServiceState;

    /// Its name (Twisted's `name`).
    fn name(&self) -> Option<String> {
        self.state().name()
    }

    /// Whether it runs (Twisted's `running`).
    fn is_running(&self) -> bool {
        self.state().is_running()
    }

    /// Work needing privileges (binding low ports), before privileges are
    /// dropped (Twisted's `privilegedStartService`).
    fn privileged_start_service(&self) {}

    /// Starts it (Twisted's `startService`).
    fn start_service(&self) {
        self.state().set_running(true);
    }

    /// [`privileged_start_service`](Service::privileged_start_service),
    /// reporting a failure that means the service cannot do its job
    /// (Twisted: an exception out of `privilegedStartService`).
    /// [`run`](crate::run) starts the tree through this and stops the
    /// application on a failure. The default calls
    /// `privileged_start_service` and never fails.
    ///
    /// # Errors
    ///
    /// Why the service cannot work; a [`MultiService`] wraps a child's in a
    /// [`StartError`] naming the child.
    fn try_privileged_start_service(&self) -> Result<(), Failure> {
        self.privileged_start_service();
        Ok(())
    }

    /// [`start_service`](Service::start_service), reporting a failure that
    /// means the service cannot do its job (Twisted: an exception out of
    /// `startService`, which makes `twistd` exit). The default calls
    /// `start_service` and never fails.
    ///
    /// # Errors
    ///
    /// As [`try_privileged_start_service`](Service::try_privileged_start_service).
    fn try_start_service(&self) -> Result<(), Failure> {
        self.start_service();
        Ok(())
    }

    /// Stops it; the Deferred fires once it has stopped (Twisted's
    /// `stopService`, which may return `None`: here it is always a Deferred).
    fn stop_service(&self) -> Deferred<()> {
        self.state().set_running(false);
        succeed(())
    }
}

/// Makes `parent` the parent of `service` and adds it (Twisted's
/// `setServiceParent`): disowns any previous parent first; a running parent
/// starts the child at once.
///
/// # Errors
///
/// [`ServiceError::DuplicateName`] if `parent` has a child of that name.
pub fn set_service_parent(
    service: &Rc<dyn Service>,
    parent: &Rc<MultiService>,
) -> Result<(), ServiceError> {
    if service.state().parent().is_some() {
        disown_service_parent(service)?;
    }
    *service.state().parent.borrow_mut() = Some(Rc::downgrade(parent));
    let added = parent.add_service(service.clone());
    if added.is_err() {
        *service.state().parent.borrow_mut() = None;
    }
    added
}

/// Removes `service` from its parent (Twisted's `disownServiceParent`),
/// returning the child's stop Deferred if the parent was running.
///
/// # Errors
///
/// [`ServiceError::NotAChild`] if it has no parent.
pub fn disown_service_parent(
    service: &Rc<dyn Service>,
) -> Result<Option<Deferred<()>>, ServiceError> {
    let parent = service.state().parent().ok_or(ServiceError::NotAChild)?;
    let stopped = parent.remove_service(service);
    *service.state().parent.borrow_mut() = None;
    stopped
}

/// A service made of services: Twisted's `MultiService`.
///
/// Children start in the order they were added and stop in reverse order;
/// [`stop_service`](Service::stop_service) fires once every child's stop
/// Deferred has fired. A child that fails to stop is logged and does not
/// hold up the others; the returned Deferred never fails. A child added to a
/// running parent is started at once.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_application::{MultiService, Service, ServiceState, set_service_parent};
///
/// struct Named(ServiceState);
/// impl Service for Named {
///     fn state(&self) -> &ServiceState {
///         &self.0
///     }
/// }
///
/// let root = MultiService::new();
/// let web: Rc<dyn Service> = Rc::new(Named(ServiceState::named("web")));
/// set_service_parent(&web, &root)?;
/// root.start_service();
/// assert!(web.is_running());
/// assert!(root.service_named("web").is_some());
/// let stopped = root.stop_service();
/// assert!(stopped.is_called() && !web.is_running());
/// # Ok::<(), torsion_application::ServiceError>(())
/// ```
#[derive(Default)]
pub struct MultiService {
    state: ServiceState,
    services: RefCell<Vec<Rc<dyn Service>>>,
    named: RefCell<HashMap<String, Rc<dyn Service>>>,
}

impl MultiService {
    /// An empty, stopped collection.
    pub fn new() -> Rc<MultiService> {
        Rc::new(MultiService::default())
    }

    /// An empty collection with a name.
    pub fn named(name: impl Into<String>) -> Rc<MultiService> {
        Rc::new(MultiService {
            state: ServiceState::named(name),
            ..MultiService::default()
        })
    }

    /// Adds a child (Twisted's `addService`); starts it if this collection runs.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DuplicateName`] if a child of that name exists.
    pub fn add_service(&self, service: Rc<dyn Service>) -> Result<(), ServiceError> {
        if let Some(name) = service.name() {
            let mut named = self.named.borrow_mut();
            if named.contains_key(&name) {
                return Err(ServiceError::DuplicateName(name));
            }
            named.insert(name, service.clone());
        }
        self.services.borrow_mut().push(service.clone());
        if self.is_running() {
            service.privileged_start_service();
            service.start_service();
        }
        Ok(())
    }

    /// Makes `service` a child of this collection and returns it shared:
    /// [`set_service_parent`] without the `Rc<dyn Service>` the caller
    /// would otherwise build. Starts it if this collection runs.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DuplicateName`] if a child of that name exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use torsion_application::{MultiService, Service, TimerService};
    ///
    /// let root = MultiService::new();
    /// let clock = std::rc::Rc::new(torsion_testing::Clock::new());
    /// let ticker = root.add(TimerService::new(std::time::Duration::from_secs(1), clock, || ()))?;
    /// root.start_service();
    /// assert!(ticker.is_running());
    /// # Ok::<(), torsion_application::ServiceError>(())
    /// ```
    ///
    /// # Twisted
    ///
    /// `service.setServiceParent(parent)` spelled from the parent's side.
    pub fn add<S: Service>(self: &Rc<Self>, service: S) -> Result<Rc<S>, ServiceError> {
        let service = Rc::new(service);
        let shared: Rc<dyn Service> = service.clone();
        set_service_parent(&shared, self)?;
        Ok(service)
    }

    /// Removes a child (Twisted's `removeService`); if this collection runs,
    /// stops it and returns its stop Deferred.
    ///
    /// # Errors
    ///
    /// [`ServiceError::NotAChild`] if it is not a child.
    pub fn remove_service(
        &self,
        service: &Rc<dyn Service>,
    ) -> Result<Option<Deferred<()>>, ServiceError> {
        {
            let mut services = self.services.borrow_mut();
            let index = services
                .iter()
                .position(|s| Rc::ptr_eq(s, service))
                .ok_or(ServiceError::NotAChild)?;
            services.remove(index);
        }
        if let Some(name) = service.name() {
            self.named.borrow_mut().remove(&name);
        }
        Ok(self.is_running().then(|| service.stop_service()))
    }

    /// The child named `name` (Twisted's `getServiceNamed`).
    pub fn service_named(&self, name: &str) -> Option<Rc<dyn Service>> {
        self.named.borrow().get(name).cloned()
    }

    /// The children, in the order they were added.
    pub fn services(&self) -> Vec<Rc<dyn Service>> {
        self.services.borrow().clone()
    }
}

impl Service for MultiService {
    fn state(&self) -> &ServiceState {
        &self.state
    }

    fn privileged_start_service(&self) {
        for service in self.services() {
            service.privileged_start_service();
        }
    }

    fn start_service(&self) {
        self.state.set_running(true);
        for service in self.services() {
            service.start_service();
        }
    }

    /// Privileged-starts the children in order; stops at the first that
    /// fails.
    fn try_privileged_start_service(&self) -> Result<(), Failure> {
        for service in self.services() {
            service
                .try_privileged_start_service()
                .map_err(|failure| StartError::wrap(&*service, failure))?;
        }
        Ok(())
    }

    /// Starts the children in order; stops at the first that fails.
    fn try_start_service(&self) -> Result<(), Failure> {
        self.state.set_running(true);
        for service in self.services() {
            service
                .try_start_service()
                .map_err(|failure| StartError::wrap(&*service, failure))?;
        }
        Ok(())
    }

    fn stop_service(&self) -> Deferred<()> {
        self.state.set_running(false);
        let stopping: Vec<Deferred<()>> = self
            .services()
            .into_iter()
            .rev()
            .map(|service| {
                let name = service.name().unwrap_or_else(|| "<unnamed>".to_string());
                maybe_deferred(move || service.stop_service()).add_errback(move |failure| {
                    log_failure(&format!("service {name} failed to stop"), &failure);
                    Ok(())
                })
            })
            .collect();
        DeferredList::new(stopping)
            .consume_errors(true)
            .into_deferred()
            .add_callback(|_: DeferredListResult<()>| Ok(()))
    }
}

impl fmt::Debug for MultiService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiService")
            .field("state", &self.state)
            .field("services", &self.services.borrow().len())
            .finish()
    }
}
