//! TCP endpoints (Twisted's `TCP4ClientEndpoint`, `TCP6ClientEndpoint`,
//! `TCP4ServerEndpoint`, `TCP6ServerEndpoint`).

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::ConnectingCancelledError;
use torsion_reactor::{
    Address, Connector, Deferred, DynProtocolFactory, ListeningPort, ProtocolRef, ReactorTcp,
    StreamClientEndpoint, StreamServerEndpoint, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT,
};

use crate::wrapping::wrapping_factory;

/// The address family of a TCP endpoint: [`V4`] or [`V6`].
pub trait IpFamily: 'static {
    /// The endpoint type in description strings (`tcp` / `tcp6`).
    const KIND: &'static str;
}

/// Marks IPv4 endpoints.
#[derive(Debug, Clone, Copy)]
pub enum V4 {}
/// Marks IPv6 endpoints.
#[derive(Debug, Clone, Copy)]
pub enum V6 {}

impl IpFamily for V4 {
    const KIND: &'static str = "tcp";
}

impl IpFamily for V6 {
    const KIND: &'static str = "tcp6";
}

/// A TCP client endpoint: connects with the reactor's `connect_tcp`.
/// Use it as [`Tcp4ClientEndpoint`] or [`Tcp6ClientEndpoint`].
///
/// Cancelling the connect Deferred while connecting stops the connector
/// and fails it with [`ConnectingCancelledError`]; a factory that builds no
/// protocol fails it with `NoProtocol`.
pub struct TcpClientEndpoint<R, V> {
    reactor: R,
    host: String,
    port: u16,
    timeout: Duration,
    bind_address: Option<SocketAddr>,
    _version: PhantomData<V>,
}

/// Twisted's `TCP4ClientEndpoint`.
///
/// # Examples
///
/// ```
/// use torsion_endpoints::Tcp4ClientEndpoint;
/// use torsion_reactor::{Factory, Reactor, StreamClientEndpointExt};
/// use torsion_testing::AccumulatingProtocol;
///
/// let reactor = Reactor::new()?;
/// let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", 8000);
/// let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
/// connected.cancel(); // changed our mind
/// # Ok::<(), std::io::Error>(())
/// ```
pub type Tcp4ClientEndpoint<R> = TcpClientEndpoint<R, V4>;
/// Twisted's `TCP6ClientEndpoint`.
pub type Tcp6ClientEndpoint<R> = TcpClientEndpoint<R, V6>;

impl<R: ReactorTcp + 'static, V> TcpClientEndpoint<R, V> {
    /// Connects to `host:port` (an IP address, or a name the reactor
    /// resolves), with Twisted's default 30 s timeout and no bind address.
    pub fn new(reactor: R, host: impl Into<String>, port: u16) -> Self {
        TcpClientEndpoint {
            reactor,
            host: host.into(),
            port,
            timeout: DEFAULT_CONNECT_TIMEOUT,
            bind_address: None,
            _version: PhantomData,
        }
    }

    /// The connect timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The local address to bind before connecting.
    pub fn bind_address(mut self, address: SocketAddr) -> Self {
        self.bind_address = Some(address);
        self
    }

    fn destination(&self) -> Address {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => Address::Tcp(SocketAddr::new(ip, self.port)),
            Err(_) => Address::Hostname {
                host: self.host.clone(),
                port: self.port,
            },
        }
    }
}

impl<R: ReactorTcp + 'static, V: IpFamily> StreamClientEndpoint for TcpClientEndpoint<R, V> {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        let connector: Rc<RefCell<Option<Rc<dyn Connector>>>> = Rc::default();
        let (for_cancel, destination) = (connector.clone(), self.destination());
        let connected = Deferred::with_canceller(move |d: &Deferred<ProtocolRef>| {
            let connector = for_cancel.borrow().clone();
            d.errback(ConnectingCancelledError {
                address: destination,
            });
            if let Some(connector) = connector {
                // Its UserError failure then finds the Deferred already failed.
                let _ = connector.stop_connecting();
            }
        });
        let wrapping = Rc::new(wrapping_factory(factory, connected.clone()));
        let made = self.reactor.connect_tcp(
            &self.host,
            self.port,
            wrapping,
            self.timeout,
            self.bind_address,
        );
        *connector.borrow_mut() = Some(made);
        connected
    }

    fn describe(&self) -> String {
        format!(
            "{}:host={}:port={}",
            V::KIND,
            crate::quote(&self.host, false),
            self.port
        )
    }
}

