//! `ssl:` and `tls:` endpoint description strings, registered into an
//! [`EndpointRegistry`] (Twisted's `_parseSSL`, `_parseClientSSL`,
//! `_TLSClientEndpointParser`).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustls::RootCertStore;
use torsion_endpoints::{
    client_from_string, quote, server_from_string, Arguments, EndpointParseError, EndpointRegistry,
};
use torsion_reactor::{ReactorTcp, ReactorUnix, StreamClientEndpoint, StreamServerEndpoint};

use crate::{
    load_certificates, load_private_key, ClientTlsOptions, ServerTlsOptions, TlsClientEndpoint,
    TlsConfigError, TlsServerEndpoint,
};

/// Adds the TLS types to `registry`, with Twisted's syntax:
///
/// * server `ssl:PORT:privateKey=key.pem:certKey=cert.pem` with
///   `interface=`, `backlog=`, `extraCertChain=` (a PEM file of
///   intermediates); `privateKey` defaults to `server.pem`, `certKey` to
///   the `privateKey` file;
/// * client `tls:HOST:PORT` with `timeout=`, `bindAddress=`,
///   `trustRoots=` (a directory of `.pem` files, or one PEM file),
///   `certificate=` and `privateKey=` (a client certificate), `endpoint=`
///   (an inner endpoint description; `HOST` is then only the name to
///   verify);
/// * client `ssl:host=H:port=P` with `timeout=`, `bindAddress=`,
///   `caCertsDir=`, `certKey=`, `privateKey=`, `hostname=` (the name to
///   verify, default `host`).
///
/// Host names are always verified (against Mozilla's roots unless
/// `trustRoots`/`caCertsDir` say otherwise).
///
/// # Errors
///
/// The parsers return an [`EndpointParseError`] naming the argument: a
/// missing or unreadable file, a key that does not match its certificate,
/// or an option rustls cannot honour (`sslmethod=`, `dhParameters=`),
/// which is rejected rather than ignored.
///
/// # Examples
///
/// ```
/// use torsion_endpoints::EndpointRegistry;
/// use torsion_reactor::Reactor;
///
/// let mut registry = EndpointRegistry::new(Reactor::new()?);
/// torsion_tls::register_tls_endpoints(&mut registry);
/// let client = registry.client_from_string("tls:example.com:443")?;
/// assert_eq!(client.describe(), "tls:tcp:host=example.com:port=443");
/// let error = registry
///     .server_from_string("ssl:8443:privateKey=k.pem:sslmethod=TLSv1_2_METHOD")
///     .unwrap_err();
/// assert!(error.to_string().contains("sslmethod"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// Twisted's `ssl:` client verifies the host name only when `hostname=`
/// is given; here it is always verified, against `hostname=` or `host=`.
/// `sslmethod` and `dhParameters` are OpenSSL knobs with no rustls
/// counterpart, so they are refused.
pub fn register_tls_endpoints<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    registry: &mut EndpointRegistry<R>,
) {
    registry.register_server("ssl", ssl_server::<R>);
    registry.register_client("tls", tls_client::<R>);
    registry.register_client("ssl", ssl_client::<R>);
}

/// The arguments a parser takes for itself, and the rest.
struct Split {
    mine: Vec<(String, String)>,
    rest: Arguments,
}

