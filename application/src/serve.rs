//! The short form of a server program: [`serve`] (Twisted's
//! `strports.service`) and [`run_app`] (a `main` that runs a service tree
//! and reports what went wrong).

use std::error::Error;
use std::process::ExitCode;
use std::rc::Rc;

use torsion_endpoints::{server_from_string, EndpointParseError};
use torsion_reactor::{DynProtocolFactory, Reactor, ReactorTcp, ReactorUnix};

use crate::react::program_name;
use crate::runner::{run, DEFAULT_STOP_DEADLINE};
use crate::server_service::StreamServerEndpointService;
use crate::service::MultiService;

/// A service serving `factory` on the server endpoint `description`
/// (`"tcp:8000:interface=127.0.0.1"`, `"unix:/run/app.sock"`, ... as
/// [`server_from_string`] reads them): sugar over
/// [`StreamServerEndpointService::new`].
///
/// The service listens when started; a listen that fails at start (a port
/// in use, a port below 1024 without the privilege) fails the start, so
/// [`run`] stops and returns [`RunError::Start`](crate::RunError::Start)
/// naming it rather than serving without a port.
///
/// # Errors
///
/// An [`EndpointParseError`] naming the bad part of `description`.
///
/// # Examples
///
/// ```
/// use torsion_application::{serve, MultiService};
/// use torsion_reactor::{Factory, Reactor};
/// use torsion_testing::AccumulatingProtocol;
///
/// let reactor = Reactor::new()?;
/// let root = MultiService::new();
/// let factory = Factory::for_protocol(AccumulatingProtocol::new);
/// root.add(serve(&reactor, "tcp:0:interface=127.0.0.1", factory)?)?;
///
/// let error = serve(&reactor, "tcp:http", Factory::for_protocol(AccumulatingProtocol::new)).unwrap_err();
/// assert_eq!(error.to_string(), "invalid port \"http\": expected a port number 0-65535");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// `strports.service(description, factory, reactor)`, which also sets the
/// service's `_raiseSynchronously` (here
/// [`raise_synchronously`](StreamServerEndpointService::raise_synchronously)).
pub fn serve<R, F>(
    reactor: &R,
    description: &str,
    factory: F,
) -> Result<StreamServerEndpointService, EndpointParseError>
where
    R: ReactorTcp + ReactorUnix + Clone + 'static,
    F: DynProtocolFactory + 'static,
{
    let endpoint = server_from_string(reactor.clone(), description)?;
    let service = StreamServerEndpointService::new(endpoint, Rc::new(factory));
    service.raise_synchronously(true);
    Ok(service)
}

/// A whole server `main`: makes a [`Reactor`] and a root [`MultiService`],
/// lets `setup` add services to it, then [`run`]s the tree until SIGINT or
/// SIGTERM (or `reactor.stop()`), stopping the services gracefully within
/// [`DEFAULT_STOP_DEADLINE`].
///
/// Returns [`ExitCode::SUCCESS`] after a clean stop; otherwise writes
/// `program: error` on stderr (a bad endpoint description or a duplicate
/// service name from `setup`, a port that cannot be had, a service that did
/// not stop in time) and returns [`ExitCode::FAILURE`]. Nothing panics.
///
/// # Examples
///
/// ```
/// use std::process::ExitCode;
/// use torsion_application::{run_app, serve};
/// use torsion_reactor::{Factory, ReactorCore};
/// use torsion_testing::AccumulatingProtocol;
///
/// fn main() -> ExitCode {
///     run_app(|reactor, root| {
///         let factory = Factory::for_protocol(AccumulatingProtocol::new);
///         root.add(serve(reactor, "tcp:0:interface=127.0.0.1", factory)?)?;
///         reactor.stop()?; // serve, then stop at once
///         Ok(())
///     })
/// }
/// ```
///
/// # Twisted
///
/// What `twistd` does with an `application`, for a program that is its
/// own `main`.
pub fn run_app<S>(setup: S) -> ExitCode
where
    S: FnOnce(&Reactor, &Rc<MultiService>) -> Result<(), Box<dyn Error>>,
{
    let reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => return report(&format!("cannot create the reactor: {e}")),
    };
    let root = MultiService::new();
    if let Err(e) = setup(&reactor, &root) {
        return report(&e.to_string());
    }
    match run(&root, &reactor, DEFAULT_STOP_DEADLINE) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e.to_string()),
    }
}

/// Writes `program: message` on stderr; a failure status.
fn report(message: &str) -> ExitCode {
    eprintln!("{}: {message}", program_name());
    ExitCode::FAILURE
}
