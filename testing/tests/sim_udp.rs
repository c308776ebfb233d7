//! UDP on the simulated network: `SimHost`'s `ReactorUdp`. Datagrams pay
//! the link's latency and jitter (and may be reordered by it), are lost at
//! the link's loss rate from the seed and dropped across partitions (never
//! resent), are refused by ICMP when nothing listens (a connected port is
//! told), are cut for a small `max_packet_size`, and reach every member of
//! a multicast group. Same seed, same run.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::UdpError;
use torsion_reactor::{DatagramProtocol, ReactorUdp, UdpTransportRef, DEFAULT_MAX_PACKET_SIZE};
use torsion_testing::sim::{Link, SimHost, Simulation};

/// Records what arrives (and when); echoes if asked.
#[derive(Default)]
struct Peer {
    echo: bool,
    transport: Option<UdpTransportRef>,
    got: Vec<(Vec<u8>, SocketAddr)>,
    truncated: Vec<(usize, usize)>,
    refused: u32,
    started: u32,
    stopped: u32,
}

impl DatagramProtocol for Peer {
    fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
        self.transport = transport;
    }
    fn start_protocol(&mut self) {
        self.started += 1;
    }
    fn stop_protocol(&mut self) {
        self.stopped += 1;
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.got.push((data.to_vec(), addr));
        if self.echo {
            if let Some(t) = &self.transport {
                t.write(data, Some(addr)).expect("echo");
            }
        }
    }
    fn datagram_truncated(&mut self, data: &[u8], size: usize, _addr: SocketAddr) {
        self.truncated.push((data.len(), size));
    }
    fn connection_refused(&mut self) {
        self.refused += 1;
    }
}

type Shared = Rc<RefCell<Peer>>;

fn listen(host: &SimHost, port: u16, echo: bool) -> (Shared, UdpTransportRef) {
    let peer = Rc::new(RefCell::new(Peer {
        echo,
        ..Peer::default()
    }));
    let transport = host
        .listen_udp(port, peer.clone(), "", DEFAULT_MAX_PACKET_SIZE)
        .expect("bound");
    (peer, transport)
}

fn two_hosts(seed: u64, link: Link) -> (Simulation, SimHost, SimHost) {
    let sim = Simulation::new(seed);
    let (app, db) = (sim.add_host("app").unwrap(), sim.add_host("db").unwrap());
    sim.set_link("app", "db", link).unwrap();
    (sim, app, db)
}

fn at(host: &SimHost, port: u16) -> SocketAddr {
    SocketAddr::new(host.ip(), port)
}

/// A datagram and its echo each take the link's latency: the round trip
/// is 2 x 20 ms, and the echo comes from the server's address.
#[test]
fn echo_pays_the_latency_both_ways() {
    let (sim, app, db) = two_hosts(1, Link::new(Duration::from_millis(20)));
    let (_server, _) = listen(&db, 5353, true);
    let (client, port) = listen(&app, 0, false);
    port.write(b"ping", Some(at(&db, 5353))).unwrap();
    sim.run_for(Duration::from_millis(39));
    assert!(client.borrow().got.is_empty());
    sim.run_for(Duration::from_millis(1));
    assert_eq!(client.borrow().got, [(b"ping".to_vec(), at(&db, 5353))]);
    assert_eq!(client.borrow().started, 1);
}

/// A partition drops datagrams (they are not held and resent as a stream's
/// segments are); after the repair new ones get through.
#[test]
fn a_partition_drops_datagrams() {
    let (sim, app, db) = two_hosts(2, Link::new(Duration::from_millis(5)));
    let (server, _) = listen(&db, 9000, false);
    let (_client, port) = listen(&app, 0, false);
    sim.partition("app", "db").unwrap();
    port.write(b"lost", Some(at(&db, 9000))).unwrap();
    sim.run_for(Duration::from_secs(1));
    sim.repair("app", "db").unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!(server.borrow().got.is_empty());
    port.write(b"after", Some(at(&db, 9000))).unwrap();
    sim.run_for(Duration::from_secs(1));
    let got: Vec<Vec<u8>> = server.borrow().got.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(got, [b"after".to_vec()]);
}

