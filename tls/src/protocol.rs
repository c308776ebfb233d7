//! [`TlsProtocol`]: the protocol the lower transport drives, holding a
//! rustls connection and the user's protocol above it (Twisted's
//! `TLSMemoryBIOProtocol`).

use std::fmt;
use std::rc::Rc;

use torsion_reactor::{
    borrow_protocol, Failure, HalfCloseableProtocol, Protocol, ProtocolRef, TransportRef,
};

use crate::layer::Shared;
use crate::transport::TlsLayerTransport;
use crate::TlsContext;

/// The protocol the lower transport drives for one TLS connection: it owns
/// the rustls session and the user's protocol, which sees only plaintext
/// (Twisted's `TLSMemoryBIOProtocol`). Built by [`TlsFactory`](crate::TlsFactory)
/// and [`TlsFactory::for_start_tls`](crate::TlsFactory::for_start_tls); exposed for code that
/// connects protocols by hand (e.g. over the in-memory pump).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{Protocol, ProtocolRef};
/// use torsion_tls::{ClientTlsOptions, TlsProtocol};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// let context = ClientTlsOptions::new().context("example.com")?;
/// let app: ProtocolRef = Rc::new(RefCell::new(Quiet));
/// let layer = TlsProtocol::new(app, &context)?;
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsProtocol {
    shared: Rc<Shared>,
}

impl TlsProtocol {
    /// Wraps `app` in TLS from the start, playing `context`'s side.
    ///
    /// # Errors
    ///
    /// rustls's, if it cannot start a session with `context`.
    pub fn new(app: ProtocolRef, context: &TlsContext) -> Result<TlsProtocol, rustls::Error> {
        let tls = context.new_connection()?;
        let shared = Shared::new(app, Some(tls), false);
        shared.state.borrow_mut().set_client_server_name(context);
        Ok(TlsProtocol { shared })
    }

    /// Wraps `app` in plaintext until it calls
    /// [`start_tls`](crate::start_tls) on its transport (Twisted's
    /// `ITLSTransport.startTLS`).
    pub fn plaintext(app: ProtocolRef) -> TlsProtocol {
        TlsProtocol {
            shared: Shared::new(app, None, true),
        }
    }

    /// The user's protocol (until the connection is lost).
    pub fn inner(&self) -> Option<ProtocolRef> {
        self.shared.app()
    }
}

impl Protocol for TlsProtocol {
    fn make_connection(&mut self, transport: TransportRef) {
        if self.shared.lower.set(transport).is_err() {
            log::error!("TLS: make_connection called twice; ignored");
            return;
        }
        // Twisted's order: the user's protocol is connected first (its
        // writes wait for the handshake), then the client's hello goes out.
        let app_transport: TransportRef = Rc::new(TlsLayerTransport::new(self.shared.clone()));
        if let Some(app) = self.shared.app() {
            borrow_protocol(&app, "make_connection").make_connection(app_transport);
        }
        self.shared.flush_out();
    }

    fn data_received(&mut self, data: &[u8]) {
        self.shared.data_received(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.shared.connection_lost(reason);
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }

    fn log_prefix(&self) -> &'static str {
        match self.shared.app.try_borrow().ok().and_then(|a| a.clone()) {
            Some(app) => app
                .try_borrow()
                .map(|a| a.log_prefix())
                .unwrap_or("TlsProtocol"),
            None => "TlsProtocol",
        }
    }
}

impl HalfCloseableProtocol for TlsProtocol {
    /// The lower transport reached end of file.
    fn read_connection_lost(&mut self) {
        let (plaintext_mode, clean) = {
            let state = self.shared.state.borrow();
            (!state.is_tls(), state.peer_closed || state.failed)
        };
        if plaintext_mode {
            let app = self.shared.app();
            if let Some(app) = app {
                let mut app = borrow_protocol(&app, "read_connection_lost");
                if let Some(h) = app.as_half_closeable() {
                    h.read_connection_lost();
                    return;
                }
            }
        } else if clean {
            // close_notify came first: already acted on.
            return;
        }
        // End of file without close_notify (or a plaintext protocol that
        // cannot half-close): nothing more can arrive, close.
        if let Some(lower) = self.shared.lower() {
            lower.lose_connection();
        }
    }

    fn write_connection_lost(&mut self) {
        if let Some(app) = self.shared.app() {
            if let Some(h) = borrow_protocol(&app, "write_connection_lost").as_half_closeable() {
                h.write_connection_lost();
            }
        }
    }
}

impl fmt::Debug for TlsProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.try_borrow();
        let mut d = f.debug_struct("TlsProtocol");
        if let Ok(state) = state {
            d.field("tls", &state.is_tls())
                .field("handshake_done", &state.handshake_done)
                .field("disconnecting", &state.disconnecting);
        }
        d.finish_non_exhaustive()
    }
}
