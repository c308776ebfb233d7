//! Twisted's `EndpointServiceTests` (`twisted/application/test/test_internet.py`):
//! `StreamServerEndpointService` on a fake server endpoint.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_application::{Service, StreamServerEndpointService};
use torsion_reactor::error::{CancelledError, CannotListenError};
use torsion_reactor::{
    Address, Deferred, DynProtocolFactory, Factory, Failure, ListeningPort, StreamServerEndpoint,
};
use torsion_testing::{assert_no_result, success_result_of, AccumulatingProtocol, LogCapture};

#[derive(Debug)]
struct ZeroDivisionError;
impl std::fmt::Display for ZeroDivisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("division by zero")
    }
}
impl std::error::Error for ZeroDivisionError {}

/// Twisted's `FakeServer`: records `listen`, hands back a Deferred the test
/// fires, whose canceller fails it with `cancel_exception`.
#[derive(Default)]
struct FakeServer {
    factory: RefCell<Option<Rc<dyn DynProtocolFactory>>>,
    listen_attempts: Cell<u32>,
    result: RefCell<Option<Deferred<Rc<dyn ListeningPort>>>>,
    fail_immediately: RefCell<Option<Failure>>,
    cancel_exception: RefCell<Option<Failure>>,
    stopped_listening: Deferred<()>,
}

struct FakePort {
    stopped: Deferred<()>,
}

impl ListeningPort for FakePort {
    fn start_listening(&self) -> Result<(), CannotListenError> {
        Ok(())
    }
    fn stop_listening(&self) -> Deferred<()> {
        self.stopped.clone()
    }
    fn host(&self) -> Address {
        Address::Unix(None)
    }
}

impl FakeServer {
    fn started_listening(&self) {
        let port: Rc<dyn ListeningPort> = Rc::new(FakePort {
            stopped: self.stopped_listening.clone(),
        });
        self.result.borrow().as_ref().unwrap().callback(port);
    }

    fn stopped_listening(&self) {
        self.stopped_listening.callback(());
    }
}

impl StreamServerEndpoint for FakeServer {
    fn listen_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
        self.listen_attempts.set(self.listen_attempts.get() + 1);
        *self.factory.borrow_mut() = Some(factory);
        let cancel_with = self.cancel_exception.borrow().clone();
        let result = Deferred::with_canceller(move |d: &Deferred<Rc<dyn ListeningPort>>| {
            d.errback(cancel_with.unwrap_or_else(|| Failure::new(CancelledError)));
        });
        *self.result.borrow_mut() = Some(result.clone());
        if let Some(failure) = self.fail_immediately.borrow().clone() {
            result.errback(failure);
        }
        result
    }
}

struct Setup {
    server: Rc<FakeServer>,
    factory: Rc<dyn DynProtocolFactory>,
    svc: StreamServerEndpointService,
    logs: LogCapture,
}

/// Construct a stub server, a stub factory, and a service to test.
fn set_up() -> Setup {
    let logs = LogCapture::strict();
    let server = Rc::new(FakeServer::default());
    let factory: Rc<dyn DynProtocolFactory> =
        Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
    let svc = StreamServerEndpointService::new(server.clone(), factory.clone());
    Setup {
        server,
        factory,
        svc,
        logs,
    }
}

fn listened_with_our_factory(s: &Setup) -> bool {
    s.server
        .factory
        .borrow()
        .as_ref()
        .is_some_and(|f| std::ptr::addr_eq(Rc::as_ptr(f), Rc::as_ptr(&s.factory)))
}

/// `privileged_start_service` calls its endpoint's `listen` with its factory.
#[test]
fn privileged_start_service() {
    let s = set_up();
    s.svc.privileged_start_service();
    assert!(listened_with_our_factory(&s));
}

/// With `raise_synchronously`, starting returns the listen failure that is
/// already known (Twisted raises it from `startService`).
#[test]
fn synchronous_raise_raises_synchronously() {
    let s = set_up();
    *s.server.fail_immediately.borrow_mut() = Some(Failure::new(ZeroDivisionError));
    s.svc.raise_synchronously(true);
    let failure = s.svc.try_start_service().unwrap_err();
    assert!(failure.check::<ZeroDivisionError>());
}

