//! Twisted's `ClientServiceTests` (`twisted/application/test/test_internet.py`),
//! all 31, under their names in snake_case, scenario by scenario. Each runs
//! on `testing::Clock` and the fake endpoint, with Twisted's teardown
//! invariants: a running service is stopped, no delayed call survives the
//! stop, and no error is logged and left unhandled.
//!
//! Over 500 lines: Twisted's `ClientServiceTests`, kept whole in one file so
//! the port reads beside the original.

mod util;

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::rc::Rc;

use torsion_application::Service;
use torsion_reactor::error::CancelledError;
use torsion_reactor::{
    Deferred, Failure, FileDescriptorReceiver, HalfCloseableProtocol, Protocol, ReactorTime,
    Transport,
};
use torsion_testing::{
    assert_no_result, failure_result_of, failure_result_of_type, success_result_of,
};
use util::{make_reconnector, pending_reconnector, Options, Plain, AT_LEAST_ONE_ATTEMPT};

fn lost() -> Failure {
    Failure::msg("connection lost")
}

#[derive(Debug)]
struct IndentationError;
impl std::fmt::Display for IndentationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndentationError")
    }
}
impl std::error::Error for IndentationError {}

/// When the service is started, a connection attempt is made.
#[test]
fn start_service() {
    let r = pending_reconnector();
    assert_eq!(r.info.connect_count(), 1);
}

/// Although somewhat obscure, IProtocolFactory's `do_start` and `do_stop`
/// are forwarded by the factory ClientService passes to the endpoint.
#[test]
fn start_stop_factory() {
    let r = make_reconnector::<Plain>(Options::default());
    let factory = &r.service.factory().ports;
    assert_eq!(factory.num_ports(), 0);
    r.info.passed_factories()[0].do_start();
    assert_eq!(factory.num_ports(), 1);
    r.info.passed_factories()[0].do_stop();
    assert_eq!(factory.num_ports(), 0);
}

/// When the service is stopped, `lose_connection` is called on the connected
/// protocol's transport; the stop Deferred fires once the connection is lost.
#[test]
fn stop_service_while_connected() {
    let r = make_reconnector::<Plain>(Options::default());
    let stopped = r.service.stop_service();
    assert_no_result(&stopped);
    assert!(r.info.transport(0).is_disconnecting());
    r.info.protocol(0).borrow_mut().connection_lost(lost());
    success_result_of(&stopped);
}

/// When the service is stopping, it waits for the connection to close before
/// making a new one.
#[test]
fn start_service_waits_for_disconnect() {
    let r = make_reconnector::<Plain>(Options::default());
    let stopped = r.service.stop_service();
    assert_no_result(&stopped);
    assert!(r.info.transport(0).is_disconnecting());
    r.service.start_service();
    assert_no_result(&stopped);
    assert_eq!(r.info.constructed_protocols().len(), 1);
    r.info.protocol(0).borrow_mut().connection_lost(lost());
    assert_eq!(r.info.constructed_protocols().len(), 2);
    success_result_of(&stopped);
}

/// When the service is stopped while a connection is being closed and then
/// started again, it waits for the old connection to close before making a
/// new one, and the new connection fires pending `when_connected` waiters.
#[test]
fn start_service_while_stopping() {
    let r = pending_reconnector();
    r.info.connect_queue()[0].callback(());
    let first = r.info.protocol(0);
    let stopped = r.service.stop_service();
    let next = r.service.when_connected(None);
    assert_no_result(&stopped);
    r.service.start_service();
    assert_no_result(&next);
    assert_no_result(&stopped);
    assert!(r.info.transport(0).is_disconnecting());
    first.borrow_mut().connection_lost(lost());
    success_result_of(&stopped);
    r.info.connect_queue()[1].callback(());
    assert_eq!(r.info.constructed_protocols().len(), 2);
    assert!(Rc::ptr_eq(&success_result_of(&next), &r.app(1)));
    // Stopping again: connected, so this waits for the connection to close.
    let again = r.service.stop_service();
    assert_no_result(&again);
    r.info.protocol(1).borrow_mut().connection_lost(lost());
    success_result_of(&again);
}

