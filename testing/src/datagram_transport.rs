//! [`FakeDatagramTransport`]: a UDP transport that records (Twisted's
//! `twisted.internet.testing.FakeDatagramTransport`), and
//! [`pump_datagrams`], which carries datagrams between two of them.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};

use crate::multicast::MulticastState;
use torsion_reactor::error::UdpError;
use torsion_reactor::{
    DatagramProtocolRef, Deferred, MulticastInterface, MulticastTransport, UdpTransport,
    UdpTransportRef,
};

/// A [`UdpTransport`] (and [`MulticastTransport`]) without a socket: it
/// records every datagram written, and [`receive`](Self::receive) hands
/// datagrams to its protocol. Nothing happens unless the test says so, so
/// a test is deterministic and runs on the fake clock.
///
/// * [`written`](Self::written) lists `(datagram, destination)` in order;
///   the destination is `None` for a connected write (Twisted records its
///   `noAddr` sentinel);
/// * writes check what the real port checks (connected or not, address
///   family, [`max_datagram`](Self::set_max_datagram) for `MessageLength`),
///   so a protocol's error paths can be tested;
/// * [`stop_listening`](UdpTransport::stop_listening) calls the protocol's
///   `do_stop` at once, or, if called from inside the protocol, when that
///   call returns (never re-entrantly, as the real port).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, net::SocketAddr, rc::Rc};
/// use torsion_reactor::{DatagramProtocol, UdpTransportRef};
/// use torsion_testing::FakeDatagramTransport;
///
/// #[derive(Default)]
/// struct Echo(Option<UdpTransportRef>);
/// impl DatagramProtocol for Echo {
///     fn set_transport(&mut self, t: Option<UdpTransportRef>) {
///         self.0 = t;
///     }
///     fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
///         self.0.as_ref().unwrap().write(data, Some(addr)).unwrap();
///     }
/// }
///
/// let transport = FakeDatagramTransport::new("127.0.0.1:9999".parse()?);
/// transport.start(Rc::new(RefCell::new(Echo::default())));
/// let peer: SocketAddr = "127.0.0.1:4000".parse()?;
/// transport.receive(b"ping", peer);
/// assert_eq!(transport.written(), vec![(b"ping".to_vec(), Some(peer))]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FakeDatagramTransport {
    me: Weak<FakeDatagramTransport>,
    host: SocketAddr,
    protocol: RefCell<Option<DatagramProtocolRef>>,
    written: RefCell<Vec<(Vec<u8>, Option<SocketAddr>)>>,
    connected: Cell<Option<SocketAddr>>,
    listening: Cell<bool>,
    stop_pending: Cell<bool>,
    broadcast: Cell<bool>,
    max_datagram: Cell<usize>,
    multicast: MulticastState,
}

impl FakeDatagramTransport {
    /// A transport "bound" to `host`, with no protocol yet.
    pub fn new(host: SocketAddr) -> Rc<FakeDatagramTransport> {
        Rc::new_cyclic(|me| FakeDatagramTransport {
            me: me.clone(),
            host,
            protocol: RefCell::new(None),
            written: RefCell::default(),
            connected: Cell::new(None),
            listening: Cell::new(true),
            stop_pending: Cell::new(false),
            broadcast: Cell::new(false),
            max_datagram: Cell::new(65_507),
            multicast: MulticastState::new(host.is_ipv4()),
        })
    }

    /// Connects `protocol` (its `make_connection`), as a port does when it
    /// starts listening.
    pub fn start(&self, protocol: DatagramProtocolRef) {
        *self.protocol.borrow_mut() = Some(protocol.clone());
        self.listening.set(true);
        let transport: UdpTransportRef = self.me.upgrade().expect("alive while called");
        protocol.borrow_mut().make_connection(transport);
    }

    /// Delivers one datagram from `from` to the protocol (as the reactor
    /// does); ignored once the transport stopped listening, and, when
    /// connected, from any other address (as the kernel filters).
    pub fn receive(&self, data: &[u8], from: SocketAddr) {
        if !self.listening.get() || self.connected.get().is_some_and(|c| c != from) {
            return;
        }
        let protocol = self.protocol.borrow().clone();
        if let Some(protocol) = protocol {
            protocol.borrow_mut().datagram_received(data, from);
        }
        self.finish_stop_if_pending();
    }

    /// Tells a connected port's protocol that its peer refused a datagram.
    pub fn refuse(&self) {
        let protocol = self.protocol.borrow().clone();
        if let Some(protocol) = protocol {
            protocol.borrow_mut().connection_refused();
        }
        self.finish_stop_if_pending();
    }

    /// Everything written, in order: `(datagram, destination)`.
    pub fn written(&self) -> Vec<(Vec<u8>, Option<SocketAddr>)> {
        self.written.borrow().clone()
    }

    /// Everything written, leaving the record empty.
    pub fn take_written(&self) -> Vec<(Vec<u8>, Option<SocketAddr>)> {
        std::mem::take(&mut *self.written.borrow_mut())
    }

    /// The largest datagram `write` accepts (default 65 507, IPv4's
    /// limit); larger ones fail with [`UdpError::MessageLength`].
    pub fn set_max_datagram(&self, size: usize) {
        self.max_datagram.set(size);
    }

