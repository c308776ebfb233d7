//! [`Shared`]: one TLS connection's state and the logic over it, shared by
//! the protocol the lower transport drives ([`TlsProtocol`](crate::TlsProtocol))
//! and the transport the user's protocol writes to.

use std::cell::{OnceCell, RefCell};
use std::io::{self, Read, Write};
use std::rc::Rc;

use torsion_reactor::error::{ConnectionDone, ConnectionLost};
use torsion_reactor::{
    borrow_protocol, deliver_connection_lost, Failure, ProtocolRef, Transport, TransportRef,
};

use crate::{TlsContext, TlsError};

/// The largest plaintext buffer kept between reads.
const KEPT_PLAINTEXT_BUFFER: usize = 128 * 1024;

/// The state one connection's TLS layer shares between the protocol the
/// lower transport drives ([`TlsProtocol`]) and the transport the user's
/// protocol writes to ([`TlsLayerTransport`]).
pub(crate) struct Shared {
    /// The lower transport, set once by `make_connection` (outside the
    /// `RefCell` so that `peer`/`host` need no borrow).
    pub(crate) lower: OnceCell<TransportRef>,
    pub(crate) state: RefCell<State>,
    /// The user's protocol; taken out when it gets `connection_lost`, which
    /// breaks the cycle protocol -> transport -> shared -> protocol.
    pub(crate) app: RefCell<Option<ProtocolRef>>,
}

/// One TLS layer's mutable state. No borrow of it is held while the user's
/// protocol, its producer or the lower transport runs.
pub(crate) struct State {
    /// `None` while a STARTTLS connection is still plaintext, and while
    /// [`Shared::flush_out`] has it out to write records (`flushing`).
    pub(crate) tls: Option<rustls::Connection>,
    /// `flush_out` is handing records to the lower transport, with `tls`
    /// taken out: the lower transport may call a producer, whose code may
    /// call back in; such calls queue here and `flush_out` finishes them.
    flushing: bool,
    /// Plaintext written while flushing.
    reentrant: Vec<u8>,
    /// close_notify asked for while flushing.
    close_notify_deferred: bool,
    /// Whether `start_tls` is offered.
    pub(crate) can_start_tls: bool,
    /// Ciphertext received and not yet handed to rustls.
    incoming: Vec<u8>,
    /// Plaintext on its way to the user's protocol, kept between reads to
    /// avoid an allocation (and its page faults) per read.
    plain_buffer: Vec<u8>,
    /// Plaintext the user wrote before the handshake completed.
    pub(crate) pending: Vec<u8>,
    pub(crate) handshake_done: bool,
    /// `lose_connection` was called.
    pub(crate) disconnecting: bool,
    /// `lose_write_connection` was called (waits for the handshake).
    pub(crate) write_shut_requested: bool,
    /// Our close_notify went out: nothing more may be written.
    pub(crate) close_notify_sent: bool,
    /// The peer's close_notify arrived and was acted on.
    pub(crate) peer_closed: bool,
    /// TLS failed: nothing more is decrypted or encrypted.
    pub(crate) failed: bool,
    /// The connection is gone (`connection_lost` delivered or under way).
    pub(crate) lost: bool,
    /// The reason to give the user's protocol instead of the lower one.
    reason: Option<Failure>,
    /// Whether the user registered a producer (it is registered on the lower
    /// transport directly).
    pub(crate) has_producer: bool,
    /// On a client, the server name it asked for.
    sni: Option<String>,
}

impl State {
    /// Whether TLS runs (false for a STARTTLS connection not yet upgraded).
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some() || self.flushing
    }

    pub(crate) fn client_server_name(&self) -> Option<String> {
        self.sni.clone()
    }

    pub(crate) fn set_client_server_name(&mut self, context: &TlsContext) {
        if let TlsContext::Client { server_name, .. } = context {
            self.sni = Some(server_name.to_str().into_owned());
        }
    }
}

