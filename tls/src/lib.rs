//! TLS for Torsion: a layer that wraps any transport (Twisted's
//! `twisted.protocols.tls.TLSMemoryBIOProtocol`), on rustls's sans-I/O
//! connections, so that one implementation serves TCP, UNIX sockets and
//! the testing crate's in-memory pump.
//!
//! * [`TlsFactory`] wraps any protocol factory: its protocols see
//!   plaintext `data_received`/`write`, and their transport answers
//!   [`as_tls`](torsion_reactor::Transport::as_tls) with the peer's
//!   certificate, the SNI name and the ALPN protocol.
//! * [`start_tls`] upgrades a live plaintext connection (STARTTLS).
//! * [`ClientTlsOptions`] / [`ServerTlsOptions`] build rustls
//!   configurations from roots, PEM files and certificates.
//! * A TLS failure reaches `connection_lost` as a [`TlsError`] naming the
//!   cause (wrong host name, untrusted certificate, not TLS, ...).
//!
//! # Example
//!
//! A client and a server talking TLS over the in-memory pump, with a
//! certificate made on the spot:
//!
//! ```
//! use std::{cell::RefCell, rc::Rc};
//! use rustls::pki_types::PrivateKeyDer;
//! use torsion_reactor::{Protocol, ProtocolRef};
//! use torsion_testing::{connect, AccumulatingProtocol, FakeTransport};
//! use torsion_tls::{ClientTlsOptions, ServerTlsOptions, TlsProtocol};
//!
//! struct Hello;
//! impl Protocol for Hello {
//!     fn connection_made(&mut self, transport: torsion_reactor::TransportRef) {
//!         transport.write(b"hello over TLS"); // waits for the handshake
//!     }
//!     fn data_received(&mut self, _data: &[u8]) {}
//! }
//!
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! let server_context = ServerTlsOptions::new(
//!     vec![cert.cert.der().clone()],
//!     PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
//! )
//! .context()?;
//! let client_context = ClientTlsOptions::trusting(cert.cert.der().clone())?.context("localhost")?;
//!
//! let received = Rc::new(RefCell::new(AccumulatingProtocol::new()));
//! let server: ProtocolRef = Rc::new(RefCell::new(TlsProtocol::new(received.clone(), &server_context)?));
//! let client: ProtocolRef = Rc::new(RefCell::new(TlsProtocol::new(Rc::new(RefCell::new(Hello)), &client_context)?));
//! let pump = connect(
//!     server.clone(),
//!     Rc::new(FakeTransport::new(server, true)),
//!     client.clone(),
//!     Rc::new(FakeTransport::new(client, false)),
//!     true,
//!     None,
//! );
//! pump.flush();
//! assert_eq!(received.borrow().data, b"hello over TLS");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crypto provider: ring
//!
//! rustls runs on its `ring` provider. `ring` is Rust with a little C and
//! assembly built by `cc`: a cold `cargo build -p torsion-tls` (rustls,
//! ring, webpki, webpki-roots, and torsion-reactor/endpoints) took 23 s
//! wall-clock (30 s CPU) on the project's 2-core machine. `aws-lc-rs`
//! needs cmake (and bindgen on some targets) and compiles AWS-LC's large C
//! code base, several times longer, which CI's cold build would pay on
//! every run. Both are rustls's supported, audited providers; nothing here
//! is hand-written crypto, parsing or certificate logic.
//!
//! # Twisted
//!
//! Twisted's `contextFactory` becomes a [`TlsContext`] (a rustls client or
//! server configuration); `ISSLTransport`/`ITLSTransport` are
//! [`torsion_reactor::TlsTransport`]/[`torsion_reactor::StartTlsTransport`].

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod endpoints;
mod error;
mod factory;
mod layer;
mod options;
mod pem;
mod protocol;
mod strings;
mod transport;

pub use endpoints::{TlsClientEndpoint, TlsServerEndpoint};
pub use error::{TlsConfigError, TlsError, TlsErrorKind};
pub use factory::{start_tls, TlsFactory};
pub use options::{ClientTlsOptions, ServerTlsOptions, TlsContext, TlsVersion};
pub use pem::{crypto_provider, load_certificates, load_private_key};
pub use protocol::TlsProtocol;
pub use rustls;
pub use strings::register_tls_endpoints;
