//! [`TlsError`] (what `connection_lost` gets when TLS fails) and
//! [`TlsConfigError`] (bad certificates, keys, names or options).

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

use rustls::{CertificateError, Error as RustlsError};

/// What went wrong, in the terms a user acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The peer's certificate is valid but not for the host name we
    /// connected to.
    WrongHostName,
    /// The peer's certificate is not trusted: unknown issuer, expired,
    /// revoked, malformed, or missing when one was required.
    BadCertificate,
    /// The peer aborted the handshake with a fatal alert (e.g. it did not
    /// trust our certificate, or we offered nothing it supports).
    PeerAlert,
    /// No protocol version, cipher suite or ALPN protocol in common.
    NoCommonProtocol,
    /// The peer does not speak TLS: what arrived is not a TLS record.
    NotTls,
    /// Any other violation of the TLS protocol.
    Protocol,
}

/// TLS failed on a connection: the `Failure` its protocol's
/// `connection_lost` receives (`failure.downcast_ref::<TlsError>()`).
///
/// # Examples
///
/// ```
/// use torsion_reactor::Failure;
/// use torsion_tls::{TlsError, TlsErrorKind};
///
/// fn explain(reason: &Failure) -> String {
///     match reason.downcast_ref::<TlsError>() {
///         Some(e) if e.kind() == TlsErrorKind::WrongHostName => format!("wrong server: {e}"),
///         Some(e) => format!("TLS failed: {e}"),
///         None => reason.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
///
/// # Twisted
///
/// Twisted hands `connectionLost` an `OpenSSL.SSL.Error` whose text is
/// OpenSSL's; here the rustls error is kept as the
/// [`source`](Error::source) and classified into a [`TlsErrorKind`].
#[derive(Debug, Clone)]
pub struct TlsError {
    kind: TlsErrorKind,
    during_handshake: bool,
    source: RustlsError,
}

impl TlsError {
    /// Classifies a rustls error.
    pub fn new(source: RustlsError, during_handshake: bool) -> TlsError {
        let kind = match &source {
            RustlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsErrorKind::WrongHostName,
            RustlsError::InvalidCertificate(_) | RustlsError::NoCertificatesPresented => {
                TlsErrorKind::BadCertificate
            }
            RustlsError::AlertReceived(_) => TlsErrorKind::PeerAlert,
            RustlsError::PeerIncompatible(_) | RustlsError::NoApplicationProtocol => {
                TlsErrorKind::NoCommonProtocol
            }
            RustlsError::InvalidMessage(_) | RustlsError::InappropriateMessage { .. }
                if during_handshake =>
            {
                TlsErrorKind::NotTls
            }
            _ => TlsErrorKind::Protocol,
        };
        TlsError {
            kind,
            during_handshake,
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// Whether it happened before the handshake completed.
    pub fn during_handshake(&self) -> bool {
        self.during_handshake
    }

    /// The rustls error behind it.
    pub fn rustls_error(&self) -> &RustlsError {
        &self.source
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = if self.during_handshake {
            "TLS handshake failed"
        } else {
            "TLS connection failed"
        };
        let what = match self.kind {
            TlsErrorKind::WrongHostName => {
                "the server's certificate is not valid for the host name we connected to"
            }
            TlsErrorKind::BadCertificate => "the peer's certificate is not trusted",
            TlsErrorKind::PeerAlert => "the peer refused the handshake",
            TlsErrorKind::NoCommonProtocol => {
                "no TLS version, cipher suite or ALPN protocol in common with the peer"
            }
            TlsErrorKind::NotTls => "the peer does not speak TLS",
            TlsErrorKind::Protocol => "the peer broke the TLS protocol",
        };
        // The rustls detail is the source: `Failure` prints it after this.
        write!(f, "{when}: {what}")
    }
}

impl Error for TlsError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// A TLS configuration could not be made: a certificate, key, host name or
/// option was wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A file held no PEM object of the kind needed.
    NoPem {
        /// The file.
        path: PathBuf,
        /// What was looked for: `"certificate"` or `"private key"`.
        what: &'static str,
    },
    /// A file's PEM could not be parsed.
    BadPem {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        detail: String,
    },
    /// The host name is not a valid DNS name or IP address.
    InvalidHostName(String),
    /// rustls refused the configuration (e.g. the key does not match the
    /// certificate).
    Rustls(RustlsError),
    /// The minimum TLS version asked for is above the maximum: no version
    /// is left to offer.
    NoVersions {
        /// The minimum asked for.
        minimum: crate::TlsVersion,
        /// The maximum asked for.
        maximum: crate::TlsVersion,
    },
    /// A description-string option that rustls cannot honour.
    UnsupportedOption {
        /// The option's name, as written.
        option: String,
        /// Why it cannot be honoured.
        why: &'static str,
    },
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsConfigError::Io { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            TlsConfigError::NoPem { path, what } => {
                write!(f, "no PEM {what} found in {}", path.display())
            }
            TlsConfigError::BadPem { path, detail } => {
                write!(f, "bad PEM in {}: {detail}", path.display())
            }
            TlsConfigError::InvalidHostName(name) => {
                write!(f, "{name:?} is not a valid host name or IP address")
            }
            TlsConfigError::Rustls(e) => write!(f, "invalid TLS configuration: {e}"),
            TlsConfigError::NoVersions { minimum, maximum } => write!(
                f,
                "no TLS version left: the minimum ({minimum}) is above the maximum ({maximum})"
            ),
            TlsConfigError::UnsupportedOption { option, why } => {
                write!(f, "TLS option {option:?} is not supported: {why}")
            }
        }
    }
}

impl Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TlsConfigError::Io { error, .. } => Some(error),
            TlsConfigError::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RustlsError> for TlsConfigError {
    fn from(e: RustlsError) -> Self {
        TlsConfigError::Rustls(e)
    }
}
