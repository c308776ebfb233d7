//! Bounding the TLS versions offered and accepted: Twisted's
//! `test_hugeWrite_TLSv1_2` (`twisted.protocols.test.test_tls`), what is
//! negotiated within the bounds, and a mismatch failing as a typed error
//! on both sides. In memory, with certificates made at test time.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::{Failure, Protocol, TransportRef};
use torsion_testing::AccumulatingProtocol;
use torsion_tls::{ServerTlsOptions, TlsConfigError, TlsError, TlsErrorKind, TlsVersion};
use util::{tls_pair, Pki};

/// Writes once when connected.
struct Writer(Vec<u8>);

impl Protocol for Writer {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(&self.0);
    }
    fn data_received(&mut self, _data: &[u8]) {}
}

fn server_options(pki: &Pki) -> ServerTlsOptions {
    let (chain, key) = pki.leaf(&["localhost"]);
    ServerTlsOptions::new(chain, key)
}

fn reason(p: &Rc<RefCell<AccumulatingProtocol>>) -> Failure {
    p.borrow()
        .closed_reason
        .clone()
        .expect("connection_lost was called")
}

/// A very long write over a connection held to TLS 1.2 is buffered and all
/// of it arrives (Twisted's `test_hugeWrite_TLSv1_2`: `b"some bytes"` times
/// 2**20); the session is TLS 1.2.
#[test]
fn huge_write_tls_v1_2() {
    let pki = Pki::new("CA");
    let huge = b"some bytes".repeat(1 << 20);
    let client = pki
        .client_options()
        .maximum_version(TlsVersion::Tls1_2)
        .context("localhost")
        .expect("client context");
    let server = server_options(&pki).context().expect("server context");
    let pair = tls_pair(
        Writer(huge.clone()),
        AccumulatingProtocol::new(),
        &client,
        &server,
    );
    pair.pump.flush();
    let server_side = pair.server.borrow();
    assert_eq!(server_side.data.len(), huge.len());
    assert!(server_side.data == huge);
    let transport = server_side.transport.clone().expect("connected");
    let tls = transport.as_tls().expect("TLS");
    assert_eq!(tls.protocol_version().as_deref(), Some("TLSv1_2"));
}

/// Without bounds the newest version both speak is chosen; a server held
/// to TLS 1.3 and a default client agree on it.
#[test]
fn default_and_minimum_negotiate_tls_1_3() {
    let pki = Pki::new("CA");
    let server = server_options(&pki)
        .minimum_version(TlsVersion::Tls1_3)
        .context()
        .expect("server context");
    let pair = tls_pair(
        Writer(b"hi".to_vec()),
        AccumulatingProtocol::new(),
        &pki.client("localhost"),
        &server,
    );
    pair.pump.flush();
    let server_side = pair.server.borrow();
    assert_eq!(server_side.data, b"hi");
    let transport = server_side.transport.clone().expect("connected");
    assert_eq!(
        transport
            .as_tls()
            .expect("TLS")
            .protocol_version()
            .as_deref(),
        Some("TLSv1_3")
    );
}

/// A client held to TLS 1.2 and a server held to 1.3 share no version:
/// both connections fail during the handshake with a `TlsError` saying
/// so, and no data passes.
#[test]
fn no_common_version_fails_both_sides() {
    let pki = Pki::new("CA");
    let client = pki
        .client_options()
        .maximum_version(TlsVersion::Tls1_2)
        .context("localhost")
        .expect("client context");
    let server = server_options(&pki)
        .minimum_version(TlsVersion::Tls1_3)
        .context()
        .expect("server context");
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &client,
        &server,
    );
    pair.pump.flush();
    for side in [&pair.client, &pair.server] {
        let reason = reason(side);
        let error = reason
            .downcast_ref::<TlsError>()
            .unwrap_or_else(|| panic!("not a TlsError: {reason}"));
        assert!(error.during_handshake(), "{error}");
        assert!(
            matches!(
                error.kind(),
                TlsErrorKind::NoCommonProtocol | TlsErrorKind::PeerAlert
            ),
            "{:?}: {error}",
            error.kind()
        );
        assert!(side.borrow().data.is_empty());
    }
    let server_reason = reason(&pair.server);
    let server_error = server_reason.downcast_ref::<TlsError>().expect("TlsError");
    assert_eq!(
        server_error.kind(),
        TlsErrorKind::NoCommonProtocol,
        "{server_error}"
    );
}

/// A minimum above the maximum is a typed configuration error naming both.
#[test]
fn inverted_bounds_are_a_config_error() {
    let pki = Pki::new("CA");
    let error = pki
        .client_options()
        .minimum_version(TlsVersion::Tls1_3)
        .maximum_version(TlsVersion::Tls1_2)
        .build()
        .expect_err("no version left");
    assert!(
        matches!(
            error,
            TlsConfigError::NoVersions {
                minimum: TlsVersion::Tls1_3,
                maximum: TlsVersion::Tls1_2
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("TLS 1.3") && error.to_string().contains("TLS 1.2"));
    let server_error = server_options(&pki)
        .minimum_version(TlsVersion::Tls1_3)
        .maximum_version(TlsVersion::Tls1_2)
        .build()
        .expect_err("no version left");
    assert!(matches!(server_error, TlsConfigError::NoVersions { .. }));
}
