//! [`FakeTransport`]: one end of an in-memory connection (Twisted's
//! `iosim.FakeTransport`).
//!
//! Over 500 lines because `FakeTransport` implements five interfaces and
//! documents each difference from Twisted's; its state is `TransportCore`'s.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};

use torsion_reactor::error::{ConnectionAborted, ConnectionDone, ConnectionLost, ProducerError};
use torsion_reactor::{
    Address, Consumer, Failure, Producer, ProducerRef, Protocol, ProtocolRef, PushProducer,
    TcpTransport, Transport, TransportCore, WriteSide,
};

/// Twisted's `FakeTransport._nextserial`: one counter for every transport in
/// the process, so serials are unique even across connections.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(0);

/// The server's address unless a test picks another: the port
/// `ConnectionCompleter.connectableEndpoint` listens on in Twisted.
pub(crate) fn default_server_address() -> Address {
    Address::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 4321)))
}

/// The client's address unless a test picks another.
pub(crate) fn default_client_address() -> Address {
    Address::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 54321)))
}

/// Everything that changes, behind one `RefCell`. Borrows of it are short
/// and never span a call into a protocol or a producer.
pub(crate) struct State {
    /// The transport state the real connection has too: the buffer written
    /// and not yet pumped (Twisted's `stream`); disconnecting (Twisted's
    /// `disconnecting`: `lose_connection` or `abort_connection` was called,
    /// or the peer's close reached us); closed (our protocol got
    /// `connection_lost`); aborting; the write side; reading paused; the
    /// producer and the water marks. The pump, not the core's effects,
    /// decides when a close or a half-close happens.
    pub(crate) core: TransportCore,
    /// Pumped to us while our reading was paused; delivered on resume.
    pub(crate) inbox: Vec<u8>,
    /// Our close was passed on to the peer (Twisted's `disconnected`).
    pub(crate) disconnected: bool,
    /// The reason our protocol gets; `None` means `ConnectionDone`
    /// (Twisted's `disconnectReason`).
    pub(crate) reason: Option<Failure>,
    host: Address,
    peer: Address,
    no_delay: bool,
    keep_alive: bool,
}

/// One end of an in-memory connection: Twisted's `iosim.FakeTransport`.
///
/// Its state is the real connection's [`TransportCore`], so buffer,
/// lifecycle and flow control cannot drift from it; the pump decides when.
///
/// What its protocol writes waits in a buffer until an [`IoPump`](crate::IoPump) carries
/// it to the other end, which hands it to that end's protocol. On its own
/// it only records:
///
/// * `write` appends to the outgoing buffer, unless the transport is
///   disconnecting or its write side was shut (then the bytes are dropped
///   silently); [`take_out_buffer`](FakeTransport::take_out_buffer) empties it;
/// * `lose_connection` marks it disconnecting; the pump then tells the peer
///   and, one step later, this side (`ConnectionDone` for both);
/// * `abort_connection` also drops the unsent bytes and marks it aborted:
///   this side gets `ConnectionAborted`, the peer `ConnectionLost`;
/// * `lose_write_connection` half-closes once everything written before it
///   was delivered: this protocol gets `write_connection_lost`, the peer's
///   `read_connection_lost` (or, if it is not half-closeable,
///   `connection_lost(ConnectionDone)`, which then closes this side too);
/// * as the [`PushProducer`] of incoming data, `pause_producing` holds
///   bytes the pump brings until `resume_producing`; a paused side also
///   hears of the peer's close or end-of-file only once it has read what
///   came before;
/// * a pull producer gets `resume_producing` when registered and on every
///   pump step; a streaming one is paused when more than the high-water
///   mark (default [`DEFAULT_HIGH_WATER`](torsion_reactor::DEFAULT_HIGH_WATER))
///   is waiting to be read by the peer, and resumed once the peer has read
///   down to the low-water mark; when this
///   protocol's connection is lost the producer gets `stop_producing`;
/// * TCP options are recorded and read back; addresses default to
///   `127.0.0.1:4321` for the server and `127.0.0.1:54321` for the client.
///
/// The protocol is held weakly: whoever connects the transport (the pump)
/// keeps it alive, so protocol and transport do not leak as a cycle.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{Consumer, ProtocolRef, Transport};
/// use torsion_testing::{AccumulatingProtocol, FakeTransport};
///
/// let protocol: ProtocolRef = Rc::new(RefCell::new(AccumulatingProtocol::new()));
/// let transport = Rc::new(FakeTransport::new(protocol.clone(), false));
/// protocol.borrow_mut().make_connection(transport.clone());
///
/// transport.write(b"a");
/// transport.write_sequence(&[b"b", b"c"]);
/// transport.lose_connection();
/// transport.write(b"dropped");
/// assert_eq!(transport.take_out_buffer().as_deref(), Some(&b"abc"[..]));
/// assert!(transport.is_disconnecting());
/// ```
///
/// # Twisted
///
/// * `abortConnection` in iosim is `loseConnection` ("no buffered data will
///   be lost", both sides get `ConnectionDone`); here it drops the unsent
///   bytes and gives the reasons a real TCP transport gives.
/// * iosim's `loseWriteConnection` does nothing; here it half-closes.
/// * iosim's `pauseProducing`/`resumeProducing` do nothing, it never pauses
///   a streaming producer nor stops one on close, registering twice
///   replaces the producer and unregistering with none is silent; here they
///   follow the [`Consumer`] and [`Transport`] contracts, like the real
///   transport. A close does not wait for the producer to unregister,
///   though: writes after `lose_connection` are dropped (iosim's rule), so
///   there would be nothing to wait for.
/// * `getHost`/`getPeer` return a `FakeAddress`; here TCP addresses.
/// * TLS (`startTLS`, `TLSNegotiation`) is not simulated.
pub struct FakeTransport {
    protocol: Weak<RefCell<dyn Protocol>>,
    is_server: bool,
    serial: u64,
    /// The other end, set by the pump: flow control counts the bytes
    /// waiting in its inbox.
    peer_transport: RefCell<Weak<FakeTransport>>,
    pub(crate) state: RefCell<State>,
}

