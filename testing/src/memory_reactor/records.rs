//! What a [`MemoryReactor`](super::MemoryReactor) records: one struct per
//! `listen_*`/`connect_*` call, and the fake connector and port it hands out.

use std::cell::Cell;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{CannotListenError, NotConnectingError};
use torsion_reactor::{
    Address, Connector, ConnectorState, Deferred, DynProtocolFactory, ListeningPort,
};

/// One `listen_tcp` call recorded by a [`MemoryReactor`](super::MemoryReactor)
/// (an entry of Twisted's `tcpServers`).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Factory, ReactorTcp};
/// use torsion_testing::{AccumulatingProtocol, MemoryReactor};
///
/// let reactor = MemoryReactor::new();
/// reactor.listen_tcp(8080, Rc::new(Factory::for_protocol(AccumulatingProtocol::new)), 5, "::1")?;
/// let server = &reactor.tcp_servers()[0];
/// assert_eq!((server.port, server.backlog, server.interface.as_str()), (8080, 5, "::1"));
/// assert!(server.listening_port.is_listening());
/// # Ok::<(), torsion_reactor::error::CannotListenError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct TcpServer {
    /// The port asked for.
    pub port: u16,
    /// The factory passed in.
    pub factory: Rc<dyn DynProtocolFactory>,
    /// The listen backlog.
    pub backlog: u32,
    /// The interface asked for (`""` for all).
    pub interface: String,
    /// The fake port `listen_tcp` returned.
    pub listening_port: Rc<FakePort>,
}

/// One `connect_tcp` call recorded by a [`MemoryReactor`](super::MemoryReactor)
/// (an entry of Twisted's `tcpClients`).
///
/// # Examples
///
/// ```
/// use std::{rc::Rc, time::Duration};
/// use torsion_reactor::{Factory, ReactorTcp};
/// use torsion_testing::{AccumulatingProtocol, MemoryReactor};
///
/// let reactor = MemoryReactor::new();
/// let factory = Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
/// reactor.connect_tcp("example.org", 443, factory, Duration::from_secs(5), None);
/// let client = &reactor.tcp_clients()[0];
/// assert_eq!((client.host.as_str(), client.port), ("example.org", 443));
/// assert_eq!(client.timeout, Duration::from_secs(5));
/// assert_eq!(client.bind_address, None);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct TcpClient {
    /// The host asked for, as given.
    pub host: String,
    /// The port asked for.
    pub port: u16,
    /// The factory passed in.
    pub factory: Rc<dyn DynProtocolFactory>,
    /// The connect timeout.
    pub timeout: Duration,
    /// The local address to bind, if any.
    pub bind_address: Option<SocketAddr>,
    /// The fake connector `connect_tcp` returned (also in `connectors()`).
    pub connector: Rc<FakeConnector>,
}

/// One `listen_unix` call recorded by a [`MemoryReactor`](super::MemoryReactor)
/// (an entry of Twisted's `unixServers`).
///
/// # Examples
///
/// ```
/// use std::{path::Path, rc::Rc};
/// use torsion_reactor::{Factory, ReactorUnix};
/// use torsion_testing::{AccumulatingProtocol, MemoryReactor};
///
/// let reactor = MemoryReactor::new();
/// let factory = Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
/// reactor.listen_unix(Path::new("/run/app.sock"), factory, 50, 0o600)?;
/// let server = &reactor.unix_servers()[0];
/// assert_eq!(server.path, Path::new("/run/app.sock"));
/// assert_eq!((server.backlog, server.mode), (50, 0o600));
/// # Ok::<(), torsion_reactor::error::CannotListenError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct UnixServer {
    /// The socket file asked for.
    pub path: PathBuf,
    /// The factory passed in.
    pub factory: Rc<dyn DynProtocolFactory>,
    /// The listen backlog.
    pub backlog: u32,
    /// The file mode asked for.
    pub mode: u32,
    /// The fake port `listen_unix` returned.
    pub listening_port: Rc<FakePort>,
}

