//! Twisted's `MulticastTests` and `MulticastTestsIPv6`
//! (`twisted/test/test_udp.py`), kept on the loopback interface.
//!
//! Twisted binds `0.0.0.0` and lets the routing table pick the interface;
//! here every port binds the group's address itself (so it receives the
//! group's datagrams and nothing else), joins on the loopback interface,
//! and sends through it (`set_outgoing_interface`), so no datagram can
//! leave the host. As Twisted's `checkMulticastAvailability`, each test
//! first checks that the host lets a socket join a group on loopback, and
//! says so on stderr if not (Rust's test harness has no "skipped").

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use torsion_reactor::error::UdpError;
use torsion_reactor::{
    MulticastInterface, MulticastTransport, Reactor, ReactorUdp, DEFAULT_MAX_PACKET_SIZE,
};

use crate::util::{run_until, Server};

/// One address family's parameters (Twisted's class attributes).
struct Family {
    group: IpAddr,
    loopback: MulticastInterface,
    default_interface: MulticastInterface,
    wrong_family_interface: MulticastInterface,
    invalid_group: IpAddr,
}

const LO_INDEX_UNKNOWN: u32 = u32::MAX;

fn ipv4() -> Family {
    Family {
        group: IpAddr::V4(Ipv4Addr::new(225, 0, 0, 250)),
        loopback: MulticastInterface::Address(Ipv4Addr::LOCALHOST),
        default_interface: MulticastInterface::Address(Ipv4Addr::UNSPECIFIED),
        wrong_family_interface: MulticastInterface::Index(0),
        invalid_group: IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// The loopback interface's index, from `/sys` (no libc call needed).
fn loopback_index() -> u32 {
    std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(LO_INDEX_UNKNOWN)
}

fn ipv6() -> Family {
    Family {
        group: IpAddr::V6("ff03::1".parse().unwrap()),
        loopback: MulticastInterface::Index(loopback_index()),
        default_interface: MulticastInterface::Index(0),
        wrong_family_interface: MulticastInterface::Address(Ipv4Addr::LOCALHOST),
        invalid_group: IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Twisted's `checkMulticastAvailability`: can a socket join `family`'s
/// group on loopback here?
fn available(family: &Family) -> bool {
    let reactor = Reactor::new().unwrap();
    let Ok(port) =
        reactor.listen_multicast(0, Server::shared(), &family.group.to_string(), 512, false)
    else {
        eprintln!("SKIPPED: cannot bind multicast group {} here", family.group);
        return false;
    };
    if family.loopback == MulticastInterface::Index(LO_INDEX_UNKNOWN) {
        eprintln!("SKIPPED: no loopback interface index for IPv6 multicast");
        return false;
    }
    match port.join_group(family.group, Some(family.loopback)) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("SKIPPED: the local stack does not allow multicast on loopback: {e}");
            false
        }
    }
}

/// Twisted's `setUp`: a server and a client port, the client connected to
/// the server; both send through the loopback interface.
struct Fixture {
    reactor: Reactor,
    server: Rc<RefCell<Server>>,
    server_port: Rc<dyn MulticastTransport>,
    client_port: Rc<dyn MulticastTransport>,
}

fn listen(
    reactor: &Reactor,
    family: &Family,
    protocol: &Rc<RefCell<Server>>,
    port: u16,
    listen_multiple: bool,
) -> Rc<dyn MulticastTransport> {
    let port = reactor
        .listen_multicast(
            port,
            protocol.clone(),
            &family.group.to_string(),
            DEFAULT_MAX_PACKET_SIZE,
            listen_multiple,
        )
        .unwrap();
    port.set_outgoing_interface(family.loopback).unwrap();
    port
}

fn set_up(family: &Family) -> Option<Fixture> {
    if !available(family) {
        return None;
    }
    let reactor = Reactor::new().unwrap();
    let server = Server::shared();
    let server_port = listen(&reactor, family, &server, 0, false);
    let client_port = listen(&reactor, family, &Server::shared(), 0, false);
    let loopback: IpAddr = match family.group {
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
    };
    client_port
        .connect(SocketAddr::new(loopback, server_port.host().port()))
        .unwrap();
    Some(Fixture {
        reactor,
        server,
        server_port,
        client_port,
    })
}

/// Sends `data` to the group, or says why it cannot here (IPv6 multicast
/// needs a route for the group, which a sandbox's loopback may lack).
fn send_to_group(port: &dyn MulticastTransport, data: &[u8], to: SocketAddr) -> bool {
    match port.write(data, Some(to)) {
        Ok(()) => true,
        Err(UdpError::Io(e)) if e.raw_os_error() == Some(101) => {
            eprintln!("SKIPPED: no route to multicast group {to} here (ENETUNREACH)");
            false
        }
        Err(e) => panic!("multicast write to {to} failed: {e}"),
    }
}

/// The multicast time-to-live starts at 1 and can be set (IPv6: the hop
/// limit; Twisted skips IPv6 here).
fn ttl(family: Family) {
    let Some(f) = set_up(&family) else { return };
    for port in [&f.client_port, &f.server_port] {
        assert_eq!(port.ttl().unwrap(), 1);
        port.set_ttl(2).unwrap();
        assert_eq!(port.ttl().unwrap(), 2);
    }
}

/// After loopback mode has been set, multicast packets are delivered to
/// their sender.
fn loopback(family: Family) {
    let Some(f) = set_up(&family) else { return };
    assert!(f.server_port.loopback_mode().unwrap());
    let to = SocketAddr::new(family.group, f.server_port.host().port());
    f.server_port
        .join_group(family.group, Some(family.loopback))
        .unwrap();
    if !send_to_group(&*f.server_port, b"hello", to) {
        return;
    }
    run_until(&f.reactor, "the looped-back datagram", || {
        f.server.borrow().packets.len() == 1
    });
    f.server_port.set_loopback_mode(false).unwrap();
    assert!(!f.server_port.loopback_mode().unwrap());
    // Twisted then checks that a second datagram does not come back. Sent
    // through the loopback interface (the only one these tests may use),
    // it always does: `lo` delivers what it carries whatever the socket's
    // loop flag, which governs copies of datagrams sent on other
    // interfaces. So only the mode's round trip is checked here.
}

/// A sensible error will be reported when using the wrong address family
/// for the `interface` argument to `join_group`.
fn wrong_family_interface_join(family: Family) {
    let Some(f) = set_up(&family) else { return };
    let joined = f
        .server_port
        .join_group(family.group, Some(family.wrong_family_interface));
    assert!(
        joined.is_err(),
        "joined on an interface of the other family"
    );
}

/// `outgoing_interface` and `set_outgoing_interface`.
fn interface(family: Family) {
    let Some(f) = set_up(&family) else { return };
    let fresh = listen(&f.reactor, &family, &Server::shared(), 0, false);
    // `listen` set loopback already; a port made without it has the default.
    let plain = f
        .reactor
        .listen_multicast(0, Server::shared(), &family.group.to_string(), 512, false)
        .unwrap();
    assert_eq!(
        plain.outgoing_interface().unwrap(),
        family.default_interface
    );
    plain.set_outgoing_interface(family.loopback).unwrap();
    assert_eq!(plain.outgoing_interface().unwrap(), family.loopback);
    assert_eq!(fresh.outgoing_interface().unwrap(), family.loopback);
    assert_eq!(f.client_port.outgoing_interface().unwrap(), family.loopback);
}

/// A multicast group can be joined and left.
fn join_leave(family: Family) {
    let Some(f) = set_up(&family) else { return };
    for port in [&f.client_port, &f.server_port] {
        port.join_group(family.group, Some(family.loopback))
            .unwrap();
        port.leave_group(family.group, Some(family.loopback))
            .unwrap();
    }
}

/// An attempt to join an address which is not a multicast address fails
/// with `MulticastJoinError`.
fn join_failure(family: Family) {
    let Some(f) = set_up(&family) else { return };
    let error = f
        .client_port
        .join_group(family.invalid_group, Some(family.loopback))
        .unwrap_err();
    assert_eq!(error.group, family.invalid_group);
}

/// A multicast group can be joined and messages sent to and received from
/// it.
fn multicast(family: Family) {
    let Some(f) = set_up(&family) else { return };
    let c = Server::shared();
    let p = listen(&f.reactor, &family, &c, 0, false);
    f.server_port
        .join_group(family.group, Some(family.loopback))
        .unwrap();
    let to = SocketAddr::new(family.group, f.server_port.host().port());
    if !send_to_group(&*p, b"hello world", to) {
        return;
    }
    run_until(&f.reactor, "the multicast datagram", || {
        !f.server.borrow().packets.is_empty()
    });
    assert_eq!(f.server.borrow().packets[0].0, b"hello world".to_vec());
    drop(p.stop_listening());
}

/// Multiple sockets can listen on the same multicast port and both
/// receive multicast messages directed to that address.
fn multi_listen(family: Family) {
    let Some(f) = set_up(&family) else { return };
    let first = Server::shared();
    let first_port = listen(&f.reactor, &family, &first, 0, true);
    let number = first_port.host().port();
    let second = Server::shared();
    let second_port = listen(&f.reactor, &family, &second, number, true);
    for port in [&f.server_port, &first_port, &second_port] {
        port.join_group(family.group, Some(family.loopback))
            .unwrap();
    }
    if !send_to_group(
        &*first_port,
        b"hello world",
        SocketAddr::new(family.group, number),
    ) {
        return;
    }
    run_until(&f.reactor, "both listeners", || {
        !first.borrow().packets.is_empty() && !second.borrow().packets.is_empty()
    });
    assert_eq!(first.borrow().packets[0].0, b"hello world".to_vec());
    assert_eq!(second.borrow().packets[0].0, b"hello world".to_vec());
}

macro_rules! both_families {
    ($($name:ident),* $(,)?) => {
        /// IPv4 (Twisted's `MulticastTests`).
        mod ipv4 {
            $(
                #[test]
                fn $name() {
                    super::$name(super::ipv4());
                }
            )*
        }
        /// IPv6 (Twisted's `MulticastTestsIPv6`).
        mod ipv6 {
            $(
                #[test]
                fn $name() {
                    super::$name(super::ipv6());
                }
            )*
        }
    };
}

both_families!(
    ttl,
    loopback,
    wrong_family_interface_join,
    interface,
    join_leave,
    join_failure,
    multicast,
    multi_listen,
);
