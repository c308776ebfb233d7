//! [`UdpPort`]: a UDP socket and its datagram protocol (Twisted's
//! `udp.Port` and `udp.MulticastPort`), and [`ReactorUdp`] for the reactor.
//!
//! Reading: one `recvfrom` per datagram, straight into the reactor's shared
//! read buffer (no allocation per datagram), with `MSG_TRUNC` so that a
//! datagram larger than the port's maximum is seen at its full size and
//! reported to `datagram_truncated` instead of being delivered cut. At most
//! [`DATAGRAMS_PER_TURN`] datagrams are read per readiness event; the rest
//! wait for the next loop iteration, after other sources and due timers
//! (the rule TCP reads follow), so a flood on one port cannot starve the
//! reactor.
//!
//! Writing: straight to the socket, never buffered; whatever the OS refuses
//! (`EWOULDBLOCK` included) is returned to the caller, as Twisted raises it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use mio::{Interest, Token};
use rustix::io::Errno;
use rustix::net::RecvFlags;
use socket2::{Domain, Protocol as SockProtocol, SockAddr, SockRef, Socket, Type};

use super::reactor::{IoSource, Reactor, ReactorState, READ_BUFFER};
use crate::error::{CannotListenError, PanicError, UdpError};
use crate::interfaces::{
    DatagramProtocol, DatagramProtocolRef, MulticastTransport, ReactorUdp, UdpTransport,
    UdpTransportRef,
};
use crate::Deferred;

/// Datagrams read per readiness event before yielding to other sources.
pub(crate) const DATAGRAMS_PER_TURN: usize = 32;

/// A bound UDP socket serving one datagram protocol.
pub(crate) struct UdpPort {
    me: Weak<UdpPort>,
    reactor: Weak<ReactorState>,
    protocol: DatagramProtocolRef,
    pub(super) socket: RefCell<Option<(Token, mio::net::UdpSocket)>>,
    host: Cell<SocketAddr>,
    connected: Cell<Option<SocketAddr>>,
    max_packet_size: usize,
    multicast: bool,
    /// A read continuation is queued for the next iteration.
    read_continues: Cell<bool>,
    /// `stop_listening` closed the socket; `do_stop` has not run yet.
    stopping: RefCell<Option<Vec<Deferred<()>>>>,
}

