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
}

impl TcpBind {
    fn listen(&self) -> io::Result<mio::net::TcpListener> {
        let socket = Socket::new(
            Domain::for_address(self.addr),
            Type::STREAM,
            Some(SockProtocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
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

impl ReactorTcp for Reactor {
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
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
        };
        let listening =
            StreamPort::listen(&self.shared, factory, Box::new(bind), Address::Tcp(addr))?;
        Ok(listening)
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
