//! [`DatagramProtocol`], [`UdpTransport`], [`MulticastTransport`] and
//! [`ReactorUdp`]: Twisted's `AbstractDatagramProtocol`/`DatagramProtocol`,
//! `IUDPTransport`, `IMulticastTransport`, `IReactorUDP` and
//! `IReactorMulticast`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use super::MulticastTransport;
use crate::error::UdpError;
use crate::{Deferred, PortCounter};

/// The largest datagram a port delivers whole by default: every UDP payload
/// IPv4 or IPv6 can carry (65 507 and 65 527 bytes) fits.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 64 * 1024;

/// A datagram protocol as the reactor holds it: shared, type-erased. The
/// user's own handle to the same object is an `Rc<RefCell<P>>`.
pub type DatagramProtocolRef = Rc<RefCell<dyn DatagramProtocol>>;

/// A UDP port as its protocol holds it.
pub type UdpTransportRef = Rc<dyn UdpTransport>;

/// The code that speaks a datagram protocol: Twisted's
/// `AbstractDatagramProtocol` and `DatagramProtocol`.
///
/// The reactor calls these methods on the reactor thread, one at a time,
/// never re-entrantly. A panic in any of them is caught at the reactor
/// boundary and logged; the port keeps serving (as Twisted logs an
/// exception from `datagramReceived` and reads on).
///
/// # Implementing
///
/// ```
/// use std::net::SocketAddr;
/// use torsion_reactor::{DatagramProtocol, UdpTransportRef};
///
/// /// Answers every datagram with its length.
/// #[derive(Default)]
/// struct Measure {
///     transport: Option<UdpTransportRef>,
/// }
///
/// impl DatagramProtocol for Measure {
///     fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
///         self.transport = transport;
///     }
///
///     fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
///         if let Some(transport) = &self.transport {
///             let answer = data.len().to_string();
///             if let Err(e) = transport.write(answer.as_bytes(), Some(addr)) {
///                 log::warn!("could not answer {addr}: {e}");
///             }
///         }
///     }
/// }
/// # let _ = Measure::default();
/// ```
///
/// # Twisted
///
/// Python sets `protocol.transport` in `makeConnection` and clears it in
/// `doStop`; here the port hands it to
/// [`set_transport`](DatagramProtocol::set_transport) (`Some` before
/// `start_protocol`, `None` after `stop_protocol`). Twisted counts ports in
/// `numPorts` so that one protocol on several ports starts and stops once;
/// a protocol that is listened with more than once returns a
/// [`PortCounter`] from [`port_counter`](DatagramProtocol::port_counter) to
/// get the same rule from the default `do_start`/`do_stop`.
pub trait DatagramProtocol: 'static {
    /// Keeps (or, with `None`, lets go of) the transport (Twisted's
    /// `self.transport = ...`).
    fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
        let _ = transport;
    }

    /// The port counter, for a protocol served by several ports at once.
    fn port_counter(&self) -> Option<&PortCounter> {
        None
    }

    /// Called by a port when it starts (Twisted's `makeConnection`): hands
    /// over the transport, then [`do_start`](DatagramProtocol::do_start).
    fn make_connection(&mut self, transport: UdpTransportRef) {
        self.set_transport(Some(transport));
        self.do_start();
    }

    /// A port starts serving this protocol: calls
    /// [`start_protocol`](DatagramProtocol::start_protocol) on the first
    /// (Twisted's `doStart`).
    fn do_start(&mut self) {
        let first = self.port_counter().is_none_or(|counter| {
            let first = counter.num_ports() == 0;
            counter.do_start(|| {});
            first
        });
        if first {
            self.start_protocol();
        }
    }

    /// A port stops serving this protocol: calls
    /// [`stop_protocol`](DatagramProtocol::stop_protocol) when the last one
    /// goes (Twisted's `doStop`), then lets go of the transport.
    fn do_stop(&mut self) {
        let last = self.port_counter().is_none_or(|counter| {
            let last = counter.num_ports() == 1;
            counter.do_stop(|| {});
            last
        });
        self.set_transport(None);
        if last {
            self.stop_protocol();
        }
    }

    /// The transport is up (Twisted's `startProtocol`).
    fn start_protocol(&mut self) {}

    /// The transport is gone (Twisted's `stopProtocol`).
    fn stop_protocol(&mut self) {}

    /// One datagram arrived from `addr` (Twisted's `datagramReceived`).
    ///
    /// # Twisted
    ///
    /// Twisted passes `(host, port)` and drops an IPv6 sender's flow
    /// information and scope id; `addr` keeps them, so that an answer to a
    /// link-local peer goes out on the interface it came in by.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr);

    /// A datagram from `addr` was larger than the port's maximum packet
    /// size: `data` holds its first bytes, `size` its full length.
    ///
    /// # Twisted
    ///
    /// Twisted reads at most `maxPacketSize` bytes and hands the cut
    /// datagram to `datagramReceived` as if it were whole. Torsion never
    /// truncates silently: the default logs a warning naming the sender and
    /// both sizes, and delivers nothing.
    fn datagram_truncated(&mut self, data: &[u8], size: usize, addr: SocketAddr) {
        log::warn!(
            "dropped a datagram of {size} bytes from {addr}: larger than the {} byte maximum",
            data.len()
        );
    }

    /// A connected port's peer refused a datagram (an ICMP "port
    /// unreachable" came back) (Twisted's `connectionRefused`).
    fn connection_refused(&mut self) {}

    /// A short name for log lines (Twisted's `logPrefix`).
    fn log_prefix(&self) -> &'static str {
        crate::interfaces::short_type_name::<Self>()
    }
}

