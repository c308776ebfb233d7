//! `WrappingFactory`, `LimitTotalConnectionsFactory`,
//! `LimitConnectionsByPeer` and `TrafficLoggingFactory`: Twisted's
//! `WrapperTests`, `LimitTotalConnectionsFactoryTests` and
//! `LoggingFactoryTests` (`twisted/test/test_policies.py`).

mod policies_util;

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use policies_util::{connect, peer, EchoProtocol, Recording, SimpleProtocol};
use torsion_protocols::policies::{
    LimitConnectionsByPeer, LimitTotalConnectionsFactory, TrafficLoggingFactory, WrappingFactory,
};
use torsion_reactor::error::{ConnectionDone, ConnectionRefused};
use torsion_reactor::{
    Address, Connector, ConnectorState, Failure, Producer, ProducerRef, Protocol, ProtocolFactory,
    PushProducer, Transport,
};
use torsion_testing::StringTransport;

/// Twisted's `test_transportInterfaces`: the transport the wrapped protocol
/// gets offers what the real one does (here: the TCP extras).
#[test]
fn transport_interfaces() {
    let server = Recording::new(SimpleProtocol::default);
    let (_p, _t) = connect(&WrappingFactory::forwarding(server.clone()));
    let transport = server.nth(0).borrow().transport.clone().expect("connected");
    let tcp = transport
        .as_tcp()
        .expect("StringTransport is a TCP transport");
    tcp.set_tcp_no_delay(true).expect("in memory");
    assert!(tcp.tcp_no_delay().expect("in memory"));
}

/// Twisted's `test_factoryLogPrefix`: `describe` mentions both the wrapped
/// factory and the wrapping one.
#[test]
fn factory_log_prefix() {
    let factory = WrappingFactory::forwarding(Recording::new(SimpleProtocol::default));
    assert_eq!(factory.describe(), "Server (WrappingFactory)");
}

/// Twisted's `test_protocolLogPrefix`, as far as a `&'static str` goes:
/// the wrapper logs under the wrapped protocol's name.
#[test]
fn protocol_log_prefix() {
    let factory = WrappingFactory::forwarding(Recording::new(EchoProtocol::default));
    let protocol = factory.build_protocol(&peer(35)).expect("built");
    assert_eq!(protocol.log_prefix(), "EchoProtocol");
}

/// Twisted's `test_getHost` and `test_getPeer`: the wrapped protocol's
/// transport answers as the real one.
#[test]
fn get_host_and_peer() {
    let server = Recording::new(SimpleProtocol::default);
    let (_p, real) = connect(&WrappingFactory::forwarding(server.clone()));
    let transport = server.nth(0).borrow().transport.clone().expect("connected");
    assert_eq!(transport.host(), real.host());
    assert_eq!(transport.peer(), real.peer());
}

#[derive(Default)]
struct NullProducer;
impl Producer for NullProducer {
    fn stop_producing(&self) {}
}
impl PushProducer for NullProducer {
    fn pause_producing(&self) {}
    fn resume_producing(&self) {}
}

/// Twisted's `test_registerProducer` and `test_unregisterProducer`: they
/// reach the real transport.
#[test]
fn register_and_unregister_producer() {
    let server = Recording::new(SimpleProtocol::default);
    let (_p, real) = connect(&WrappingFactory::forwarding(server.clone()));
    let transport = server.nth(0).borrow().transport.clone().expect("connected");
    let producer = ProducerRef::Push(Rc::new(NullProducer));
    transport
        .register_producer(producer.clone())
        .expect("first");
    assert!(real.producer().is_some_and(|p| p.is_same(&producer)));
    assert_eq!(real.is_streaming(), Some(true));
    transport.unregister_producer().expect("registered");
    assert!(real.producer().is_none());
}

/// Records the client hooks it is given.
struct ClientHooks(RefCell<Vec<String>>);