/// When the service is stopped and then started again, it makes a new
/// connection, which fires new `when_connected` waiters.
#[test]
fn start_service_while_stopped() {
    let r = pending_reconnector();
    success_result_of(&r.service.stop_service());
    failure_result_of_type::<CancelledError, _>(&r.service.when_connected(None));
    r.service.start_service();
    r.info.connect_queue().last().unwrap().callback(());
    let protocol = success_result_of(&r.service.when_connected(None));
    assert!(Rc::ptr_eq(
        &protocol,
        r.application_protocols().last().unwrap()
    ));
}

/// A protocol providing the half-close and file-descriptor capabilities.
#[derive(Default)]
struct Capable {
    read_lost: bool,
}

impl Protocol for Capable {
    fn data_received(&mut self, _data: &[u8]) {}
    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }
    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        Some(self)
    }
}

impl HalfCloseableProtocol for Capable {
    fn read_connection_lost(&mut self) {
        self.read_lost = true;
    }
}

impl FileDescriptorReceiver for Capable {
    fn file_descriptor_received(&mut self, _descriptor: OwnedFd) {}
}

/// If the protocol objects returned by the factory given to ClientService
/// provide special "marker" interfaces for their transport (half-close,
/// file descriptors), the protocol the endpoint sees provides them too, and
/// forwards their calls; a protocol without them gets a proxy without them.
#[test]
fn interfaces_for_transport() {
    let r = make_reconnector::<Capable>(Options::default());
    let proxy = r.info.protocol(0);
    assert!(proxy.borrow_mut().as_half_closeable().is_some());
    assert!(proxy.borrow_mut().as_file_descriptor_receiver().is_some());
    proxy
        .borrow_mut()
        .as_half_closeable()
        .unwrap()
        .read_connection_lost();
    assert!(r.app(0).borrow().read_lost);

    let plain = make_reconnector::<Plain>(Options::default());
    let proxy = plain.info.protocol(0);
    assert!(proxy.borrow_mut().as_half_closeable().is_none());
    assert!(proxy.borrow_mut().as_file_descriptor_receiver().is_none());
}

/// When the service is stopped while retrying, the retry is cancelled, and a
/// late result of the cancelled attempt is harmless.
#[test]
fn stop_service_while_retrying() {
    let r = pending_reconnector();
    r.info.connect_queue()[0].errback(Failure::msg("nope"));
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(r.info.connect_count(), 2);
    let stopped = r.service.stop_service();
    // Already cancelled: the endpoint's late failure is ignored.
    r.info.connect_queue()[1].errback(Failure::msg("late"));
    success_result_of(&stopped);
}

/// When the service is stopped while initially connecting, the connection
/// attempt is cancelled and the stop completes at once.
#[test]
fn stop_service_while_connecting() {
    let r = pending_reconnector();
    assert_eq!(r.info.connect_count(), 1);
    assert_no_result(&r.info.connect_queue()[0]);
    success_result_of(&r.service.stop_service());
}

/// When a client connects, the service keeps a reference to the new protocol
/// and resets the delay; `when_connected` gives the application's protocol;
/// the endpoint saw a proxy wrapping it and a factory wrapping the user's.
#[test]
fn client_connected() {
    let r = make_reconnector::<Plain>(Options::default());
    let awaiting = r.service.when_connected(None);
    assert!(r.clock.delayed_calls().is_empty());
    let protocol = success_result_of(&awaiting);
    assert!(Rc::ptr_eq(&protocol, &r.app(0)));
    // Twisted checks the proxy's private `_protocol` and reprs; here the
    // proxy names the protocol it wraps and the wrapper names the factory.
    assert_eq!(
        r.info.protocol(0).borrow().log_prefix(),
        protocol.borrow().log_prefix()
    );
    assert!(r.info.passed_factories()[0]
        .describe()
        .contains("RememberingFactory"));
    assert_eq!(r.service.failed_attempts(), 0);
}

