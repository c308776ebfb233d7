//! `StringTransport` and `AccumulatingProtocol`: ports of Twisted's
//! `StringTransportTests` (`twisted.internet.test.test_testing`) and the
//! spec's rules for `StringTransportWithDisconnection`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::error::{ConnectionDone, ProducerError};
use torsion_reactor::{
    Address, Consumer, Failure, Producer, ProducerRef, Protocol, PushProducer, Transport,
    TransportRef,
};
use torsion_testing::{AccumulatingProtocol, ProducerState, StringTransport};

#[derive(Default)]
struct Nothing {
    stopped: Cell<bool>,
}
impl Producer for Nothing {
    fn stop_producing(&self) {
        self.stopped.set(true);
    }
}
impl PushProducer for Nothing {
    fn pause_producing(&self) {}
    fn resume_producing(&self) {}
}

/// `register_producer` records the producer and whether it streams.
#[test]
fn register_producer() {
    let t = StringTransport::new();
    let producer: Rc<Nothing> = Rc::default();
    t.register_producer(ProducerRef::Push(producer.clone()))
        .unwrap();
    assert!(t.producer().unwrap().is_same(&ProducerRef::Push(producer)));
    assert_eq!(t.is_streaming(), Some(true));
}

/// Registering a second producer is an error and leaves the first in place.
#[test]
fn register_producers() {
    let t = StringTransport::new();
    let first: Rc<Nothing> = Rc::default();
    t.register_producer(ProducerRef::Push(first.clone()))
        .unwrap();
    let second = ProducerRef::Push(Rc::new(Nothing::default()));
    assert_eq!(
        t.register_producer(second),
        Err(ProducerError::AlreadyRegistered)
    );
    assert!(t.producer().unwrap().is_same(&ProducerRef::Push(first)));
}

/// `unregister_producer` clears the producer; with none it is an error.
#[test]
fn unregister_producer() {
    let t = StringTransport::new();
    t.register_producer(ProducerRef::Push(Rc::new(Nothing::default())))
        .unwrap();
    t.unregister_producer().unwrap();
    assert!(t.producer().is_none());
    assert_eq!(t.unregister_producer(), Err(ProducerError::NotRegistered));
}

/// `value` returns everything written; `clear` forgets it; writes after
/// `lose_connection` are still recorded.
#[test]
fn value_and_clear() {
    let t = StringTransport::new();
    t.write(b"hello, ");
    t.write_sequence(&[b"world", b"!"]);
    assert_eq!(t.value(), b"hello, world!");
    t.clear();
    assert_eq!(t.value(), b"");
    t.lose_connection();
    t.write(b"late");
    assert_eq!(t.value_str(), "late");
    assert_eq!(t.take(), b"late");
    assert!(t.value().is_empty());
}

/// `lose_connection` marks the transport disconnecting; it stays "connected".
#[test]
fn lose_connection() {
    let t = StringTransport::new();
    assert!(!t.is_disconnecting());
    t.lose_connection();
    assert!(t.is_disconnecting());
    assert!(t.is_connected());
    assert!(!t.is_aborted());
}

/// `abort_connection` marks it aborted (Twisted's `disconnected`) and disconnecting.
#[test]
fn abort_connection() {
    let t = StringTransport::new();
    t.abort_connection();
    assert!(t.is_aborted());
    assert!(t.is_disconnecting());
}

/// The default addresses are Twisted's; both can be set.
#[test]
fn addresses() {
    let t = StringTransport::new();
    assert_eq!(t.peer(), Address::Tcp("192.168.1.1:54321".parse().unwrap()));
    assert_eq!(t.host(), Address::Tcp("10.0.0.1:12345".parse().unwrap()));
    let t = StringTransport::new()
        .with_peer(Address::Unix(None))
        .with_host(Address::Tcp("127.0.0.1:1".parse().unwrap()));
    assert_eq!(t.peer(), Address::Unix(None));
    assert_eq!(t.host(), Address::Tcp("127.0.0.1:1".parse().unwrap()));
}

