//! Twisted's `twisted/test/test_udp.py`: `UDPTests` and
//! `ReactorShutdownInteractionTests`.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use torsion_reactor::error::UdpError;
use torsion_reactor::{DatagramProtocol, Reactor, ReactorUdp, DEFAULT_MAX_PACKET_SIZE};

use crate::util::{run_until, spin, unused_port, Server};

fn listen(reactor: &Reactor, server: &Rc<RefCell<Server>>) -> torsion_reactor::UdpTransportRef {
    reactor
        .listen_udp(0, server.clone(), "127.0.0.1", DEFAULT_MAX_PACKET_SIZE)
        .unwrap()
}

/// The `type` of the host address of a listening `DatagramProtocol`'s
/// transport is `"UDP"`.
///
/// Here the type of `host()` is a `SocketAddr` of the interface asked for,
/// with the real port.
#[test]
fn old_address() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let port = listen(&reactor, &server);
    let host = port.host();
    assert_eq!(host.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(host.port(), 0);
    drop(port.stop_listening());
}

/// The `DatagramProtocol`'s `start_protocol` and `stop_protocol` methods
/// are called when its transports starts and stops listening, respectively.
#[test]
fn start_stop() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let port = listen(&reactor, &server);
    assert_eq!((server.borrow().started, server.borrow().stopped), (1, 0));
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.has_result());
    assert_eq!(server.borrow().stopped, 1);
    assert!(server.borrow().transport.is_none());
    assert!(!port.is_listening());
}

/// Re-listening with the same `DatagramProtocol` re-invokes the
/// `start_protocol` callback.
#[test]
fn rebind() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let port = listen(&reactor, &server);
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.has_result());
    let port = listen(&reactor, &server);
    assert_eq!(server.borrow().started, 2);
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.has_result());
    assert_eq!(server.borrow().stopped, 2);
}

/// A `CannotListenError` is raised when attempting to bind a second
/// protocol instance to an already bound port.
#[test]
fn bind_error() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let port = listen(&reactor, &server);
    let transport = server.borrow().transport.clone().unwrap();
    assert_eq!(port.host(), transport.host());
    let taken = reactor.listen_udp(
        port.host().port(),
        Server::shared(),
        "127.0.0.1",
        DEFAULT_MAX_PACKET_SIZE,
    );
    match taken {
        Err(UdpError::CannotListen(e)) => {
            assert_eq!(e.port, port.host().port());
            assert_eq!(e.interface, "127.0.0.1");
        }
        other => panic!("expected CannotListen, got {other:?}"),
    }
    drop(port.stop_listening());
}

/// Datagrams can be sent with the transport's `write` method and received
/// via the `datagram_received` callback method.
#[test]
fn send_packets() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let server_port = listen(&reactor, &server);
    let client = Server::shared();
    let client_port = listen(&reactor, &client);
    let (c_addr, s_addr) = (client_port.host(), server_port.host());
    client_port.connect(s_addr).unwrap();

    server_port.write(b"hello", Some(c_addr)).unwrap();
    run_until(&reactor, "hello", || client.borrow().packets.len() == 1);
    // Connected: no address, None, or the connected address itself.
    client_port.write(b"a", None).unwrap();
    run_until(&reactor, "a", || server.borrow().packets.len() == 1);
    client_port.write(b"b", None).unwrap();
    run_until(&reactor, "b", || server.borrow().packets.len() == 2);
    client_port.write(b"c", Some(s_addr)).unwrap();
    run_until(&reactor, "c", || server.borrow().packets.len() == 3);

    assert_eq!(client.borrow().packets, vec![(b"hello".to_vec(), s_addr)]);
    assert_eq!(
        server.borrow().packets,
        vec![
            (b"a".to_vec(), c_addr),
            (b"b".to_vec(), c_addr),
            (b"c".to_vec(), c_addr)
        ]
    );
    drop(server_port.stop_listening());
    drop(client_port.stop_listening());
}

