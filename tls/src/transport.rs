//! [`TlsLayerTransport`]: the transport a TLS-wrapped protocol writes to.

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use torsion_reactor::error::ProducerError;
use torsion_reactor::{
    Address, Consumer, Producer, ProducerRef, PushProducer, StartTlsError, StartTlsTransport,
    TlsTransport, Transport,
};

use crate::layer::Shared;
use crate::TlsContext;

/// The transport a protocol wrapped by [`TlsProtocol`](crate::TlsProtocol)
/// sees: it writes plaintext, the layer encrypts; it answers
/// [`as_tls`](Transport::as_tls) with the session's details and, on a
/// STARTTLS connection, [`as_start_tls`](Transport::as_start_tls).
///
/// Flow control passes straight through: a producer registered here is
/// registered on the lower transport (a slow peer pauses it), and pausing
/// this transport pauses the lower one's reading.
///
/// # Twisted
///
/// Twisted's `TLSMemoryBIOProtocol` is its own protocol's transport and
/// forwards unknown attributes (`setTcpNoDelay`) to the TCP transport;
/// here [`as_tcp`](Transport::as_tcp) answers `None`, because the TCP
/// transport's `write` would bypass encryption.
pub(crate) struct TlsLayerTransport {
    shared: Rc<Shared>,
}

impl TlsLayerTransport {
    pub(crate) fn new(shared: Rc<Shared>) -> TlsLayerTransport {
        TlsLayerTransport { shared }
    }

    fn lower_call(&self, call: impl FnOnce(&dyn Transport)) {
        if let Some(lower) = self.shared.lower() {
            call(&**lower);
        }
    }
}

impl Consumer for TlsLayerTransport {
    fn write(&self, data: &[u8]) {
        self.shared.write(data);
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        let lost = self.shared.state.borrow().lost;
        if lost {
            producer.stop_producing();
            return Ok(());
        }
        if self.shared.state.borrow().has_producer {
            return Err(ProducerError::AlreadyRegistered);
        }
        // The lower transport pauses and resumes it as its own buffer fills
        // and drains: every byte written here reaches that buffer at once
        // (after the handshake), so its state is ours.
        self.shared.state.borrow_mut().has_producer = true;
        let result = match self.shared.lower() {
            Some(lower) => lower.register_producer(producer),
            None => Ok(()),
        };
        if result.is_err() {
            self.shared.state.borrow_mut().has_producer = false;
        }
        result
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        if !self.shared.state.borrow().has_producer {
            return Err(ProducerError::NotRegistered);
        }
        self.shared.state.borrow_mut().has_producer = false;
        if let Some(lower) = self.shared.lower() {
            let _ = lower.unregister_producer();
        }
        let shutdown = {
            let state = self.shared.state.borrow();
            state.disconnecting && (state.handshake_done || state.pending.is_empty())
        };
        if shutdown {
            self.shared.shutdown();
        }
        Ok(())
    }
}

impl Producer for TlsLayerTransport {
    fn stop_producing(&self) {
        self.lower_call(|lower| lower.stop_producing());
    }
}

impl PushProducer for TlsLayerTransport {
    fn pause_producing(&self) {
        self.lower_call(|lower| lower.pause_producing());
    }

    fn resume_producing(&self) {
        self.lower_call(|lower| lower.resume_producing());
    }
}

impl Transport for TlsLayerTransport {
    /// Sends close_notify after everything written (and, with a producer,
    /// once it unregisters), then closes the lower transport once that is
    /// flushed.
    ///
    /// # Twisted
    ///
    /// As `TLSMemoryBIOProtocol.loseConnection`: before the handshake
    /// completed and with nothing written, the connection is aborted (a
    /// TLS shutdown cannot happen mid-handshake). Twisted then waits for the
    /// peer's close_notify before closing; this closes after sending ours,
    /// as most TLS stacks do.
    fn lose_connection(&self) {
        let action = {
            let mut state = self.shared.state.borrow_mut();
            if state.disconnecting || state.lost {
                return;
            }
            state.disconnecting = true;
            if !state.is_tls() {
                Some(false)
            } else if !state.handshake_done && state.pending.is_empty() {
                None
            } else if state.has_producer || !state.handshake_done {
                // Waits for unregister_producer or the handshake.
                return;
            } else {
                Some(true)
            }
        };
        match action {
            None => self.lower_call(|lower| lower.abort_connection()),
            Some(false) => self.lower_call(|lower| lower.lose_connection()),
            Some(true) => self.shared.shutdown(),
        }
    }