/// The address to bind for `interface` (`""` = every IPv4 interface).
fn interface_address(interface: &str, port: u16) -> Result<SocketAddr, UdpError> {
    if interface.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    let ip: IpAddr = interface.parse().map_err(|_| UdpError::InvalidAddress {
        address: interface.to_string(),
        reason: "not an IPv4 or IPv6 address",
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// Creates, configures and binds the socket.
fn bind(addr: SocketAddr, listen_multiple: bool) -> io::Result<mio::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(SockProtocol::UDP),
    )?;
    if listen_multiple {
        // Twisted's MulticastPort with listenMultiple: both options, so that
        // every socket on the port gets each multicast datagram.
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(mio::net::UdpSocket::from_std(socket.into()))
}

/// `addr` is of the family of a port bound to `host`.
pub(super) fn check_family(host: SocketAddr, addr: SocketAddr) -> Result<(), UdpError> {
    match (host.is_ipv4(), addr.is_ipv4()) {
        (true, false) => Err(UdpError::InvalidAddress {
            address: addr.to_string(),
            reason: "IPv4 port write() called with IPv6 address",
        }),
        (false, true) => Err(UdpError::InvalidAddress {
            address: addr.to_string(),
            reason: "IPv6 port write() called with IPv4 address",
        }),
        _ => Ok(()),
    }
}

impl UdpPort {
    /// Binds, registers, and starts the protocol.
    pub(crate) fn listen(
        reactor: &Rc<ReactorState>,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        multicast: Option<bool>,
    ) -> Result<Rc<UdpPort>, UdpError> {
        let addr = interface_address(interface, port)?;
        let cannot = |source| {
            UdpError::CannotListen(CannotListenError {
                interface: interface.to_string(),
                port,
                source,
            })
        };
        let mut socket = bind(addr, multicast == Some(true)).map_err(cannot)?;
        let host = socket.local_addr().map_err(cannot)?;
        let port = Rc::new_cyclic(|me| UdpPort {
            me: me.clone(),
            reactor: Rc::downgrade(reactor),
            protocol,
            socket: RefCell::new(None),
            host: Cell::new(host),
            connected: Cell::new(None),
            max_packet_size: max_packet_size.min(READ_BUFFER),
            multicast: multicast.is_some(),
            read_continues: Cell::new(false),
            stopping: RefCell::new(None),
        });
        let source = port.clone();
        let token = reactor
            .register(&mut socket, Interest::READABLE, move |_| source)
            .map_err(cannot)?;
        *port.socket.borrow_mut() = Some((token, socket));
        log::info!("{} starting on {}", port.protocol_name(), host.port());
        let transport: UdpTransportRef = port.clone();
        port.with_protocol("start_protocol", |p| p.make_connection(transport));
        Ok(port)
    }

    fn protocol_name(&self) -> &'static str {
        self.protocol
            .try_borrow()
            .map_or("DatagramProtocol", |p| p.log_prefix())
    }

    /// Calls into the protocol, containing a panic: it is logged and the
    /// port goes on (Twisted logs an exception from `datagramReceived`).
    fn with_protocol(&self, method: &str, call: impl FnOnce(&mut dyn DatagramProtocol)) {
        let outcome = catch_unwind(AssertUnwindSafe(|| match self.protocol.try_borrow_mut() {
            Ok(mut protocol) => call(&mut *protocol),
            Err(_) => log::error!(
                "datagram protocol on {} busy in {method}: re-entrant call skipped",
                self.host.get()
            ),
        }));
        if let Err(payload) = outcome {
            // Prefixed as Twisted's log context for a port: "Prefix (UDP)".
            log::error!(
                "{} (UDP) on {}: the protocol panicked in {method}: {}",
                self.protocol_name(),
                self.host.get(),
                PanicError::from_payload(payload.as_ref())
            );
        }
    }

    fn is_open(&self) -> bool {
        self.socket.borrow().is_some()
    }

    /// Runs `op` on the socket, or fails with `NotListening`.
    pub(super) fn with_socket<T>(
        &self,
        op: impl FnOnce(&mio::net::UdpSocket) -> io::Result<T>,
    ) -> Result<T, UdpError> {
        match self.socket.borrow().as_ref() {
            Some((_, socket)) => op(socket).map_err(UdpError::Io),
            None => Err(UdpError::NotListening),
        }
    }

    // ---- reading -------------------------------------------------------

    /// Reads and delivers up to [`DATAGRAMS_PER_TURN`] datagrams; if the
    /// socket may hold more, comes back in the next iteration.
    fn do_read(&self) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        let mut buffer = reactor.take_read_buffer();
        let limit = self.max_packet_size.min(buffer.len());
        let mut drained = false;
        for _ in 0..DATAGRAMS_PER_TURN {
            let received = match self.socket.borrow().as_ref() {
                Some((_, socket)) => {
                    rustix::net::recvfrom(socket, &mut buffer[..limit], RecvFlags::TRUNC)
                }
                None => {
                    drained = true;
                    break;
                }
            };
            match received {
                Ok((n, size, from)) => {
                    let from = from
                        .and_then(|a| SocketAddr::try_from(a).ok())
                        .or(self.connected.get())
                        .unwrap_or(self.host.get());
                    let data = &buffer[..n];
                    if size > n {
                        self.with_protocol("datagram_truncated", |p| {
                            p.datagram_truncated(data, size, from)
                        });
                    } else {
                        self.with_protocol("datagram_received", |p| {
                            p.datagram_received(data, from)
                        });
                    }
                }
                Err(Errno::AGAIN) => {
                    drained = true;
                    break;
                }
                Err(Errno::INTR) => {}
                Err(Errno::CONNREFUSED) => {
                    // An ICMP "port unreachable" for an earlier datagram;
                    // reported (on a connected port) and consumed: read on,
                    // the queue may hold datagrams behind it.
                    if self.connected.get().is_some() {
                        self.with_protocol("connection_refused", |p| p.connection_refused());
                    }
                }
                Err(e) => {
                    // Other errors are consumed by the read (SO_ERROR is
                    // cleared), so they cannot spin: log and read on.
                    log::error!("recvfrom on UDP port {} failed: {e}", self.host.get());
                }
            }
        }
        reactor.return_read_buffer(buffer);
        if !drained {
            // Fairness: let other sources and timers in, then go on (edge
            // triggered: no new event comes for what is already queued).
            if let Some(me) = self.me.upgrade() {
                self.read_continues.set(true);
                reactor.next_turn(move || {
                    me.read_continues.set(false);
                    me.do_read();
                });
            }
        }
    }

    // ---- writing -------------------------------------------------------

    /// Where a datagram goes: `None` for the connected peer.
    fn destination(&self, addr: Option<SocketAddr>) -> Result<Option<SocketAddr>, UdpError> {
        match (self.connected.get(), addr) {
            (Some(_), None) => Ok(None),
            (Some(connected), Some(requested)) if requested == connected => Ok(None),
            (Some(connected), Some(requested)) => Err(UdpError::WrongDestination {
                connected,
                requested,
            }),
            (None, None) => Err(UdpError::NotConnected),
            (None, Some(addr)) => {
                check_family(self.host.get(), addr)?;
                Ok(Some(addr))
            }
        }
    }

    /// Sends with `send`, retrying `EINTR` and mapping errors as Twisted.
    fn send(
        &self,
        size: usize,
        send: impl Fn(&mio::net::UdpSocket) -> io::Result<usize>,
    ) -> Result<(), UdpError> {
        loop {
            let sent = match self.socket.borrow().as_ref() {
                Some((_, socket)) => send(socket),
                None => return Err(UdpError::NotListening),
            };
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    return Err(UdpError::MessageLength { size })
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    // Twisted: ignored when not connected (platform
                    // dependent, says nothing about this datagram); when
                    // connected, the protocol hears of it, after the
                    // current callback rather than from inside `write`.
                    if self.connected.get().is_some() {
                        self.refused_soon();
                    }
                    return Ok(());
                }
                Err(e) => return Err(UdpError::Io(e)),
            }
        }
    }

    fn refused_soon(&self) {
        if let (Some(reactor), Some(me)) = (self.reactor.upgrade(), self.me.upgrade()) {
            reactor.soon(move || {
                if me.is_open() {
                    me.with_protocol("connection_refused", |p| p.connection_refused());
                }
            });
        }
    }

    // ---- stopping ------------------------------------------------------

    /// Runs `do_stop` and fires the waiting Deferreds.
    fn finish_stop(&self) {
        let waiting = self.stopping.borrow_mut().take().unwrap_or_default();
        log::info!("(UDP Port {} Closed)", self.host.get().port());
        self.with_protocol("stop_protocol", |p| p.do_stop());
        for d in waiting {
            d.callback(());
        }
    }
}

