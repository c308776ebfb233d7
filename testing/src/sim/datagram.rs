//! UDP on the simulated network: the ports behind [`SimHost`]'s
//! `ReactorUdp`.
//!
//! A datagram crosses its link after the latency plus a jitter drawn per
//! datagram (so datagrams may arrive out of order, as UDP's may), is lost
//! at the link's loss rate (drawn from the simulation's seed), and is
//! dropped, not held, wherever a partition or hold blocks the link: UDP is
//! never resent. One sent to a host with no port bound there comes back
//! as an ICMP refusal, which a connected port hears as
//! `connection_refused`. A datagram to a multicast group reaches every
//! port bound to its port number that joined the group, on every host the
//! link lets it reach (the sender's own host too if loopback is on).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::error::UdpError;
use torsion_reactor::{DatagramProtocolRef, Deferred, MulticastTransport, UdpTransport};

use super::host::SimHost;
use super::network::Net;
use crate::multicast::MulticastState;

/// The largest datagram IPv4 carries (65 535 less the IP and UDP headers).
const MAX_DATAGRAM: usize = 65_507;

/// One UDP socket of a simulated host.
pub(crate) struct SimUdpPort {
    me: Weak<SimUdpPort>,
    net: Weak<Net>,
    host_id: usize,
    addr: SocketAddr,
    protocol: RefCell<Option<DatagramProtocolRef>>,
    max_packet_size: usize,
    connected: Cell<Option<SocketAddr>>,
    listening: Cell<bool>,
    broadcast: Cell<bool>,
    multicast: bool,
    options: MulticastState,
}

impl SimUdpPort {
    pub(crate) fn new(
        host: &SimHost,
        port: u16,
        protocol: DatagramProtocolRef,
        max_packet_size: usize,
        multicast: bool,
    ) -> Rc<SimUdpPort> {
        Rc::new_cyclic(|me| SimUdpPort {
            me: me.clone(),
            net: Rc::downgrade(&host.net()),
            host_id: host.inner.id,
            addr: SocketAddr::new(host.ip(), port),
            protocol: RefCell::new(Some(protocol)),
            max_packet_size: max_packet_size.min(MAX_DATAGRAM),
            connected: Cell::new(None),
            listening: Cell::new(true),
            broadcast: Cell::new(false),
            multicast,
            options: MulticastState::new(true),
        })
    }

    /// The protocol gets its transport (`make_connection`).
    pub(crate) fn started(self: &Rc<Self>) {
        let protocol = self.protocol.borrow().clone();
        if let Some(protocol) = protocol {
            let transport: Rc<dyn UdpTransport> = self.clone();
            protocol.borrow_mut().make_connection(transport);
        }
    }

    /// The port number.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    pub(crate) fn is_multicast(&self) -> bool {
        self.multicast
    }

    /// Closed with its host's crash: nothing told, nothing delivered.
    pub(crate) fn crashed(&self) {
        self.listening.set(false);
        self.protocol.borrow_mut().take();
    }

    fn net(&self) -> Option<Rc<Net>> {
        self.net.upgrade()
    }

    fn trace(&self, net: &Net, event: impl AsRef<str>) {
        net.record(format!(
            "{}: udp {} {}",
            net.host_name(self.host_id),
            self.addr.port(),
            event.as_ref()
        ));
    }

    /// Whether a datagram from `from` is taken (a connected port takes only
    /// its peer's).
    fn accepts_from(&self, from: SocketAddr) -> bool {
        self.listening.get() && self.connected.get().is_none_or(|peer| peer == from)
    }

    fn joined(&self, group: IpAddr) -> bool {
        self.options.joined(group)
    }

    /// A datagram arrives.
    fn receive(&self, data: &[u8], from: SocketAddr) {
        if !self.accepts_from(from) {
            return;
        }
        let Some(protocol) = self.protocol.borrow().clone() else {
            return;
        };
        let Ok(mut protocol) = protocol.try_borrow_mut() else {
            if let Some(net) = self.net() {
                self.trace(
                    &net,
                    format!("dropped a datagram from {from}: protocol busy"),
                );
            }
            return;
        };
        if data.len() > self.max_packet_size {
            protocol.datagram_truncated(&data[..self.max_packet_size], data.len(), from);
        } else {
            protocol.datagram_received(data, from);
        }
    }

    /// The ICMP refusal of a datagram this port sent to `to`.
    fn refused(&self, to: SocketAddr) {
        if !self.listening.get() || self.connected.get() != Some(to) {
            return;
        }
        let protocol = self.protocol.borrow().clone();
        if let Some(protocol) = protocol {
            if let Ok(mut protocol) = protocol.try_borrow_mut() {
                protocol.connection_refused();
            }
        }
    }

    /// The address the receiver sees this port's datagrams come from.
    fn source_for(&self, to: IpAddr) -> SocketAddr {
        if to.is_loopback() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.addr.port())
        } else {
            self.addr
        }
    }

    fn send(&self, data: &[u8], to: SocketAddr) -> Result<(), UdpError> {
        if !self.listening.get() {
            return Err(UdpError::NotListening);
        }
        if data.len() > MAX_DATAGRAM {
            return Err(UdpError::MessageLength { size: data.len() });
        }
        let IpAddr::V4(ip) = to.ip() else {
            return Err(UdpError::InvalidAddress {
                address: to.to_string(),
                reason: "the simulated network has IPv4 addresses only",
            });
        };
        let net = self.net().ok_or(UdpError::NotListening)?;
        let hosts = net.hosts.borrow().len();
        if ip.is_multicast() {
            for id in 0..hosts {
                if id != self.host_id || self.options.loopback_mode() {
                    self.carry(&net, id, data, to);
                }
            }
        } else if ip.is_broadcast() {
            if !self.broadcast.get() {
                return Err(UdpError::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "broadcast not allowed on this port (set_broadcast_allowed)",
                )));
            }
            for id in 0..hosts {
                self.carry(&net, id, data, to);
            }
        } else {
            match net.resolve(self.host_id, &ip.to_string()) {
                Some(id) => self.carry(&net, id, data, to),
                // No such host: the datagram is sent into the void.
                None => self.trace(
                    &net,
                    format!("sent {} bytes to {to}: no such host", data.len()),
                ),
            }
        }
        Ok(())
    }

    /// Sends `data` towards host `id`, as the link between them lets it.
    fn carry(&self, net: &Rc<Net>, id: usize, data: &[u8], to: SocketAddr) {
        let from = self.host_id;
        if net.blocked(from, id).is_some() {
            self.trace(net, format!("datagram to {to} dropped: link blocked"));
            return;
        }
        let loss = net.link(from, id).loss();
        if loss > 0.0 && net.rng.next_f64() < loss {
            self.trace(net, format!("datagram to {to} lost"));
            return;
        }
        let source = self.source_for(to.ip());
        let data = data.to_vec();
        let sender = self.me.clone();
        let delay = net.delay(from, id);
        net.later(delay, move |net| {
            deliver(net, id, &data, source, to, sender)
        });
    }
}

