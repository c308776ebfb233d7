//! The STARTTLS example pair over the in-memory pump: plaintext greeting
//! and upgrade, then lines echoed over TLS that never cross the wire in
//! the clear.

use std::cell::RefCell;
use std::rc::Rc;

use torsion::error::ConnectionDone;
use torsion::protocols::LineReceiver;
use torsion::tls::rustls::RootCertStore;
use torsion::tls::{load_certificates, ClientTlsOptions, TlsProtocol};
use torsion::ProtocolRef;
use torsion_examples::{SelfSigned, StartTlsClient, StartTlsServer};
use torsion_testing::{connect, FakeTransport};

#[test]
fn starttls_upgrade_then_echo() {
    let certificate = SelfSigned::localhost().unwrap();
    let path = certificate.save("starttls_test").unwrap();
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(&path).unwrap() {
        roots.add(cert).unwrap();
    }
    std::fs::remove_file(&path).unwrap();
    let client_context = ClientTlsOptions::with_roots(roots)
        .context("localhost")
        .unwrap();

    let events = Rc::new(RefCell::new(Vec::new()));
    let record = events.clone();
    let client = Rc::new(RefCell::new(LineReceiver::new(StartTlsClient::new(
        client_context,
        vec![b"top secret".to_vec(), b"also secret".to_vec()],
        move |event| {
            record.borrow_mut().push(match event {
                Ok(reply) => reply.to_string(),
                Err(reason) => format!("closed clean: {}", reason.check::<ConnectionDone>()),
            })
        },
    ))));
    let server = Rc::new(RefCell::new(LineReceiver::new(StartTlsServer::new(
        certificate.context.clone(),
    ))));
    let client_layer: ProtocolRef = Rc::new(RefCell::new(TlsProtocol::plaintext(client.clone())));
    let server_layer: ProtocolRef = Rc::new(RefCell::new(TlsProtocol::plaintext(server)));
    let pump = connect(
        server_layer.clone(),
        Rc::new(FakeTransport::new(server_layer, true)),
        client_layer.clone(),
        Rc::new(FakeTransport::new(client_layer, false)),
        false,
        None,
    );
    let mut wire = Vec::new();
    while {
        wire.extend(pump.server_transport().pending_output());
        wire.extend(pump.client_transport().pending_output());
        pump.pump()
    } {}
    assert_eq!(
        *events.borrow(),
        [
            "echo: top secret",
            "echo: also secret",
            "closed clean: true"
        ]
    );
    let text = String::from_utf8_lossy(&wire);
    assert!(
        text.starts_with("220 torsion ready, say STARTTLS\r\nSTARTTLS\r\n220 go ahead\r\n"),
        "{text:?}"
    );
    assert!(!text.contains("secret"));
}