/// A `ConnectionRefusedError` is raised when a connection attempt is
/// actively refused by the other end.
///
/// Here: a connected port's protocol hears `connection_refused` once the
/// ICMP "port unreachable" for a datagram to a closed loopback port is
/// back. (Twisted assumes nobody listens on port 80; this uses a port just
/// bound and closed.)
#[test]
fn connection_refused() {
    let reactor = Reactor::new().unwrap();
    let client = Server::shared();
    let port = listen(&reactor, &client);
    let server = Server::shared();
    let port2 = listen(&reactor, &server);
    let nobody = SocketAddr::from((Ipv4Addr::LOCALHOST, unused_port()));
    port.connect(nobody).unwrap();
    for i in 0..10 {
        port.write(i.to_string().as_bytes(), None).unwrap();
        port2.write(i.to_string().as_bytes(), Some(nobody)).unwrap();
        if client.borrow().refused > 0 {
            break;
        }
        spin(&reactor, 1);
    }
    run_until(&reactor, "connection_refused", || {
        client.borrow().refused > 0
    });
    // The unconnected port is not told (Twisted ignores ECONNREFUSED there).
    assert_eq!(server.borrow().refused, 0);
    drop(port.stop_listening());
    drop(port2.stop_listening());
}

/// When a server fails to successfully read a packet the server should
/// still be able to process future packets.
#[test]
fn server_read_failure() {
    let reactor = Reactor::new().unwrap();
    let client = Server::shared();
    let client_port = listen(&reactor, &client);
    let server = Server::shared();
    let server_port = listen(&reactor, &server);
    let nobody = SocketAddr::from((Ipv4Addr::LOCALHOST, unused_port()));
    server_port
        .write(b"write to port no one is listening to", Some(nobody))
        .unwrap();
    client_port
        .write(b"Sending test packet to server", Some(server_port.host()))
        .unwrap();
    run_until(&reactor, "the server's datagram", || {
        !server.borrow().packets.is_empty()
    });
    assert_eq!(
        server.borrow().packets[0].0,
        b"Sending test packet to server".to_vec()
    );
    drop(client_port.stop_listening());
    drop(server_port.stop_listening());
}

/// A call to a transport's `connect` method fails when the transport is
/// already connected (Twisted: `RuntimeError`), or with an
/// `InvalidAddressError` for an address it cannot use.
///
/// Twisted's other half, `connect("localhost", 80)`, cannot be written:
/// `connect` takes a `SocketAddr`, so a host name does not type-check. The
/// address of the other family takes its place.
#[test]
fn bad_connect() {
    let reactor = Reactor::new().unwrap();
    let client = Server::shared();
    let port = listen(&reactor, &client);
    let v6: SocketAddr = "[::1]:80".parse().unwrap();
    assert!(matches!(
        port.connect(v6),
        Err(UdpError::InvalidAddress { .. })
    ));
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, 80));
    port.connect(target).unwrap();
    match port.connect(target) {
        Err(UdpError::AlreadyConnected { connected }) => assert_eq!(connected, target),
        other => panic!("expected AlreadyConnected, got {other:?}"),
    }
    assert_eq!(port.connected_address(), Some(target));
    drop(port.stop_listening());
}

/// When `datagram_received` raises an exception it is logged but the port
/// is not disconnected.
#[test]
fn datagram_received_error() {
    let reactor = Reactor::new().unwrap();
    let client = Server::shared();
    client.borrow_mut().bad = true;
    let port = listen(&reactor, &client);
    let addr = port.host();
    port.write(b"0", Some(addr)).unwrap();
    run_until(&reactor, "the first datagram", || {
        client.borrow().packets.len() == 1
    });
    assert!(port.is_listening(), "a panic must not close the port");
    port.write(b"1", Some(addr)).unwrap();
    run_until(&reactor, "the second datagram", || {
        client.borrow().packets.len() == 2
    });
    assert!(port.is_listening());
    assert!(client.borrow().transport.is_some());
    drop(port.stop_listening());
}

/// Test reactor shutdown while in a recvfrom() loop: stopping the port from
/// inside `datagram_received` ends the read loop (it must never spin), and
/// the protocol is stopped afterwards, not re-entrantly.
#[test]
fn shutdown_from_datagram_received() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    server.borrow_mut().stop_on_datagram = true;
    let port = listen(&reactor, &server);
    let addr = port.host();
    for _ in 0..4 {
        port.write(&[0; 64], Some(addr)).unwrap();
    }
    run_until(&reactor, "the protocol to stop", || {
        server.borrow().stopped == 1
    });
    // One datagram read, then the loop ended with the socket.
    assert_eq!(server.borrow().packets.len(), 1);
    assert!(!port.is_listening());
    let again = port.stop_listening();
    assert!(again.has_result(), "stopping a stopped port fires at once");
}

