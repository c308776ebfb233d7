//! The TLS server layer fed arbitrary bytes in arbitrary chunks, over the
//! in-memory pump (target `tls_server`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

use torsion_reactor::error::{ConnectionDone, ConnectionLost};
use torsion_reactor::{Consumer, ProtocolRef, Transport};
use torsion_testing::{connect, AccumulatingProtocol, FakeTransport};
use torsion_tls::rustls::pki_types::PrivateKeyDer;
use torsion_tls::{ServerTlsOptions, TlsContext, TlsError, TlsProtocol};

/// One server context for every input: the certificate is made once.
fn server_context() -> &'static TlsContext {
    static CONTEXT: OnceLock<TlsContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("rcgen makes a certificate for localhost");
        ServerTlsOptions::new(
            vec![made.cert.der().clone()],
            PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into()),
        )
        .context()
        .expect("rustls takes rcgen's certificate")
    })
}

/// `input` is: a count `n` (its low 4 bits), `n` chunk sizes, then the
/// bytes a peer sends to a TLS server, written in chunks of those sizes
/// (cycled; see [`crate::split`]) with a pump step after each. Then the
/// peer closes.
///
/// Checks: no panic or endless loop; the server's protocol sees no
/// plaintext unless the handshake completed (arbitrary bytes cannot
/// complete one); it gets `connection_lost` exactly once, with a
/// `TlsError` (the bytes are not TLS, or break it), `ConnectionLost` (the
/// peer stopped mid-handshake) or `ConnectionDone`; and once TLS failed,
/// the server closed the connection by itself.
pub fn check_tls_server(input: &[u8]) {
    let (count, rest) = match input.split_first() {
        Some((&n, rest)) => (usize::from(n & 0x0f).min(rest.len()), rest),
        None => (0, input),
    };
    let (sizes, data) = rest.split_at(count);

    let app = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let server: ProtocolRef = Rc::new(RefCell::new(
        TlsProtocol::new(app.clone(), server_context()).expect("a server session starts"),
    ));
    let peer = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let peer_ref: ProtocolRef = peer.clone();
    let pump = connect(
        server.clone(),
        Rc::new(FakeTransport::new(server, true)),
        peer_ref.clone(),
        Rc::new(FakeTransport::new(peer_ref, false)),
        false,
        None,
    );
    for chunk in crate::split(data, sizes) {
        if pump.client_transport().is_disconnecting() {
            break;
        }
        pump.client_transport().write(chunk);
        pump.pump();
    }
    pump.flush();
    let failed_by_itself = app
        .borrow()
        .closed_reason
        .as_ref()
        .is_some_and(|r| r.check::<TlsError>());
    if failed_by_itself {
        assert!(
            pump.server_transport().is_connection_lost(),
            "a TLS failure closes the connection"
        );
    }
    pump.client_transport().lose_connection();
    pump.flush();

    let app = app.borrow();
    assert!(app.closed, "the server's protocol hears of the close");
    let reason = app.closed_reason.as_ref().expect("a reason");
    assert!(
        reason.check::<TlsError>()
            || reason.check::<ConnectionLost>()
            || reason.check::<ConnectionDone>(),
        "unexpected reason: {reason}"
    );
    let transport = app.transport.clone().expect("connected");
    let handshake_done = transport
        .as_tls()
        .is_some_and(|tls| tls.is_handshake_complete());
    assert!(
        app.data.is_empty() || handshake_done,
        "plaintext delivered without a handshake"
    );
}
