//! The fake datagram transport, the real UDP port and the simulated
//! network's agree: one script of writes, connects and stops gives the
//! same outcomes (`Ok` or the same `UdpError` variant) on
//! `FakeDatagramTransport`, on the mio reactor's port over 127.0.0.1 and on
//! a `SimHost`'s port.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::UdpError;
use torsion_reactor::{DatagramProtocol, Reactor, ReactorUdp, UdpTransport};
use torsion_testing::sim::Simulation;
use torsion_testing::FakeDatagramTransport;

struct Quiet;

impl DatagramProtocol for Quiet {
    fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
}

/// The outcome's name: `ok` or the error's variant.
fn outcome(result: Result<(), UdpError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(UdpError::NotConnected) => "NotConnected",
        Err(UdpError::InvalidAddress { .. }) => "InvalidAddress",
        Err(UdpError::AlreadyConnected { .. }) => "AlreadyConnected",
        Err(UdpError::WrongDestination { .. }) => "WrongDestination",
        Err(UdpError::MessageLength { .. }) => "MessageLength",
        Err(UdpError::NotListening) => "NotListening",
        Err(other) => panic!("unexpected {other}"),
    }
}

/// The script, against a port on 127.0.0.1; `peer` is another port there.
fn script(port: &dyn UdpTransport, peer: SocketAddr) -> Vec<&'static str> {
    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let other = SocketAddr::new(peer.ip(), peer.port().wrapping_add(1).max(1));
    vec![
        outcome(port.write(b"no address", None)),
        outcome(port.write(b"v6", Some(v6))),
        outcome(port.write(&[0; 70_000], Some(peer))),
        outcome(port.write(b"hello", Some(peer))),
        outcome(port.write_sequence(&[b"hel", b"lo"], Some(peer))),
        outcome(port.connect(v6)),
        outcome(port.connect(peer)),
        outcome(port.connect(peer)),
        outcome(port.write(b"connected", None)),
        outcome(port.write(b"same", Some(peer))),
        outcome(port.write(b"other", Some(other))),
        outcome(port.set_broadcast_allowed(true)),
        {
            drop(port.stop_listening());
            outcome(port.write(b"stopped", None))
        },
    ]
}

const EXPECTED: [&str; 13] = [
    "NotConnected",
    "InvalidAddress",
    "MessageLength",
    "ok",
    "ok",
    "InvalidAddress",
    "ok",
    "AlreadyConnected",
    "ok",
    "ok",
    "WrongDestination",
    "ok",
    "NotListening",
];

#[test]
fn fake_and_real_ports_agree() {
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let fake = FakeDatagramTransport::new("127.0.0.1:1000".parse().unwrap());
    fake.start(Rc::new(RefCell::new(Quiet)));
    assert_eq!(script(&*fake, peer), EXPECTED, "on the fake");

    let reactor = Reactor::new().unwrap();
    let real = reactor
        .listen_udp(0, Rc::new(RefCell::new(Quiet)), "127.0.0.1", 512)
        .unwrap();
    // A real peer, so nothing is refused.
    let peer_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = peer_socket.local_addr().unwrap();
    assert_eq!(script(&*real, peer), EXPECTED, "on the mio reactor");
    // What the real port sent arrived whole: hello, hello, connected, same.
    peer_socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buffer = [0; 64];
    while got.len() < 4 && Instant::now() < deadline {
        let n = peer_socket.recv(&mut buffer).unwrap();
        got.push(buffer[..n].to_vec());
    }
    let expected: [&[u8]; 4] = [b"hello", b"hello", b"connected", b"same"];
    assert_eq!(got, expected);
}

/// Collects what arrives.
#[derive(Default)]
struct Collect(Vec<Vec<u8>>);

impl DatagramProtocol for Collect {
    fn datagram_received(&mut self, data: &[u8], _: SocketAddr) {
        self.0.push(data.to_vec());
    }
}

#[test]
fn simulated_ports_agree() {
    let sim = Simulation::new(1);
    let host = sim.add_host("solo").unwrap();
    let collect = Rc::new(RefCell::new(Collect::default()));
    let peer = host
        .listen_udp(0, collect.clone(), "127.0.0.1", 512)
        .unwrap()
        .host();
    let peer = SocketAddr::new("127.0.0.1".parse().unwrap(), peer.port());
    let port = host
        .listen_udp(0, Rc::new(RefCell::new(Quiet)), "127.0.0.1", 512)
        .unwrap();
    assert_eq!(script(&*port, peer), EXPECTED, "on the simulated network");
    sim.run_for(Duration::from_secs(1));
    let expected: [&[u8]; 4] = [b"hello", b"hello", b"connected", b"same"];
    assert_eq!(collect.borrow().0, expected);
}
