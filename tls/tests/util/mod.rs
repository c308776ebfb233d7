//! Helpers for the TLS tests: certificates made at test time with rcgen,
//! TLS layers joined by the in-memory pump.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::cell::RefCell;
use std::rc::Rc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use torsion_reactor::{Protocol, ProtocolRef, TransportRef};
use torsion_testing::{connect, FakeTransport, IoPump};
use torsion_tls::{ClientTlsOptions, ServerTlsOptions, TlsContext, TlsProtocol};

/// A certificate authority and a server certificate it signed.
pub struct Pki {
    pub ca: CertificateDer<'static>,
    ca_cert: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    /// A fresh CA.
    pub fn new(name: &str) -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca_cert = params.self_signed(&ca_key).expect("CA certificate");
        Pki {
            ca: ca_cert.der().clone(),
            ca_cert,
            ca_key,
        }
    }

    /// A leaf certificate for `names`, signed by this CA, with its key.
    pub fn leaf(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("leaf certificate");
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_cert.pem()
    }

    /// A leaf certificate for `names` and its key, as PEM.
    pub fn leaf_pem(&self, names: &[&str]) -> (String, String) {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// A server context presenting a certificate for `names`.
    pub fn server(&self, names: &[&str]) -> TlsContext {
        let (chain, key) = self.leaf(names);
        ServerTlsOptions::new(chain, key)
            .context()
            .expect("server context")
    }

    /// Client options trusting only this CA.
    pub fn client_options(&self) -> ClientTlsOptions {
        ClientTlsOptions::trusting(self.ca.clone()).expect("client options")
    }

    /// A client context trusting this CA, connecting to `host`.
    pub fn client(&self, host: &str) -> TlsContext {
        self.client_options().context(host).expect("client context")
    }
}

/// A TLS client and server over the pump: the user's protocols, the layers
/// and the pump.
pub struct TlsPair<C, S> {
    pub client: Rc<RefCell<C>>,
    pub server: Rc<RefCell<S>>,
    pub client_layer: ProtocolRef,
    pub server_layer: ProtocolRef,
    pub pump: IoPump,
}

/// Wraps `client` and `server` in TLS and connects them (no pumping yet).
pub fn tls_pair<C: Protocol, S: Protocol>(
    client: C,
    server: S,
    client_context: &TlsContext,
    server_context: &TlsContext,
) -> TlsPair<C, S> {
    let client = Rc::new(RefCell::new(client));
    let server = Rc::new(RefCell::new(server));
    let client_layer: ProtocolRef = Rc::new(RefCell::new(
        TlsProtocol::new(client.clone(), client_context).expect("client layer"),
    ));
    let server_layer: ProtocolRef = Rc::new(RefCell::new(
        TlsProtocol::new(server.clone(), server_context).expect("server layer"),
    ));
    let pump = connect_layers(client_layer.clone(), server_layer.clone());
    TlsPair {
        client,
        server,
        client_layer,
        server_layer,
        pump,
    }
}

/// Connects two already-built protocols over the pump without greeting.
pub fn connect_layers(client: ProtocolRef, server: ProtocolRef) -> IoPump {
    connect(
        server.clone(),
        Rc::new(FakeTransport::new(server, true)),
        client.clone(),
        Rc::new(FakeTransport::new(client, false)),
        false,
        None,
    )
}

/// A TLS pair with a fresh CA and a server certificate for `localhost`.
pub fn localhost_pair<C: Protocol, S: Protocol>(client: C, server: S) -> TlsPair<C, S> {
    let pki = Pki::new("Torsion test CA");
    tls_pair(
        client,
        server,
        &pki.client("localhost"),
        &pki.server(&["localhost"]),
    )
}

/// A fresh directory under the system's temporary directory, removed on
/// drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "torsion-tls-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// Writes `contents` to `name` inside; returns its path as a string.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Echoes what it receives.
#[derive(Default)]
pub struct Echo(Option<TransportRef>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.0 {
            t.write(data);
        }
    }
}

/// A fresh CA's root in a trust directory, and a certificate for `names`
/// with its key, in PEM files.
pub struct PemFiles {
    pub dir: TempDir,
    pub roots: TempDir,
    pub key: String,
    pub cert: String,
}

/// Writes the files of [`PemFiles`].
pub fn pem_files(ca_name: &str, names: &[&str]) -> PemFiles {
    let pki = Pki::new(ca_name);
    let (dir, roots) = (TempDir::new("server"), TempDir::new("roots"));
    roots.write("ca.pem", &pki.ca_pem());
    let (cert, key) = pki.leaf_pem(names);
    let cert = dir.write("cert.pem", &cert);
    let key = dir.write("key.pem", &key);
    PemFiles {
        dir,
        roots,
        key,
        cert,
    }
}