/// When a client connection fails, the service removes its reference to the
/// protocol and tries again after a timeout.
#[test]
fn client_connection_failed() {
    let r = pending_reconnector();
    assert_eq!(r.info.connect_count(), 1);
    r.info.connect_queue()[0].errback(Failure::msg("nope"));
    let awaiting = r.service.when_connected(None);
    assert_no_result(&awaiting);
    // Twisted adds an errback trapping CancelledError so teardown's stop is clean.
    awaiting.add_errback(|f: Failure| {
        f.trap::<CancelledError>()?;
        Ok(Rc::new(RefCell::new(Plain::default())))
    });
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(r.info.connect_count(), 2);
}

/// When a client connection is lost, the service removes its reference to
/// the protocol and calls retry.
#[test]
fn client_connection_lost() {
    let r = pending_reconnector();
    r.info.connect_queue()[0].callback(());
    assert_eq!(r.info.connect_count(), 1);
    assert!(Rc::ptr_eq(
        &success_result_of(&r.service.when_connected(None)),
        &r.app(0)
    ));
    r.info.protocol(0).borrow_mut().connection_lost(lost());
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(r.info.connect_count(), 2);
    r.info.connect_queue()[1].callback(());
    assert!(Rc::ptr_eq(
        &success_result_of(&r.service.when_connected(None)),
        &r.app(1)
    ));
}

/// When a client connection is refused (the factory builds no protocol), the
/// service waits to retry, and retries; a waiter stays pending until the
/// service stops, then fails with CancelledError.
#[test]
fn client_connection_refused() {
    let mut r = make_reconnector::<Plain>(Options {
        fire_immediately: false,
        refuse_connections: true,
        ..Options::default()
    });
    assert_eq!(r.info.connect_count(), 1);
    r.info.pop_connect().callback(());
    assert_eq!(r.info.connect_count(), 0);
    let awaiting = r.service.when_connected(None);
    assert_no_result(&awaiting);
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(r.info.connect_count(), 1);
    r.info.pop_connect().callback(());
    assert_no_result(&awaiting);
    // Twisted's cleanup order: the service-stop cleanup, then this check.
    r.teardown();
    failure_result_of_type::<CancelledError, _>(&awaiting);
}

/// When a client connection is lost while the service is stopping, the
/// protocol stopping Deferred is called and the reference to the protocol is
/// removed.
#[test]
fn client_connection_lost_while_stopping() {
    let r = make_reconnector::<Plain>(Options::default());
    let stopped = r.service.stop_service();
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::new(IndentationError));
    failure_result_of_type::<CancelledError, _>(&r.service.when_connected(None));
    assert!(stopped.is_called());
}

/// If `start_service` is called while the service is running, a warning is
/// logged and no new connection attempt is made.
#[test]
fn start_twice() {
    let r = make_reconnector::<Plain>(Options {
        fire_immediately: false,
        start_service: false,
        ..Options::default()
    });
    assert_eq!(r.info.connect_count(), 0);
    r.service.start_service();
    assert_eq!(r.info.connect_count(), 1);
    let before = r.logs.messages().len();
    r.service.start_service();
    assert_eq!(r.info.connect_count(), 1);
    let messages = r.logs.messages();
    assert!(
        messages[before].contains("Duplicate ClientService.start_service"),
        "{messages:?}"
    );
}

/// `when_connected` waiters registered before the connection all fire with
/// the very same protocol once it connects.
#[test]
fn when_connected_later() {
    let r = pending_reconnector();
    let a = r.service.when_connected(None);
    let b = r.service.when_connected(None);
    let c = r.service.when_connected(Some(1));
    assert_no_result(&a);
    assert_no_result(&b);
    assert_no_result(&c);
    r.info.connect_queue()[0].callback(());
    let (a, b, c) = (
        success_result_of(&a),
        success_result_of(&b),
        success_result_of(&c),
    );
    assert!(Rc::ptr_eq(&a, &b) && Rc::ptr_eq(&b, &c));
    assert!(Rc::ptr_eq(&a, &r.app(0)));
}

