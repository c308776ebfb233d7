//! Ports of Twisted's `twisted/test/test_tcp.py`: `LoopbackTests.testFailing`
//! and `test_connectionRefusedErrorNumber`, `CannotBindTests`,
//! `LocalRemoteAddressTests`, `AddressTests`,
//! `ProperlyCloseFilesTests.test_properlyCloseFiles` and
//! `ListeningTests.testNumberedInterface`, on the mio reactor over
//! 127.0.0.1 (port 0; every wait bounded).
//!
//! Skipped:
//! - `LoopbackTests.test_connectByService` and `test_connectByServiceFail`:
//!   `connect_tcp` takes a `u16` port, so a service name (`"http"`,
//!   `"thisbetternotexist"`) cannot be passed and Torsion never looks one
//!   up (no `getservbyname`, no `ServiceNameUnknownError`).
//! - `LogTests.test_logstrClientSetup`: Torsion's transports have no
//!   `logstr` (`"Uninitialized"`, then `"AccumulatingProtocol,client"`).
//!   `Protocol::log_prefix` is the protocol's `logPrefix`, a fixed name,
//!   not a per-transport string set once the client connects.

mod tcp_twisted_addr_util;
mod tcp_twisted_conn_util;

use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use tcp_twisted_addr_util::Remembering;
use tcp_twisted_conn_util::{
    connect, fired_ok, listen, loopback, port_number, run_until, MyFactory,
};
use torsion_reactor::error::{ConnectError, ConnectionDone, ConnectionLost, ConnectionRefused};
use torsion_reactor::{
    Address, Failure, ListeningPort, Reactor, ReactorTcp, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT,
};

/// A port on 127.0.0.1 nobody listens on (bound at port 0, then closed).
fn closed_port() -> u16 {
    tcp_twisted_addr_util::free_port("127.0.0.1").port()
}

/// Waits for a client's attempt to end: connected, or failed.
fn wait_attempt(reactor: &Reactor, client: &MyFactory) {
    run_until(reactor, "the attempt's end", || {
        client.failed.get() > 0 || client.made()
    });
}

/// The OS error number behind a connection failure.
fn os_error(failure: &Failure) -> Option<i32> {
    let refused = failure.downcast_ref::<ConnectionRefused>()?;
    refused.source.as_ref()?.raw_os_error()
}

/// Ports `LoopbackTests.testFailing`: connecting (timeout 5 s) to a port
/// nobody listens on calls the factory's `client_connection_failed` with
/// `ConnectionRefused`. Twisted assumes nobody listens on port 69; this
/// port takes a port bound at 0 and closed instead.
#[test]
fn failing() {
    let reactor = Reactor::new().unwrap();
    let client = Rc::new(MyFactory::default());
    let timeout = Duration::from_secs(5);
    reactor.connect_tcp("127.0.0.1", closed_port(), client.clone(), timeout, None);
    wait_attempt(&reactor, &client);
    let failure = client.failure.borrow().clone().expect("the attempt failed");
    assert!(failure.check::<ConnectionRefused>(), "{failure}");
}

/// Ports `LoopbackTests.test_connectionRefusedErrorNumber`: a refused
/// connection's `ConnectionRefused` carries the OS error `ECONNREFUSED`,
/// not some other socket error. As Twisted: ten ports bound at port 0 are
/// closed one at a time and connected to; one that connects (someone took
/// the port) is dropped and the next is tried.
#[test]
fn connection_refused_error_number() {
    let reactor = Reactor::new().unwrap();
    let mut sockets: Vec<_> = (0..10)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let failure = loop {
        let socket = sockets
            .pop()
            .expect("could not fail to connect - could not test errno for that case");
        let port = socket.local_addr().unwrap().port();
        drop(socket);
        let client = Rc::new(MyFactory::default());
        connect(&reactor, port, &client);
        wait_attempt(&reactor, &client);
        if let Some(failure) = client.failure.borrow().clone() {
            break failure;
        }
        client.last().unwrap().transport().lose_connection();
    };
    drop(sockets);
    assert!(failure.check::<ConnectionRefused>(), "{failure}");
    assert_eq!(
        os_error(&failure),
        Some(rustix::io::Errno::CONNREFUSED.raw_os_error()),
        "{failure:?}"
    );
}

