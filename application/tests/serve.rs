//! `serve`, `MultiService::add`: the short form of service wiring (issue 19).

use std::error::Error;
use std::time::Duration;

use torsion_application::{
    run, serve, MultiService, RunError, Service, ServiceError, ServiceState,
};
use torsion_reactor::{Factory, Reactor, ReactorCore, ReactorTimeExt};
use torsion_testing::AccumulatingProtocol;

#[derive(Debug)]
struct Named(ServiceState);

impl Service for Named {
    fn state(&self) -> &ServiceState {
        &self.0
    }
}

/// A port that cannot be had fails the run with `RunError::Start`, naming
/// the address and the OS error, instead of serving without a port.
#[test]
fn serve_on_a_taken_port_fails_the_run() -> Result<(), Box<dyn Error>> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let reactor = Reactor::new()?;
    reactor.set_install_signal_handlers(false);
    let root = MultiService::new();
    let factory = Factory::for_protocol(AccumulatingProtocol::new);
    root.add(serve(
        &reactor,
        &format!("tcp:{port}:interface=127.0.0.1"),
        factory,
    )?)?;
    let error = run(&root, &reactor, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(error, RunError::Start(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!root.is_running());
    Ok(())
}

/// A free port serves: the service runs until the reactor stops, then
/// stops listening.
#[test]
fn serve_runs_until_stopped() -> Result<(), Box<dyn Error>> {
    let reactor = Reactor::new()?;
    reactor.set_install_signal_handlers(false);
    let root = MultiService::new();
    let factory = Factory::for_protocol(AccumulatingProtocol::new);
    let server = root.add(serve(&reactor, "tcp:0:interface=127.0.0.1", factory)?)?;
    let (stopper, watched) = (reactor.clone(), server.clone());
    let was_running = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = was_running.clone();
    // A timer runs after the startup hooks, so after `run` started the tree.
    reactor.call_later(Duration::ZERO, move || {
        seen.set(watched.is_running());
        let _ = stopper.stop();
    });
    run(&root, &reactor, Duration::from_secs(5))?;
    assert!(was_running.get());
    assert!(!server.is_running());
    Ok(())
}

/// `add` hands the service back typed and refuses a second child of the
/// same name, leaving the first in place.
#[test]
fn add_returns_the_service_and_refuses_duplicate_names() {
    let root = MultiService::new();
    let web = root.add(Named(ServiceState::named("web"))).expect("first");
    assert_eq!(web.name().as_deref(), Some("web"));
    assert!(std::rc::Rc::ptr_eq(
        &web.state().parent().expect("has a parent"),
        &root
    ));
    let again = root.add(Named(ServiceState::named("web"))).unwrap_err();
    assert_eq!(again, ServiceError::DuplicateName("web".to_string()));
    assert_eq!(root.services().len(), 1);
}

/// A bad description is a typed error naming the bad part.
#[test]
fn serve_rejects_a_bad_description() -> Result<(), Box<dyn Error>> {
    let reactor = Reactor::new()?;
    let factory = Factory::for_protocol(AccumulatingProtocol::new);
    let error = serve(
        &reactor,
        "tcp:8000:interface=127.0.0.1:backlog=many",
        factory,
    )
    .unwrap_err();
    assert!(error.to_string().contains("many"), "{error}");
    Ok(())
}
