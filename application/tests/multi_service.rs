//! Services and `MultiService`: ports of Twisted's `ServiceTests`
//! (`twisted/test/test_application.py`), plus start/stop order and the
//! gathering of the children's stop Deferreds.

use std::cell::RefCell;
use std::rc::Rc;

use torsion_application::{
    disown_service_parent, set_service_parent, MultiService, Service, ServiceError, ServiceState,
};
use torsion_reactor::{Deferred, Failure};
use torsion_testing::{assert_no_result, success_result_of, LogCapture};

type Journal = Rc<RefCell<Vec<String>>>;

/// A service that journals its calls and may hold its stop.
struct Recording {
    state: ServiceState,
    journal: Journal,
    stop_with: RefCell<Option<Deferred<()>>>,
}

impl Recording {
    fn new(name: &str, journal: &Journal) -> Rc<Recording> {
        Rc::new(Recording {
            state: ServiceState::named(name),
            journal: journal.clone(),
            stop_with: RefCell::new(None),
        })
    }

    fn log(&self, what: &str) {
        self.journal
            .borrow_mut()
            .push(format!("{what} {}", self.name().unwrap()));
    }
}

impl Service for Recording {
    fn state(&self) -> &ServiceState {
        &self.state
    }
    fn privileged_start_service(&self) {
        self.log("privileged");
    }
    fn start_service(&self) {
        self.state.set_running(true);
        self.log("start");
    }
    fn stop_service(&self) -> Deferred<()> {
        self.state.set_running(false);
        self.log("stop");
        self.stop_with
            .borrow_mut()
            .take()
            .unwrap_or_else(|| torsion_reactor::succeed(()))
    }
}

struct Plain(ServiceState);

impl Service for Plain {
    fn state(&self) -> &ServiceState {
        &self.0
    }
}

fn plain() -> Rc<dyn Service> {
    Rc::new(Plain(ServiceState::new()))
}

fn named(name: &str) -> Rc<dyn Service> {
    Rc::new(Plain(ServiceState::named(name)))
}

fn same(a: &Rc<dyn Service>, b: &Rc<dyn Service>) -> bool {
    Rc::ptr_eq(a, b)
}

/// A service can be named.
#[test]
fn name() {
    let s = Plain(ServiceState::new());
    s.0.set_name("hello").unwrap();
    assert_eq!(s.name().as_deref(), Some("hello"));
}

/// `set_service_parent` adds the service to the parent and records it.
#[test]
fn parent() {
    let s = plain();
    let p = MultiService::new();
    set_service_parent(&s, &p).unwrap();
    assert_eq!(p.services().len(), 1);
    assert!(same(&p.services()[0], &s));
    assert!(Rc::ptr_eq(&s.state().parent().unwrap(), &p));
}

/// A named child is found by its name.
#[test]
fn named_child() {
    let s = named("hello");
    let p = MultiService::new();
    set_service_parent(&s, &p).unwrap();
    assert!(same(&p.service_named("hello").unwrap(), &s));
    assert!(p.service_named("nope").is_none());
}

/// A service with a parent cannot be renamed.
#[test]
fn doubly_named_child() {
    let s = named("hello");
    let p = MultiService::new();
    set_service_parent(&s, &p).unwrap();
    assert_eq!(s.state().set_name("lala"), Err(ServiceError::HasParent));
}

/// Two children of one parent cannot share a name.
#[test]
fn duplicate_named_child() {
    let p = MultiService::new();
    set_service_parent(&named("hello"), &p).unwrap();
    let second = named("hello");
    assert_eq!(
        set_service_parent(&second, &p),
        Err(ServiceError::DuplicateName("hello".to_string()))
    );
    assert!(second.state().parent().is_none());
    assert_eq!(p.services().len(), 1);
}

/// Disowning removes the child and forgets the parent.
#[test]
fn disowning() {
    let s = plain();
    let p = MultiService::new();
    set_service_parent(&s, &p).unwrap();
    disown_service_parent(&s).unwrap();
    assert!(p.services().is_empty());
    assert!(s.state().parent().is_none());
    assert_eq!(
        disown_service_parent(&s).unwrap_err(),
        ServiceError::NotAChild
    );
}