impl FakeTransport {
    /// A transport that delivers to `protocol` (held weakly); `is_server`
    /// says whether it is the accepting end, which picks the default
    /// addresses.
    ///
    /// It does not call the protocol: [`connect`](crate::connect) calls
    /// `make_connection`.
    pub fn new(protocol: ProtocolRef, is_server: bool) -> FakeTransport {
        let (host, peer) = if is_server {
            (default_server_address(), default_client_address())
        } else {
            (default_client_address(), default_server_address())
        };
        FakeTransport {
            protocol: Rc::downgrade(&protocol),
            is_server,
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            peer_transport: RefCell::new(Weak::new()),
            state: RefCell::new(State {
                core: TransportCore::new(),
                inbox: Vec::new(),
                disconnected: false,
                reason: None,
                host,
                peer,
                no_delay: false,
                keep_alive: false,
            }),
        }
    }

    /// Sets the address [`host`](Transport::host) returns.
    pub fn with_host(self, host: Address) -> Self {
        self.state.borrow_mut().host = host;
        self
    }

    /// Sets the address [`peer`](Transport::peer) returns.
    pub fn with_peer(self, peer: Address) -> Self {
        self.state.borrow_mut().peer = peer;
        self
    }

    /// A number no other `FakeTransport` in this process has (Twisted's `serial`).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Whether this is the accepting end (Twisted's `isServer`).
    pub fn is_server(&self) -> bool {
        self.is_server
    }

    /// The protocol it delivers to, while someone keeps it alive.
    pub fn protocol(&self) -> Option<ProtocolRef> {
        self.protocol.upgrade()
    }

    /// The bytes written and not yet pumped, without taking them (Twisted's
    /// `b"".join(transport.stream)`).
    pub fn pending_output(&self) -> Vec<u8> {
        self.state.borrow().core.buffer_to_vec()
    }

    /// Takes the bytes written and not yet pumped; `None` if there are none
    /// (Twisted's `getOutBuffer`).
    pub fn take_out_buffer(&self) -> Option<Vec<u8>> {
        let mut state = self.state.borrow_mut();
        if state.core.buffered() == 0 {
            None
        } else {
            Some(state.core.take_buffer())
        }
    }

    /// Hands `data` to the protocol as if the peer had sent it (Twisted's
    /// `bufferReceived`), together with anything held while reading was
    /// paused. While paused, `data` is held instead; once the protocol's
    /// connection is lost, it is dropped. Returns whether `data` was not
    /// empty or held bytes were delivered.
    ///
    /// # Panics
    ///
    /// If the protocol is already borrowed, i.e. when called from inside one
    /// of its own methods (the pump never does that).
    pub fn buffer_received(&self, data: &[u8]) -> bool {
        let bytes = {
            let mut state = self.state.borrow_mut();
            if state.core.is_closed() {
                return !data.is_empty();
            }
            if state.core.is_reading_paused() {
                state.inbox.extend_from_slice(data);
                return !data.is_empty();
            }
            let mut bytes = std::mem::take(&mut state.inbox);
            bytes.extend_from_slice(data);
            bytes
        };
        if bytes.is_empty() {
            return false;
        }
        if let Some(protocol) = self.protocol.upgrade() {
            protocol.borrow_mut().data_received(&bytes);
        }
        true
    }

