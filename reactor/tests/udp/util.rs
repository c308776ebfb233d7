//! Protocols and helpers shared by the UDP tests (Twisted's `Server`,
//! `GoodClient` and `BadClient` of `twisted/test/test_udp.py`).

#![allow(dead_code)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{DatagramProtocol, Reactor, UdpTransportRef};

/// Iterates until `done` or 10 s (then fails the test).
pub(crate) fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

/// Iterates for `turns` short turns (to let datagrams that should *not*
/// arrive have their chance).
pub(crate) fn spin(reactor: &Reactor, turns: usize) {
    for _ in 0..turns {
        reactor.iterate(Some(Duration::from_millis(5))).unwrap();
    }
}

/// Records what happens to it: Twisted's `Server` (and `GoodClient`, which
/// also records `connectionRefused`).
#[derive(Default)]
pub(crate) struct Server {
    pub(crate) transport: Option<UdpTransportRef>,
    pub(crate) started: usize,
    pub(crate) stopped: usize,
    pub(crate) refused: usize,
    pub(crate) packets: Vec<(Vec<u8>, SocketAddr)>,
    /// Truncated datagrams: (first bytes, full size, sender).
    pub(crate) truncated: Vec<(Vec<u8>, usize, SocketAddr)>,
    /// Panic in `datagram_received` after recording (Twisted's `BadClient`).
    pub(crate) bad: bool,
    /// Stop listening from inside `datagram_received`.
    pub(crate) stop_on_datagram: bool,
}

impl Server {
    pub(crate) fn shared() -> Rc<RefCell<Server>> {
        Rc::new(RefCell::new(Server::default()))
    }
}

impl DatagramProtocol for Server {
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
        self.packets.push((data.to_vec(), addr));
        if self.stop_on_datagram {
            if let Some(transport) = &self.transport {
                drop(transport.stop_listening());
            }
        }
        if self.bad {
            panic!("Application code is very buggy!");
        }
    }

    fn datagram_truncated(&mut self, data: &[u8], size: usize, addr: SocketAddr) {
        self.truncated.push((data.to_vec(), size, addr));
    }

    fn connection_refused(&mut self) {
        self.refused += 1;
    }
}

/// A port number on 127.0.0.1 nobody listens on (bound, then closed).
pub(crate) fn unused_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}
