//! The UDP fakes (`MemoryReactor`'s `udp_servers`, `FakeDatagramTransport`,
//! `pump_datagrams`), and the log-message cases of Twisted's
//! `twisted/internet/test/test_udp.py` (`DatagramTransportTestsMixin`),
//! which need a log capture, on the real reactor over 127.0.0.1.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::UdpError;
use torsion_reactor::{
    DatagramProtocol, MulticastInterface, Reactor, ReactorTime, ReactorTimeExt, ReactorUdp,
    UdpTransport, UdpTransportRef,
};
use torsion_testing::{
    pump_datagrams, FakeDatagramTransport, LogCapture, MemoryReactor, MemoryReactorClock,
};

/// Answers "ping" with "pong" after one second of fake time.
struct LatePong {
    clock: Rc<dyn ReactorTime>,
    transport: Option<UdpTransportRef>,
    seen: Vec<(Vec<u8>, SocketAddr)>,
    stopped: bool,
}

impl LatePong {
    fn shared(clock: Rc<dyn ReactorTime>) -> Rc<RefCell<LatePong>> {
        Rc::new(RefCell::new(LatePong {
            clock,
            transport: None,
            seen: Vec::new(),
            stopped: false,
        }))
    }
}

impl DatagramProtocol for LatePong {
    fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
        self.transport = transport;
    }

    fn stop_protocol(&mut self) {
        self.stopped = true;
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.seen.push((data.to_vec(), addr));
        if data == b"ping" {
            let transport = self.transport.clone().unwrap();
            drop(self.clock.call_later(Duration::from_secs(1), move || {
                transport.write(b"pong", Some(addr)).unwrap();
            }));
        }
    }
}

/// `listen_udp` on a `MemoryReactor` is recorded with its arguments
/// (Twisted's `udpServers`), and the fake transport it returns lets the
/// test start the protocol, deliver datagrams and read the answers, on
/// the fake clock.
#[test]
fn memory_reactor_records_listen_udp() {
    let reactor = MemoryReactorClock::new();
    let clock: Rc<dyn ReactorTime> = Rc::new(reactor.clock().clone());
    let protocol = LatePong::shared(clock);
    let returned = reactor
        .listen_udp(53, protocol.clone(), "127.0.0.1", 512)
        .unwrap();
    reactor
        .listen_multicast(
            5353,
            LatePong::shared(Rc::new(reactor.clock().clone())),
            "",
            9000,
            true,
        )
        .unwrap();
    let servers = reactor.udp_servers();
    assert_eq!(servers.len(), 2);
    let server = &servers[0];
    assert_eq!(
        (
            server.port,
            server.interface.as_str(),
            server.max_packet_size
        ),
        (53, "127.0.0.1", 512)
    );
    assert_eq!(server.listen_multiple, None);
    assert_eq!(servers[1].listen_multiple, Some(true));
    assert_eq!(returned.host(), server.transport.host());

    // Not started by the reactor (as Twisted's); the test starts it.
    assert!(protocol.borrow().transport.is_none());
    server.transport.start(server.protocol.clone());
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    server.transport.receive(b"ping", peer);
    assert_eq!(server.transport.written(), vec![]);
    reactor.advance(Duration::from_secs(1));
    assert_eq!(
        server.transport.take_written(),
        vec![(b"pong".to_vec(), Some(peer))]
    );
    drop(returned.stop_listening());
    assert!(protocol.borrow().stopped);
}

/// An interface that is not an IP address is refused by the memory
/// reactor as by the real one.
#[test]
fn memory_reactor_refuses_a_bad_interface() {
    let reactor = MemoryReactor::new();
    let refused = reactor.listen_udp(
        0,
        LatePong::shared(Rc::new(torsion_testing::Clock::new())),
        "example.com",
        512,
    );
    assert!(matches!(refused, Err(UdpError::InvalidAddress { .. })));
    assert!(reactor.udp_servers().is_empty());
}

/// The fake checks writes as the real port does.
#[test]
fn fake_datagram_transport_checks_writes() {
    let transport = FakeDatagramTransport::new("127.0.0.1:1000".parse().unwrap());
    assert!(matches!(
        transport.write(b"x", None),
        Err(UdpError::NotConnected)
    ));
    assert!(matches!(
        transport.write(b"x", Some("[::1]:1".parse().unwrap())),
        Err(UdpError::InvalidAddress { .. })
    ));
    transport.set_max_datagram(4);
    assert!(matches!(
        transport.write(b"12345", Some("127.0.0.1:9".parse().unwrap())),
        Err(UdpError::MessageLength { size: 5 })
    ));
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    transport.connect(peer).unwrap();
    assert!(matches!(
        transport.connect(peer),
        Err(UdpError::AlreadyConnected { .. })
    ));
    transport.write(b"ok", None).unwrap();
    transport.write(b"ok2", Some(peer)).unwrap();
    assert_eq!(
        transport.written(),
        vec![(b"ok".to_vec(), None), (b"ok2".to_vec(), None)]
    );
    let multicast = transport.as_multicast().unwrap();
    let group = "225.0.0.250".parse().unwrap();
    multicast.join_group(group, None).unwrap();
    assert_eq!(
        transport.groups(),
        vec![(group, MulticastInterface::any_for(group))]
    );
    assert!(multicast
        .join_group("127.0.0.1".parse().unwrap(), None)
        .is_err());
    multicast.leave_group(group, None).unwrap();
    drop(transport.stop_listening());
    assert!(matches!(
        transport.write(b"late", None),
        Err(UdpError::NotListening)
    ));
}