    /// Sets the reason the protocol's `connection_lost` gets (Twisted's
    /// `disconnectReason`); `abort_connection` and an aborting peer set
    /// their own.
    pub fn set_disconnect_reason(&self, reason: Failure) {
        self.state.borrow_mut().reason = Some(reason);
    }

    /// Whether the close was passed on to the peer (Twisted's `disconnected`).
    pub fn is_disconnected(&self) -> bool {
        self.state.borrow().disconnected
    }

    /// Whether the protocol got its `connection_lost`.
    pub fn is_connection_lost(&self) -> bool {
        self.state.borrow().core.is_closed()
    }

    /// Whether `abort_connection` was called.
    pub fn is_aborted(&self) -> bool {
        self.state.borrow().core.is_aborting()
    }

    /// Whether `lose_write_connection` was called.
    pub fn is_write_closed(&self) -> bool {
        self.state.borrow().core.write_side() != WriteSide::Open
    }

    /// Whether the protocol paused this transport's reading.
    pub fn is_reading_paused(&self) -> bool {
        self.state.borrow().core.is_reading_paused()
    }

    /// The registered producer.
    pub fn producer(&self) -> Option<ProducerRef> {
        self.state.borrow().core.producer().cloned()
    }

    /// Whether this transport paused its streaming producer for backlog.
    pub fn is_producer_paused(&self) -> bool {
        self.state.borrow().core.is_producer_paused()
    }

    /// The `(high, low)` water marks of flow control.
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        self.state.borrow().core.water_marks()
    }

    pub(crate) fn link(&self, peer: &Rc<FakeTransport>) {
        *self.peer_transport.borrow_mut() = Rc::downgrade(peer);
    }

    /// Bytes written and not yet read by the peer's protocol.
    fn backlog(&self, state: &State) -> usize {
        let peer_inbox = self
            .peer_transport
            .borrow()
            .upgrade()
            .and_then(|peer| peer.state.try_borrow().ok().map(|s| s.inbox.len()))
            .unwrap_or(0);
        state.core.buffered() + peer_inbox
    }

    /// Twisted's `_checkProducer`: a pull producer is asked for a chunk at
    /// every pump step.
    pub(crate) fn check_producer(&self) {
        let producer = self.state.borrow().core.producer().cloned();
        if let Some(ProducerRef::Pull(producer)) = producer {
            producer.resume_producing();
        }
    }

    /// Resumes a streaming producer paused for backlog once the peer has
    /// read down to the low-water mark.
    pub(crate) fn check_backlog(&self) {
        let call = {
            let mut state = self.state.borrow_mut();
            if !state.core.is_producer_paused() {
                return;
            }
            let backlog = self.backlog(&state);
            state.core.resume_if_at_low(backlog)
        };
        if let Some(call) = call {
            call.perform();
        }
    }

    /// Whether this side may now hear of the peer's close or end-of-file:
    /// not while it holds unread bytes or has paused reading (a real socket
    /// reports EOF only to a reader), unless it is closing itself.
    pub(crate) fn can_hear_close(&self) -> bool {
        let state = self.state.borrow();
        state.core.is_disconnecting()
            || state.core.is_closed()
            || (!state.core.is_reading_paused() && state.inbox.is_empty())
    }

    /// Twisted's `reportDisconnect`: stops the producer, then gives the
    /// protocol `connection_lost`, once. Returns whether it did.
    pub(crate) fn report_disconnect(&self) -> bool {
        let (producer, reason) = {
            let mut state = self.state.borrow_mut();
            let Some(closing) = state.core.close() else {
                return false;
            };
            state.core.set_disconnecting();
            state.inbox.clear();
            let reason = state
                .reason
                .clone()
                .unwrap_or_else(|| Failure::new(ConnectionDone));
            (closing.producer, reason)
        };
        if let Some(producer) = producer {
            producer.stop_producing();
        }
        if let Some(protocol) = self.protocol.upgrade() {
            protocol.borrow_mut().connection_lost(reason);
        }
        true
    }

    /// The peer aborted: unless a reason was set, ours is `ConnectionLost`,
    /// as a reset gives on a real socket.
    pub(crate) fn peer_aborted(&self) {
        let mut state = self.state.borrow_mut();
        if state.reason.is_none() {
            state.reason = Some(Failure::new(ConnectionLost::new()));
        }
    }

    /// The peer half-closed: a half-closeable protocol gets
    /// `read_connection_lost`; any other loses the connection with
    /// `ConnectionDone`, as a real transport does on EOF. Returns whether
    /// the connection was lost.
    pub(crate) fn read_connection_lost(&self) -> bool {
        if self.state.borrow().core.is_closed() {
            return false;
        }
        let Some(protocol) = self.protocol.upgrade() else {
            return false;
        };
        let half_closed = {
            let mut protocol = protocol.borrow_mut();
            match protocol.as_half_closeable() {
                Some(half) => {
                    half.read_connection_lost();
                    true
                }
                None => false,
            }
        };
        if half_closed {
            return false;
        }
        self.state.borrow_mut().core.set_disconnecting();
        self.report_disconnect()
    }

    /// Our write side was shut: a half-closeable protocol hears of it.
    pub(crate) fn write_connection_lost(&self) {
        if let Some(protocol) = self.protocol.upgrade() {
            if let Some(half) = protocol.borrow_mut().as_half_closeable() {
                half.write_connection_lost();
            }
        }
    }
}