/// `privileged_start_service` behaves the same.
#[test]
fn synchronous_raise_privileged() {
    let s = set_up();
    *s.server.fail_immediately.borrow_mut() = Some(Failure::new(ZeroDivisionError));
    s.svc.raise_synchronously(true);
    let failure = s.svc.try_privileged_start_service().unwrap_err();
    assert!(failure.check::<ZeroDivisionError>());
}

/// A listen Deferred that fails after start logs the error once.
#[test]
fn fail_reports_error() {
    let s = set_up();
    s.svc.start_service();
    s.server
        .result
        .borrow()
        .as_ref()
        .unwrap()
        .errback(ZeroDivisionError);
    assert_eq!(s.logs.flush_logged_errors::<ZeroDivisionError>().len(), 1);
}

/// An asynchronous failure is logged even with `raise_synchronously` set.
#[test]
fn asynchronous_fail_reports_error() {
    let s = set_up();
    s.svc.raise_synchronously(true);
    s.svc.start_service();
    s.server
        .result
        .borrow()
        .as_ref()
        .unwrap()
        .errback(ZeroDivisionError);
    assert_eq!(s.logs.flush_logged_errors::<ZeroDivisionError>().len(), 1);
}

/// Without the flag, failing immediately is logged like failing later.
#[test]
fn synchronous_fail_reports_error() {
    let s = set_up();
    *s.server.fail_immediately.borrow_mut() = Some(Failure::new(ZeroDivisionError));
    s.svc.start_service();
    assert_eq!(s.logs.flush_logged_errors::<ZeroDivisionError>().len(), 1);
}

/// `start_service` sets the running flag and listens, if not yet started.
#[test]
fn start_service_unstarted() {
    let s = set_up();
    s.svc.start_service();
    assert!(listened_with_our_factory(&s));
    assert!(s.svc.is_running());
}

/// `start_service` sets the running flag but does not listen again.
#[test]
fn start_service_started() {
    let s = set_up();
    s.svc.privileged_start_service();
    s.svc.start_service();
    assert_eq!(s.server.listen_attempts.get(), 1);
    assert!(s.svc.is_running());
}

/// `stop_service` stops the port, fires when it has stopped, and clears
/// the running flag.
#[test]
fn stop_service() {
    let s = set_up();
    s.svc.privileged_start_service();
    s.server.started_listening();
    s.svc.start_service();
    let result = s.svc.stop_service();
    assert_no_result(&result);
    s.server.stopped_listening();
    success_result_of(&result);
    assert!(!s.svc.is_running());
}

/// `stop_service` cancels a listen that has not fired; the cancellation is
/// not logged.
#[test]
fn stop_service_before_start_finished() {
    let s = set_up();
    s.svc.privileged_start_service();
    let result = s.svc.stop_service();
    success_result_of(&result);
    assert!(s.logs.flush_logged_errors::<CancelledError>().is_empty());
}

/// If cancelling the listen gives another error, it is logged once and the
/// stop still completes.
#[test]
fn stop_service_cancel_start_error() {
    let s = set_up();
    *s.server.cancel_exception.borrow_mut() = Some(Failure::new(ZeroDivisionError));
    s.svc.privileged_start_service();
    let result = s.svc.stop_service();
    success_result_of(&result);
    assert_eq!(s.logs.flush_logged_errors::<ZeroDivisionError>().len(), 1);
}

/// Beyond Twisted: stopping twice while the port stops gives two Deferreds
/// that fire together; stopping a never-started service fires at once.
#[test]
fn stop_service_twice_and_before_start() {
    let s = set_up();
    success_result_of(&s.svc.stop_service());
    s.svc.start_service();
    s.server.started_listening();
    let first = s.svc.stop_service();
    let second = s.svc.stop_service();
    assert_no_result(&first);
    assert_no_result(&second);
    s.server.stopped_listening();
    success_result_of(&first);
    success_result_of(&second);
    success_result_of(&s.svc.stop_service());
}
