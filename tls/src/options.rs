//! Building rustls configurations: [`ClientTlsOptions`],
//! [`ServerTlsOptions`], and the [`TlsContext`] a connection
//! starts from (Twisted's `optionsForClientTLS`, `CertificateOptions`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::pem::{crypto_provider, load_certificates, load_private_key};
use crate::TlsConfigError;

/// Which side of TLS to play and how: what [`TlsFactory`](crate::TlsFactory)
/// and [`start_tls`](crate::start_tls) take (Twisted's context factory).
///
/// # Examples
///
/// ```
/// use torsion_tls::ClientTlsOptions;
///
/// let context = ClientTlsOptions::new().context("example.com")?;
/// assert!(context.is_client());
/// # Ok::<(), torsion_tls::TlsConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub enum TlsContext {
    /// The client side, verifying the server as `server_name`.
    Client {
        /// The rustls configuration.
        config: Arc<ClientConfig>,
        /// The name sent as SNI and checked against the certificate.
        server_name: ServerName<'static>,
    },
    /// The server side.
    Server {
        /// The rustls configuration.
        config: Arc<ServerConfig>,
    },
}

impl TlsContext {
    /// The client side for `host` (a DNS name or an IP address).
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::InvalidHostName`] if `host` is neither.
    pub fn client(config: Arc<ClientConfig>, host: &str) -> Result<TlsContext, TlsConfigError> {
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| TlsConfigError::InvalidHostName(host.to_string()))?;
        Ok(TlsContext::Client {
            config,
            server_name,
        })
    }

    /// The server side.
    pub fn server(config: Arc<ServerConfig>) -> TlsContext {
        TlsContext::Server { config }
    }

    /// Whether this is the client side.
    pub fn is_client(&self) -> bool {
        matches!(self, TlsContext::Client { .. })
    }

    pub(crate) fn new_connection(&self) -> Result<rustls::Connection, rustls::Error> {
        let mut connection: rustls::Connection = match self {
            TlsContext::Client {
                config,
                server_name,
            } => rustls::ClientConnection::new(config.clone(), server_name.clone())?.into(),
            TlsContext::Server { config } => rustls::ServerConnection::new(config.clone())?.into(),
        };
        // The layer drains rustls into the lower transport after every
        // write, and that transport does the flow control: rustls's own
        // 64 KiB cap would only make `write` refuse bytes.
        connection.set_buffer_limit(None);
        Ok(connection)
    }
}

/// A TLS protocol version, for bounding what a configuration offers or
/// accepts (rustls speaks TLS 1.2 and 1.3; both are on by default).
///
/// # Twisted
///
/// `twisted.internet.ssl.TLSVersion`; [`ClientTlsOptions::minimum_version`]
/// is `raiseMinimumTo` and [`ClientTlsOptions::maximum_version`] is
/// `lowerMaximumSecurityTo`. Versions below 1.2 are not offered at all
/// (Twisted's `insecurelyLowerMinimumTo` has no counterpart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls1_2,
    /// TLS 1.3.
    Tls1_3,
}

impl TlsVersion {
    fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            TlsVersion::Tls1_2 => &rustls::version::TLS12,
            TlsVersion::Tls1_3 => &rustls::version::TLS13,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls1_2 => "TLS 1.2",
            TlsVersion::Tls1_3 => "TLS 1.3",
        })
    }
}

/// The versions from `minimum` to `maximum`, for a config builder.
fn versions(
    minimum: TlsVersion,
    maximum: TlsVersion,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsConfigError> {
    if minimum > maximum {
        return Err(TlsConfigError::NoVersions { minimum, maximum });
    }
    Ok([TlsVersion::Tls1_3, TlsVersion::Tls1_2]
        .into_iter()
        .filter(|v| (minimum..=maximum).contains(v))
        .map(TlsVersion::rustls)
        .collect())
}

/// A client configuration: whom to trust, which certificate to present,
/// which application protocols to offer (Twisted's `optionsForClientTLS`).
///
/// Host-name verification is on; turning it off takes
/// [`dangerously_skip_host_name_verification`](ClientTlsOptions::dangerously_skip_host_name_verification).
///
/// # Examples
///
/// ```
/// use torsion_tls::ClientTlsOptions;
///
/// // Mozilla's roots (webpki-roots), offering HTTP/1.1 with ALPN.
/// let config = ClientTlsOptions::new().alpn(["http/1.1"]).build()?;
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// # Ok::<(), torsion_tls::TlsConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientTlsOptions {
    roots: RootCertStore,
    client_certificate: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    alpn: Vec<Vec<u8>>,
    verify_host_name: bool,
    minimum: TlsVersion,
    maximum: TlsVersion,
}