    fn abort_connection(&self) {
        self.shared.state.borrow_mut().disconnecting = true;
        self.lower_call(|lower| lower.abort_connection());
    }

    /// Sends close_notify, then shuts the lower transport's writing side
    /// (after the handshake, if it is still running).
    fn lose_write_connection(&self) {
        let action = {
            let mut state = self.shared.state.borrow_mut();
            if !state.is_tls() {
                Some(false)
            } else if !state.handshake_done {
                state.write_shut_requested = true;
                None
            } else {
                Some(true)
            }
        };
        match action {
            None => {}
            Some(false) => self.lower_call(|lower| lower.lose_write_connection()),
            Some(true) => self.shared.half_close(),
        }
    }

    fn is_disconnecting(&self) -> bool {
        self.shared.state.borrow().disconnecting
    }

    fn peer(&self) -> Address {
        self.shared
            .lower()
            .map(|lower| lower.peer())
            .unwrap_or(Address::Unix(None))
    }

    fn host(&self) -> Address {
        self.shared
            .lower()
            .map(|lower| lower.host())
            .unwrap_or(Address::Unix(None))
    }

    fn as_tls(&self) -> Option<&dyn TlsTransport> {
        if self.shared.state.borrow().is_tls() {
            Some(self)
        } else {
            None
        }
    }

    fn as_start_tls(&self) -> Option<&dyn StartTlsTransport> {
        if self.shared.state.borrow().can_start_tls {
            Some(self)
        } else {
            None
        }
    }
}

impl TlsTransport for TlsLayerTransport {
    fn is_handshake_complete(&self) -> bool {
        self.shared.state.borrow().handshake_done
    }

    fn peer_certificate(&self) -> Option<Vec<u8>> {
        let state = self.shared.state.borrow();
        let certs = state.tls.as_ref()?.peer_certificates()?;
        certs.first().map(|c| c.to_vec())
    }

    fn server_name(&self) -> Option<String> {
        let state = self.shared.state.borrow();
        match state.tls.as_ref()? {
            rustls::Connection::Server(s) => s.server_name().map(str::to_string),
            rustls::Connection::Client(_) => state.client_server_name(),
        }
    }

    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        let state = self.shared.state.borrow();
        state.tls.as_ref()?.alpn_protocol().map(<[u8]>::to_vec)
    }

    fn protocol_version(&self) -> Option<String> {
        let state = self.shared.state.borrow();
        state
            .tls
            .as_ref()?
            .protocol_version()
            .map(|v| format!("{v:?}"))
    }
}

impl StartTlsTransport for TlsLayerTransport {
    fn start_tls(&self, context: &dyn Any) -> Result<(), StartTlsError> {
        let context = context
            .downcast_ref::<TlsContext>()
            .ok_or(StartTlsError::WrongContext {
                expected: "torsion_tls::TlsContext",
            })?;
        {
            let mut state = self.shared.state.borrow_mut();
            if state.is_tls() {
                return Err(StartTlsError::AlreadyStarted);
            }
            if state.disconnecting || state.lost {
                return Err(StartTlsError::NotConnected);
            }
            let tls = context.new_connection().map_err(|e| {
                log::error!("TLS: cannot start a session: {e}");
                StartTlsError::NotSupported
            })?;
            state.set_client_server_name(context);
            state.tls = Some(tls);
        }
        self.shared.flush_out();
        Ok(())
    }
}

impl fmt::Debug for TlsLayerTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLayerTransport").finish_non_exhaustive()
    }
}