impl ProtocolFactory for ClientHooks {
    type Protocol = SimpleProtocol;
    fn build_protocol(&self, _addr: &Address) -> Option<SimpleProtocol> {
        None
    }
    fn started_connecting(&self, _connector: &dyn Connector) {
        self.0.borrow_mut().push("started".into());
    }
    fn client_connection_failed(&self, _connector: &dyn Connector, reason: Failure) {
        self.0.borrow_mut().push(format!("failed: {reason}"));
    }
    fn client_connection_lost(&self, _connector: &dyn Connector, reason: Failure) {
        self.0.borrow_mut().push(format!("lost: {reason}"));
    }
}

struct FakeConnector;
impl Connector for FakeConnector {
    fn connect(&self) {}
    fn stop_connecting(&self) -> Result<(), torsion_reactor::error::NotConnectingError> {
        Ok(())
    }
    fn disconnect(&self) {}
    fn destination(&self) -> Address {
        peer(1)
    }
    fn state(&self) -> ConnectorState {
        ConnectorState::Disconnected
    }
}

/// Twisted's `test_startedConnecting`, `test_clientConnectionLost` and
/// `test_clientConnectionFailed`: forwarded to the wrapped factory.
#[test]
fn client_hooks_are_forwarded() {
    let inner = Rc::new(ClientHooks(RefCell::new(Vec::new())));
    let factory = WrappingFactory::forwarding(inner.clone());
    factory.started_connecting(&FakeConnector);
    factory.client_connection_lost(&FakeConnector, Failure::new(ConnectionDone));
    factory.client_connection_failed(&FakeConnector, Failure::new(ConnectionRefused::new()));
    let seen = inner.0.borrow();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], "started");
    assert!(seen[1].starts_with("lost: "));
    assert!(seen[2].starts_with("failed: "));
}

/// Twisted's `testConnectionCounting`: the count goes up as connections
/// are made and down as they are lost.
#[test]
fn connection_counting() {
    let factory = LimitTotalConnectionsFactory::new(Recording::new(SimpleProtocol::default), None);
    assert_eq!(factory.policy().connection_count(), 0);
    let p1 = factory.build_protocol(&peer(1)).expect("unlimited");
    assert_eq!(factory.policy().connection_count(), 1);
    let mut p2 = factory.build_protocol(&peer(2)).expect("unlimited");
    assert_eq!(factory.policy().connection_count(), 2);
    let mut p1 = p1;
    p1.connection_lost(Failure::new(ConnectionDone));
    assert_eq!(factory.policy().connection_count(), 1);
    p2.connection_lost(Failure::new(ConnectionDone));
    assert_eq!(factory.policy().connection_count(), 0);
    drop((p1, p2)); // released once only
    assert_eq!(factory.policy().connection_count(), 0);
}

/// Twisted's `OverflowProtocol`: notes that it was used.
struct Overflow(Rc<RefCell<bool>>);
impl Protocol for Overflow {
    fn connection_made(&mut self, _transport: torsion_reactor::TransportRef) {
        *self.0.borrow_mut() = true;
    }
    fn data_received(&mut self, _data: &[u8]) {}
}

/// Twisted's `testConnectionLimiting`: past the limit a connection is
/// refused, or gets the overflow protocol, which counts too.
#[test]
fn connection_limiting() {
    let wrapped = Recording::new(SimpleProtocol::default);
    let factory = LimitTotalConnectionsFactory::new(wrapped.clone(), Some(1));
    let mut p = factory.build_protocol(&peer(1)).expect("under the limit");
    assert_eq!(factory.policy().connection_count(), 1);
    assert!(factory.build_protocol(&peer(2)).is_none());
    assert_eq!(factory.policy().connection_count(), 1);

    let overflowed = Rc::new(RefCell::new(false));
    let flag = overflowed.clone();
    let factory = factory.overflow(Rc::new(torsion_reactor::Factory::for_protocol(move || {
        Overflow(flag.clone())
    })));
    let mut op = factory.build_protocol(&peer(2)).expect("overflow");
    op.make_connection(Rc::new(StringTransport::new()));
    assert!(*overflowed.borrow());
    assert_eq!(factory.policy().connection_count(), 2);
    assert_eq!(wrapped.built.borrow().len(), 1);

    p.connection_lost(Failure::new(ConnectionDone));
    assert_eq!(factory.policy().connection_count(), 1);
    op.connection_lost(Failure::new(ConnectionDone));
    assert_eq!(factory.policy().connection_count(), 0);
}