impl Split {
    fn new(args: &Arguments, names: &[&str]) -> Split {
        let (mine, keywords) = args
            .keywords
            .iter()
            .cloned()
            .partition(|(k, _)| names.contains(&k.as_str()));
        Split {
            mine,
            rest: Arguments {
                positional: args.positional.clone(),
                keywords,
            },
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.mine
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses an OpenSSL knob rustls has no counterpart for.
    fn refuse(&self, name: &str, why: &'static str) -> Result<(), EndpointParseError> {
        match self.get(name) {
            Some(value) => Err(EndpointParseError::Invalid {
                argument: name.to_string(),
                value: value.to_string(),
                expected: why,
            }),
            None => Ok(()),
        }
    }

    /// The rest as a description of another type.
    fn rest_as(&self, kind: &str) -> String {
        let mut out = vec![kind.to_string()];
        out.extend(self.rest.positional.iter().skip(1).map(|p| quote(p, true)));
        out.extend(
            self.rest
                .keywords
                .iter()
                .map(|(k, v)| format!("{}={}", quote(k, true), quote(v, false))),
        );
        out.join(":")
    }
}

/// An [`EndpointParseError`] naming `argument` for a configuration error.
fn bad(argument: &str, value: &str, error: TlsConfigError) -> EndpointParseError {
    log::error!("TLS endpoint {argument}={value}: {error}");
    let expected = match error {
        TlsConfigError::Io { .. } => "a readable file",
        TlsConfigError::NoPem {
            what: "private key",
            ..
        } => "a PEM file holding a private key",
        TlsConfigError::NoPem { .. } => "a PEM file holding certificates",
        TlsConfigError::BadPem { .. } => "a well-formed PEM file",
        TlsConfigError::InvalidHostName(_) => "a DNS name or IP address",
        _ => "a private key matching the certificate, usable by rustls",
    };
    EndpointParseError::Invalid {
        argument: argument.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn ssl_server<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: &R,
    args: &Arguments,
) -> Result<Rc<dyn StreamServerEndpoint>, EndpointParseError> {
    let split = Split::new(
        args,
        &[
            "privateKey",
            "certKey",
            "extraCertChain",
            "sslmethod",
            "dhParameters",
        ],
    );
    split.refuse(
        "sslmethod",
        "no sslmethod: rustls negotiates TLS 1.2 or 1.3 itself and cannot take an OpenSSL method",
    )?;
    split.refuse(
        "dhParameters",
        "no dhParameters: rustls has no finite-field Diffie-Hellman (it uses ECDHE)",
    )?;
    let key_path = split.get("privateKey").unwrap_or("server.pem");
    let cert_path = split.get("certKey").unwrap_or(key_path);
    let key = load_private_key(key_path).map_err(|e| bad("privateKey", key_path, e))?;
    let chain = load_certificates(cert_path).map_err(|e| bad("certKey", cert_path, e))?;
    let mut options = ServerTlsOptions::new(chain, key);
    if let Some(extra) = split.get("extraCertChain") {
        options = options
            .extra_chain(load_certificates(extra).map_err(|e| bad("extraCertChain", extra, e))?);
    }
    let context = options
        .context()
        .map_err(|e| bad("privateKey", key_path, e))?;
    let inner = server_from_string(reactor.clone(), &split.rest_as("tcp"))?;
    Ok(Rc::new(TlsServerEndpoint::new(inner, context)))
}

/// Root certificates from a directory of `.pem` files or one PEM file.
fn trust_roots(path: &str) -> Result<RootCertStore, TlsConfigError> {
    let path = Path::new(path);
    let files: Vec<PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|error| TlsConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut roots = RootCertStore::empty();
    for file in files {
        for cert in load_certificates(&file)? {
            roots.add(cert)?;
        }
    }
    if roots.is_empty() {
        return Err(TlsConfigError::NoPem {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(roots)
}

/// The client options of both client syntaxes.
fn client_options(
    split: &Split,
    roots_argument: &str,
    certificate_argument: &str,
) -> Result<ClientTlsOptions, EndpointParseError> {
    let mut options = match split.get(roots_argument) {
        Some(dir) => {
            ClientTlsOptions::with_roots(trust_roots(dir).map_err(|e| bad(roots_argument, dir, e))?)
        }
        None => ClientTlsOptions::new(),
    };
    match (split.get(certificate_argument), split.get("privateKey")) {
        (Some(cert), key) => {
            let key_path = key.unwrap_or(cert);
            let chain = load_certificates(cert).map_err(|e| bad(certificate_argument, cert, e))?;
            let key = load_private_key(key_path).map_err(|e| bad("privateKey", key_path, e))?;
            options = options.client_certificate(chain, key);
        }
        (None, Some(key)) => {
            return Err(EndpointParseError::Invalid {
                argument: "privateKey".into(),
                value: key.into(),
                expected: "a client certificate argument to go with it",
            })
        }
        (None, None) => {}
    }
    Ok(options)
}

/// `host` from `host=` or the first positional argument.
fn host(args: &Arguments, kind: &str) -> Result<String, EndpointParseError> {
    args.keywords
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone())
        .or_else(|| args.positional.get(1).cloned())
        .ok_or(EndpointParseError::Missing {
            kind: kind.to_string(),
            argument: "host",
        })
}

fn tls_client<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: &R,
    args: &Arguments,
) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError> {
    let split = Split::new(
        args,
        &["certificate", "privateKey", "trustRoots", "endpoint"],
    );
    let host = host(args, "tls")?;
    let options = client_options(&split, "trustRoots", "certificate")?;
    let context = options.context(&host).map_err(|e| bad("host", &host, e))?;
    let inner = match split.get("endpoint") {
        Some(description) => client_from_string(reactor.clone(), description)?,
        None => client_from_string(reactor.clone(), &tcp_client(&split.rest))?,
    };
    Ok(Rc::new(TlsClientEndpoint::new(inner, context)))
}

/// `tcp:host=H:port=P:...` from `HOST:PORT:...` or keywords.
fn tcp_client(rest: &Arguments) -> String {
    let mut out = vec!["tcp".to_string()];
    for (name, value) in ["host", "port"].iter().zip(rest.positional.iter().skip(1)) {
        out.push(format!("{name}={}", quote(value, false)));
    }
    out.extend(rest.positional.iter().skip(3).map(|p| quote(p, true)));
    out.extend(
        rest.keywords
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k, true), quote(v, false))),
    );
    out.join(":")
}

fn ssl_client<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: &R,
    args: &Arguments,
) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError> {
    let split = Split::new(args, &["certKey", "privateKey", "caCertsDir", "hostname"]);
    let host = host(args, "ssl")?;
    let verify = split.get("hostname").unwrap_or(&host).to_string();
    let options = client_options(&split, "caCertsDir", "certKey")?;
    let context = options
        .context(&verify)
        .map_err(|e| bad("hostname", &verify, e))?;
    let inner = client_from_string(reactor.clone(), &tcp_client(&split.rest))?;
    Ok(Rc::new(TlsClientEndpoint::new(inner, context)))
}
