//! [`ReactorTcp`], [`Connector`] and [`ListeningPort`]: Twisted's
//! `IReactorTCP`, `IConnector`, `IListeningPort`.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{CannotListenError, NotConnectingError};
use crate::interfaces::DynProtocolFactory;
use crate::{Address, Deferred};

/// Twisted's default listen backlog.
pub const DEFAULT_BACKLOG: u32 = 50;

/// Twisted's default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a [`Connector`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorState {
    /// Not connecting and not connected.
    Disconnected,
    /// A connection attempt is under way.
    Connecting,
    /// Connected.
    Connected,
}

/// An outgoing connection made by `connect_tcp`/`connect_unix`: Twisted's
/// `IConnector`.
///
/// # Examples
///
/// A client factory that retries through its connector (Twisted's
/// `ReconnectingClientFactory`, in its simplest form):
///
/// ```
/// use torsion_reactor::{Address, Connector, Failure, Protocol, ProtocolFactory};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// struct Retrying;
/// impl ProtocolFactory for Retrying {
///     type Protocol = Quiet;
///     fn build_protocol(&self, _: &Address) -> Option<Quiet> {
///         Some(Quiet)
///     }
///     fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
///         log::warn!("{} failed: {reason}; retrying", connector.destination());
///         connector.connect();
///     }
/// }
/// # let _ = Retrying;
/// ```
pub trait Connector {
    /// Abandons the attempt under way; the factory's
    /// `client_connection_failed` gets a [`UserError`](crate::error::UserError).
    ///
    /// # Errors
    ///
    /// [`NotConnectingError`] if no attempt is under way.
    fn stop_connecting(&self) -> Result<(), NotConnectingError>;

    /// Stops connecting, or drops the connection if connected.
    fn disconnect(&self);

    /// Starts a new attempt (from the factory's failure hooks, a retry).
    fn connect(&self);

    /// Where it connects to (Twisted's `getDestination`).
    fn destination(&self) -> Address;

    /// Its current state.
    fn state(&self) -> ConnectorState;
}

/// A listening socket: Twisted's `IListeningPort`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Deferred, ListeningPort};
///
/// /// Logs where the port listens, then stops it.
/// fn close(port: Rc<dyn ListeningPort>) -> Deferred<()> {
///     log::info!("closing {}", port.host());
///     port.stop_listening()
/// }
/// # let _ = close;
/// ```
pub trait ListeningPort {
    /// Starts listening again after [`stop_listening`](ListeningPort::stop_listening).
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] if the address cannot be bound.
    fn start_listening(&self) -> Result<(), CannotListenError>;

    /// Stops accepting; fires once the socket is closed and the factory's
    /// `do_stop` ran, or fails with a [`PanicError`](crate::error::PanicError)
    /// if `do_stop` panicked (Twisted's Deferred fails with `stopFactory`'s
    /// exception); the socket is closed either way.
    fn stop_listening(&self) -> Deferred<()>;

    /// The address it listens on (with the real port when asked for port 0).
    fn host(&self) -> Address;
}

/// TCP: Twisted's `IReactorTCP`.
///
/// # Examples
///
/// Code that opens sockets takes the trait, so a test can hand it
/// `testing::MemoryReactor` and inspect what it asked for:
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Factory, Protocol, ReactorTcp, DEFAULT_BACKLOG};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// fn serve(reactor: &dyn ReactorTcp) -> Result<(), torsion_reactor::error::CannotListenError> {
///     let port = reactor.listen_tcp(0, Rc::new(Factory::for_protocol(|| Echo)), DEFAULT_BACKLOG, "127.0.0.1")?;
///     log::info!("listening on {}", port.host());
///     Ok(())
/// }
/// # let _ = serve;
/// ```
pub trait ReactorTcp {
    /// Listens on `interface:port` (`""` = all IPv4 interfaces, `"::"` = all
    /// IPv6; port 0 = any free port) (Twisted's `listenTCP`).
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] naming the address, with the OS error.
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError>;

    /// Connects to `host:port` (Twisted's `connectTCP`). `host` is an IP
    /// address or a name, resolved off the reactor thread (IPv4 first, as
    /// Twisted's `gethostbyname`; `HostnameEndpoint` tries every address).
    /// Failures, including `timeout` expiring (it covers the resolution),
    /// arrive through the factory's `client_connection_failed`.
    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector>;
}

impl<R: ReactorTcp + ?Sized> ReactorTcp for Rc<R> {
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        (**self).listen_tcp(port, factory, backlog, interface)
    }

    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        (**self).connect_tcp(host, port, factory, timeout, bind_address)
    }
}

impl std::fmt::Debug for dyn ListeningPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListeningPort({})", self.host())
    }
}

impl std::fmt::Debug for dyn Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connector({}, {:?})", self.destination(), self.state())
    }
}
