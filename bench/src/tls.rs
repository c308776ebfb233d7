//! The TLS material of the tls-stream scenario: one self-signed
//! certificate made by the parent (rcgen), written to a temporary
//! directory that the server children find through an environment
//! variable; the same rustls `ServerConfig` for both TLS servers; and the
//! load generator's client configuration, offering one cipher suite so
//! that both servers run the same one.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use torsion_tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use torsion_tls::{crypto_provider, load_certificates, ServerTlsOptions};

/// Where the children find the certificate and key.
const DIR_VARIABLE: &str = "TORSION_BENCH_TLS_DIR";

/// The cipher suite every TLS run negotiates (the client offers only it).
pub(crate) const CIPHER_SUITE: &str = "TLS13_AES_128_GCM_SHA256";

/// Makes the certificate once per parent process; returns the directory.
pub(crate) fn material_dir() -> io::Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("torsion-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("cert.pem"), made.cert.pem()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("key.pem"), made.key_pair.serialize_pem())
            .map_err(|e| e.to_string())?;
        Ok(dir)
    })
    .clone()
    .map_err(io::Error::other)
}

/// Tells a server child where the material is.
pub(crate) fn pass_to(command: &mut std::process::Command) -> io::Result<()> {
    command.env(DIR_VARIABLE, material_dir()?);
    Ok(())
}

fn child_dir() -> io::Result<PathBuf> {
    std::env::var_os(DIR_VARIABLE)
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other(format!("{DIR_VARIABLE} is not set")))
}

/// The server configuration both TLS servers use.
pub(crate) fn server_config() -> io::Result<Arc<ServerConfig>> {
    let dir = child_dir()?;
    ServerTlsOptions::from_pem_files(dir.join("cert.pem"), dir.join("key.pem"))
        .and_then(ServerTlsOptions::build)
        .map_err(io::Error::other)
}

/// The load generator's client configuration: trusts the certificate,
/// offers only [`CIPHER_SUITE`].
pub(crate) fn client_config() -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(material_dir()?.join("cert.pem")).map_err(io::Error::other)? {
        roots.add(cert).map_err(io::Error::other)?;
    }
    let mut provider = (*crypto_provider()).clone();
    provider
        .cipher_suites
        .retain(|suite| format!("{:?}", suite.suite()) == CIPHER_SUITE);
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