/// `when_connected(fail_after_failures = n)` fails with the very failure of
/// the nth failed attempt after it was called; waiters without a limit, or
/// with budget left, keep waiting and fire on the next connection.
#[test]
fn when_connected_fails() {
    let r = pending_reconnector();
    let a0 = r.service.when_connected(None);
    let a1 = r.service.when_connected(Some(1));
    let a2 = r.service.when_connected(Some(2));
    let a3 = r.service.when_connected(Some(3));
    for d in [&a0, &a1, &a2, &a3] {
        assert_no_result(d);
    }
    let f1 = Failure::msg("first");
    r.info.connect_queue()[0].errback(f1.clone());
    assert!(failure_result_of(&a1).is_same(&f1));
    for d in [&a0, &a2, &a3] {
        assert_no_result(d);
    }
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(r.info.connect_count(), 2);
    for d in [&a0, &a2, &a3] {
        assert_no_result(d);
    }
    let f2 = Failure::msg("second");
    r.info.connect_queue()[1].errback(f2.clone());
    assert!(failure_result_of(&a2).is_same(&f2));
    assert_no_result(&a0);
    assert_no_result(&a3);
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(r.info.connect_count(), 3);
    assert_no_result(&a0);
    assert_no_result(&a3);
    r.info.connect_queue()[2].callback(());
    let (p0, p3) = (success_result_of(&a0), success_result_of(&a3));
    assert!(Rc::ptr_eq(&p0, &p3) && Rc::ptr_eq(&p0, &r.app(0)));
    let a4 = r.service.when_connected(Some(1));
    assert!(Rc::ptr_eq(&success_result_of(&a4), &p0));
}

/// `when_connected` waiters fail with CancelledError when the service stops.
#[test]
fn when_connected_stop_service() {
    let r = pending_reconnector();
    let a = r.service.when_connected(None);
    let b = r.service.when_connected(None);
    let c = r.service.when_connected(Some(1));
    r.service.stop_service();
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    for d in [&a, &b, &c] {
        failure_result_of_type::<CancelledError, _>(d);
    }
}

/// When the service is stopped while waiting to retry, the retry is
/// cancelled and the stop completes at once.
#[test]
fn retry_cancelled() {
    let r = pending_reconnector();
    r.info.pop_connect().errback(Failure::msg("nope"));
    let stopped = r.service.stop_service();
    assert!(r.clock.delayed_calls().is_empty());
    success_result_of(&stopped);
}

/// Calling `stop_service` before `start_service` returns a fired Deferred.
#[test]
fn stop_service_before_start_service() {
    let r = make_reconnector::<Plain>(Options {
        start_service: false,
        ..Options::default()
    });
    success_result_of(&r.service.stop_service());
}

/// Waiters registered before and after the service stops both fail with
/// CancelledError.
#[test]
fn when_connected_errbacks_on_stop_service() {
    let r = pending_reconnector();
    let before = r.service.when_connected(None);
    r.info.connect_queue()[0].errback(Failure::msg("no connection"));
    r.service.stop_service();
    let after = r.service.when_connected(None);
    failure_result_of_type::<CancelledError, _>(&before);
    failure_result_of_type::<CancelledError, _>(&after);
}

/// Calling `stop_service` twice while disconnecting gives two Deferreds that
/// both fire once the connection is lost.
#[test]
fn stop_service_while_disconnecting() {
    let r = pending_reconnector();
    r.info.connect_queue()[0].callback(());
    let first = r.service.stop_service();
    let second = r.service.stop_service();
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::new(IndentationError));
    success_result_of(&first);
    success_result_of(&second);
}

/// Stop, start, stop while the connection is still closing: both stop
/// Deferreds fire once it is lost.
#[test]
fn stop_service_while_restarting() {
    let r = pending_reconnector();
    r.info.connect_queue()[0].callback(());
    let first = r.service.stop_service();
    r.service.start_service();
    let second = r.service.stop_service();
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::new(IndentationError));
    success_result_of(&first);
    success_result_of(&second);
}

/// Stopping a stopped service again gives an already-fired Deferred.
#[test]
fn stop_service_on_stopped_service() {
    let r = pending_reconnector();
    let first = r.service.stop_service();
    let second = r.service.stop_service();
    success_result_of(&first);
    success_result_of(&second);
}