impl IoSource for UdpPort {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        if !self.read_continues.get() {
            self.do_read();
        }
    }

    fn shutdown(self: Rc<Self>) {
        drop(UdpTransport::stop_listening(&*self));
    }
}

impl UdpTransport for UdpPort {
    fn write(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<(), UdpError> {
        match self.destination(addr)? {
            None => self.send(data.len(), |socket| socket.send(data)),
            Some(to) => self.send(data.len(), |socket| socket.send_to(data, to)),
        }
    }

    fn write_sequence(&self, data: &[&[u8]], addr: Option<SocketAddr>) -> Result<(), UdpError> {
        let destination = self.destination(addr)?;
        let size = data.iter().map(|d| d.len()).sum();
        let slices: Vec<IoSlice<'_>> = data.iter().map(|d| IoSlice::new(d)).collect();
        match destination {
            None => self.send(size, |socket| SockRef::from(socket).send_vectored(&slices)),
            Some(to) => {
                let to = SockAddr::from(to);
                self.send(size, |socket| {
                    SockRef::from(socket).send_to_vectored(&slices, &to)
                })
            }
        }
    }

    fn connect(&self, addr: SocketAddr) -> Result<(), UdpError> {
        if let Some(connected) = self.connected.get() {
            return Err(UdpError::AlreadyConnected { connected });
        }
        check_family(self.host.get(), addr)?;
        self.with_socket(|socket| socket.connect(addr))?;
        self.connected.set(Some(addr));
        Ok(())
    }

    fn connected_address(&self) -> Option<SocketAddr> {
        self.connected.get()
    }

    fn host(&self) -> SocketAddr {
        self.host.get()
    }

    fn stop_listening(&self) -> Deferred<()> {
        if let Some(waiting) = self.stopping.borrow_mut().as_mut() {
            let d = Deferred::new();
            waiting.push(d.clone());
            return d;
        }
        let Some((token, mut socket)) = self.socket.borrow_mut().take() else {
            return Deferred::succeeded(());
        };
        let reactor = self.reactor.upgrade();
        if let Some(reactor) = &reactor {
            reactor.deregister(token, &mut socket);
        }
        drop(socket);
        let d = Deferred::new();
        *self.stopping.borrow_mut() = Some(vec![d.clone()]);
        // Twisted's callLater(0, connectionLost): `stop_protocol` is never
        // called from inside the call that stopped the port.
        match (reactor, self.me.upgrade()) {
            (Some(reactor), Some(me)) => reactor.soon(move || me.finish_stop()),
            _ => self.finish_stop(),
        }
        d
    }

    fn is_listening(&self) -> bool {
        self.is_open()
    }

    fn set_broadcast_allowed(&self, enabled: bool) -> Result<(), UdpError> {
        self.with_socket(|socket| socket.set_broadcast(enabled))
    }

    fn broadcast_allowed(&self) -> Result<bool, UdpError> {
        self.with_socket(|socket| socket.broadcast())
    }

    fn as_multicast(&self) -> Option<&dyn MulticastTransport> {
        if self.multicast {
            Some(self)
        } else {
            None
        }
    }
}

impl fmt::Debug for UdpPort {
    /// Names the protocol and the port number, as Twisted's `repr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_open() {
            write!(
                f,
                "<{} on {}>",
                self.protocol_name(),
                self.host.get().port()
            )
        } else {
            write!(f, "<{} not connected>", self.protocol_name())
        }
    }
}

impl ReactorUdp for Reactor {
    fn listen_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
    ) -> Result<UdpTransportRef, UdpError> {
        let port = UdpPort::listen(
            &self.shared,
            port,
            protocol,
            interface,
            max_packet_size,
            None,
        )?;
        Ok(port)
    }

    fn listen_multicast(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: bool,
    ) -> Result<Rc<dyn MulticastTransport>, UdpError> {
        let port = UdpPort::listen(
            &self.shared,
            port,
            protocol,
            interface,
            max_packet_size,
            Some(listen_multiple),
        )?;
        Ok(port)
    }
}