/// `LimitConnectionsByPeer`: per host, not per port; a lost connection
/// gives its place back.
#[test]
fn limit_connections_by_peer() {
    let factory = LimitConnectionsByPeer::new(Recording::new(SimpleProtocol::default), 2);
    let a: Address = Address::Tcp("10.0.0.1:1000".parse().unwrap());
    let a2: Address = Address::Tcp("10.0.0.1:1001".parse().unwrap());
    let b: Address = Address::Tcp("10.0.0.2:1000".parse().unwrap());
    let mut first = factory.build_protocol(&a).expect("1 of 2");
    let _second = factory.build_protocol(&a2).expect("2 of 2");
    assert!(factory.build_protocol(&a).is_none());
    assert!(factory.build_protocol(&b).is_some());
    assert_eq!(factory.policy().connections_from(&a2), 2);
    first.connection_lost(Failure::new(ConnectionDone));
    assert_eq!(factory.policy().connections_from(&a), 1);
    assert!(factory.build_protocol(&a).is_some());
}

/// An in-memory log file (Twisted's `StringIO`).
#[derive(Clone, Default)]
struct Memory(Rc<RefCell<Vec<u8>>>);
impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Memory {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

/// Twisted's `TestLoggingFactory`: logs into memory, recording the names.
fn logging_factory(
    wrapped: Rc<dyn torsion_reactor::DynProtocolFactory>,
) -> (TrafficLoggingFactory, Memory, Rc<RefCell<Vec<String>>>) {
    let memory = Memory::default();
    let names = Rc::new(RefCell::new(Vec::new()));
    let (log, opened) = (memory.clone(), names.clone());
    let factory = TrafficLoggingFactory::new(wrapped, "test").open_with(Box::new(move |name| {
        opened.borrow_mut().push(name.to_string());
        Ok(Box::new(log.clone()))
    }));
    (factory, memory, names)
}

/// Twisted's `test_thingsGetLogged`: connects, reads, writes, vectored
/// writes and the close are logged.
#[test]
fn things_get_logged() {
    let (f, log, _) = logging_factory(Recording::new(EchoProtocol::default));
    let protocol = Rc::new(RefCell::new(f.build_protocol(&peer(5678)).expect("built")));
    let t = Rc::new(StringTransport::with_disconnection());
    t.set_protocol(&protocol);
    protocol.borrow_mut().make_connection(t.clone());
    assert!(log.text().contains('*'));
    assert!(t.value().is_empty());

    protocol.borrow_mut().data_received(b"here are some bytes");
    let v = log.text();
    assert!(v.contains("C 1: b'here are some bytes'"), "{v}");
    assert!(v.contains("S 1: b'here are some bytes'"), "{v}");
    assert_eq!(t.value(), b"here are some bytes");

    t.clear();
    protocol
        .borrow_mut()
        .data_received(b"prepare for vector! to the extreme");
    let v = log.text();
    assert!(
        v.contains("SV 1: [b'prepare for vector! to the extreme']"),
        "{v}"
    );
    assert_eq!(t.value(), b"prepare for vector! to the extreme");

    t.lose_connection();
    assert!(log.text().contains("ConnectionDone"), "{}", log.text());
}

/// Twisted's `test_counter`: connections are numbered; `reset_counter`
/// starts over.
#[test]
fn counter() {
    let (f, _, _) = logging_factory(Recording::new(EchoProtocol::default));
    assert_eq!(f.policy().counter(), 0);
    f.build_protocol(&peer(5678));
    assert_eq!(f.policy().counter(), 1);
    f.build_protocol(&peer(5679));
    assert_eq!(f.policy().counter(), 2);
    f.policy().reset_counter();
    assert_eq!(f.policy().counter(), 0);
}

/// Twisted's `test_loggingFactoryOpensLogfileAutomatically`: each protocol
/// gets a log of its own, named `<prefix>-<n>`.
#[test]
fn logging_factory_opens_logfile_automatically() {
    let (f, _, names) = logging_factory(Recording::new(SimpleProtocol::default));
    let first = f.build_protocol(&peer(12345)).expect("built");
    let second = f.build_protocol(&peer(12346)).expect("built");
    assert_eq!(*names.borrow(), ["test-1", "test-2"]);
    assert_eq!((first.hooks().number(), second.hooks().number()), (1, 2));
}

/// A log that cannot be opened refuses the connection.
#[test]
fn unopenable_log_refuses() {
    let f = TrafficLoggingFactory::new(Recording::new(SimpleProtocol::default), "x")
        .open_with(Box::new(|_| Err(io::Error::other("disk full"))));
    assert!(f.build_protocol(&peer(1)).is_none());
}

/// Long chunks are cut to the length limit.
#[test]
fn length_limit_elides() {
    let memory = Memory::default();
    let log = memory.clone();
    let f = TrafficLoggingFactory::new(Recording::new(SimpleProtocol::default), "x")
        .length_limit(20)
        .open_with(Box::new(move |_| Ok(Box::new(log.clone()))));
    let mut p = f.build_protocol(&peer(1)).expect("built");
    p.make_connection(Rc::new(StringTransport::new()));
    p.data_received(b"0123456789abcdefghijklmnop\n\x00'");
    assert!(
        memory.text().contains("C 1: b'01234567<... elided>'"),
        "{}",
        memory.text()
    );
}

/// A protocol that does not keep its transport.
struct Forgetful;
impl Protocol for Forgetful {
    fn data_received(&mut self, _data: &[u8]) {}
}

/// Nested policies (a timeout inside a per-peer limit, as `chat_server`
/// has them) still close an idle connection whose protocol never kept its
/// transport, and give the peer's place back.
#[test]
fn nested_policies_close_idle_connection() {
    let clock = Rc::new(torsion_testing::Clock::new());
    let idle = torsion_protocols::policies::TimeoutFactory::new(
        Rc::new(torsion_reactor::Factory::for_protocol(|| Forgetful)),
        clock.clone(),
        Some(std::time::Duration::from_secs(5)),
    );
    let factory = LimitConnectionsByPeer::new(Rc::new(idle), 1);
    let (protocol, transport) = connect(&factory);
    assert_eq!(factory.policy().connections_from(&peer(1)), 1);
    clock.advance(std::time::Duration::from_secs(4));
    assert!(transport.is_connected());
    protocol.borrow_mut().data_received(b"still here");
    clock.advance(std::time::Duration::from_secs(4));
    assert!(transport.is_connected());
    clock.advance(std::time::Duration::from_secs(1));
    assert!(!transport.is_connected());
    assert_eq!(factory.policy().connections_from(&peer(1)), 0);
}

/// Twisted's `test_breakReferenceCycle`: once the connection is lost, the
/// wrapper lets go of the transport (no cycle through it is left).
#[test]
fn break_reference_cycle() {
    let factory =
        WrappingFactory::forwarding(Rc::new(torsion_reactor::Factory::for_protocol(|| {
            Forgetful
        })));
    let (protocol, transport) = connect(&factory);
    let connected = Rc::strong_count(&transport);
    transport.lose_connection();
    assert!(Rc::strong_count(&transport) < connected);
    assert_eq!(Rc::strong_count(&transport), 1);
    drop(protocol);
}
