//! [`StringTransport`]: a transport that records (Twisted's
//! `twisted.internet.testing.StringTransport`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};

use torsion_reactor::error::{ConnectionDone, ProducerError};
use torsion_reactor::{
    Address, Consumer, Failure, Producer, ProducerRef, Protocol, PushProducer, TcpTransport,
    Transport, TransportCore, WriteSide,
};

/// The state of a [`StringTransport`] seen as a push producer of incoming data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerState {
    /// Reading (initial).
    Producing,
    /// `pause_producing` was called.
    Paused,
    /// `stop_producing` was called.
    Stopped,
}

/// A [`Transport`] that only records: what was written, whether the
/// connection was lost or aborted, the registered producer, and whether its
/// protocol paused it. Tests drive the protocol by calling its methods and
/// read the transport.
///
/// Share it as `Rc<StringTransport>`: hand a clone to the protocol (it
/// coerces to [`TransportRef`](torsion_reactor::TransportRef)) and keep one.
///
/// * [`value`](StringTransport::value) is everything written since creation
///   or the last [`clear`](StringTransport::clear), even after
///   `lose_connection` (no state check, as in Twisted);
/// * `lose_connection` only sets [`is_disconnecting`](Transport::is_disconnecting);
///   `abort_connection` also sets [`is_aborted`](StringTransport::is_aborted);
///   neither calls the protocol, unless built
///   [`with_disconnection`](StringTransport::with_disconnection);
/// * the default peer is `192.168.1.1:54321`, the default host `10.0.0.1:12345`.
///
/// Its lifecycle flags and producer slot are the real connection's
/// [`TransportCore`]; what was written is a record beside it (never sent,
/// so never buffered, paused for, or dropped on abort).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Protocol, Transport, TransportRef};
/// use torsion_testing::StringTransport;
///
/// #[derive(Default)]
/// struct Shout(Option<TransportRef>);
/// impl Protocol for Shout {
///     fn connection_made(&mut self, t: TransportRef) {
///         self.0 = Some(t);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         let t = self.0.as_ref().unwrap();
///         t.write(&data.to_ascii_uppercase());
///         t.lose_connection();
///     }
/// }
///
/// let transport = Rc::new(StringTransport::new());
/// let mut protocol = Shout::default();
/// protocol.make_connection(transport.clone());
/// protocol.data_received(b"hi");
/// assert_eq!(transport.value(), b"HI");
/// assert!(transport.is_disconnecting());
/// ```
///
/// # Twisted
///
/// Twisted raises `RuntimeError` when a disconnecting or stopped transport
/// is paused or resumed; this panics, unless built
/// [`lenient`](StringTransport::lenient). Twisted's
/// `StringTransportWithDisconnection` is [`StringTransport::with_disconnection`].
pub struct StringTransport {
    io: RefCell<Vec<u8>>,
    connected: Cell<bool>,
    /// Disconnecting, aborting, the write side and the producer.
    core: RefCell<TransportCore>,
    producer_state: Cell<ProducerState>,
    host: RefCell<Address>,
    peer: RefCell<Address>,
    lenient: bool,
    no_delay: Cell<bool>,
    keep_alive: Cell<bool>,
    /// Set for the with-disconnection flavour: the protocol told on lose.
    disconnect_protocol: RefCell<Option<Weak<RefCell<dyn Protocol>>>>,
    notify_on_lose: bool,
}

impl Default for StringTransport {
    fn default() -> Self {
        StringTransport::new()
    }
}

fn default_peer() -> Address {
    Address::Tcp(SocketAddr::from((Ipv4Addr::new(192, 168, 1, 1), 54321)))
}

fn default_host() -> Address {
    Address::Tcp(SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 12345)))
}

impl StringTransport {
    fn build(lenient: bool, notify_on_lose: bool) -> StringTransport {
        StringTransport {
            io: RefCell::new(Vec::new()),
            connected: Cell::new(true),
            core: RefCell::new(TransportCore::new()),
            producer_state: Cell::new(ProducerState::Producing),
            host: RefCell::new(default_host()),
            peer: RefCell::new(default_peer()),
            lenient,
            no_delay: Cell::new(false),
            keep_alive: Cell::new(false),
            disconnect_protocol: RefCell::new(None),
            notify_on_lose,
        }
    }

    /// A connected transport with the default addresses.
    pub fn new() -> StringTransport {
        StringTransport::build(false, false)
    }

    /// One whose pause/resume never panic, even when disconnecting or stopped.
    pub fn lenient() -> StringTransport {
        StringTransport::build(true, false)
    }

    /// Twisted's `StringTransportWithDisconnection`: `lose_connection` (and
    /// `abort_connection`), while connected, marks it disconnected and calls
    /// the protocol's `connection_lost(ConnectionDone)` at once. Set the
    /// protocol with [`set_protocol`](StringTransport::set_protocol).
    ///
    /// The call is synchronous, as in Twisted, so it cannot happen while the
    /// protocol is inside one of its own methods (its `RefCell` is borrowed):
    /// a protocol closing from inside `data_received` has
    /// `connection_lost` delivered by
    /// [`deliver_connection_lost`](StringTransport::deliver_connection_lost)
    /// once the test calls it.
    pub fn with_disconnection() -> StringTransport {
        StringTransport::build(false, true)
    }

    /// The protocol a [`with_disconnection`](StringTransport::with_disconnection)
    /// transport tells when the connection is lost (held weakly).
    pub fn set_protocol<P: Protocol>(&self, protocol: &Rc<RefCell<P>>) {
        let protocol: Rc<RefCell<dyn Protocol>> = protocol.clone();
        *self.disconnect_protocol.borrow_mut() = Some(Rc::downgrade(&protocol));
    }