/// Twisted silently cuts a datagram longer than `maxPacketSize`; Torsion
/// reports it to `datagram_truncated` with its full size (`MSG_TRUNC`) and
/// never hands the cut bytes to `datagram_received`.
#[test]
fn oversize_datagram_is_reported_not_truncated() {
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let port = reactor
        .listen_udp(0, server.clone(), "127.0.0.1", 100)
        .unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = sender.local_addr().unwrap();
    sender.send_to(&[7; 150], port.host()).unwrap();
    sender.send_to(&[8; 100], port.host()).unwrap();
    run_until(&reactor, "both datagrams", || {
        server.borrow().truncated.len() == 1 && server.borrow().packets.len() == 1
    });
    assert_eq!(server.borrow().truncated[0], (vec![7; 100], 150, from));
    assert_eq!(server.borrow().packets[0], (vec![8; 100], from));
    drop(port.stop_listening());
}

/// A datagram larger than IP allows is refused with `MessageLength`
/// (Twisted's `MessageLengthError`), not sent in part.
#[test]
fn oversize_write_is_message_length_error() {
    let reactor = Reactor::new().unwrap();
    let port = listen(&reactor, &Server::shared());
    let big = vec![0u8; 70_000];
    match port.write(&big, Some(port.host())) {
        Err(UdpError::MessageLength { size }) => assert_eq!(size, 70_000),
        other => panic!("expected MessageLength, got {other:?}"),
    }
    drop(port.stop_listening());
}

/// Writes on a stopped port fail with `NotListening`; an unconnected write
/// without an address with `NotConnected`; a connected write to another
/// address with `WrongDestination` (Twisted asserts in both cases).
#[test]
fn write_misuse_is_a_typed_error() {
    let reactor = Reactor::new().unwrap();
    let port = listen(&reactor, &Server::shared());
    assert!(matches!(
        port.write(b"x", None),
        Err(UdpError::NotConnected)
    ));
    let there = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
    port.connect(there).unwrap();
    let elsewhere = SocketAddr::from((Ipv4Addr::LOCALHOST, 10));
    assert!(matches!(
        port.write(b"x", Some(elsewhere)),
        Err(UdpError::WrongDestination { .. })
    ));
    drop(port.stop_listening());
    assert!(matches!(
        port.write(b"x", Some(there)),
        Err(UdpError::NotListening)
    ));
}

/// One protocol on two ports starts once and stops once when it counts
/// its ports (Twisted's `numPorts`).
#[test]
fn port_counter_starts_and_stops_once() {
    #[derive(Default)]
    struct Counted {
        ports: torsion_reactor::PortCounter,
        starts: usize,
        stops: usize,
    }
    impl DatagramProtocol for Counted {
        fn port_counter(&self) -> Option<&torsion_reactor::PortCounter> {
            Some(&self.ports)
        }
        fn start_protocol(&mut self) {
            self.starts += 1;
        }
        fn stop_protocol(&mut self) {
            self.stops += 1;
        }
        fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
    }
    let reactor = Reactor::new().unwrap();
    let protocol = Rc::new(RefCell::new(Counted::default()));
    let a = reactor
        .listen_udp(0, protocol.clone(), "127.0.0.1", 512)
        .unwrap();
    let b = reactor
        .listen_udp(0, protocol.clone(), "127.0.0.1", 512)
        .unwrap();
    assert_eq!(protocol.borrow().starts, 1);
    let first = a.stop_listening();
    run_until(&reactor, "the first stop", || first.has_result());
    assert_eq!(protocol.borrow().stops, 0);
    let second = b.stop_listening();
    run_until(&reactor, "the second stop", || second.has_result());
    assert_eq!(protocol.borrow().stops, 1);
}

/// Stopping the reactor stops its UDP ports: the socket is closed and the
/// protocol's `stop_protocol` runs before `run` returns (Twisted's
/// `disconnectAll` at shutdown).
#[test]
fn reactor_shutdown_stops_the_port() {
    use std::time::Duration;
    use torsion_reactor::{ReactorCore, ReactorTimeExt};

    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let server = Server::shared();
    let port = listen(&reactor, &server);
    let stopper = reactor.clone();
    drop(reactor.call_later(Duration::from_millis(10), move || {
        stopper.stop().unwrap();
    }));
    reactor.run().unwrap();
    assert_eq!(server.borrow().stopped, 1);
    assert!(!port.is_listening());
}