fn counting_prepare() -> (Rc<Cell<u32>>, Options<Plain>) {
    let count = Rc::new(Cell::new(0));
    let counter = count.clone();
    let options = Options {
        customize: Box::new(move |builder| {
            builder.prepare_connection(move |_| {
                counter.set(counter.get() + 1);
                Ok::<_, Failure>(())
            })
        }),
        ..Options::default()
    };
    (count, options)
}

/// `prepare_connection` is called once the service starts and connects.
#[test]
fn prepare_connection_called_when_service_starts() {
    let (count, options) = counting_prepare();
    let _r = make_reconnector(options);
    assert_eq!(count.get(), 1);
}

/// `prepare_connection` is called with the connected protocol (the user's:
/// Twisted passes the proxy, which forwards attribute access to it).
#[test]
fn prepare_connection_called_with_protocol() {
    let seen: Rc<RefCell<Option<Rc<RefCell<Plain>>>>> = Rc::default();
    let record = seen.clone();
    let r = make_reconnector(Options {
        customize: Box::new(move |builder| {
            builder.prepare_connection(move |protocol: &Rc<RefCell<Plain>>| {
                *record.borrow_mut() = Some(protocol.clone());
                Ok::<_, Failure>(())
            })
        }),
        ..Options::default()
    });
    assert!(Rc::ptr_eq(seen.borrow().as_ref().unwrap(), &r.app(0)));
}

/// `prepare_connection` is called after the connection is made, never for a
/// failed attempt.
#[test]
fn prepare_connection_called_after_connection_made() {
    let (count, mut options) = counting_prepare();
    options.fire_immediately = false;
    let r = make_reconnector(options);
    r.info.connect_queue()[0].errback(Failure::msg("nope"));
    assert_eq!(count.get(), 0);
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    r.info.connect_queue()[1].callback(());
    assert_eq!(count.get(), 1);
}

/// `prepare_connection` is called again on every reconnection.
#[test]
fn prepare_connection_called_on_reconnect() {
    let (count, options) = counting_prepare();
    let r = make_reconnector(options);
    assert_eq!(count.get(), 1);
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::new(IndentationError));
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_eq!(count.get(), 2);
}

/// What `prepare_connection` returns is not what `when_connected` gives.
#[test]
fn prepare_connection_return_value_ignored() {
    let r = make_reconnector(Options::<Plain> {
        customize: Box::new(|builder| builder.prepare_connection(|_| Ok::<_, Failure>("sentinel"))),
        ..Options::default()
    });
    let protocol = success_result_of(&r.service.when_connected(None));
    assert!(Rc::ptr_eq(&protocol, &r.app(0)));
}

/// When `prepare_connection` returns a Deferred, the service waits for it
/// before the connection counts as made.
#[test]
fn prepare_connection_returning_a_deferred() {
    let preparing = Deferred::<()>::new();
    let handed = preparing.clone();
    let r = make_reconnector(Options::<Plain> {
        customize: Box::new(move |builder| builder.prepare_connection(move |_| handed.clone())),
        ..Options::default()
    });
    let awaiting = r.service.when_connected(None);
    assert_no_result(&awaiting);
    preparing.callback(());
    assert!(Rc::ptr_eq(&success_result_of(&awaiting), &r.app(0)));
}

/// A `prepare_connection` that fails counts as a failed attempt: the
/// service retries, and a waiter with `fail_after_failures = 2` fails with
/// that error on the second failure after it was registered.
#[test]
fn prepare_connection_throws() {
    let r = make_reconnector(Options::<Plain> {
        customize: Box::new(|builder| {
            builder.prepare_connection(|_| Err::<(), _>(Failure::new(IndentationError)))
        }),
        ..Options::default()
    });
    // Attempt 1 failed during start; the service waits to retry.
    let awaiting = r.service.when_connected(Some(2));
    assert_no_result(&awaiting);
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    assert_no_result(&awaiting);
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    failure_result_of_type::<IndentationError, _>(&awaiting);
    // Beyond Twisted: each rejected connection was closed.
    assert!(r.info.transports().iter().all(|t| t.is_disconnecting()));
}