impl<R, V> fmt::Debug for TcpClientEndpoint<R, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpClientEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("bind_address", &self.bind_address)
            .finish()
    }
}

/// A TCP server endpoint: listens with the reactor's `listen_tcp`. Use it
/// as [`Tcp4ServerEndpoint`] (all IPv4 interfaces by default) or
/// [`Tcp6ServerEndpoint`] (`::`).
pub struct TcpServerEndpoint<R, V> {
    reactor: R,
    port: u16,
    backlog: u32,
    interface: String,
    _version: PhantomData<V>,
}

/// Twisted's `TCP4ServerEndpoint`.
///
/// # Examples
///
/// ```
/// use torsion_endpoints::Tcp4ServerEndpoint;
/// use torsion_reactor::{Factory, Reactor, StreamServerEndpointExt};
/// use torsion_testing::{success_result_of, AccumulatingProtocol};
///
/// let reactor = Reactor::new()?;
/// let endpoint = Tcp4ServerEndpoint::new(reactor, 0).interface("127.0.0.1");
/// let port = success_result_of(&endpoint.listen(Factory::for_protocol(AccumulatingProtocol::new)));
/// assert_ne!(port.host().port(), Some(0));
/// # Ok::<(), std::io::Error>(())
/// ```
pub type Tcp4ServerEndpoint<R> = TcpServerEndpoint<R, V4>;
/// Twisted's `TCP6ServerEndpoint`.
pub type Tcp6ServerEndpoint<R> = TcpServerEndpoint<R, V6>;

impl<R: ReactorTcp + 'static> TcpServerEndpoint<R, V4> {
    /// Listens on `port` on every IPv4 interface, backlog 50.
    pub fn new(reactor: R, port: u16) -> Self {
        TcpServerEndpoint::build(reactor, port, "")
    }
}

impl<R: ReactorTcp + 'static> TcpServerEndpoint<R, V6> {
    /// Listens on `port` on every IPv6 interface (`::`), backlog 50.
    pub fn new(reactor: R, port: u16) -> Self {
        TcpServerEndpoint::build(reactor, port, "::")
    }
}

impl<R: ReactorTcp + 'static, V> TcpServerEndpoint<R, V> {
    fn build(reactor: R, port: u16, interface: &str) -> Self {
        TcpServerEndpoint {
            reactor,
            port,
            backlog: DEFAULT_BACKLOG,
            interface: interface.to_string(),
            _version: PhantomData,
        }
    }

    /// The interface (IP address) to listen on.
    pub fn interface(mut self, interface: impl Into<String>) -> Self {
        self.interface = interface.into();
        self
    }

    /// The listen backlog.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }
}

impl<R: ReactorTcp + 'static, V: IpFamily> StreamServerEndpoint for TcpServerEndpoint<R, V> {
    fn listen_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
        match self
            .reactor
            .listen_tcp(self.port, factory, self.backlog, &self.interface)
        {
            Ok(port) => Deferred::succeeded(port),
            Err(error) => Deferred::failed(error),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}:{}:interface={}:backlog={}",
            V::KIND,
            self.port,
            crate::quote(&self.interface, false),
            self.backlog
        )
    }
}

impl<R, V> fmt::Debug for TcpServerEndpoint<R, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServerEndpoint")
            .field("port", &self.port)
            .field("backlog", &self.backlog)
            .field("interface", &self.interface)
            .finish()
    }
}
