//! [`StartError`]: which service could not start, and why.

use std::error::Error;
use std::fmt;

use torsion_reactor::Failure;

use crate::service::Service;

/// A service could not start (Twisted: an exception out of
/// `startService` / `privilegedStartService`, which makes `twistd` exit).
///
/// A [`MultiService`](crate::MultiService) wraps a child's failure in one,
/// naming the child; [`run`](crate::run) returns it as
/// [`RunError::Start`](crate::RunError::Start).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_application::{set_service_parent, MultiService, Service, ServiceState, StartError};
/// use torsion_reactor::Failure;
///
/// struct Broken(ServiceState);
/// impl Service for Broken {
///     fn state(&self) -> &ServiceState {
///         &self.0
///     }
///     fn try_start_service(&self) -> Result<(), Failure> {
///         Err(Failure::msg("no disk"))
///     }
/// }
///
/// let root = MultiService::new();
/// let broken: Rc<dyn Service> = Rc::new(Broken(ServiceState::named("store")));
/// set_service_parent(&broken, &root)?;
/// let failure = root.try_start_service().unwrap_err();
/// let error = failure.downcast_ref::<StartError>().expect("named");
/// assert_eq!(error.service(), "store");
/// assert_eq!(error.to_string(), "service \"store\" could not start: Message: no disk");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StartError {
    service: String,
    reason: Failure,
}

impl StartError {
    /// The name of the service that failed (`<unnamed>` if it has none).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Why it failed.
    pub fn reason(&self) -> &Failure {
        &self.reason
    }

    /// `failure` from `service`, named after it unless a service deeper in
    /// the tree already named itself.
    pub(crate) fn named(service: &dyn Service, failure: Failure) -> StartError {
        match failure.downcast_ref::<StartError>() {
            Some(error) => error.clone(),
            None => StartError {
                service: service.name().unwrap_or_else(|| "<unnamed>".to_string()),
                reason: failure,
            },
        }
    }

    /// [`named`](StartError::named), as a failure.
    pub(crate) fn wrap(service: &dyn Service, failure: Failure) -> Failure {
        if failure.check::<StartError>() {
            return failure;
        }
        Failure::new(StartError::named(service, failure))
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service {:?} could not start: {}",
            self.service, self.reason
        )
    }
}

impl Error for StartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.reason.error())
    }
}