/// One `connect_unix` call recorded by a [`MemoryReactor`](super::MemoryReactor)
/// (an entry of Twisted's `unixClients`).
///
/// # Examples
///
/// ```
/// use std::{path::Path, rc::Rc, time::Duration};
/// use torsion_reactor::{Factory, ReactorUnix};
/// use torsion_testing::{AccumulatingProtocol, MemoryReactor};
///
/// let reactor = MemoryReactor::new();
/// let factory = Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
/// reactor.connect_unix(Path::new("/run/app.sock"), factory, Duration::from_secs(3));
/// let client = &reactor.unix_clients()[0];
/// assert_eq!(client.path, Path::new("/run/app.sock"));
/// assert_eq!(client.timeout, Duration::from_secs(3));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct UnixClient {
    /// The socket file asked for.
    pub path: PathBuf,
    /// The factory passed in.
    pub factory: Rc<dyn DynProtocolFactory>,
    /// The connect timeout.
    pub timeout: Duration,
    /// The fake connector `connect_unix` returned (also in `connectors()`).
    pub connector: Rc<FakeConnector>,
}

impl TcpServer {
    pub(super) fn new(
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> TcpServer {
        TcpServer {
            port,
            factory,
            backlog,
            interface: interface.to_string(),
            listening_port: Rc::new(FakePort::new(listen_host(interface, port))),
        }
    }
}

impl TcpClient {
    pub(super) fn new(
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> TcpClient {
        TcpClient {
            host: host.to_string(),
            port,
            factory,
            timeout,
            bind_address,
            connector: Rc::new(FakeConnector::new(tcp_destination(host, port))),
        }
    }
}

/// The address of a fake TCP port (Twisted's `MemoryReactor.listenTCP`):
/// the interface itself when it is an IPv6 literal, else `0.0.0.0`, even
/// for an IPv4 interface such as `127.0.0.1`.
fn listen_host(interface: &str, port: u16) -> Address {
    match parse_ipv6(interface) {
        Some(v6) => Address::Tcp(SocketAddr::V6(SocketAddrV6::new(v6.0, port, 0, v6.1))),
        None => Address::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
    }
}

/// A connector's destination: an IP literal gives [`Address::Tcp`]; any
/// other host a not-yet-resolved [`Address::Hostname`].
pub(super) fn tcp_destination(host: &str, port: u16) -> Address {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Address::Tcp(SocketAddr::new(ip, port));
    }
    match parse_ipv6(host) {
        Some((ip, scope)) => Address::Tcp(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))),
        None => Address::Hostname {
            host: host.to_string(),
            port,
        },
    }
}

/// An IPv6 literal with an optional `%scope` (Twisted's `isIPv6Address`
/// accepts one); a named scope such as `%eth0` maps to scope id 0.
fn parse_ipv6(text: &str) -> Option<(Ipv6Addr, u32)> {
    let (addr, scope) = match text.split_once('%') {
        Some((addr, scope)) if !scope.is_empty() => (addr, scope.parse().unwrap_or(0)),
        Some(_) => return None,
        None => (text, 0),
    };
    addr.parse().ok().map(|ip| (ip, scope))
}

fn factory_name(factory: &Rc<dyn DynProtocolFactory>) -> String {
    factory.describe()
}

impl fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServer")
            .field("port", &self.port)
            .field("factory", &factory_name(&self.factory))
            .field("backlog", &self.backlog)
            .field("interface", &self.interface)
            .field("listening_port", &self.listening_port)
            .finish()
    }
}

impl fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpClient")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("factory", &factory_name(&self.factory))
            .field("timeout", &self.timeout)
            .field("bind_address", &self.bind_address)
            .field("connector", &self.connector)
            .finish()
    }
}

impl fmt::Debug for UnixServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixServer")
            .field("path", &self.path)
            .field("factory", &factory_name(&self.factory))
            .field("backlog", &self.backlog)
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("listening_port", &self.listening_port)
            .finish()
    }
}

impl fmt::Debug for UnixClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixClient")
            .field("path", &self.path)
            .field("factory", &factory_name(&self.factory))
            .field("timeout", &self.timeout)
            .field("connector", &self.connector)
            .finish()
    }
}