/// What the lower transport's `data_received` found besides plaintext.
enum Event {
    None,
    PeerClosed,
    Failed(TlsError),
}

impl Shared {
    pub(crate) fn new(
        app: ProtocolRef,
        tls: Option<rustls::Connection>,
        can_start_tls: bool,
    ) -> Rc<Shared> {
        Rc::new(Shared {
            lower: OnceCell::new(),
            state: RefCell::new(State {
                tls,
                can_start_tls,
                incoming: Vec::new(),
                plain_buffer: Vec::new(),
                flushing: false,
                reentrant: Vec::new(),
                close_notify_deferred: false,
                pending: Vec::new(),
                handshake_done: false,
                disconnecting: false,
                write_shut_requested: false,
                close_notify_sent: false,
                peer_closed: false,
                failed: false,
                lost: false,
                reason: None,
                has_producer: false,
                sni: None,
            }),
            app: RefCell::new(Some(app)),
        })
    }

    pub(crate) fn lower(&self) -> Option<&TransportRef> {
        self.lower.get()
    }

    pub(crate) fn app(&self) -> Option<ProtocolRef> {
        self.app.borrow().clone()
    }

    /// Sends whatever rustls has to send (handshake messages, records,
    /// alerts) to the lower transport, vectored and without copying them
    /// first. No borrow is held meanwhile (see `State::flushing`).
    pub(crate) fn flush_out(&self) {
        let Some(lower) = self.lower() else {
            return;
        };
        loop {
            let mut tls = {
                let mut state = self.state.borrow_mut();
                if state.flushing {
                    return; // re-entered: the outer call loops
                }
                match state.tls.take() {
                    Some(tls) if tls.wants_write() => {
                        state.flushing = true;
                        tls
                    }
                    other => {
                        state.tls = other;
                        return;
                    }
                }
            };
            let mut sink = LowerWriter(&**lower);
            while tls.wants_write() {
                if let Err(e) = tls.write_tls(&mut sink) {
                    // The sink never fails; keep the session consistent.
                    log::error!("TLS: write_tls failed: {e}");
                    break;
                }
            }
            let mut state = self.state.borrow_mut();
            state.flushing = false;
            let queued = std::mem::take(&mut state.reentrant);
            if !queued.is_empty() {
                if let Err(e) = tls.writer().write_all(&queued) {
                    log::error!("TLS: rustls refused plaintext: {e}");
                }
            }
            if std::mem::take(&mut state.close_notify_deferred) {
                tls.send_close_notify();
            }
            let again = tls.wants_write();
            state.tls = Some(tls);
            if !again {
                return;
            }
        }
    }