    /// The groups joined, with their interfaces.
    pub fn groups(&self) -> Vec<(IpAddr, MulticastInterface)> {
        self.multicast.groups()
    }

    fn finish_stop_if_pending(&self) {
        if !self.stop_pending.get() {
            return;
        }
        let protocol = self.protocol.borrow().clone();
        if let Some(protocol) = protocol {
            if let Ok(mut protocol) = protocol.try_borrow_mut() {
                self.stop_pending.set(false);
                protocol.do_stop();
            }
        }
    }

    fn open(&self) -> Result<(), UdpError> {
        if self.listening.get() {
            Ok(())
        } else {
            Err(UdpError::NotListening)
        }
    }

    fn family_of(&self, addr: SocketAddr) -> Result<(), UdpError> {
        if addr.is_ipv4() == self.host.is_ipv4() {
            Ok(())
        } else {
            Err(UdpError::InvalidAddress {
                address: addr.to_string(),
                reason: "an address of the other family than the port's",
            })
        }
    }
}

impl UdpTransport for FakeDatagramTransport {
    fn write(&self, data: &[u8], addr: Option<SocketAddr>) -> Result<(), UdpError> {
        self.open()?;
        match (self.connected.get(), addr) {
            (None, None) => return Err(UdpError::NotConnected),
            (Some(connected), Some(requested)) if requested != connected => {
                return Err(UdpError::WrongDestination {
                    connected,
                    requested,
                })
            }
            (None, Some(to)) => self.family_of(to)?,
            _ => {}
        }
        if data.len() > self.max_datagram.get() {
            return Err(UdpError::MessageLength { size: data.len() });
        }
        let addr = if self.connected.get().is_some() {
            None
        } else {
            addr
        };
        self.written.borrow_mut().push((data.to_vec(), addr));
        Ok(())
    }

    fn connect(&self, addr: SocketAddr) -> Result<(), UdpError> {
        if let Some(connected) = self.connected.get() {
            return Err(UdpError::AlreadyConnected { connected });
        }
        self.family_of(addr)?;
        self.connected.set(Some(addr));
        Ok(())
    }

    fn connected_address(&self) -> Option<SocketAddr> {
        self.connected.get()
    }

    fn host(&self) -> SocketAddr {
        self.host
    }

    fn stop_listening(&self) -> Deferred<()> {
        if self.listening.replace(false) {
            self.stop_pending.set(true);
            self.finish_stop_if_pending();
        }
        Deferred::succeeded(())
    }

    fn is_listening(&self) -> bool {
        self.listening.get()
    }

    fn set_broadcast_allowed(&self, enabled: bool) -> Result<(), UdpError> {
        self.open()?;
        self.broadcast.set(enabled);
        Ok(())
    }

    fn broadcast_allowed(&self) -> Result<bool, UdpError> {
        self.open()?;
        Ok(self.broadcast.get())
    }

    fn as_multicast(&self) -> Option<&dyn MulticastTransport> {
        Some(self)
    }
}

forward_multicast!(FakeDatagramTransport, multicast);

impl fmt::Debug for FakeDatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeDatagramTransport")
            .field("host", &self.host)
            .field("connected", &self.connected.get())
            .field("listening", &self.listening.get())
            .field("written", &self.written.borrow().len())
            .finish()
    }
}

/// Carries datagrams between two fake transports until none is left:
/// what `a` wrote to `b`'s address (or, connected, to its peer when that is
/// `b`) is delivered to `b`'s protocol from `a`'s address, and the other
/// way round. Datagrams to other addresses stay in `written`. Returns how
/// many were delivered (Twisted's `iosim` pump, for datagrams).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, net::SocketAddr, rc::Rc};
/// use torsion_reactor::{DatagramProtocol, UdpTransport};
/// use torsion_testing::{pump_datagrams, FakeDatagramTransport};
///
/// #[derive(Default)]
/// struct Inbox(Vec<Vec<u8>>);
/// impl DatagramProtocol for Inbox {
///     fn datagram_received(&mut self, data: &[u8], _: SocketAddr) {
///         self.0.push(data.to_vec());
///     }
/// }
///
/// let a = FakeDatagramTransport::new("127.0.0.1:1000".parse()?);
/// let b = FakeDatagramTransport::new("127.0.0.1:2000".parse()?);
/// let inbox = Rc::new(RefCell::new(Inbox::default()));
/// a.start(Rc::new(RefCell::new(Inbox::default())));
/// b.start(inbox.clone());
/// a.write(b"hello", Some(b.host()))?;
/// assert_eq!(pump_datagrams(&a, &b), 1);
/// assert_eq!(inbox.borrow().0, vec![b"hello".to_vec()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pump_datagrams(a: &FakeDatagramTransport, b: &FakeDatagramTransport) -> usize {
    let mut delivered = 0;
    loop {
        let moved = carry(a, b) + carry(b, a);
        if moved == 0 {
            return delivered;
        }
        delivered += moved;
    }
}

/// Moves `from`'s datagrams addressed to `to`; returns how many.
fn carry(from: &FakeDatagramTransport, to: &FakeDatagramTransport) -> usize {
    let all = from.take_written();
    let (mine, others): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(_, addr)| addr.or(from.connected.get()) == Some(to.host));
    from.written.borrow_mut().extend(others);
    let count = mine.len();
    for (data, _) in mine {
        to.receive(&data, from.host);
    }
    count
}