/// A datagram reaches host `id`: to the port(s) it is for, or refused.
fn deliver(
    net: &Rc<Net>,
    id: usize,
    data: &[u8],
    source: SocketAddr,
    to: SocketAddr,
    sender: Weak<SimUdpPort>,
) {
    // A crashed host's kernel still answers: its ports are gone, so the
    // datagram is refused, as a stream's connection is reset.
    let ports = net.host(id).udp_ports(to.port());
    if to.ip().is_multicast() {
        for port in ports.iter().filter(|p| p.joined(to.ip())) {
            port.receive(data, source);
        }
        return;
    }
    match ports.first() {
        Some(port) => port.receive(data, source),
        None if matches!(to.ip(), IpAddr::V4(ip) if ip.is_broadcast()) => {}
        None => {
            // ICMP port unreachable, back over the same link.
            let back = net.delay(id, sender.upgrade().map_or(id, |s| s.host_id));
            net.later(back, move |_| {
                if let Some(sender) = sender.upgrade() {
                    sender.refused(to);
                }
            });
        }
    }
}

impl UdpTransport for SimUdpPort {
    fn write(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<(), UdpError> {
        let to = match (addr, self.connected.get()) {
            (None, None) => return Err(UdpError::NotConnected),
            (None, Some(peer)) => peer,
            (Some(to), Some(peer)) if to != peer => {
                return Err(UdpError::WrongDestination {
                    connected: peer,
                    requested: to,
                })
            }
            (Some(to), _) => to,
        };
        self.send(data, to)
    }

    fn connect(&self, addr: SocketAddr) -> Result<(), UdpError> {
        if let Some(connected) = self.connected.get() {
            return Err(UdpError::AlreadyConnected { connected });
        }
        if !addr.is_ipv4() {
            return Err(UdpError::InvalidAddress {
                address: addr.to_string(),
                reason: "the simulated network has IPv4 addresses only",
            });
        }
        if !self.listening.get() {
            return Err(UdpError::NotListening);
        }
        self.connected.set(Some(addr));
        Ok(())
    }

    fn connected_address(&self) -> Option<SocketAddr> {
        self.connected.get()
    }

    fn host(&self) -> SocketAddr {
        self.addr
    }

    fn stop_listening(&self) -> Deferred<()> {
        let done = Deferred::new();
        if !self.listening.replace(false) {
            done.callback(());
            return done;
        }
        let Some(net) = self.net() else {
            done.callback(());
            return done;
        };
        net.host(self.host_id).forget_udp_port(self);
        let protocol = self.protocol.borrow_mut().take();
        let fired = done.clone();
        // After the current callback, as on the mio reactor.
        net.later(Duration::ZERO, move |_| {
            if let Some(protocol) = protocol {
                protocol.borrow_mut().do_stop();
            }
            fired.callback(());
        });
        done
    }

    fn is_listening(&self) -> bool {
        self.listening.get()
    }

    fn set_broadcast_allowed(&self, enabled: bool) -> Result<(), UdpError> {
        if !self.listening.get() {
            return Err(UdpError::NotListening);
        }
        self.broadcast.set(enabled);
        Ok(())
    }

    fn broadcast_allowed(&self) -> Result<bool, UdpError> {
        if !self.listening.get() {
            return Err(UdpError::NotListening);
        }
        Ok(self.broadcast.get())
    }

    fn as_multicast(&self) -> Option<&dyn MulticastTransport> {
        self.multicast.then_some(self as &dyn MulticastTransport)
    }
}

forward_multicast!(SimUdpPort, options);

impl fmt::Debug for SimUdpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimUdpPort")
            .field("addr", &self.addr)
            .field("connected", &self.connected.get())
            .field("listening", &self.listening.get())
            .finish()
    }
}
