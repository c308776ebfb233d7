//! [`TlsTransport`] and [`StartTlsTransport`]: Twisted's `ISSLTransport` and
//! `ITLSTransport`. The TLS itself lives in the `torsion-tls` crate; these
//! contracts sit here so that a protocol can ask any transport
//! ([`Transport::as_tls`](crate::Transport::as_tls),
//! [`Transport::as_start_tls`](crate::Transport::as_start_tls)) without
//! depending on it.

use std::any::Any;
use std::error::Error;
use std::fmt;

use crate::interfaces::Transport;

/// What a TLS connection knows about its session: Twisted's
/// `ISSLTransport` (`getPeerCertificate`) and `negotiatedProtocol`.
///
/// # Examples
///
/// ```
/// use torsion_reactor::TransportRef;
///
/// /// Which application protocol the peer agreed to, if this is TLS.
/// fn alpn(transport: &TransportRef) -> Option<String> {
///     let tls = transport.as_tls()?;
///     Some(String::from_utf8_lossy(&tls.alpn_protocol()?).into_owned())
/// }
/// # let _ = alpn;
/// ```
pub trait TlsTransport: Transport {
    /// Whether the handshake has completed (Twisted's `handshakeCompleted`
    /// has been called).
    fn is_handshake_complete(&self) -> bool;

    /// The peer's end-entity certificate, DER-encoded, once the handshake
    /// has received it (`getPeerCertificate`); `None` when the peer sent
    /// none (a server not asking for client certificates).
    fn peer_certificate(&self) -> Option<Vec<u8>>;

    /// The server name (SNI): on a client, the name it asked for and
    /// verified; on a server, the name the client sent.
    fn server_name(&self) -> Option<String>;

    /// The application protocol negotiated with ALPN
    /// (`negotiatedProtocol`).
    fn alpn_protocol(&self) -> Option<Vec<u8>>;

    /// The negotiated protocol version, e.g. `"TLSv1_3"`.
    fn protocol_version(&self) -> Option<String>;
}

/// A plaintext connection that can switch to TLS in place: Twisted's
/// `ITLSTransport.startTLS`.
///
/// # Examples
///
/// ```
/// use torsion_reactor::TransportRef;
///
/// fn can_upgrade(transport: &TransportRef) -> bool {
///     transport.as_start_tls().is_some()
/// }
/// # let _ = can_upgrade;
/// ```
pub trait StartTlsTransport: Transport {
    /// Everything written before goes out in plaintext, everything after
    /// encrypted; bytes received after this call are read as TLS.
    /// `context` is the TLS crate's context (`torsion_tls::TlsContext`):
    /// which side to play and with which configuration.
    ///
    /// # Errors
    ///
    /// [`StartTlsError`] when TLS was already started, the connection is
    /// closing, or `context` is of a type this transport does not take.
    fn start_tls(&self, context: &dyn Any) -> Result<(), StartTlsError>;
}

/// Why [`StartTlsTransport::start_tls`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartTlsError {
    /// TLS is already running on this connection.
    AlreadyStarted,
    /// The connection is closing or closed.
    NotConnected,
    /// The transport cannot start TLS at all (it is not wrapped for it).
    NotSupported,
    /// `context` was not a TLS context this transport understands.
    WrongContext {
        /// The type the transport expected.
        expected: &'static str,
    },
}

impl fmt::Display for StartTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartTlsError::AlreadyStarted => {
                f.write_str("TLS was already started on this connection")
            }
            StartTlsError::NotConnected => {
                f.write_str("cannot start TLS: the connection is closing or closed")
            }
            StartTlsError::NotSupported => {
                f.write_str("this transport cannot start TLS (wrap its factory for STARTTLS first)")
            }
            StartTlsError::WrongContext { expected } => {
                write!(f, "cannot start TLS: expected a {expected} as the context")
            }
        }
    }
}

impl Error for StartTlsError {}
