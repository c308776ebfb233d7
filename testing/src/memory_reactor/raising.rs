//! [`RaisingMemoryReactor`]: a reactor on which every listen and connect fails.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::error::{CannotListenError, ConnectionRefused, NotConnectingError, UserError};
use torsion_reactor::{
    Address, Connector, ConnectorState, DynProtocolFactory, Failure, ListeningPort, ReactorTcp,
    ReactorUnix,
};

use super::records::tcp_destination;

/// A fake reactor on which every `listen_*` and `connect_*` fails (Twisted's
/// `twisted.internet.testing.RaisingMemoryReactor`).
///
/// * `listen_tcp` and `listen_unix` return a [`CannotListenError`] naming
///   the interface and port (for UNIX, the path and port 0) asked for, with
///   a copy of the configured [`io::Error`] as its source (default:
///   `AddrInUse`).
/// * `connect_tcp` and `connect_unix` return a connector that has already
///   failed: before returning, they call the factory's `started_connecting`
///   and then its `client_connection_failed` with the configured [`Failure`]
///   (default: [`ConnectionRefused`]), the very same failure on every call.
///   The connector is then `Disconnected`; its `connect` (a retry) fails
///   the same way again, and a retry made from inside
///   `client_connection_failed` runs after that call returns, not nested
///   in it.
///
/// Nothing is recorded, and nothing calls `do_start`, `do_stop` or
/// `build_protocol`.
///
/// # Examples
///
/// ```
/// use std::{io, rc::Rc};
/// use torsion_reactor::{Factory, ReactorTcp};
/// use torsion_testing::{AccumulatingProtocol, RaisingMemoryReactor};
///
/// let reactor = RaisingMemoryReactor::new()
///     .with_listen_error(io::Error::from(io::ErrorKind::PermissionDenied));
/// let factory = Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
/// let error = reactor.listen_tcp(80, factory, 50, "").err().ok_or("listened")?;
/// assert_eq!(error.port, 80);
/// assert_eq!(error.source.kind(), io::ErrorKind::PermissionDenied);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// Twisted's `connectTCP` raises the connect exception at the caller, and
/// the factory hears nothing. `connect_tcp` here returns a connector, not a
/// `Result`, so the failure takes the one road the trait has for it:
/// `client_connection_failed`, delivered synchronously so that, as in
/// Twisted, it has happened by the time `connect_tcp` returns (an
/// endpoint's connect Deferred has already failed). `started_connecting`
/// comes first because the real reactor always calls it before reporting a
/// failure, and factories may rely on that order. Twisted's defaults are
/// `None` (raising which is a `TypeError`); here they are `AddrInUse` and
/// `ConnectionRefused`. Like Twisted's, it implements no `ReactorCore`.
#[derive(Debug, Clone)]
pub struct RaisingMemoryReactor {
    listen_error: Rc<io::Error>,
    connect_failure: Failure,
}

impl Default for RaisingMemoryReactor {
    fn default() -> Self {
        RaisingMemoryReactor::new()
    }
}

impl RaisingMemoryReactor {
    /// Listens fail with `AddrInUse`; connects with [`ConnectionRefused`].
    pub fn new() -> RaisingMemoryReactor {
        RaisingMemoryReactor {
            listen_error: Rc::new(io::Error::from(io::ErrorKind::AddrInUse)),
            connect_failure: Failure::new(ConnectionRefused::new()),
        }
    }

    /// Listens fail with (a copy of) `error` as their [`CannotListenError`]'s
    /// source (Twisted's `listenException`).
    pub fn with_listen_error(mut self, error: io::Error) -> Self {
        self.listen_error = Rc::new(error);
        self
    }

    /// Connects fail with `failure` (Twisted's `connectException`).
    pub fn with_connect_failure(mut self, failure: impl Into<Failure>) -> Self {
        self.connect_failure = failure.into();
        self
    }

    /// The failure every connect reports.
    pub fn connect_failure(&self) -> &Failure {
        &self.connect_failure
    }

    fn cannot_listen(&self, interface: String, port: u16) -> CannotListenError {
        CannotListenError {
            interface,
            port,
            source: copy_io_error(&self.listen_error),
        }
    }

    fn connect(
        &self,
        destination: Address,
        factory: Rc<dyn DynProtocolFactory>,
    ) -> Rc<dyn Connector> {
        let connector = Rc::new_cyclic(|me| FailingConnector {
            me: me.clone(),
            destination,
            factory,
            failure: self.connect_failure.clone(),
            state: Cell::new(ConnectorState::Disconnected),
            attempting: Cell::new(false),
            again: Cell::new(false),
        });
        connector.connect();
        connector
    }
}

/// `io::Error` is not `Clone`: rebuild one with the same OS code, or the same
/// kind and message.
fn copy_io_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None if error.get_ref().is_none() => io::Error::from(error.kind()),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

impl ReactorTcp for RaisingMemoryReactor {
    fn listen_tcp(
        &self,
        port: u16,
        _factory: Rc<dyn DynProtocolFactory>,
        _backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        Err(self.cannot_listen(interface.to_string(), port))
    }

    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        _timeout: Duration,
        _bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        self.connect(tcp_destination(host, port), factory)
    }
}

impl ReactorUnix for RaisingMemoryReactor {
    fn listen_unix(
        &self,
        path: &Path,
        _factory: Rc<dyn DynProtocolFactory>,
        _backlog: u32,
        _mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        // The real reactor's UNIX ports report the path as the interface.
        Err(self.cannot_listen(path.display().to_string(), 0))
    }

    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        _timeout: Duration,
    ) -> Rc<dyn Connector> {
        self.connect(Address::Unix(Some(path.to_path_buf())), factory)
    }
}

/// A connector whose every attempt fails at once.
struct FailingConnector {
    me: Weak<FailingConnector>,
    destination: Address,
    factory: Rc<dyn DynProtocolFactory>,
    failure: Failure,
    state: Cell<ConnectorState>,
    /// An attempt is being reported: a `connect` now only asks for another.
    attempting: Cell<bool>,
    again: Cell<bool>,
}

impl Connector for FailingConnector {
    fn stop_connecting(&self) -> Result<(), NotConnectingError> {
        // Only reachable from inside `started_connecting`.
        if self.state.get() != ConnectorState::Connecting {
            return Err(NotConnectingError);
        }
        self.state.set(ConnectorState::Disconnected);
        self.factory
            .client_connection_failed(self, Failure::new(UserError));
        Ok(())
    }

    fn disconnect(&self) {
        if self.state.get() == ConnectorState::Connecting {
            let _ = self.stop_connecting();
        }
    }

    fn connect(&self) {
        if self.attempting.replace(true) {
            self.again.set(true);
            return;
        }
        // Keeps this connector alive if the factory drops its last handle.
        let _me = self.me.upgrade();
        loop {
            self.again.set(false);
            self.state.set(ConnectorState::Connecting);
            self.factory.started_connecting(self);
            if self.state.get() == ConnectorState::Connecting {
                self.state.set(ConnectorState::Disconnected);
                self.factory
                    .client_connection_failed(self, self.failure.clone());
            }
            if !self.again.get() {
                break;
            }
        }
        self.attempting.set(false);
    }

    fn destination(&self) -> Address {
        self.destination.clone()
    }

    fn state(&self) -> ConnectorState {
        self.state.get()
    }
}
