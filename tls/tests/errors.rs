//! Handshake failures reach `connection_lost` as a `TlsError` naming the
//! cause (Twisted's `test_handshakeFailure` and the certificate checks of
//! `twisted.internet.test.test_tls`), and only that connection is affected.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::{Failure, ProtocolRef};
use torsion_testing::AccumulatingProtocol;
use torsion_tls::{ServerTlsOptions, TlsError, TlsErrorKind, TlsProtocol};
use util::{connect_layers, tls_pair, Pki};

fn tls_error(reason: &Failure) -> &TlsError {
    reason
        .downcast_ref::<TlsError>()
        .unwrap_or_else(|| panic!("not a TlsError: {reason}"))
}

fn reason(p: &Rc<RefCell<AccumulatingProtocol>>) -> Failure {
    p.borrow()
        .closed_reason
        .clone()
        .expect("connection_lost was called")
}

/// A server certificate from a CA the client does not trust fails the
/// client's handshake as `BadCertificate`; the server hears the client's
/// alert.
#[test]
fn untrusted_certificate() {
    let (trusted, rogue) = (Pki::new("trusted"), Pki::new("rogue"));
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &trusted.client("localhost"),
        &rogue.server(&["localhost"]),
    );
    pair.pump.flush();
    let client = reason(&pair.client);
    let error = tls_error(&client);
    assert_eq!(error.kind(), TlsErrorKind::BadCertificate);
    assert!(error.during_handshake());
    assert!(error.to_string().contains("not trusted"), "{error}");
    let server = reason(&pair.server);
    assert_eq!(tls_error(&server).kind(), TlsErrorKind::PeerAlert);
    assert!(pair.server.borrow().data.is_empty());
}

/// A certificate for another name fails as `WrongHostName`, with a message
/// saying so.
#[test]
fn wrong_host_name() {
    let pki = Pki::new("CA");
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &pki.client("example.com"),
        &pki.server(&["localhost"]),
    );
    pair.pump.flush();
    let client = reason(&pair.client);
    let error = tls_error(&client);
    assert_eq!(error.kind(), TlsErrorKind::WrongHostName);
    assert!(error.to_string().contains("host name"), "{error}");
    assert!(pair.server.borrow().closed);
}

/// Turning host-name verification off (loudly) accepts a certificate for
/// another name that chains to a trusted root.
#[test]
fn host_name_verification_opt_out() {
    let pki = Pki::new("CA");
    let client = pki
        .client_options()
        .dangerously_skip_host_name_verification()
        .context("example.com")
        .unwrap();
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &client,
        &pki.server(&["localhost"]),
    );
    pair.pump.flush();
    assert!(!pair.client.borrow().closed);
    let transport = pair.client.borrow().transport.clone().unwrap();
    assert!(transport.as_tls().unwrap().is_handshake_complete());
}

/// Garbage from a peer that does not speak TLS fails the server as
/// `NotTls`.
#[test]
fn garbage_from_non_tls_peer() {
    let pki = Pki::new("CA");
    let app = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let server: ProtocolRef = Rc::new(RefCell::new(
        TlsProtocol::new(app.clone(), &pki.server(&["localhost"])).unwrap(),
    ));
    let plain = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let pump = connect_layers(plain.clone(), server);
    plain
        .borrow()
        .transport
        .clone()
        .unwrap()
        .write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    pump.flush();
    let server_reason = reason(&app);
    let error = tls_error(&server_reason);
    assert_eq!(error.kind(), TlsErrorKind::NotTls, "{error}");
    assert!(app.borrow().data.is_empty());
    // The plaintext peer got a TLS alert, then the close.
    assert!(plain.borrow().closed);
}

/// No ALPN protocol in common fails as `NoCommonProtocol`; a common one is
/// readable from both transports.
#[test]
fn alpn_protocol_mismatch_and_agreement() {
    let pki = Pki::new("CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let server = ServerTlsOptions::new(chain, key)
        .alpn(["h2", "imap"])
        .context()
        .unwrap();
    let mismatch = pki
        .client_options()
        .alpn(["http/1.1"])
        .context("localhost")
        .unwrap();
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &mismatch,
        &server,
    );
    pair.pump.flush();
    let server_reason = reason(&pair.server);
    assert_eq!(
        tls_error(&server_reason).kind(),
        TlsErrorKind::NoCommonProtocol
    );

    let agree = pki
        .client_options()
        .alpn(["imap"])
        .context("localhost")
        .unwrap();
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &agree,
        &server,
    );
    pair.pump.flush();
    for side in [&pair.client, &pair.server] {
        let transport = side.borrow().transport.clone().unwrap();
        assert_eq!(
            transport.as_tls().unwrap().alpn_protocol().as_deref(),
            Some(&b"imap"[..])
        );
    }
}

/// A failed handshake on one connection leaves another, over the same
/// configuration, untouched.
#[test]
fn failure_affects_only_its_connection() {
    let pki = Pki::new("CA");
    let server = pki.server(&["localhost"]);
    let bad = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &pki.client("wrong.example"),
        &server,
    );
    let good = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &pki.client("localhost"),
        &server,
    );
    bad.pump.flush();
    good.pump.flush();
    good.client
        .borrow()
        .transport
        .clone()
        .unwrap()
        .write(b"fine");
    good.pump.flush();
    assert!(bad.client.borrow().closed);
    assert_eq!(good.server.borrow().data, b"fine");
    assert!(!good.server.borrow().closed);
}
