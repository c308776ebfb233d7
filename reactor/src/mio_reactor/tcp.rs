//! [`ReactorTcp`] for the reactor: TCP binding and connecting.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};

use super::connector::{StreamConnector, Target};
use super::port::{Bind, Listener, StreamPort};
use super::reactor::Reactor;
use crate::error::CannotListenError;
use crate::interfaces::{Connector, DynProtocolFactory, ListeningPort, ReactorTcp};
use crate::Address;

/// The address to bind for `interface` (`""` = every IPv4 interface).
fn interface_address(interface: &str, port: u16) -> io::Result<SocketAddr> {
    let ip: IpAddr = if interface.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        interface.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface {interface:?} is not an IP address"),
            )
        })?
    };
    Ok(SocketAddr::new(ip, port))
}

struct TcpBind {
    addr: SocketAddr,
    backlog: u32,
    interface: String,
    /// `SO_REUSEPORT`: other sockets may listen on the same port, and the
    /// kernel spreads incoming connections over them.
    reuse_port: bool,
}

impl TcpBind {
    fn listen(&self) -> io::Result<mio::net::TcpListener> {
        let socket = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM,
            Some(SockProtocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if self.addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&SockAddr::from(self.addr))?;
        socket.listen(i32::try_from(self.backlog).unwrap_or(i32::MAX))?;
        socket.set_nonblocking(true)?;
        Ok(mio::net::TcpListener::from_std(socket.into()))
    }
}

impl Bind for TcpBind {
    fn bind(&self) -> Result<(Listener, Address), CannotListenError> {
        let cannot = |source| CannotListenError {
            interface: self.interface.clone(),
            port: self.addr.port(),
            source,
        };
        let listener = self.listen().map_err(cannot)?;
        let host = listener.local_addr().map_err(cannot)?;
        Ok((Listener::Tcp(listener), Address::Tcp(host)))
    }
}

impl Reactor {
    /// [`listen_tcp`](ReactorTcp::listen_tcp) with `SO_REUSEPORT` set before
    /// binding: several sockets, each with this option, may listen on the
    /// same `interface:port` at once, and the kernel spreads incoming
    /// connections over them (on Linux, by a hash of the peer's address and
    /// port). This is how [`run_per_core`](crate::run_per_core) gives each
    /// reactor a listening socket of its own on one port.
    ///
    /// Port 0 binds a free port as usual; to have other sockets join it, ask
    /// for the port this one got ([`ListeningPort::host`]).
    ///
    /// Any process of the same user may join the port with `SO_REUSEPORT`
    /// too and take a share of the connections; the kernel refuses other
    /// users, and refuses sockets without the option.
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] naming the address, with the OS error (for
    /// instance when the port is held by a socket without `SO_REUSEPORT`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use torsion_reactor::{Address, Factory, Protocol, Reactor, DEFAULT_BACKLOG};
    ///
    /// struct Quiet;
    /// impl Protocol for Quiet {
    ///     fn data_received(&mut self, _data: &[u8]) {}
    /// }
    ///
    /// let reactor = Reactor::new()?;
    /// let factory = Rc::new(Factory::for_protocol(|| Quiet));
    /// let first = reactor.listen_tcp_reuse_port(0, factory.clone(), DEFAULT_BACKLOG, "127.0.0.1")?;
    /// let Address::Tcp(addr) = first.host() else { unreachable!() };
    /// // A second socket on the very same port.
    /// let second = reactor.listen_tcp_reuse_port(addr.port(), factory, DEFAULT_BACKLOG, "127.0.0.1")?;
    /// assert_eq!(second.host(), first.host());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_tcp_reuse_port(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        self.listen_tcp_with(port, factory, backlog, interface, true)
    }

    fn listen_tcp_with(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
        reuse_port: bool,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let addr = interface_address(interface, port).map_err(|source| CannotListenError {
            interface: interface.to_string(),
            port,
            source,
        })?;
        let bind = TcpBind {
            addr,
            backlog,
            interface: interface.to_string(),
            reuse_port,
        };
        let listening =
            StreamPort::listen(&self.shared, factory, Box::new(bind), Address::Tcp(addr))?;
        Ok(listening)
    }
}

impl ReactorTcp for Reactor {
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        self.listen_tcp_with(port, factory, backlog, interface, false)
    }

    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        StreamConnector::start(
            self,
            Target::Tcp {
                host: host.to_string(),
                port,
                bind_address,
            },
            factory,
            timeout,
        )
    }
}