/// Ports `CannotBindTests.test_cannotBind`: a port listening on
/// 127.0.0.1 reports that address (TCP, `127.0.0.1`, its number), and
/// listening again on that address fails with `CannotListenError`.
#[test]
fn cannot_bind() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    let n = port_number(&port);
    assert_eq!(port.host(), loopback(n));
    let again = reactor.listen_tcp(n, server.clone(), DEFAULT_BACKLOG, "127.0.0.1");
    let error = again.expect_err("a second listen on the port must fail");
    assert_eq!((error.interface.as_str(), error.port), ("127.0.0.1", n));
    assert_eq!(
        error.source.kind(),
        std::io::ErrorKind::AddrInUse,
        "{error}"
    );
    assert!(fired_ok(&port.stop_listening()));
}

/// Ports `CannotBindTests.test_clientBind`: a client bound to 127.0.0.1
/// port 0 connects; a second client bound to the first one's local address
/// (in use) fails through `client_connection_failed` and its factory is
/// stopped; the first client's factory is stopped once its connection is
/// closed.
///
/// Twisted's reason is `ConnectBindError`, a subclass of `ConnectError`.
/// Torsion has no distinct type for it: the failure is checked to be a
/// `ConnectError` whose OS error is "address in use", what Twisted's
/// `ConnectBindError` carries.
#[test]
fn client_bind() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    assert_eq!(server.started.get(), 1);
    let n = port_number(&port);
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let (cf1, cf2) = (Rc::new(MyFactory::default()), Rc::new(MyFactory::default()));
    let timeout = DEFAULT_CONNECT_TIMEOUT;
    reactor.connect_tcp("127.0.0.1", n, cf1.clone(), timeout, Some(any));
    run_until(&reactor, "the first client", || cf1.made());
    assert_eq!(cf1.last().unwrap().made.get(), 1);
    let Address::Tcp(bound) = cf1.last().unwrap().transport().host() else {
        panic!("a TCP client has a TCP address");
    };
    reactor.connect_tcp("127.0.0.1", n, cf2.clone(), timeout, Some(bound));
    run_until(&reactor, "the second client's failure and stop", || {
        cf2.failed.get() > 0 && cf2.stopped.get() > 0
    });
    assert_eq!((cf2.failed.get(), cf2.stopped.get()), (1, 1));
    assert!(!cf2.made(), "the second client connected");
    let reason = cf2.failure.borrow().clone().unwrap();
    let bind_error = reason.downcast_ref::<ConnectError>();
    let kind = bind_error.and_then(|e| e.source.as_ref()).map(|e| e.kind());
    assert_eq!(kind, Some(std::io::ErrorKind::AddrInUse), "{reason:?}");
    assert_eq!(cf1.stopped.get(), 0);
    cf1.last().unwrap().transport().lose_connection();
    run_until(&reactor, "the first client's stop", || {
        cf1.stopped.get() > 0
    });
    assert_eq!(cf1.stopped.get(), 1);
    assert!(fired_ok(&port.stop_listening()));
}

/// Ports `LocalRemoteAddressTests.test_hostAddress`: the listening port's
/// `host()` is the address the client factory's `build_protocol` got (its
/// only one) and its connection's `peer()`.
#[test]
fn host_address() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    let client = Rc::new(MyFactory::default());
    let remembering = Remembering::new(&client);
    let connector = connect(&reactor, port_number(&port), &remembering);
    run_until(&reactor, "the client's connection", || client.made());
    assert_eq!(remembering.addresses(), [port.host()]);
    assert_eq!(port.host(), client.last().unwrap().transport().peer());
    connector.disconnect();
    run_until(&reactor, "the server's connection lost", || {
        server.last().is_some_and(|p| p.closed.get() == 1)
    });
    assert!(fired_ok(&port.stop_listening()));
}

/// `AddressTests.setUp`: a port on 127.0.0.1 and a client connected to
/// it, both factories wrapped in `Remembering`; returns once both
/// protocols are connected.
struct AddressPair {
    reactor: Reactor,
    server: Rc<MyFactory>,
    client: Rc<MyFactory>,
    client_wrapper: Rc<Remembering<MyFactory>>,
    port: Rc<dyn ListeningPort>,
    connector: Rc<dyn torsion_reactor::Connector>,
}

