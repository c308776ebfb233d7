//! Twisted's `twisted/internet/test/test_udp.py`: `UDPPortTestsMixin` and
//! `DatagramTransportTestsMixin` (the log-message cases are in
//! `testing/tests/udp_logs.rs`, where logs can be captured).

use std::cell::{Cell, RefCell};
use std::net::{Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::UdpError;
use torsion_reactor::{
    DatagramProtocol, Reactor, ReactorCore, ReactorTimeExt, ReactorUdp, UdpTransportRef,
    DEFAULT_MAX_PACKET_SIZE,
};

use crate::util::{run_until, Server};

fn listen_on(reactor: &Reactor, server: &Rc<RefCell<Server>>, interface: &str) -> UdpTransportRef {
    reactor
        .listen_udp(0, server.clone(), interface, DEFAULT_MAX_PACKET_SIZE)
        .unwrap()
}

/// `stop_protocol` is called asynchronously (ie, not re-entrantly) when
/// `stop_listening` is used to stop the datagram transport.
#[test]
fn stop_protocol_scheduling() {
    #[derive(Default)]
    struct Disconnecting {
        transport: Option<UdpTransportRef>,
        started: bool,
        stopped: bool,
        in_start_protocol: bool,
        stopped_in_start: bool,
        reactor: Option<Reactor>,
    }
    impl DatagramProtocol for Disconnecting {
        fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
            self.transport = transport;
        }
        fn start_protocol(&mut self) {
            self.started = true;
            self.in_start_protocol = true;
            drop(self.transport.as_ref().unwrap().stop_listening());
            self.in_start_protocol = false;
        }
        fn stop_protocol(&mut self) {
            self.stopped = true;
            self.stopped_in_start = self.in_start_protocol;
            self.reactor.as_ref().unwrap().stop().unwrap();
        }
        fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    }
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let protocol = Rc::new(RefCell::new(Disconnecting {
        reactor: Some(reactor.clone()),
        ..Disconnecting::default()
    }));
    let p = protocol.clone();
    let r = reactor.clone();
    reactor.call_when_running(Box::new(move || {
        r.listen_udp(0, p, "127.0.0.1", 512).unwrap();
    }));
    // Bounded: if stop_protocol never ran, this stops the reactor and
    // the asserts below fail instead of the test hanging.
    let guard = reactor.clone();
    drop(reactor.call_later(Duration::from_secs(10), move || {
        let _ = guard.stop();
    }));
    reactor.run().unwrap();
    let protocol = protocol.borrow();
    assert!(protocol.started);
    assert!(protocol.stopped);
    assert!(!protocol.stopped_in_start);
}

/// `host()` gives the IPv4 address the port is listening on as well as the
/// port number.
#[test]
fn get_host() {
    let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let number = free.local_addr().unwrap().port();
    drop(free);
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_udp(number, Server::shared(), "127.0.0.1", 512)
        .unwrap();
    assert_eq!(port.host(), SocketAddr::from(([127, 0, 0, 1], number)));
}

/// `host()` returns an IPv6 address when listening on an IPv6 interface.
#[test]
fn get_host_ipv6() {
    let reactor = Reactor::new().unwrap();
    let port = listen_on(&reactor, &Server::shared(), "::1");
    assert_eq!(port.host().ip(), Ipv6Addr::LOCALHOST);
}

/// An `InvalidAddressError` is raised when trying to listen on an address
/// that isn't a valid IPv4 or IPv6 address.
#[test]
fn invalid_interface() {
    let reactor = Reactor::new().unwrap();
    match reactor.listen_udp(0, Server::shared(), "example.com", 512) {
        Err(UdpError::InvalidAddress { address, .. }) => assert_eq!(address, "example.com"),
        other => panic!("expected InvalidAddress, got {other:?}"),
    }
}

/// Write a sequence of byte strings to a `DatagramProtocol`: it arrives as
/// one datagram.
#[test]
fn write_sequence() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let port = listen_on(&reactor, &server, "127.0.0.1");
    let parts: [&[u8]; 4] = [b"some", b"bytes", b"to", b"write"];
    port.write_sequence(&parts, Some(port.host())).unwrap();
    run_until(&reactor, "the datagram", || {
        !server.borrow().packets.is_empty()
    });
    assert_eq!(server.borrow().packets[0].0, b"somebytestowrite".to_vec());
}

/// `str()` (here: `Debug`) on the listening port object includes the port
/// number; so does Twisted's `repr()`.
#[test]
fn str_and_repr() {
    let reactor = Reactor::new().unwrap();
    let port = listen_on(&reactor, &Server::shared(), "127.0.0.1");
    let number = port.host().port().to_string();
    assert!(format!("{port:?}").contains(&number));
}

