//! [`ReactorUdp`] for the memory reactors: what a `listen_udp` or
//! `listen_multicast` call records (Twisted's `udpServers`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use torsion_reactor::error::UdpError;
use torsion_reactor::{
    DatagramProtocolRef, MulticastTransport, ReactorUdp, UdpTransport, UdpTransportRef,
};

use super::{MemoryReactor, MemoryReactorClock};
use crate::FakeDatagramTransport;

/// One `listen_udp` or `listen_multicast` call recorded by a
/// [`MemoryReactor`] (an entry of Twisted's `udpServers`).
///
/// As Twisted's, the memory reactor does not start the protocol: the test
/// does it with [`FakeDatagramTransport::start`] when it wants to.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, net::SocketAddr, rc::Rc};
/// use torsion_reactor::{DatagramProtocol, ReactorUdp};
/// use torsion_testing::MemoryReactor;
///
/// struct Discard;
/// impl DatagramProtocol for Discard {
///     fn datagram_received(&mut self, _: &[u8], _: SocketAddr) {}
/// }
///
/// let reactor = MemoryReactor::new();
/// reactor.listen_udp(5353, Rc::new(RefCell::new(Discard)), "::1", 9000)?;
/// let server = &reactor.udp_servers()[0];
/// assert_eq!((server.port, server.interface.as_str(), server.max_packet_size), (5353, "::1", 9000));
/// assert_eq!(server.listen_multiple, None);
/// assert_eq!(server.transport.written(), vec![]);
/// # Ok::<(), torsion_reactor::error::UdpError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct UdpServer {
    /// The port asked for.
    pub port: u16,
    /// The protocol passed in.
    pub protocol: DatagramProtocolRef,
    /// The interface asked for (`""` for all IPv4 ones).
    pub interface: String,
    /// The maximum packet size asked for.
    pub max_packet_size: usize,
    /// `None` for `listen_udp`; `Some(listen_multiple)` for `listen_multicast`.
    pub listen_multiple: Option<bool>,
    /// The fake transport the call returned.
    pub transport: Rc<FakeDatagramTransport>,
}

impl fmt::Debug for UdpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpServer")
            .field("port", &self.port)
            .field("interface", &self.interface)
            .field("max_packet_size", &self.max_packet_size)
            .field("listen_multiple", &self.listen_multiple)
            .finish_non_exhaustive()
    }
}

impl MemoryReactor {
    fn record_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: Option<bool>,
    ) -> Result<Rc<FakeDatagramTransport>, UdpError> {
        // The interface is checked as the real reactor checks it.
        let ip = if interface.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            interface.parse().map_err(|_| UdpError::InvalidAddress {
                address: interface.to_string(),
                reason: "not an IPv4 or IPv6 address",
            })?
        };
        let transport = FakeDatagramTransport::new(SocketAddr::new(ip, port));
        self.record_udp_server(UdpServer {
            port,
            protocol,
            interface: interface.to_string(),
            max_packet_size,
            listen_multiple,
            transport: transport.clone(),
        });
        Ok(transport)
    }
}

impl ReactorUdp for MemoryReactor {
    fn listen_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
    ) -> Result<UdpTransportRef, UdpError> {
        let transport: Rc<dyn UdpTransport> =
            self.record_udp(port, protocol, interface, max_packet_size, None)?;
        Ok(transport)
    }

    fn listen_multicast(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: bool,
    ) -> Result<Rc<dyn MulticastTransport>, UdpError> {
        let transport: Rc<dyn MulticastTransport> = self.record_udp(
            port,
            protocol,
            interface,
            max_packet_size,
            Some(listen_multiple),
        )?;
        Ok(transport)
    }
}

impl ReactorUdp for MemoryReactorClock {
    fn listen_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
    ) -> Result<UdpTransportRef, UdpError> {
        self.reactor()
            .listen_udp(port, protocol, interface, max_packet_size)
    }

    fn listen_multicast(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: bool,
    ) -> Result<Rc<dyn MulticastTransport>, UdpError> {
        self.reactor()
            .listen_multicast(port, protocol, interface, max_packet_size, listen_multiple)
    }
}