    /// The user's protocol wrote `data`.
    pub(crate) fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        {
            let mut state = self.state.borrow_mut();
            if state.lost || state.failed || state.close_notify_sent {
                log::debug!(
                    "TLS: {} bytes written after the TLS session ended; dropped",
                    data.len()
                );
                return;
            }
            if !state.is_tls() {
                drop(state);
                if let Some(lower) = self.lower() {
                    lower.write(data);
                }
                return;
            }
            if !state.handshake_done {
                state.pending.extend_from_slice(data);
                return;
            }
            match state.tls.as_mut() {
                None => {
                    // Flushing (a producer wrote from inside the lower
                    // transport's write): encrypted when the flush ends.
                    state.reentrant.extend_from_slice(data);
                    return;
                }
                Some(tls) => {
                    if let Err(e) = tls.writer().write_all(data) {
                        log::error!("TLS: rustls refused plaintext: {e}");
                    }
                }
            }
        }
        self.flush_out();
    }

    /// Ciphertext arrived from the lower transport.
    pub(crate) fn data_received(self: &Rc<Self>, data: &[u8]) {
        let plaintext_mode = !self.state.borrow().is_tls();
        if plaintext_mode {
            if let Some(app) = self.app() {
                borrow_protocol(&app, "data_received").data_received(data);
            }
            return;
        }
        self.process_incoming(data);
    }

    /// Feeds buffered ciphertext to rustls, sends its answers, delivers the
    /// plaintext to the user's protocol, then acts on a close_notify or an
    /// error.
    fn process_incoming(self: &Rc<Self>, data: &[u8]) {
        let (plaintext, filled, event, handshake_finished) = self.decrypt(data);
        self.flush_out();
        if handshake_finished {
            self.after_handshake();
        }
        if filled > 0 {
            if let Some(app) = self.app() {
                borrow_protocol(&app, "data_received").data_received(&plaintext[..filled]);
            }
        }
        // Kept for the next read unless a burst made it large: an idle
        // connection should not hold a big buffer.
        if plaintext.len() <= KEPT_PLAINTEXT_BUFFER {
            self.state.borrow_mut().plain_buffer = plaintext;
        }
        match event {
            Event::None => {}
            Event::PeerClosed => self.peer_closed(),
            Event::Failed(error) => self.fail(error),
        }
    }

    /// Runs rustls over the buffered ciphertext, then `data`: the
    /// plaintext buffer and how much of it was filled, what else happened,
    /// and whether the handshake finished just now. What rustls does not
    /// take yet stays buffered.
    fn decrypt(&self, data: &[u8]) -> (Vec<u8>, usize, Event, bool) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        // The buffer keeps its length between reads, so that it is zeroed
        // only when it grows.
        let mut plaintext = std::mem::take(&mut state.plain_buffer);
        let mut filled = 0;
        let mut handshake_finished = false;
        if state.failed || state.lost {
            return (plaintext, 0, Event::None, false);
        }
        let Some(tls) = state.tls.as_mut() else {
            return (plaintext, 0, Event::None, false);
        };
        // Ciphertext comes from the buffer if it holds any, else straight
        // from `data` (no copy in the common case).
        if !state.incoming.is_empty() {
            state.incoming.extend_from_slice(data);
        }
        let buffered = !state.incoming.is_empty();
        let input: &[u8] = if buffered { &state.incoming } else { data };
        let mut consumed = 0;
        let event = loop {
            if consumed == input.len() {
                break Event::None;
            }
            let mut rest = &input[consumed..];
            match tls.read_tls(&mut rest) {
                // rustls takes nothing more for now; the rest waits.
                Ok(0) => break Event::None,
                Ok(n) => consumed += n,
                Err(e) => {
                    break Event::Failed(TlsError::new(
                        rustls::Error::General(e.to_string()),
                        !state.handshake_done,
                    ))
                }
            }
            let io_state = match tls.process_new_packets() {
                Ok(io_state) => io_state,
                Err(e) => break Event::Failed(TlsError::new(e, !state.handshake_done)),
            };
            if !state.handshake_done && !tls.is_handshaking() {
                state.handshake_done = true;
                handshake_finished = true;
                let pending = std::mem::take(&mut state.pending);
                if !pending.is_empty() {
                    if let Err(e) = tls.writer().write_all(&pending) {
                        log::error!("TLS: rustls refused plaintext: {e}");
                    }
                }
            }
            // Drain what rustls decrypted (this also keeps its
            // received-plaintext buffer below its limit for read_tls).
            let ready = io_state.plaintext_bytes_to_read();
            if ready > 0 {
                if plaintext.len() < filled + ready {
                    plaintext.resize(filled + ready, 0);
                }
                match tls
                    .reader()
                    .read_exact(&mut plaintext[filled..filled + ready])
                {
                    Ok(()) => filled += ready,
                    Err(e) => {
                        log::error!("TLS: rustls announced {ready} plaintext bytes it lacks: {e}")
                    }
                }
            }
            if io_state.peer_has_closed() && !state.peer_closed {
                state.peer_closed = true;
                break Event::PeerClosed;
            }
        };
        let failed = matches!(event, Event::Failed(_));
        if failed {
            state.failed = true;
            state.incoming.clear();
        } else if buffered {
            state.incoming.drain(..consumed);
        } else {
            state.incoming.extend_from_slice(&data[consumed..]);
        }
        (plaintext, filled, event, handshake_finished)
    }

    /// The handshake finished: a close or half-close asked for while it ran
    /// can proceed now that the buffered plaintext went out.
    fn after_handshake(&self) {
        let (shutdown, half_close) = {
            let state = self.state.borrow();
            (
                state.disconnecting && !state.has_producer,
                state.write_shut_requested,
            )
        };
        if shutdown {
            self.shutdown();
        } else if half_close {
            self.half_close();
        }
    }

    /// The peer sent close_notify: a half-closeable protocol hears
    /// `read_connection_lost` and may go on writing (TLS 1.3 half-close);
    /// any other gets our close_notify and the connection closes.
    fn peer_closed(&self) {
        let Some(app) = self.app() else { return };
        let half_closeable = borrow_protocol(&app, "read_connection_lost")
            .as_half_closeable()
            .is_some();
        if half_closeable {
            if let Some(h) = borrow_protocol(&app, "read_connection_lost").as_half_closeable() {
                h.read_connection_lost();
            }
        } else {
            self.shutdown();
        }
    }

    /// TLS failed: send rustls's alert, remember why, close.
    fn fail(&self, error: TlsError) {
        log::debug!("TLS: {error}");
        {
            let mut state = self.state.borrow_mut();
            if state.reason.is_none() {
                state.reason = Some(Failure::new(error));
            }
        }
        self.flush_out();
        if let Some(lower) = self.lower() {
            lower.lose_connection();
        }
    }

    /// Sends close_notify (once) and flushes it.
    fn send_close_notify(&self) {
        {
            let mut state = self.state.borrow_mut();
            state.write_shut_requested = false;
            if !state.close_notify_sent && !state.failed {
                state.close_notify_sent = true;
                let state = &mut *state;
                match state.tls.as_mut() {
                    Some(tls) => tls.send_close_notify(),
                    None if state.flushing => state.close_notify_deferred = true,
                    None => {}
                }
            }
        }
        self.flush_out();
    }

    /// Sends close_notify, then closes the lower transport after its
    /// buffer drains.
    pub(crate) fn shutdown(&self) {
        self.send_close_notify();
        if let Some(lower) = self.lower() {
            lower.lose_connection();
        }
    }

    /// Sends close_notify, then shuts the lower transport's writing side.
    pub(crate) fn half_close(&self) {
        self.send_close_notify();
        if let Some(lower) = self.lower() {
            lower.lose_write_connection();
        }
    }

    /// The lower transport is gone: deliver what can still be decrypted,
    /// then `connection_lost` with the TLS error if there was one, a
    /// `ConnectionLost` for a TLS session cut without close_notify, or the
    /// lower transport's reason.
    pub(crate) fn connection_lost(self: &Rc<Self>, reason: Failure) {
        if self.state.borrow().lost {
            return;
        }
        self.process_incoming(&[]);
        let reason = {
            let mut state = self.state.borrow_mut();
            state.lost = true;
            let truncated = state.is_tls()
                && !state.peer_closed
                && !state.close_notify_sent
                && !state.disconnecting
                && reason.check::<ConnectionDone>();
            match state.reason.take() {
                Some(reason) => reason,
                None if truncated => Failure::new(ConnectionLost::from_io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection without a TLS close_notify",
                ))),
                None => reason,
            }
        };
        let app = self.app.borrow_mut().take();
        if let Some(app) = app {
            // Never lost, even to a protocol held borrowed across `.await`.
            if let Err(payload) = deliver_connection_lost(&app, reason) {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

/// `io::Write` into a transport: how `write_tls` hands records over.
struct LowerWriter<'a>(&'a dyn Transport);

impl Write for LowerWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let chunks: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.0.write_sequence(&chunks);
        Ok(chunks.iter().map(|c| c.len()).sum())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