impl Consumer for FakeTransport {
    fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let pause = {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            // iosim: "If transport is closed, we should accept writes but
            // drop the data."
            if state.core.is_disconnecting() || !state.core.accepting_writes() {
                return;
            }
            state.core.append(data);
            let backlog = self.backlog(state);
            state.core.pause_if_above_high(backlog)
        };
        if let Some(call) = pause {
            call.perform();
        }
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        // A pull producer is asked for a chunk at once; one registered
        // after the connection was lost is stopped.
        let call = self.state.borrow_mut().core.register_producer(producer)?;
        if let Some(call) = call {
            call.perform();
        }
        Ok(())
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        let removed = self.state.borrow_mut().core.unregister_producer();
        removed.map(drop)
    }
}

impl Producer for FakeTransport {
    /// Loses the connection, as iosim's `stopProducing` does.
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl PushProducer for FakeTransport {
    fn pause_producing(&self) {
        self.state.borrow_mut().core.set_reading_paused(true);
    }

    fn resume_producing(&self) {
        // Held bytes are delivered by the next pump step, never from here:
        // a transport does not call its protocol before returning.
        self.state.borrow_mut().core.set_reading_paused(false);
    }
}

impl Transport for FakeTransport {
    /// Writes the buffers joined, as one write (as iosim does).
    fn write_sequence(&self, data: &[&[u8]]) {
        self.write(&data.concat());
    }

    fn lose_connection(&self) {
        // The pump closes, at its next step.
        self.state.borrow_mut().core.set_disconnecting();
    }

    fn abort_connection(&self) {
        let mut state = self.state.borrow_mut();
        if state.core.is_aborting() || state.core.is_closed() {
            return;
        }
        // The pump closes (the core's effect), at its next step.
        let _ = state.core.abort();
        state.core.set_disconnecting();
        state.inbox.clear();
        state.reason = Some(Failure::new(ConnectionAborted));
    }

    fn lose_write_connection(&self) {
        let mut state = self.state.borrow_mut();
        if !state.core.is_disconnecting() {
            // The pump shuts the write side once the peer read what came
            // before (the core's effect), at a later step.
            let _ = state.core.lose_write_connection();
        }
    }

    fn is_disconnecting(&self) -> bool {
        self.state.borrow().core.is_disconnecting()
    }

    fn peer(&self) -> Address {
        self.state.borrow().peer.clone()
    }

    fn host(&self) -> Address {
        self.state.borrow().host.clone()
    }

    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        Some(self)
    }
}

impl TcpTransport for FakeTransport {
    fn set_tcp_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.state.borrow_mut().no_delay = enabled;
        Ok(())
    }

    fn tcp_no_delay(&self) -> io::Result<bool> {
        Ok(self.state.borrow().no_delay)
    }

    fn set_tcp_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.state.borrow_mut().keep_alive = enabled;
        Ok(())
    }

    fn tcp_keep_alive(&self) -> io::Result<bool> {
        Ok(self.state.borrow().keep_alive)
    }

    fn set_write_buffer_limits(&self, high: usize, low: usize) {
        self.state.borrow_mut().core.set_water_marks(high, low);
    }
}

impl fmt::Debug for FakeTransport {
    /// `FakeTransport<S,3,Echo>` as in Twisted's repr, then the state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol.upgrade() {
            Some(p) => match p.try_borrow() {
                Ok(p) => p.log_prefix(),
                Err(_) => "<busy>",
            },
            None => "<gone>",
        };
        let side = if self.is_server { "S" } else { "C" };
        write!(f, "FakeTransport<{side},{},{protocol}>", self.serial)?;
        match self.state.try_borrow() {
            Ok(state) => f
                .debug_struct("")
                .field("pending", &state.core.buffered())
                .field("held", &state.inbox.len())
                .field("disconnecting", &state.core.is_disconnecting())
                .field("disconnected", &state.disconnected)
                .field("lost", &state.core.is_closed())
                .field("aborted", &state.core.is_aborting())
                .field("write_side", &state.core.write_side())
                .field("reading_paused", &state.core.is_reading_paused())
                .field("producer", &state.core.producer())
                .finish(),
            Err(_) => f.write_str(" {..}"),
        }
    }
}
