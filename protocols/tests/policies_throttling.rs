//! `ThrottlingFactory`: Twisted's `ThrottlingTests`
//! (`twisted/test/test_policies.py`), on `torsion_testing::Clock` and
//! in-memory transports (`test_limit` uses real sockets in Twisted).

mod policies_util;

use std::cell::Cell;
use std::rc::Rc;

use policies_util::{connect, peer, secs, EchoProtocol, Recording, SimpleProtocol};
use torsion_protocols::policies::ThrottlingFactory;
use torsion_reactor::{
    Failure, Producer, ProducerRef, Protocol, ProtocolFactory, PushProducer, Transport,
};
use torsion_testing::{Clock, ProducerState};

/// Twisted's `test_limit`, in memory: with a limit of 2 connections, a
/// third is refused until one of the first two is lost.
#[test]
fn limit() {
    let clock = Rc::new(Clock::new());
    let server = Recording::new(SimpleProtocol::default);
    let factory = ThrottlingFactory::new(server.clone(), clock).max_connections(2);
    let (c1, t1) = connect(&factory);
    let (_c2, _t2) = connect(&factory);
    assert!(factory.build_protocol(&peer(3)).is_none());
    assert_eq!(factory.policy().connected(), 2);
    assert_eq!(server.built.borrow().len(), 2);

    t1.lose_connection();
    assert!(server.nth(0).borrow().disconnected);
    assert_eq!(factory.policy().connected(), 1);
    let (_c4, _t4) = connect(&factory);
    assert!(server.nth(2).borrow().connected);
    assert!(!server.nth(2).borrow().disconnected);
    drop(c1);
}

/// Twisted's `test_writeSequence`: `write_sequence` is counted by the
/// factory.
#[test]
fn write_sequence() {
    let server = Recording::new(EchoProtocol::default);
    let factory = ThrottlingFactory::new(server.clone(), Rc::new(Clock::new()));
    let (_protocol, transport) = connect(&factory);
    let wrapped = server.nth(0).borrow().transport.clone().expect("connected");
    wrapped.write_sequence(&[b"bytes".as_slice(); 4]);
    assert_eq!(transport.value(), b"bytesbytesbytesbytes");
    assert_eq!(factory.policy().written_this_second(), 20);
}

/// A push producer recording whether it is paused (Twisted uses the
/// wrapped protocol as the producer).
#[derive(Default)]
struct Paused(Cell<bool>);

impl Producer for Paused {
    fn stop_producing(&self) {}
}

impl PushProducer for Paused {
    fn pause_producing(&self) {
        self.0.set(true);
    }

    fn resume_producing(&self) {
        self.0.set(false);
    }
}

/// Twisted's `test_writeLimit`: past the write limit, the registered
/// producer is paused about a second, then resumed.
#[test]
fn write_limit() {
    let clock = Rc::new(Clock::new());
    let server = Recording::new(EchoProtocol::default);
    let factory = ThrottlingFactory::new(server.clone(), clock.clone()).write_limit(10);
    let (port, tr) = connect(&factory);
    let producer = Rc::new(Paused::default());
    let wrapped = server.nth(0).borrow().transport.clone().expect("connected");
    wrapped
        .register_producer(ProducerRef::Push(producer.clone()))
        .expect("no producer yet");

    port.borrow_mut().data_received(b"0123456789");
    port.borrow_mut().data_received(b"abcdefghij");
    assert_eq!(tr.value(), b"0123456789abcdefghij");
    assert_eq!(factory.policy().written_this_second(), 20);
    assert!(!producer.0.get());

    clock.advance(secs(1.05));
    assert_eq!(factory.policy().written_this_second(), 0);
    assert!(producer.0.get());

    clock.advance(secs(1.05));
    assert_eq!(factory.policy().written_this_second(), 0);
    assert!(!producer.0.get());
}

/// Twisted's `test_readLimit`: past the read limit, the transport is
/// paused about a second, then resumed; twice.
#[test]
fn read_limit() {
    let clock = Rc::new(Clock::new());
    let server = Recording::new(EchoProtocol::default);
    let factory = ThrottlingFactory::new(server, clock.clone()).read_limit(10);
    let (port, tr) = connect(&factory);

    for _ in 0..2 {
        tr.clear();
        port.borrow_mut().data_received(b"0123456789");
        port.borrow_mut().data_received(b"abcdefghij");
        assert_eq!(tr.value(), b"0123456789abcdefghij");
        assert_eq!(factory.policy().read_this_second(), 20);

        clock.advance(secs(1.05));
        assert_eq!(factory.policy().read_this_second(), 0);
        assert_eq!(tr.producer_state(), ProducerState::Paused);

        clock.advance(secs(1.05));
        assert_eq!(factory.policy().read_this_second(), 0);
        assert_eq!(tr.producer_state(), ProducerState::Producing);
    }
}

/// When the last connection is lost, the once-a-second checks stop: no
/// timer is left on the clock.
#[test]
fn last_connection_stops_the_checks() {
    let clock = Rc::new(Clock::new());
    let server = Recording::new(EchoProtocol::default);
    let factory = ThrottlingFactory::new(server, clock.clone())
        .read_limit(10)
        .write_limit(10);
    let (port, tr) = connect(&factory);
    assert_eq!(clock.timers().len(), 2);
    port.borrow_mut().data_received(b"0123456789abcdefghij");
    clock.advance(secs(1.05));
    tr.lose_connection();
    assert_eq!(factory.policy().connection_count(), 0);
    assert!(clock.timers().is_empty());
    let _ = Failure::msg("unused");
}