/// A connector that never connects: Twisted's `_FakeConnector`.
///
/// [`MemoryReactor`](super::MemoryReactor)'s `connect_tcp`/`connect_unix`
/// return one. It only records what is done to it:
///
/// * [`stop_connecting`](Connector::stop_connecting) sets
///   [`stopped_connecting`](FakeConnector::stopped_connecting) and succeeds;
/// * [`disconnect`](Connector::disconnect) sets
///   [`disconnected`](FakeConnector::disconnected);
/// * [`connect`](Connector::connect) does nothing but count the call;
/// * [`destination`](Connector::destination) is the address given to
///   [`new`](FakeConnector::new).
///
/// Nothing is ever reported to the factory: a test drives it itself.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Address, Connector, ConnectorState};
/// use torsion_testing::FakeConnector;
///
/// let connector = FakeConnector::new(Address::Tcp("127.0.0.1:80".parse()?));
/// assert_eq!(connector.state(), ConnectorState::Connecting);
/// connector.stop_connecting()?;
/// assert!(connector.stopped_connecting());
/// assert_eq!(connector.state(), ConnectorState::Disconnected);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// Twisted's fake has no state; the trait needs one, so it reads
/// `Connecting` until `stop_connecting` or `disconnect`, and `Connecting`
/// again after `connect`. Like Twisted's, `stop_connecting` never fails, even
/// when repeated.
#[derive(Debug)]
pub struct FakeConnector {
    destination: Address,
    stopped_connecting: Cell<bool>,
    disconnected: Cell<bool>,
    connect_calls: Cell<usize>,
    state: Cell<ConnectorState>,
}

impl FakeConnector {
    /// A connector "connecting" to `destination`.
    pub fn new(destination: Address) -> FakeConnector {
        FakeConnector {
            destination,
            stopped_connecting: Cell::new(false),
            disconnected: Cell::new(false),
            connect_calls: Cell::new(0),
            state: Cell::new(ConnectorState::Connecting),
        }
    }

    /// Whether `stop_connecting` was called (Twisted's `stoppedConnecting`).
    pub fn stopped_connecting(&self) -> bool {
        self.stopped_connecting.get()
    }

    /// Whether `disconnect` was called (Twisted's `_disconnected`).
    pub fn disconnected(&self) -> bool {
        self.disconnected.get()
    }

    /// How many times `connect` was called.
    pub fn connect_calls(&self) -> usize {
        self.connect_calls.get()
    }
}

impl Connector for FakeConnector {
    fn stop_connecting(&self) -> Result<(), NotConnectingError> {
        self.stopped_connecting.set(true);
        self.state.set(ConnectorState::Disconnected);
        Ok(())
    }

    fn disconnect(&self) {
        self.disconnected.set(true);
        self.state.set(ConnectorState::Disconnected);
    }

    fn connect(&self) {
        self.connect_calls.set(self.connect_calls.get() + 1);
        self.state.set(ConnectorState::Connecting);
    }

    fn destination(&self) -> Address {
        self.destination.clone()
    }

    fn state(&self) -> ConnectorState {
        self.state.get()
    }
}

/// A listening port that listens on nothing: Twisted's `_FakePort`.
///
/// [`MemoryReactor`](super::MemoryReactor)'s `listen_tcp`/`listen_unix`
/// return one. [`stop_listening`](ListeningPort::stop_listening) returns an
/// already-fired Deferred and records the call;
/// [`start_listening`](ListeningPort::start_listening) always succeeds;
/// [`host`](ListeningPort::host) is the address given to
/// [`new`](FakePort::new).
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Address, ListeningPort};
/// use torsion_testing::{success_result_of, FakePort};
///
/// let port = FakePort::new(Address::Tcp("0.0.0.0:8080".parse()?));
/// success_result_of(&port.stop_listening());
/// assert!(!port.is_listening());
/// assert_eq!(port.stop_calls(), 1);
/// port.start_listening()?;
/// assert!(port.is_listening());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// Twisted's fake returns `None` from `stopListening` and records nothing;
/// the trait returns a Deferred, so this one is fired at once, and the
/// calls are recorded so a test can check its code stopped the port.
#[derive(Debug)]
pub struct FakePort {
    host: Address,
    listening: Cell<bool>,
    stop_calls: Cell<usize>,
}

impl FakePort {
    /// A port "listening" on `host`.
    pub fn new(host: Address) -> FakePort {
        FakePort {
            host,
            listening: Cell::new(true),
            stop_calls: Cell::new(0),
        }
    }

    /// `false` after `stop_listening`, until `start_listening`.
    pub fn is_listening(&self) -> bool {
        self.listening.get()
    }

    /// How many times `stop_listening` was called.
    pub fn stop_calls(&self) -> usize {
        self.stop_calls.get()
    }
}

impl ListeningPort for FakePort {
    fn start_listening(&self) -> Result<(), CannotListenError> {
        self.listening.set(true);
        Ok(())
    }

    fn stop_listening(&self) -> Deferred<()> {
        self.listening.set(false);
        self.stop_calls.set(self.stop_calls.get() + 1);
        Deferred::succeeded(())
    }

    fn host(&self) -> Address {
        self.host.clone()
    }
}