/// Setting a new parent disowns the old one first.
#[test]
fn reparenting() {
    let s = named("x");
    let (p1, p2) = (MultiService::new(), MultiService::new());
    set_service_parent(&s, &p1).unwrap();
    set_service_parent(&s, &p2).unwrap();
    assert!(p1.services().is_empty() && p1.service_named("x").is_none());
    assert!(same(&p2.service_named("x").unwrap(), &s));
}

/// start/stop flip the running flag.
#[test]
fn running() {
    let s = plain();
    assert!(!s.is_running());
    s.start_service();
    assert!(s.is_running());
    success_result_of(&s.stop_service());
    assert!(!s.is_running());
}

/// Starting and stopping the parent starts and stops its children.
#[test]
fn running_children1() {
    let s = plain();
    let p = MultiService::new();
    set_service_parent(&s, &p).unwrap();
    assert!(!s.is_running() && !p.is_running());
    p.start_service();
    assert!(s.is_running() && p.is_running());
    success_result_of(&p.stop_service());
    assert!(!s.is_running() && !p.is_running());
}

/// A child added to a running parent is started (privileged first).
#[test]
fn add_service_while_running() {
    let journal = Journal::default();
    let p = MultiService::new();
    p.start_service();
    let s: Rc<dyn Service> = Recording::new("late", &journal);
    set_service_parent(&s, &p).unwrap();
    assert!(s.is_running());
    assert_eq!(*journal.borrow(), ["privileged late", "start late"]);
}

/// Removing a child from a running parent stops it and returns its Deferred.
#[test]
fn remove_service_while_running() {
    let journal = Journal::default();
    let p = MultiService::new();
    let s: Rc<dyn Service> = Recording::new("child", &journal);
    set_service_parent(&s, &p).unwrap();
    p.start_service();
    let stopped = disown_service_parent(&s)
        .unwrap()
        .expect("the parent was running");
    success_result_of(&stopped);
    assert!(!s.is_running());
}

/// Children start in insertion order and stop in reverse order.
#[test]
fn start_in_order_stop_in_reverse() {
    let journal = Journal::default();
    let p = MultiService::new();
    for name in ["a", "b", "c"] {
        let s: Rc<dyn Service> = Recording::new(name, &journal);
        set_service_parent(&s, &p).unwrap();
    }
    p.privileged_start_service();
    p.start_service();
    success_result_of(&p.stop_service());
    assert_eq!(
        *journal.borrow(),
        [
            "privileged a",
            "privileged b",
            "privileged c",
            "start a",
            "start b",
            "start c",
            "stop c",
            "stop b",
            "stop a"
        ]
    );
}

/// The parent's stop fires only once every child's stop Deferred has fired;
/// a child failing to stop is logged and does not fail the parent's stop.
#[test]
fn stop_gathers_the_childrens_deferreds() {
    let logs = LogCapture::strict();
    let journal = Journal::default();
    let p = MultiService::new();
    let slow = Recording::new("slow", &journal);
    let failing = Recording::new("failing", &journal);
    let (slow_stop, failing_stop) = (Deferred::new(), Deferred::new());
    *slow.stop_with.borrow_mut() = Some(slow_stop.clone());
    *failing.stop_with.borrow_mut() = Some(failing_stop.clone());
    let (a, b): (Rc<dyn Service>, Rc<dyn Service>) = (slow, failing);
    set_service_parent(&a, &p).unwrap();
    set_service_parent(&b, &p).unwrap();
    p.start_service();
    let stopped = p.stop_service();
    assert_no_result(&stopped);
    failing_stop.errback(Failure::msg("could not flush"));
    assert_no_result(&stopped);
    slow_stop.callback(());
    success_result_of(&stopped);
    let errors = logs.flush_errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("service failing failed to stop"),
        "{errors:?}"
    );
}
