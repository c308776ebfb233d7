//! Ports of Twisted's UNIX stream socket tests that do not pass
//! descriptors, on the real mio reactor: from
//! `twisted/internet/test/test_unix.py` (`UNIXTestsBuilder`) and
//! `twisted/test/test_unix.py` (`UnixSocketTests`). The descriptor-passing
//! ones are in `unix_twisted_fds.rs`.
//!
//! Not ported, and why:
//!
//! * `UnixSocketTests.test_pidFile`, `test_socketLocking`,
//!   `test_uncleanServerSocketLocking`, `test_connectToUncleanServer`:
//!   `ReactorUnix::listen_unix` / `connect_unix` have no `wantPID` /
//!   `checkPID`. The `<path>.lock` behaviour lives in `torsion-endpoints`
//!   (`LockFile`, the `unix:...:lockfile=1` endpoints), which this crate's
//!   tests cannot depend on; `endpoints/tests/lockfile.rs` covers it
//!   (exclusive lock, stale lock taken over, a second locked server
//!   refused, a checking client needs a live lock).
//! * `UNIXAdoptStreamConnectionTestsBuilder.test_buildProtocolReturnsNone`:
//!   Torsion has no `adoptStreamConnection` (nor `adoptStreamPort`).
//! * `UNIXTestsBuilder.test_mode` (from `UNIXFamilyMixin`) is already
//!   covered by `unix.rs`'s `echo_over_a_unix_socket` (mode 0o600).

mod unix_twisted_util;

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::error::CannotListenError;
use torsion_reactor::{
    Address, Factory, Protocol, Reactor, ReactorUnix, TransportRef, DEFAULT_BACKLOG,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_UNIX_MODE,
};
use unix_twisted_util::{abstract_name, bound_client, run_until, OneShot, Recorder, SocketPath};

/// A server protocol that ignores everything.
struct Quiet;
impl Protocol for Quiet {
    fn data_received(&mut self, _: &[u8]) {}
}

fn quiet() -> Rc<Factory<Quiet>> {
    Rc::new(Factory::for_protocol(|| Quiet))
}

/// `UNIXTestsBuilder.test_listenOnLinuxAbstractNamespace`: on Linux a path
/// beginning with a NUL byte names a socket in the abstract namespace, and
/// `listen_unix` accepts it; the port's host is that very name.
///
/// Twisted skips the `chmod` (and the `unlink` on close) for such a path;
/// it has no file.
#[test]
fn listen_on_linux_abstract_namespace() {
    let name = abstract_name("listen");
    let reactor = Reactor::new().unwrap();
    let port = match reactor.listen_unix(&name, quiet(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE) {
        Ok(port) => port,
        Err(e) => panic!(
            "listen_unix({name:?}) failed: {e}: {:?}",
            std::error::Error::source(&e)
        ),
    };
    assert_eq!(port.host(), Address::Unix(Some(name.clone())));
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.is_called());
}