impl Default for ClientTlsOptions {
    fn default() -> Self {
        ClientTlsOptions::new()
    }
}

impl ClientTlsOptions {
    /// Trusting Mozilla's root certificates (the `webpki-roots` crate).
    pub fn new() -> ClientTlsOptions {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        ClientTlsOptions::with_roots(roots)
    }

    /// Trusting exactly `roots`.
    pub fn with_roots(roots: RootCertStore) -> ClientTlsOptions {
        ClientTlsOptions {
            roots,
            client_certificate: None,
            alpn: Vec::new(),
            verify_host_name: true,
            minimum: TlsVersion::Tls1_2,
            maximum: TlsVersion::Tls1_3,
        }
    }

    /// Trusting only the certificate authority `ca` (DER), e.g. a private
    /// CA or a self-signed server certificate.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Rustls`] if `ca` cannot be a trust anchor.
    pub fn trusting(ca: CertificateDer<'static>) -> Result<ClientTlsOptions, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        roots.add(ca)?;
        Ok(ClientTlsOptions::with_roots(roots))
    }

    /// Trusting only the certificates of a PEM file.
    ///
    /// # Errors
    ///
    /// As [`load_certificates`], or [`TlsConfigError::Rustls`] for a
    /// certificate that cannot be a trust anchor.
    pub fn trusting_pem_file(path: impl AsRef<Path>) -> Result<ClientTlsOptions, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        for cert in load_certificates(path)? {
            roots.add(cert)?;
        }
        Ok(ClientTlsOptions::with_roots(roots))
    }

    /// Presents `chain` (leaf first) with `key` when the server asks.
    pub fn client_certificate(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.client_certificate = Some((chain, Arc::new(key)));
        self
    }

    /// Offers these application protocols with ALPN, in order of preference.
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Offers no version below `version` (Twisted's `raiseMinimumTo`).
    pub fn minimum_version(mut self, version: TlsVersion) -> Self {
        self.minimum = version;
        self
    }

    /// Offers no version above `version` (Twisted's
    /// `lowerMaximumSecurityTo`), e.g. TLS 1.2 only for a peer that
    /// mishandles 1.3.
    pub fn maximum_version(mut self, version: TlsVersion) -> Self {
        self.maximum = version;
        self
    }

    /// Accepts a certificate valid for **any** host name, as long as it
    /// chains to a trusted root: anyone holding any certificate from those
    /// roots can then impersonate the server. Logged at warning level when
    /// the configuration is built.
    pub fn dangerously_skip_host_name_verification(mut self) -> Self {
        self.verify_host_name = false;
        self
    }

    /// The rustls configuration.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Rustls`] if rustls refuses it (an empty root store,
    /// a client key that does not match its certificate);
    /// [`TlsConfigError::NoVersions`] if the minimum version is above the
    /// maximum.
    pub fn build(self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let versions = versions(self.minimum, self.maximum)?;
        let provider = crypto_provider();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots), provider.clone())
                .build()
                .map_err(|e| TlsConfigError::Rustls(rustls::Error::General(e.to_string())))?;
        let builder =
            ClientConfig::builder_with_provider(provider).with_protocol_versions(&versions)?;
        let builder = if self.verify_host_name {
            builder.with_webpki_verifier(verifier)
        } else {
            log::warn!(
                "TLS host-name verification is OFF: any certificate from a trusted root is accepted for any host"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostName(verifier)))
        };
        let mut config = match self.client_certificate {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(Arc::new(config))
    }

    /// The client [`TlsContext`] for `host`.
    ///
    /// # Errors
    ///
    /// As [`build`](ClientTlsOptions::build) and [`TlsContext::client`].
    pub fn context(self, host: &str) -> Result<TlsContext, TlsConfigError> {
        TlsContext::client(self.build()?, host)
    }
}