    /// Sets the peer address.
    pub fn with_peer(self, peer: Address) -> Self {
        *self.peer.borrow_mut() = peer;
        self
    }

    /// Sets the host address.
    pub fn with_host(self, host: Address) -> Self {
        *self.host.borrow_mut() = host;
        self
    }

    /// Everything written since creation or the last [`clear`](StringTransport::clear).
    pub fn value(&self) -> Vec<u8> {
        self.io.borrow().clone()
    }

    /// The written bytes as (lossy) UTF-8, handy in assertions.
    pub fn value_str(&self) -> String {
        String::from_utf8_lossy(&self.io.borrow()).into_owned()
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        self.io.borrow_mut().clear();
    }

    /// Returns what was written and forgets it.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.io.borrow_mut())
    }

    /// Whether it is still connected (only the with-disconnection flavour
    /// ever changes it).
    pub fn is_connected(&self) -> bool {
        self.connected.get()
    }

    /// Whether `abort_connection` was called (Twisted's `disconnected`).
    pub fn is_aborted(&self) -> bool {
        self.core.borrow().is_aborting()
    }

    /// Whether `lose_write_connection` was called.
    pub fn is_write_closed(&self) -> bool {
        self.core.borrow().write_side() != WriteSide::Open
    }

    /// The registered producer.
    pub fn producer(&self) -> Option<ProducerRef> {
        self.core.borrow().producer().cloned()
    }

    /// Whether the registered producer is a push (streaming) one.
    pub fn is_streaming(&self) -> Option<bool> {
        self.core.borrow().producer().map(ProducerRef::is_streaming)
    }

    /// Whether the protocol paused, resumed or stopped this transport's reading.
    pub fn producer_state(&self) -> ProducerState {
        self.producer_state.get()
    }

    /// Delivers a `connection_lost(ConnectionDone)` that could not be
    /// delivered synchronously (see [`with_disconnection`](StringTransport::with_disconnection));
    /// returns whether one was delivered.
    pub fn deliver_connection_lost(&self) -> bool {
        let protocol = self
            .disconnect_protocol
            .borrow()
            .as_ref()
            .and_then(Weak::upgrade);
        let Some(protocol) = protocol else {
            return false;
        };
        if self.connected.get() || !self.notify_on_lose {
            return false;
        }
        let delivered = match protocol.try_borrow_mut() {
            Ok(mut protocol) => {
                protocol.connection_lost(Failure::new(ConnectionDone));
                true
            }
            Err(_) => false,
        };
        if delivered {
            self.disconnect_protocol.borrow_mut().take();
        }
        delivered
    }

    fn check_producing(&self, what: &str) {
        if self.lenient {
            return;
        }
        assert!(
            !self.core.borrow().is_disconnecting(),
            "StringTransport::{what} on a disconnecting transport (Twisted raises RuntimeError)"
        );
        assert!(
            self.producer_state.get() != ProducerState::Stopped,
            "StringTransport::{what} on a stopped transport (Twisted raises RuntimeError)"
        );
    }
}

impl Consumer for StringTransport {
    fn write(&self, data: &[u8]) {
        self.io.borrow_mut().extend_from_slice(data);
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        // A recorder never asks a producer for data: the core's call for a
        // pull producer is not made (and, never closed, it asks no other).
        let _call = self.core.borrow_mut().register_producer(producer)?;
        Ok(())
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        let removed = self.core.borrow_mut().unregister_producer();
        removed.map(drop)
    }
}

impl Producer for StringTransport {
    fn stop_producing(&self) {
        self.producer_state.set(ProducerState::Stopped);
    }
}

impl PushProducer for StringTransport {
    fn pause_producing(&self) {
        self.check_producing("pause_producing");
        self.producer_state.set(ProducerState::Paused);
    }

    fn resume_producing(&self) {
        self.check_producing("resume_producing");
        self.producer_state.set(ProducerState::Producing);
    }
}

impl Transport for StringTransport {
    fn write_sequence(&self, data: &[&[u8]]) {
        let mut io = self.io.borrow_mut();
        for chunk in data {
            io.extend_from_slice(chunk);
        }
    }

    fn lose_connection(&self) {
        if !self.notify_on_lose {
            self.core.borrow_mut().set_disconnecting();
            return;
        }
        if self.connected.replace(false) {
            self.deliver_connection_lost();
        }
    }

    fn abort_connection(&self) {
        // The close the core asks for is `lose_connection`'s to make.
        let _ = self.core.borrow_mut().abort();
        self.lose_connection();
    }

    fn lose_write_connection(&self) {
        // Recorded only: nothing is shut.
        let _ = self.core.borrow_mut().lose_write_connection();
    }

    fn is_disconnecting(&self) -> bool {
        self.core.borrow().is_disconnecting()
    }

    fn peer(&self) -> Address {
        self.peer.borrow().clone()
    }

    fn host(&self) -> Address {
        self.host.borrow().clone()
    }

    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        Some(self)
    }
}

impl TcpTransport for StringTransport {
    fn set_tcp_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.no_delay.set(enabled);
        Ok(())
    }

    fn tcp_no_delay(&self) -> io::Result<bool> {
        Ok(self.no_delay.get())
    }

    fn set_tcp_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.keep_alive.set(enabled);
        Ok(())
    }

    fn tcp_keep_alive(&self) -> io::Result<bool> {
        Ok(self.keep_alive.get())
    }
}

impl fmt::Debug for StringTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StringTransport")
            .field("written", &self.io.borrow().len())
            .field("connected", &self.connected.get())
            .field("disconnecting", &self.core.borrow().is_disconnecting())
            .field("aborted", &self.core.borrow().is_aborting())
            .field("producer_state", &self.producer_state.get())
            .finish()
    }
}