/// Two fake transports exchange datagrams through `pump_datagrams`, with
/// timers on the fake clock: a ping, then a pong one second later.
#[test]
fn pump_datagrams_carries_both_ways_on_the_fake_clock() {
    let clock = torsion_testing::Clock::new();
    let a = FakeDatagramTransport::new("127.0.0.1:1000".parse().unwrap());
    let b = FakeDatagramTransport::new("127.0.0.1:2000".parse().unwrap());
    let pa = LatePong::shared(Rc::new(clock.clone()));
    let pb = LatePong::shared(Rc::new(clock.clone()));
    a.start(pa.clone());
    b.start(pb.clone());
    a.write(b"ping", Some(b.host())).unwrap();
    a.write(b"elsewhere", Some("127.0.0.1:3000".parse().unwrap()))
        .unwrap();
    assert_eq!(pump_datagrams(&a, &b), 1);
    assert_eq!(pb.borrow().seen, vec![(b"ping".to_vec(), a.host())]);
    assert!(pa.borrow().seen.is_empty());
    clock.advance(Duration::from_secs(1));
    assert_eq!(pump_datagrams(&a, &b), 1);
    assert_eq!(pa.borrow().seen, vec![(b"pong".to_vec(), b.host())]);
    // Not addressed to b: left in a's record.
    assert_eq!(
        a.written(),
        vec![(
            b"elsewhere".to_vec(),
            Some("127.0.0.1:3000".parse().unwrap())
        )]
    );
}

/// Stopping from inside `datagram_received` stops the protocol after the
/// call returns, never re-entrantly.
#[test]
fn fake_stop_from_inside_the_protocol_is_not_reentrant() {
    #[derive(Default)]
    struct StopOnFirst {
        transport: Option<UdpTransportRef>,
        stopped: bool,
    }
    impl DatagramProtocol for StopOnFirst {
        fn set_transport(&mut self, t: Option<UdpTransportRef>) {
            self.transport = t;
        }
        fn stop_protocol(&mut self) {
            self.stopped = true;
        }
        fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {
            drop(self.transport.as_ref().unwrap().stop_listening());
            assert!(!self.stopped, "stop_protocol ran inside datagram_received");
        }
    }
    let transport = FakeDatagramTransport::new("127.0.0.1:1000".parse().unwrap());
    let protocol = Rc::new(RefCell::new(StopOnFirst::default()));
    transport.start(protocol.clone());
    transport.receive(b"x", "127.0.0.1:5".parse().unwrap());
    assert!(protocol.borrow().stopped);
    assert!(!transport.is_listening());
}

fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

struct CrazyProtocol;

impl DatagramProtocol for CrazyProtocol {
    fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    fn log_prefix(&self) -> &'static str {
        "Crazy Protocol"
    }
}

/// When a port starts, a message including a description of the associated
/// protocol is logged.
#[test]
fn started_listening_log_message() {
    let logs = LogCapture::start();
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_udp(0, Rc::new(RefCell::new(CrazyProtocol)), "127.0.0.1", 512)
        .unwrap();
    let expected = format!("Crazy Protocol starting on {}", port.host().port());
    assert!(
        logs.messages().contains(&expected),
        "{expected:?} not in {:?}",
        logs.messages()
    );
}

/// When a connection is lost a message is logged containing an address
/// identifying the port and the fact that it was closed.
#[test]
fn connection_lost_log_message() {
    let logs = LogCapture::start();
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_udp(0, Rc::new(RefCell::new(CrazyProtocol)), "127.0.0.1", 512)
        .unwrap();
    let expected = format!("(UDP Port {} Closed)", port.host().port());
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.has_result());
    assert!(
        logs.messages().contains(&expected),
        "{expected:?} not in {:?}",
        logs.messages()
    );
}

/// Datagram transports log under a prefix reflecting the protocol they are
/// running, `"<log_prefix> (UDP)"` (Twisted's `test_logPrefix`): a panic in
/// `datagram_received` is logged so, naming the port, and the port reads
/// on (Twisted's `test_datagramReceivedError`: logged, not disconnected).
#[test]
fn datagram_received_panic_is_logged_and_contained() {
    struct Bad(Rc<RefCell<usize>>);
    impl DatagramProtocol for Bad {
        fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {
            *self.0.borrow_mut() += 1;
            panic!("Application code is very buggy!");
        }
    }
    let logs = LogCapture::strict();
    let reactor = Reactor::new().unwrap();
    let count = Rc::new(RefCell::new(0));
    let port = reactor
        .listen_udp(
            0,
            Rc::new(RefCell::new(Bad(count.clone()))),
            "127.0.0.1",
            512,
        )
        .unwrap();
    port.write(b"1", Some(port.host())).unwrap();
    port.write(b"2", Some(port.host())).unwrap();
    run_until(&reactor, "two datagrams", || *count.borrow() == 2);
    let errors = logs.flush_errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].message.contains("very buggy"));
    assert!(
        errors[0].message.starts_with("Bad (UDP)"),
        "{}",
        errors[0].message
    );
    assert!(errors[0].message.contains(&port.host().to_string()));
    assert!(port.is_listening());
}