/// A server configuration: the certificate chain and key to present, and
/// optionally the client certificates to require (Twisted's
/// `CertificateOptions` / `PrivateCertificate.options()`).
///
/// # Examples
///
/// ```
/// use torsion_tls::ServerTlsOptions;
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
/// let config = ServerTlsOptions::new(
///     vec![cert.cert.der().clone()],
///     rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
/// )
/// .alpn(["h2", "http/1.1"])
/// .build()?;
/// assert_eq!(config.alpn_protocols.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerTlsOptions {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<RootCertStore>,
    alpn: Vec<Vec<u8>>,
    minimum: TlsVersion,
    maximum: TlsVersion,
}

impl ServerTlsOptions {
    /// Presenting `chain` (leaf first) with `key`.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        ServerTlsOptions {
            chain,
            key,
            client_roots: None,
            alpn: Vec::new(),
            minimum: TlsVersion::Tls1_2,
            maximum: TlsVersion::Tls1_3,
        }
    }

    /// From PEM files: the key, and the certificate (followed by its chain).
    ///
    /// # Errors
    ///
    /// As [`load_certificates`] and [`load_private_key`].
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        Ok(ServerTlsOptions::new(
            load_certificates(cert)?,
            load_private_key(key)?,
        ))
    }

    /// Appends intermediate certificates to the chain presented.
    pub fn extra_chain(mut self, intermediates: Vec<CertificateDer<'static>>) -> Self {
        self.chain.extend(intermediates);
        self
    }

    /// Requires clients to present a certificate chaining to `roots`.
    pub fn require_client_certificates(mut self, roots: RootCertStore) -> Self {
        self.client_roots = Some(roots);
        self
    }

    /// Accepts these application protocols with ALPN, in order of preference.
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Accepts no version below `version` (Twisted's `raiseMinimumTo`),
    /// e.g. TLS 1.3 only.
    pub fn minimum_version(mut self, version: TlsVersion) -> Self {
        self.minimum = version;
        self
    }

    /// Accepts no version above `version` (Twisted's
    /// `lowerMaximumSecurityTo`).
    pub fn maximum_version(mut self, version: TlsVersion) -> Self {
        self.maximum = version;
        self
    }

    /// The rustls configuration.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Rustls`] if the key does not fit the certificate or
    /// cannot be used; [`TlsConfigError::NoVersions`] if the minimum version
    /// is above the maximum.
    pub fn build(self) -> Result<Arc<ServerConfig>, TlsConfigError> {
        let versions = versions(self.minimum, self.maximum)?;
        let provider = crypto_provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?;
        let builder = match self.client_roots {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| {
                            TlsConfigError::Rustls(rustls::Error::General(e.to_string()))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(self.chain, self.key)?;
        config.alpn_protocols = self.alpn;
        Ok(Arc::new(config))
    }

    /// The server [`TlsContext`].
    ///
    /// # Errors
    ///
    /// As [`build`](ServerTlsOptions::build).
    pub fn context(self) -> Result<TlsContext, TlsConfigError> {
        Ok(TlsContext::server(self.build()?))
    }
}

/// WebPKI verification minus the host-name check: the opt-out of
/// [`ClientTlsOptions::dangerously_skip_host_name_verification`].
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