/// As a push producer: pause, resume, stop are recorded.
#[test]
fn pausing_and_resuming() {
    let t = StringTransport::new();
    assert_eq!(t.producer_state(), ProducerState::Producing);
    t.pause_producing();
    assert_eq!(t.producer_state(), ProducerState::Paused);
    t.resume_producing();
    assert_eq!(t.producer_state(), ProducerState::Producing);
    t.stop_producing();
    assert_eq!(t.producer_state(), ProducerState::Stopped);
}

/// Pausing a disconnecting transport is an error (Twisted raises RuntimeError).
#[test]
#[should_panic(expected = "disconnecting")]
fn pause_while_disconnecting_panics() {
    let t = StringTransport::new();
    t.lose_connection();
    t.pause_producing();
}

/// Resuming a stopped transport is an error.
#[test]
#[should_panic(expected = "stopped")]
fn resume_after_stop_panics() {
    let t = StringTransport::new();
    t.stop_producing();
    t.resume_producing();
}

/// A lenient transport lets both through.
#[test]
fn lenient_allows_pause_after_disconnect() {
    let t = StringTransport::lenient();
    t.lose_connection();
    t.pause_producing();
    t.stop_producing();
    t.resume_producing();
    assert_eq!(t.producer_state(), ProducerState::Producing);
}

/// TCP options are recorded.
#[test]
fn tcp_options() {
    let t = StringTransport::new();
    let tcp = t.as_tcp().unwrap();
    tcp.set_tcp_no_delay(true).unwrap();
    tcp.set_tcp_keep_alive(true).unwrap();
    assert!(tcp.tcp_no_delay().unwrap() && tcp.tcp_keep_alive().unwrap());
}

/// `StringTransportWithDisconnection`: losing the connection calls the
/// protocol's `connection_lost(ConnectionDone)` once, synchronously.
#[test]
fn with_disconnection_calls_connection_lost_once() {
    let t = Rc::new(StringTransport::with_disconnection());
    let p = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    t.set_protocol(&p);
    p.borrow_mut().make_connection(t.clone());
    t.lose_connection();
    assert!(!t.is_connected());
    assert!(p.borrow().closed);
    assert!(p
        .borrow()
        .closed_reason
        .as_ref()
        .unwrap()
        .check::<ConnectionDone>());
    p.borrow_mut().closed = false;
    t.lose_connection();
    assert!(!p.borrow().closed, "a second lose_connection is a no-op");
}

/// Closing from inside the protocol cannot call back into it; the loss is
/// delivered when the test asks, after the protocol's method returned.
#[test]
fn with_disconnection_from_inside_the_protocol() {
    struct Quitter(Option<TransportRef>, Rc<Cell<bool>>);
    impl Protocol for Quitter {
        fn connection_made(&mut self, t: TransportRef) {
            self.0 = Some(t);
        }
        fn data_received(&mut self, _: &[u8]) {
            self.0.as_ref().unwrap().lose_connection();
        }
        fn connection_lost(&mut self, _: Failure) {
            self.1.set(true);
        }
    }
    let lost = Rc::new(Cell::new(false));
    let t = Rc::new(StringTransport::with_disconnection());
    let p = Rc::new(RefCell::new(Quitter(None, lost.clone())));
    t.set_protocol(&p);
    p.borrow_mut().make_connection(t.clone());
    p.borrow_mut().data_received(b"bye");
    assert!(!lost.get());
    assert!(t.deliver_connection_lost());
    assert!(lost.get());
    assert!(!t.deliver_connection_lost(), "delivered once");
}

/// `AccumulatingProtocol` fires its Deferreds on connect and close.
#[test]
fn accumulating_protocol_deferreds() {
    let mut p = AccumulatingProtocol::new();
    let made = torsion_reactor::Deferred::<()>::new();
    let closed = torsion_reactor::Deferred::<()>::new();
    p.connection_made_deferred = Some(made.clone());
    p.closed_deferred = Some(closed.clone());
    p.make_connection(Rc::new(StringTransport::new()));
    assert!(made.is_called() && !closed.is_called());
    p.data_received(b"x");
    p.connection_lost(Failure::new(ConnectionDone));
    assert!(closed.is_called());
    assert!(p.connection_made_deferred.is_none() && p.closed_deferred.is_none());
    assert_eq!(p.data, b"x");
}
