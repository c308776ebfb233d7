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