/// `UNIXTestsBuilder.test_listenFailure`: when setting up the underlying
/// socket raises an OS error, `listen_unix` fails with
/// `CannotListenError` (carrying that error).
///
/// Twisted forces the error by patching `createInternetSocket`; Rust
/// cannot patch, so the OS is made to fail: binding in a directory that
/// does not exist (`ENOENT`), and a path longer than `sun_path`.
#[test]
fn listen_failure() {
    let reactor = Reactor::new().unwrap();
    let missing = SocketPath::new("no-such-dir");
    let in_missing_dir = missing.0.join("not-used.sock");
    let too_long = std::env::temp_dir().join("x".repeat(200));
    for path in [in_missing_dir, too_long] {
        let refused: CannotListenError = reactor
            .listen_unix(&path, quiet(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
            .err()
            .unwrap_or_else(|| panic!("listening on {} succeeded", path.display()));
        assert_eq!(refused.interface, path.display().to_string());
        assert!(
            refused.source.raw_os_error().is_some()
                || refused.source.kind() == std::io::ErrorKind::InvalidInput,
            "{:?}",
            refused.source
        );
        assert!(!path.exists());
    }
}

/// `UNIXTestsBuilder.test_connectToLinuxAbstractNamespace`: `connect_unix`
/// also accepts an abstract-namespace name; the connector's destination is
/// that very name.
///
/// Twisted checks only the destination. Here a `std` listener bound to the
/// same abstract name also sees the connection arrive, so the name really
/// reaches `connect(2)` as an abstract address.
#[test]
fn connect_to_linux_abstract_namespace() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    let name = abstract_name("connect");
    let listener = UnixListener::bind_addr(
        &SocketAddr::from_abstract_name(&name.as_os_str().as_bytes()[1..]).unwrap(),
    )
    .unwrap();
    listener.set_nonblocking(true).unwrap();
    let reactor = Reactor::new().unwrap();
    let client = OneShot::new(Recorder::default());
    let connector = reactor.connect_unix(&name, client.clone(), DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(connector.destination(), Address::Unix(Some(name.clone())));
    let mut accepted = None;
    run_until(&reactor, "the abstract listener to accept", || {
        accepted = listener.accept().ok();
        accepted.is_some()
    });
    run_until(&reactor, "the client to connect", || {
        client.built().is_some()
    });
    drop(accepted);
    run_until(&reactor, "the client to see the close", || {
        client.protocol().borrow().lost.is_some()
    });
}

/// `UnixSocketTests.test_peerBind`: the address given to the server
/// factory's `build_protocol` and the accepted transport's `peer()` are the
/// path the connecting socket was bound to.
#[test]
fn peer_bind() {
    let server_path = SocketPath::new("peer-bind-server");
    let peer_path = SocketPath::new("peer-bind-peer");
    let reactor = Reactor::new().unwrap();
    let server = OneShot::new(Recorder::default());
    let port = reactor
        .listen_unix(
            &server_path.0,
            server.clone(),
            DEFAULT_BACKLOG,
            DEFAULT_UNIX_MODE,
        )
        .unwrap();
    let client = bound_client(&peer_path.0, &server_path.0);
    run_until(&reactor, "the server's connection", || {
        server
            .built()
            .is_some_and(|p| p.borrow().transport.is_some())
    });
    let expected = Address::Unix(Some(peer_path.0.clone()));
    assert_eq!(*server.addresses.borrow(), std::slice::from_ref(&expected));
    let peer = server
        .protocol()
        .borrow()
        .transport
        .as_ref()
        .unwrap()
        .peer();
    assert_eq!(peer, expected);
    drop(client);
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.is_called());
}

/// A protocol that notes when it is connected (Twisted's
/// `AccumulatingProtocol` with `protocolConnectionMade`).
#[derive(Default)]
struct Made(Rc<RefCell<Option<TransportRef>>>);
impl Protocol for Made {
    fn connection_made(&mut self, transport: TransportRef) {
        *self.0.borrow_mut() = Some(transport);
    }
    fn data_received(&mut self, _: &[u8]) {}
}

/// `UnixSocketTests.test_dumber`: `connect_unix` connects a client to a
/// server started with `listen_unix`; both protocols are connected, and
/// the client factory was asked to build for the server's path.
#[test]
fn dumber() {
    let path = SocketPath::new("dumber");
    let reactor = Reactor::new().unwrap();
    let (server_made, client_made) = (Rc::default(), Rc::default());
    let server = OneShot::new(Made(Rc::clone(&server_made)));
    let client = OneShot::new(Made(Rc::clone(&client_made)));
    let port = reactor
        .listen_unix(&path.0, server.clone(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
        .unwrap();
    reactor.connect_unix(&path.0, client.clone(), DEFAULT_CONNECT_TIMEOUT);
    run_until(&reactor, "both connections", || {
        server_made.borrow().is_some() && client_made.borrow().is_some()
    });
    assert_eq!(
        *client.addresses.borrow(),
        [Address::Unix(Some(path.0.clone()))]
    );
    client_made.borrow_mut().take().unwrap().lose_connection();
    server_made.borrow_mut().take().unwrap().lose_connection();
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.is_called());
}