/// A UDP port: Twisted's `IUDPTransport` (and the port's `IListeningPort`
/// side).
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use torsion_reactor::{error::UdpError, UdpTransport};
///
/// /// Sends `ping` to `peer`, or to the connected peer with `None`.
/// fn ping(port: &dyn UdpTransport, peer: Option<SocketAddr>) -> Result<(), UdpError> {
///     match port.write(b"ping", peer) {
///         Err(e) if e.is_would_block() => {
///             log::warn!("send buffer full, ping not sent");
///             Ok(())
///         }
///         other => other,
///     }
/// }
/// # let _ = ping;
/// ```
pub trait UdpTransport {
    /// Sends one datagram to `addr`, or to the connected address with
    /// `None` (Twisted's `write`).
    ///
    /// # Errors
    ///
    /// * [`UdpError::NotConnected`] without `addr` on a port not connected;
    /// * [`UdpError::WrongDestination`] with another `addr` than the
    ///   connected one;
    /// * [`UdpError::InvalidAddress`] for an address of the other family;
    /// * [`UdpError::MessageLength`] for a datagram too large (`EMSGSIZE`);
    /// * [`UdpError::Io`] for other OS errors, among them `WouldBlock` when
    ///   the send buffer is full: the datagram was not sent.
    ///
    /// # Twisted
    ///
    /// As Twisted: `EINTR` is retried; `ECONNREFUSED` on an unconnected port
    /// is ignored; on a connected port it is reported to the protocol's
    /// `connection_refused` (after the current callback, not from inside
    /// `write` as Twisted does, so the protocol is never called
    /// re-entrantly) and `write` returns `Ok`. `EWOULDBLOCK` is neither
    /// queued nor dropped silently: it is returned, as Twisted raises it.
    fn write(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<(), UdpError>;

    /// Sends the concatenation of `data` as one datagram, without copying
    /// it together (Twisted's `writeSequence`).
    ///
    /// # Errors
    ///
    /// As [`write`](UdpTransport::write).
    fn write_sequence(&self, data: &[&[u8]], addr: Option<SocketAddr>) -> Result<(), UdpError> {
        self.write(&data.concat(), addr)
    }

    /// Connects the port to `addr`: it then receives only from there, and
    /// `write(data, None)` sends there (Twisted's `connect`).
    ///
    /// # Errors
    ///
    /// [`UdpError::AlreadyConnected`] on a second `connect`;
    /// [`UdpError::InvalidAddress`] for an address of the other family;
    /// [`UdpError::Io`] if the OS refuses.
    fn connect(&self, addr: SocketAddr) -> Result<(), UdpError>;

    /// The address it is connected to, if any.
    fn connected_address(&self) -> Option<SocketAddr>;

    /// The local address (with the real port when asked for port 0)
    /// (Twisted's `getHost`); after `stop_listening`, the last one it had.
    ///
    /// # Twisted
    ///
    /// Twisted returns an `IPv4Address("UDP", ...)`/`IPv6Address`; the
    /// address of a UDP port is always an IP socket address, so this is a
    /// [`SocketAddr`] (its type says "UDP").
    fn host(&self) -> SocketAddr;

    /// Stops reading, closes the socket and, after the current callback,
    /// calls the protocol's `do_stop`; the Deferred fires then (Twisted's
    /// `stopListening`). Stopping a stopped port fires at once.
    fn stop_listening(&self) -> Deferred<()>;

    /// Whether the socket is open.
    fn is_listening(&self) -> bool;

    /// Allows or forbids sending to broadcast addresses (`SO_BROADCAST`;
    /// Twisted's `setBroadcastAllowed`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn set_broadcast_allowed(&self, enabled: bool) -> Result<(), UdpError>;

    /// Whether broadcast is allowed (Twisted's `getBroadcastAllowed`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn broadcast_allowed(&self) -> Result<bool, UdpError>;

    /// The multicast side of a port made by `listen_multicast`.
    fn as_multicast(&self) -> Option<&dyn MulticastTransport> {
        None
    }
}

/// UDP and multicast: Twisted's `IReactorUDP` and `IReactorMulticast`.
///
/// # Examples
///
/// Code that opens ports takes the trait, so a test hands it
/// `testing::MemoryReactor` and inspects what it asked for:
///
/// ```
/// use std::{cell::RefCell, net::SocketAddr, rc::Rc};
/// use torsion_reactor::{error::UdpError, DatagramProtocol, ReactorUdp, DEFAULT_MAX_PACKET_SIZE};
///
/// struct Discard;
/// impl DatagramProtocol for Discard {
///     fn datagram_received(&mut self, _data: &[u8], _addr: SocketAddr) {}
/// }
///
/// fn serve(reactor: &dyn ReactorUdp) -> Result<(), UdpError> {
///     let port = reactor.listen_udp(0, Rc::new(RefCell::new(Discard)), "127.0.0.1", DEFAULT_MAX_PACKET_SIZE)?;
///     log::info!("discarding datagrams on {}", port.host());
///     Ok(())
/// }
/// # let _ = serve;
/// ```
///
/// # Twisted
///
/// `IReactorUDP.listenUDP` and `IReactorMulticast.listenMulticast` as one
/// trait. Twisted has no UDP endpoints and no `udp:` description string
/// (`twisted.internet.endpoints` and `strports` are stream-only; UDP
/// services are built with `application.internet.UDPServer` around
/// `listenUDP`), so Torsion has none either. `listen_udp` takes the
/// maximum packet size Twisted's takes, but a larger datagram is reported
/// to [`DatagramProtocol::datagram_truncated`], never delivered cut.
pub trait ReactorUdp {
    /// Binds `interface:port` (`""` = every IPv4 interface, `"::"` = every
    /// IPv6 one; port 0 = any free port) and serves `protocol` there
    /// (Twisted's `listenUDP`). Datagrams over `max_packet_size` bytes
    /// (at most [`DEFAULT_MAX_PACKET_SIZE`]) go to `datagram_truncated`.
    ///
    /// # Errors
    ///
    /// [`UdpError::InvalidAddress`] if `interface` is not an IP address;
    /// [`UdpError::CannotListen`] naming the address, with the OS error.
    fn listen_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
    ) -> Result<UdpTransportRef, UdpError>;

    /// As [`listen_udp`](ReactorUdp::listen_udp), for multicast; with
    /// `listen_multiple`, `SO_REUSEADDR` and `SO_REUSEPORT` let several
    /// sockets bind the same port and each receive the group's datagrams
    /// (Twisted's `listenMulticast`).
    ///
    /// # Errors
    ///
    /// As [`listen_udp`](ReactorUdp::listen_udp).
    fn listen_multicast(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: bool,
    ) -> Result<Rc<dyn MulticastTransport>, UdpError>;
}

impl<R: ReactorUdp + ?Sized> ReactorUdp for Rc<R> {
    fn listen_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
    ) -> Result<UdpTransportRef, UdpError> {
        (**self).listen_udp(port, protocol, interface, max_packet_size)
    }

    fn listen_multicast(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: bool,
    ) -> Result<Rc<dyn MulticastTransport>, UdpError> {
        (**self).listen_multicast(port, protocol, interface, max_packet_size, listen_multiple)
    }
}

impl std::fmt::Debug for dyn UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UdpTransport({})", self.host())
    }
}