/// Writing to an IPv6 UDP socket on the loopback interface succeeds.
#[test]
fn write_to_ipv6_interface() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let server_port = listen_on(&reactor, &server, "::1");
    let client_port = listen_on(&reactor, &Server::shared(), "::1");
    client_port
        .write(b"spam", Some(server_port.host()))
        .unwrap();
    run_until(&reactor, "spam", || !server.borrow().packets.is_empty());
    assert_eq!(
        server.borrow().packets[0],
        (b"spam".to_vec(), client_port.host())
    );
}

/// An IPv6 address can be passed as the `interface` argument to
/// `listen_udp`. The resulting port accepts IPv6 datagrams, connected.
#[test]
fn connected_write_to_ipv6_interface() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let server_port = listen_on(&reactor, &server, "::1");
    let client_port = listen_on(&reactor, &Server::shared(), "::1");
    client_port.connect(server_port.host()).unwrap();
    client_port.write(b"spam", None).unwrap();
    run_until(&reactor, "spam", || !server.borrow().packets.is_empty());
    assert_eq!(
        server.borrow().packets[0],
        (b"spam".to_vec(), client_port.host())
    );
}

/// Writing to an IPv6 address on an IPv4 socket will raise an
/// `InvalidAddressError`.
#[test]
fn writing_to_ipv6_on_ipv4_raises_invalid_address_error() {
    let reactor = Reactor::new().unwrap();
    let port = listen_on(&reactor, &Server::shared(), "127.0.0.1");
    let to: SocketAddr = "[::1]:1".parse().unwrap();
    assert!(matches!(
        port.write(b"spam", Some(to)),
        Err(UdpError::InvalidAddress { .. })
    ));
}

/// Writing to an IPv4 address on an IPv6 socket will raise an
/// `InvalidAddressError`.
#[test]
fn writing_to_ipv4_on_ipv6_raises_invalid_address_error() {
    let reactor = Reactor::new().unwrap();
    let port = listen_on(&reactor, &Server::shared(), "::1");
    let to: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert!(matches!(
        port.write(b"spam", Some(to)),
        Err(UdpError::InvalidAddress { .. })
    ));
}

/// `set_broadcast_allowed` sets broadcast to be allowed on the socket.
#[test]
fn allow_broadcast() {
    let reactor = Reactor::new().unwrap();
    let port = listen_on(&reactor, &Server::shared(), "127.0.0.1");
    assert!(!port.broadcast_allowed().unwrap());
    port.set_broadcast_allowed(true).unwrap();
    assert!(port.broadcast_allowed().unwrap());
}

/// Many datagrams are echoed byte for byte by a protocol that writes each
/// back to its sender (what `examples/udp_echo.rs` does), with a window of
/// datagrams in flight so the socket buffers never overflow.
#[test]
fn echo_of_many_datagrams() {
    struct Echo(Option<UdpTransportRef>);
    impl DatagramProtocol for Echo {
        fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
            self.0 = transport;
        }
        fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
            self.0.as_ref().unwrap().write(data, Some(addr)).unwrap();
        }
    }
    const COUNT: usize = 10_000;
    const WINDOW: usize = 32;
    let reactor = Reactor::new().unwrap();
    let echo = reactor
        .listen_udp(0, Rc::new(RefCell::new(Echo(None))), "127.0.0.1", 2048)
        .unwrap();
    let client = Server::shared();
    let client_port = listen_on(&reactor, &client, "127.0.0.1");
    client_port.connect(echo.host()).unwrap();
    let datagram = |i: usize| -> Vec<u8> {
        let len = 1 + (i * 7919) % 1400;
        (0..len).map(|k| (i.wrapping_mul(31) + k) as u8).collect()
    };
    let sent = Cell::new(0);
    let send_up_to = |limit: usize| {
        while sent.get() < limit.min(COUNT) {
            client_port.write(&datagram(sent.get()), None).unwrap();
            sent.set(sent.get() + 1);
        }
    };
    send_up_to(WINDOW);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.borrow().packets.len() < COUNT {
        assert!(std::time::Instant::now() < deadline, "echo timed out");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
        let received = client.borrow().packets.len();
        send_up_to(received + WINDOW);
    }
    for (i, (data, from)) in client.borrow().packets.iter().enumerate() {
        assert_eq!(*from, echo.host());
        assert_eq!(*data, datagram(i), "datagram {i} differs");
    }
}
