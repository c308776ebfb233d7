//! `start_tls` on a live connection (Twisted's `ITLSTransport.startTLS`,
//! `twisted.internet.test.test_tls.StartTLSClientEndpointTests`' shape):
//! bytes before it go out in plaintext, bytes after it encrypted.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::{Protocol, ProtocolRef, StartTlsError, TransportRef};
use torsion_testing::AccumulatingProtocol;
use torsion_tls::{start_tls, TlsContext, TlsProtocol};
use util::{connect_layers, Pki};

/// Answers `STARTTLS` with `GO`, then switches to TLS.
struct Server {
    transport: Option<TransportRef>,
    context: TlsContext,
    received: Vec<u8>,
}

impl Protocol for Server {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(b"HELLO\r\n");
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
        if self.received == b"STARTTLS\r\n" {
            self.received.clear();
            let transport = self.transport.as_ref().unwrap();
            transport.write(b"GO\r\n");
            start_tls(transport, self.context.clone()).unwrap();
            assert_eq!(
                start_tls(transport, self.context.clone()),
                Err(StartTlsError::AlreadyStarted)
            );
            transport.write(b"encrypted welcome");
        }
    }
}

/// The client half: on `GO`, switches to TLS and sends a secret.
struct Client {
    transport: Option<TransportRef>,
    context: TlsContext,
    received: Vec<u8>,
    upgraded: bool,
}

impl Protocol for Client {
    fn connection_made(&mut self, transport: TransportRef) {
        assert!(transport.as_tls().is_none());
        assert!(transport.as_start_tls().is_some());
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
        let transport = self.transport.clone().unwrap();
        if self.received == b"HELLO\r\n" {
            transport.write(b"STARTTLS\r\n");
            self.received.clear();
        } else if self.received == b"GO\r\n" && !self.upgraded {
            self.upgraded = true;
            self.received.clear();
            start_tls(&transport, self.context.clone()).unwrap();
            transport.write(b"the secret");
        }
    }
}

/// Plaintext first, then TLS on both sides; what was written after
/// `start_tls` never crosses the wire in the clear.
#[test]
fn start_tls_client_and_server() {
    let pki = Pki::new("CA");
    let server = Rc::new(RefCell::new(Server {
        transport: None,
        context: pki.server(&["localhost"]),
        received: Vec::new(),
    }));
    let client = Rc::new(RefCell::new(Client {
        transport: None,
        context: pki.client("localhost"),
        received: Vec::new(),
        upgraded: false,
    }));
    let server_layer: ProtocolRef = Rc::new(RefCell::new(TlsProtocol::plaintext(server.clone())));
    let client_layer: ProtocolRef = Rc::new(RefCell::new(TlsProtocol::plaintext(client.clone())));
    let pump = connect_layers(client_layer, server_layer);
    let mut wire = Vec::new();
    while {
        wire.extend(pump.server_transport().pending_output());
        wire.extend(pump.client_transport().pending_output());
        pump.pump()
    } {}
    assert_eq!(server.borrow().received, b"the secret");
    assert_eq!(client.borrow().received, b"encrypted welcome");
    let text = String::from_utf8_lossy(&wire);
    assert!(text.starts_with("HELLO\r\nSTARTTLS\r\nGO\r\n"), "{text:?}");
    assert!(!text.contains("secret") && !text.contains("welcome"));
    let transport = client.borrow().transport.clone().unwrap();
    assert!(transport.as_tls().unwrap().is_handshake_complete());
}

/// A transport that was not wrapped for it cannot start TLS.
#[test]
fn start_tls_not_supported() {
    let pki = Pki::new("CA");
    let client = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let server = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let _pump = connect_layers(client.clone(), server);
    let transport = client.borrow().transport.clone().unwrap();
    assert_eq!(
        start_tls(&transport, pki.client("localhost")),
        Err(StartTlsError::NotSupported)
    );
}