/// How many of 1 000 datagrams over a 30% lossy link arrive, and in what
/// order over a link with more jitter than their spacing.
fn lossy_and_jittery(seed: u64) -> (usize, Vec<u32>) {
    let link = Link::new(Duration::from_millis(10))
        .jitter(Duration::from_millis(5))
        .datagram_loss(0.3);
    let (sim, app, db) = two_hosts(seed, link);
    let (server, _) = listen(&db, 9000, false);
    let (_client, port) = listen(&app, 0, false);
    for i in 0..1000u32 {
        port.write(&i.to_be_bytes(), Some(at(&db, 9000))).unwrap();
        sim.run_for(Duration::from_millis(1));
    }
    sim.run_for(Duration::from_secs(1));
    let order: Vec<u32> = server
        .borrow()
        .got
        .iter()
        .map(|(d, _)| u32::from_be_bytes(d[..4].try_into().unwrap()))
        .collect();
    (order.len(), order)
}

/// Loss and reordering come from the seed: about 30% lost, some
/// datagrams overtaken, the same run for the same seed, another for
/// another seed.
#[test]
fn loss_and_reordering_follow_the_seed() {
    let (count, order) = lossy_and_jittery(11);
    assert!((600..800).contains(&count), "{count} of 1000 arrived");
    assert!(order.windows(2).any(|w| w[0] > w[1]), "nothing reordered");
    assert_eq!(lossy_and_jittery(11), (count, order.clone()));
    assert_ne!(lossy_and_jittery(12).1, order);
}

/// Nothing listens: a connected port hears `connection_refused` a round
/// trip later; an unconnected one hears nothing.
#[test]
fn icmp_refusal_reaches_a_connected_port() {
    let (sim, app, db) = two_hosts(3, Link::new(Duration::from_millis(10)));
    let (connected, port) = listen(&app, 0, false);
    port.connect(at(&db, 7)).unwrap();
    port.write(b"anyone?", None).unwrap();
    let (unconnected, other) = listen(&app, 0, false);
    other.write(b"anyone?", Some(at(&db, 7))).unwrap();
    sim.run_for(Duration::from_millis(19));
    assert_eq!(connected.borrow().refused, 0);
    sim.run_for(Duration::from_millis(1));
    assert_eq!(connected.borrow().refused, 1);
    assert_eq!(unconnected.borrow().refused, 0);
}

/// A connected port takes datagrams from its peer only.
#[test]
fn a_connected_port_filters_its_peer() {
    let sim = Simulation::new(4);
    let (a, b, c) = (
        sim.add_host("a").unwrap(),
        sim.add_host("b").unwrap(),
        sim.add_host("c").unwrap(),
    );
    let (receiver, port) = listen(&a, 9000, false);
    port.connect(at(&b, 9001)).unwrap();
    let (_b, from_b) = listen(&b, 9001, false);
    let (_c, from_c) = listen(&c, 9001, false);
    from_b.write(b"from b", Some(at(&a, 9000))).unwrap();
    from_c.write(b"from c", Some(at(&a, 9000))).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(receiver.borrow().got, [(b"from b".to_vec(), at(&b, 9001))]);
}

/// A datagram over the port's `max_packet_size` goes to
/// `datagram_truncated` with its real size.
#[test]
fn oversize_datagrams_are_reported_truncated() {
    let (sim, app, db) = two_hosts(5, Link::default());
    let server = Rc::new(RefCell::new(Peer::default()));
    db.listen_udp(9000, server.clone(), "", 100).unwrap();
    let (_client, port) = listen(&app, 0, false);
    port.write(&[7u8; 150], Some(at(&db, 9000))).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(server.borrow().truncated, [(100, 150)]);
    assert!(server.borrow().got.is_empty());
}

/// A crashed host's ports are gone (datagrams to it are refused); after a
/// restart it binds again and answers.
#[test]
fn crash_and_restart() {
    let (sim, app, db) = two_hosts(6, Link::new(Duration::from_millis(5)));
    let (_server, _) = listen(&db, 9000, true);
    let (client, port) = listen(&app, 0, false);
    port.connect(at(&db, 9000)).unwrap();
    sim.crash("db").unwrap();
    port.write(b"down?", None).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(client.borrow().refused, 1);
    sim.restart("db", |db| {
        listen(db, 9000, true);
    })
    .unwrap();
    port.write(b"up?", None).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(client.borrow().got, [(b"up?".to_vec(), at(&db, 9000))]);
}

