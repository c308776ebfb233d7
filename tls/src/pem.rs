//! Loading certificates and keys from PEM files, and the crypto provider
//! every configuration of this crate is built on.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsConfigError;

/// The crypto provider every configuration of this crate uses: rustls's
/// `ring` provider (see the crate docs for why).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|error| TlsConfigError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Every certificate in a PEM file, in order (leaf first for a chain).
///
/// # Errors
///
/// [`TlsConfigError::Io`] if unreadable, [`TlsConfigError::BadPem`] if
/// malformed, [`TlsConfigError::NoPem`] if it holds no certificate.
pub fn load_certificates(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let path = path.as_ref();
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::BadPem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoPem {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
///
/// # Errors
///
/// As [`load_certificates`], for a private key.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let path = path.as_ref();
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsConfigError::NoPem {
            path: path.to_path_buf(),
            what: "private key",
        },
        e => TlsConfigError::BadPem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    })
}