impl AddressPair {
    fn set_up() -> AddressPair {
        let reactor = Reactor::new().unwrap();
        let (server, client) = (Rc::new(MyFactory::default()), Rc::new(MyFactory::default()));
        let server_wrapper = Remembering::new(&server);
        let client_wrapper = Remembering::new(&client);
        let port = listen(&reactor, &server_wrapper);
        let connector = connect(&reactor, port_number(&port), &client_wrapper);
        run_until(&reactor, "both connections", || {
            server.made() && client.made()
        });
        AddressPair {
            reactor,
            server,
            client,
            client_wrapper,
            port,
            connector,
        }
    }

    /// `tearDown`: the client disconnects; both connections are lost and
    /// the port stops.
    fn tear_down(self) {
        self.connector.disconnect();
        let (server, client) = (self.server.last().unwrap(), self.client.last().unwrap());
        run_until(&self.reactor, "both connections lost", || {
            server.closed.get() == 1 && client.closed.get() == 1
        });
        assert!(fired_ok(&self.port.stop_listening()));
    }
}

/// Ports `AddressTests.test_buildProtocolClient`: the client factory's
/// `build_protocol` gets (once) the server's address: what the server
/// connection's `host()` and the client connection's `peer()` report.
#[test]
fn build_protocol_client() {
    let pair = AddressPair::set_up();
    let server_host = pair.server.last().unwrap().transport().host();
    let client_peer = pair.client.last().unwrap().transport().peer();
    assert_eq!(pair.client_wrapper.addresses(), [server_host]);
    assert_eq!(pair.client_wrapper.addresses(), [client_peer]);
    pair.tear_down();
}

/// The inode of the TCP socket from `local` to `remote` in
/// `/proc/net/tcp`, while it is connected.
fn socket_inode(local: SocketAddr, remote: SocketAddr) -> Option<String> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(a) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(a.ip().octets()),
            a.port()
        ),
        SocketAddr::V6(_) => unreachable!("an IPv4 test"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| fields[9].to_string())
    })
}

/// Whether a descriptor of this process refers to the socket `inode`.
fn holds_socket(inode: &str) -> bool {
    let target = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .any(|link| link.as_os_str() == target.as_str())
}

/// Whether a connection ended the way a connection closes (Twisted's
/// `ConnectionClosed`: `ConnectionDone` or `ConnectionLost`).
fn closed_normally(reason: &Failure) -> bool {
    reason.check::<ConnectionDone>() || reason.check::<ConnectionLost>()
}

/// Ports `ProperlyCloseFilesTests.test_properlyCloseFiles`: once a client
/// wrote and closed, and both sides heard `connection_lost` (a closed
/// connection, `ConnectionDone` or `ConnectionLost`), the client's socket
/// is closed.
///
/// Twisted keeps the client's socket handle and checks that `send` on it
/// fails with `EBADF`; Torsion does not hand out descriptors, so this port
/// finds the client socket's inode in `/proc/net/tcp` while connected (and
/// that this process holds it) and checks that no descriptor of this
/// process refers to it any more.
#[test]
fn properly_close_files() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    let client = Rc::new(MyFactory::default());
    connect(&reactor, port_number(&port), &client);
    run_until(&reactor, "both connections", || {
        server.made() && client.made()
    });
    let transport = client.last().unwrap().transport();
    let (Address::Tcp(local), Address::Tcp(remote)) = (transport.host(), transport.peer()) else {
        panic!("TCP addresses");
    };
    let inode = socket_inode(local, remote).expect("the client socket in /proc/net/tcp");
    assert!(holds_socket(&inode), "the client socket is not ours");
    transport.write(b"some bytes to make sure the connection is set up");
    transport.lose_connection();
    let (server_side, client_side) = (server.last().unwrap(), client.last().unwrap());
    run_until(&reactor, "both connections lost", || {
        server_side.closed.get() == 1 && client_side.closed.get() == 1
    });
    let (client_reason, server_reason) = (client_side.reason(), server_side.reason());
    assert!(closed_normally(&client_reason), "client: {client_reason}");
    assert!(closed_normally(&server_reason), "server: {server_reason}");
    assert!(!holds_socket(&inode), "the client's socket is still open");
    assert!(fired_ok(&port.stop_listening()));
}

/// Ports `ListeningTests.testNumberedInterface`: listening on the numbered
/// interface `127.0.0.1` only works (the port is bound there) and
/// `stop_listening` succeeds.
#[test]
fn numbered_interface() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    let Address::Tcp(host) = port.host() else {
        panic!("a TCP port has a TCP address");
    };
    assert_eq!(host.ip(), Ipv4Addr::LOCALHOST);
    assert!(fired_ok(&port.stop_listening()));
}