/// A group's datagram reaches every member on every host, the sender's own
/// port too unless loopback is off; a member that left gets nothing.
#[test]
fn multicast_reaches_the_group() {
    let sim = Simulation::new(7);
    let hosts: Vec<SimHost> = ["a", "b", "c"]
        .iter()
        .map(|n| sim.add_host(n).unwrap())
        .collect();
    let group = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 250));
    let members: Vec<(Shared, Rc<dyn torsion_reactor::MulticastTransport>)> = hosts
        .iter()
        .map(|h| {
            let peer = Rc::new(RefCell::new(Peer::default()));
            let port = h
                .listen_multicast(5000, peer.clone(), "", DEFAULT_MAX_PACKET_SIZE, true)
                .unwrap();
            port.join_group(group, None).unwrap();
            (peer, port)
        })
        .collect();
    members[2].1.leave_group(group, None).unwrap();
    assert!(members[2].1.leave_group(group, None).is_err());
    members[0]
        .1
        .write(b"hello group", Some(SocketAddr::new(group, 5000)))
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    let heard = |i: usize| members[i].0.borrow().got.len();
    assert_eq!((heard(0), heard(1), heard(2)), (1, 1, 0));
    members[0].1.set_loopback_mode(false).unwrap();
    members[0]
        .1
        .write(b"again", Some(SocketAddr::new(group, 5000)))
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!((heard(0), heard(1), heard(2)), (1, 2, 0));
    assert_eq!(members[1].0.borrow().got[0].1, at(&hosts[0], 5000));
}

/// Bad input is a typed error: an IPv6 interface, a port in use, a write
/// with no destination, one too large, an IPv6 destination, a write after
/// `stop_listening` (whose `do_stop` comes after the current callback).
#[test]
fn errors_are_typed() {
    let (sim, app, db) = two_hosts(8, Link::default());
    let peer = Rc::new(RefCell::new(Peer::default()));
    assert!(matches!(
        app.listen_udp(0, peer.clone(), "::", 1500),
        Err(UdpError::InvalidAddress { .. })
    ));
    assert!(matches!(
        app.listen_udp(0, peer.clone(), "10.9.9.9", 1500),
        Err(UdpError::CannotListen(_))
    ));
    let (client, port) = listen(&app, 9000, false);
    assert!(matches!(
        app.listen_udp(9000, peer, "", 1500),
        Err(UdpError::CannotListen(_))
    ));
    assert!(matches!(
        port.write(b"x", None),
        Err(UdpError::NotConnected)
    ));
    assert!(matches!(
        port.write(&vec![0; 70_000], Some(at(&db, 1))),
        Err(UdpError::MessageLength { size: 70_000 })
    ));
    assert!(matches!(
        port.write(b"x", Some("[::1]:53".parse().unwrap())),
        Err(UdpError::InvalidAddress { .. })
    ));
    let stopped = port.stop_listening();
    assert!(!port.is_listening());
    assert!(matches!(
        port.write(b"x", Some(at(&db, 1))),
        Err(UdpError::NotListening)
    ));
    assert_eq!(client.borrow().stopped, 0);
    sim.run_for(Duration::ZERO);
    assert!(stopped.has_result());
    assert_eq!(client.borrow().stopped, 1);
    // The number is free again.
    listen(&app, 9000, false);
}

/// The same seed gives the same trace, datagrams included.
#[test]
fn same_seed_same_trace() {
    let run = |seed: u64| {
        let link = Link::new(Duration::from_millis(3))
            .jitter(Duration::from_millis(4))
            .datagram_loss(0.2);
        let (sim, app, db) = two_hosts(seed, link);
        let (_server, _) = listen(&db, 9000, true);
        let (_client, port) = listen(&app, 0, false);
        for i in 0..50u8 {
            port.write(&[i], Some(at(&db, 9000))).unwrap();
            sim.run_for(Duration::from_millis(1));
        }
        sim.run_for(Duration::from_secs(1));
        sim.trace()
    };
    assert_eq!(run(21), run(21));
}
