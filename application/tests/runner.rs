//! `application::run` on the real reactor: start when running, stop in
//! reverse order on `stop()`, a deadline for services that do not stop.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_application::{run, set_service_parent, MultiService, RunError, Service, ServiceState};
use torsion_reactor::{succeed, Deferred, Reactor, ReactorCore, ReactorTimeExt};

type Journal = Rc<RefCell<Vec<String>>>;

struct Journaled {
    state: ServiceState,
    journal: Journal,
    never_stops: bool,
}

impl Service for Journaled {
    fn state(&self) -> &ServiceState {
        &self.state
    }
    fn start_service(&self) {
        self.state.set_running(true);
        self.journal
            .borrow_mut()
            .push(format!("start {}", self.name().unwrap()));
    }
    fn stop_service(&self) -> Deferred<()> {
        self.state.set_running(false);
        self.journal
            .borrow_mut()
            .push(format!("stop {}", self.name().unwrap()));
        if self.never_stops {
            Deferred::new()
        } else {
            succeed(())
        }
    }
}

fn tree(journal: &Journal, slow: &[&str]) -> Rc<MultiService> {
    let root = MultiService::new();
    for name in ["db", "web", "cache"] {
        let service: Rc<dyn Service> = Rc::new(Journaled {
            state: ServiceState::named(name),
            journal: journal.clone(),
            never_stops: slow.contains(&name),
        });
        set_service_parent(&service, &root).unwrap();
    }
    root
}

fn stop_soon(reactor: &Reactor) {
    reactor.set_install_signal_handlers(false);
    let stopper = reactor.clone();
    reactor.call_later(Duration::from_millis(20), move || drop(stopper.stop()));
}

#[test]
fn starts_in_order_and_stops_in_reverse() {
    let journal = Journal::default();
    let root = tree(&journal, &[]);
    let reactor = Reactor::new().unwrap();
    stop_soon(&reactor);
    run(&root, &reactor, Duration::from_secs(5)).unwrap();
    assert_eq!(
        *journal.borrow(),
        [
            "start db",
            "start web",
            "start cache",
            "stop cache",
            "stop web",
            "stop db"
        ]
    );
    assert!(root.services().iter().all(|s| !s.is_running()));
}

#[test]
fn a_service_that_does_not_stop_is_named_after_the_deadline() {
    let journal = Journal::default();
    let root = tree(&journal, &["web"]);
    let reactor = Reactor::new().unwrap();
    stop_soon(&reactor);
    let started = Instant::now();
    let outcome = run(&root, &reactor, Duration::from_millis(200));
    match outcome {
        Err(RunError::StopTimedOut(names)) => assert_eq!(names, ["web"]),
        other => panic!("expected StopTimedOut, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

/// Issue 20: a server whose port is taken fails the application: `run`
/// returns an error naming the service, later services never start, the
/// ones started before are stopped, and `run` does not serve on.
#[test]
fn a_server_that_cannot_listen_fails_the_application() {
    use torsion_application::StreamServerEndpointService;
    use torsion_endpoints::Tcp4ServerEndpoint;
    use torsion_reactor::error::CannotListenError;
    use torsion_reactor::Factory;
    use torsion_testing::AccumulatingProtocol;

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let journal = Journal::default();
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    // A guard against a hang, far beyond what the test needs.
    let stopper = reactor.clone();
    reactor.call_later(Duration::from_secs(10), move || drop(stopper.stop()));
    let root = MultiService::new();
    let before: Rc<dyn Service> = Rc::new(Journaled {
        state: ServiceState::named("db"),
        journal: journal.clone(),
        never_stops: false,
    });
    set_service_parent(&before, &root).unwrap();
    let server = StreamServerEndpointService::new(
        Rc::new(Tcp4ServerEndpoint::new(reactor.clone(), port).interface("127.0.0.1")),
        Rc::new(Factory::for_protocol(AccumulatingProtocol::new)),
    );
    server.raise_synchronously(true);
    server.state().set_name("echo").unwrap();
    let server: Rc<dyn Service> = Rc::new(server);
    set_service_parent(&server, &root).unwrap();
    let after: Rc<dyn Service> = Rc::new(Journaled {
        state: ServiceState::named("web"),
        journal: journal.clone(),
        never_stops: false,
    });
    set_service_parent(&after, &root).unwrap();

    let started = Instant::now();
    let error = match run(&root, &reactor, Duration::from_secs(5)) {
        Err(RunError::Start(error)) => error,
        other => panic!("expected RunError::Start, got {other:?}"),
    };
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.service(), "echo");
    assert!(error.reason().check::<CannotListenError>(), "{error}");
    let message = RunError::Start(error).to_string();
    assert!(
        message.starts_with("service \"echo\" could not start: "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    // The listen is a privileged start, before any service starts: none
    // did, and the tree was stopped (in reverse) on the way out.
    assert_eq!(*journal.borrow(), ["stop web", "stop db"]);
    assert!(root.services().iter().all(|s| !s.is_running()));
    drop(taken);
}
