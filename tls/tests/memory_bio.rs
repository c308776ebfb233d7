//! Twisted's `twisted.protocols.test.test_tls.TLSMemoryBIOTests`, over the
//! in-memory pump with certificates made at test time.

mod util;

use torsion_reactor::error::{ConnectionAborted, ConnectionDone, ConnectionLost};
use torsion_reactor::{Protocol, TransportRef};
use torsion_testing::AccumulatingProtocol;
use torsion_tls::{TlsError, TlsErrorKind};
use util::{localhost_pair, tls_pair, Pki};

/// Writes its script when connected.
struct Writer {
    script: Vec<Vec<u8>>,
    lose: bool,
    transport: Option<TransportRef>,
}

impl Writer {
    fn new(script: Vec<Vec<u8>>, lose: bool) -> Writer {
        Writer {
            script,
            lose,
            transport: None,
        }
    }
}

impl Protocol for Writer {
    fn connection_made(&mut self, transport: TransportRef) {
        for chunk in &self.script {
            transport.write(chunk);
        }
        if self.lose {
            transport.lose_connection();
        }
        self.transport = Some(transport);
    }
    fn data_received(&mut self, _data: &[u8]) {}
}

fn transport(p: &AccumulatingProtocol) -> TransportRef {
    p.transport.clone().expect("connected")
}

/// The reason `p` was given in `connection_lost`.
fn reason(p: &std::rc::Rc<std::cell::RefCell<AccumulatingProtocol>>) -> torsion_reactor::Failure {
    p.borrow()
        .closed_reason
        .clone()
        .expect("connection_lost was called")
}

/// The TLS handshake is performed when the TLS protocol is connected to a
/// transport; both sides see the session's details.
#[test]
fn handshake() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    let client = transport(&pair.client.borrow());
    assert!(!client.as_tls().expect("TLS").is_handshake_complete());
    pair.pump.flush();
    let server = transport(&pair.server.borrow());
    let (client_tls, server_tls) = (client.as_tls().unwrap(), server.as_tls().unwrap());
    assert!(client_tls.is_handshake_complete());
    assert!(server_tls.is_handshake_complete());
    assert_eq!(server_tls.server_name().as_deref(), Some("localhost"));
    assert_eq!(client_tls.server_name().as_deref(), Some("localhost"));
    assert_eq!(client_tls.protocol_version().as_deref(), Some("TLSv1_3"));
    assert!(!pair.client.borrow().closed && !pair.server.borrow().closed);
}

/// The peer's certificate is readable from the transport once the
/// handshake completed: the server's on the client, none on a server that
/// asked for none.
#[test]
fn get_peer_certificate() {
    let pki = Pki::new("CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let server_context = torsion_tls::ServerTlsOptions::new(chain.clone(), key)
        .context()
        .unwrap();
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &pki.client("localhost"),
        &server_context,
    );
    pair.pump.flush();
    let client = transport(&pair.client.borrow());
    assert_eq!(
        client.as_tls().unwrap().peer_certificate(),
        Some(chain[0].to_vec())
    );
    let server = transport(&pair.server.borrow());
    assert_eq!(server.as_tls().unwrap().peer_certificate(), None);
}

/// Errors in the handshake (a server requiring a client certificate the
/// client does not present) reach both protocols' `connection_lost` as a
/// `TlsError`, and both connections close.
#[test]
fn handshake_failure() {
    let pki = Pki::new("CA");
    let (chain, key) = pki.leaf(&["localhost"]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let server_context = torsion_tls::ServerTlsOptions::new(chain, key)
        .require_client_certificates(roots)
        .context()
        .unwrap();
    let pair = tls_pair(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        &pki.client("localhost"),
        &server_context,
    );
    pair.pump.flush();
    let server_reason = reason(&pair.server);
    let error = server_reason
        .downcast_ref::<TlsError>()
        .expect("a TlsError");
    assert_eq!(error.kind(), TlsErrorKind::BadCertificate, "{error}");
    let client_reason = reason(&pair.client);
    let error = client_reason
        .downcast_ref::<TlsError>()
        .expect("a TlsError");
    assert_eq!(error.kind(), TlsErrorKind::PeerAlert, "{error}");
}

/// Bytes written after the handshake arrive, in order.
#[test]
fn write_after_handshake() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    transport(&pair.client.borrow()).write(b"hello, ");
    transport(&pair.client.borrow()).write(b"world");
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"hello, world");
}

/// Bytes written before the handshake completed are buffered and sent
/// once it has.
#[test]
fn write_before_handshake() {
    let pair = localhost_pair(
        Writer::new(vec![b"early ".to_vec(), b"bird".to_vec()], false),
        AccumulatingProtocol::new(),
    );
    // Nothing went out in plaintext: the client's first bytes are a TLS
    // handshake record (content type 22).
    let first = pair.pump.client_transport().pending_output();
    assert_eq!(first.first(), Some(&22));
    assert!(!first.windows(4).any(|w| w == b"bird"));
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"early bird");
}

/// `write_sequence` sends its buffers in order.
#[test]
fn write_sequence() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    transport(&pair.client.borrow()).write_sequence(&[b"a", b"bc", b"def"]);
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"abcdef");
}

/// Writes after `lose_connection` are dropped; what came before arrives.
#[test]
fn write_after_lose_connection() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    let client = transport(&pair.client.borrow());
    client.write(b"before");
    client.lose_connection();
    client.write(b"after");
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"before");
    assert!(pair.server.borrow().closed);
}

/// Many small writes, before and after the handshake, all arrive in order.
#[test]
fn multiple_writes() {
    let script: Vec<Vec<u8>> = (0..1000).map(|i| format!("{i},").into_bytes()).collect();
    let expected = script.concat();
    let pair = localhost_pair(
        Writer::new(script.clone(), false),
        AccumulatingProtocol::new(),
    );
    pair.pump.flush();
    for chunk in &script {
        pair.client
            .borrow()
            .transport
            .as_ref()
            .unwrap()
            .write(chunk);
    }
    pair.pump.flush();
    assert_eq!(
        pair.server.borrow().data,
        [expected.clone(), expected].concat()
    );
}

/// One huge write (4 MiB, many TLS records) arrives byte for byte.
#[test]
fn huge_write() {
    let huge: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let pair = localhost_pair(
        Writer::new(vec![huge.clone()], false),
        AccumulatingProtocol::new(),
    );
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data.len(), huge.len());
    assert!(pair.server.borrow().data == huge);
}

/// If the TLS connection is lost unexpectedly (the peer closes its socket
/// mid-handshake), the application hears `ConnectionLost`.
#[test]
fn disorderly_shutdown() {
    use std::{cell::RefCell, rc::Rc};
    let pki = Pki::new("CA");
    let client = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let layer: torsion_reactor::ProtocolRef = Rc::new(RefCell::new(
        torsion_tls::TlsProtocol::new(client.clone(), &pki.client("localhost")).unwrap(),
    ));
    let server = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let pump = util::connect_layers(layer, server.clone());
    transport(&server.borrow()).lose_connection();
    pump.flush();
    let reason = client
        .borrow()
        .closed_reason
        .clone()
        .expect("client closed");
    assert!(reason.check::<ConnectionLost>(), "{reason}");
}

/// `lose_connection` after writes sends every byte, then close_notify, and
/// both sides close cleanly.
#[test]
fn lose_connection_after_handshake() {
    let pair = localhost_pair(
        Writer::new(vec![vec![b'x'; 100_000]], true),
        AccumulatingProtocol::new(),
    );
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data.len(), 100_000);
    let server_reason = reason(&pair.server);
    assert!(server_reason.check::<ConnectionDone>(), "{server_reason}");
    assert!(pair.pump.client_transport().is_connection_lost());
}

/// The user's protocol hears `connection_lost` only once the transport
/// under TLS has closed, with that transport's reason.
#[test]
fn connection_lost_only_after_underlying_closes() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    transport(&pair.client.borrow()).lose_connection();
    assert!(!pair.client.borrow().closed);
    assert!(pair.pump.client_transport().is_disconnected() || !pair.client.borrow().closed);
    pair.pump.flush();
    assert!(pair.client.borrow().closed);
    assert!(pair.pump.client_transport().is_connection_lost());
}

/// A second `lose_connection` does nothing more.
#[test]
fn lose_connection_twice() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    let client = transport(&pair.client.borrow());
    client.write(b"x");
    client.lose_connection();
    assert!(client.is_disconnecting());
    let sent = pair.pump.client_transport().pending_output().len();
    client.lose_connection();
    assert_eq!(pair.pump.client_transport().pending_output().len(), sent);
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"x");
    assert!(pair.client.borrow().closed && pair.server.borrow().closed);
}

/// `lose_connection` after the connection was lost does nothing.
#[test]
fn lose_connection_after_connection_lost() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    transport(&pair.client.borrow()).lose_connection();
    pair.pump.flush();
    let server = transport(&pair.server.borrow());
    assert!(pair.server.borrow().closed);
    server.lose_connection();
    server.write(b"ignored");
    assert!(!pair.pump.flush());
}

/// The peer's close_notify closes a protocol that cannot half-close,
/// cleanly (`ConnectionDone`), after everything sent before it arrived.
#[test]
fn close_notify() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    let server = transport(&pair.server.borrow());
    server.write(b"bye");
    server.lose_connection();
    pair.pump.flush();
    assert_eq!(pair.client.borrow().data, b"bye");
    let reason = reason(&pair.client);
    assert!(reason.check::<ConnectionDone>(), "{reason}");
}

/// A peer that closes the connection under TLS without close_notify, after
/// sending data, is reported as `ConnectionLost` once the data arrived.
#[test]
fn unexpected_eof() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    transport(&pair.client.borrow()).write(b"hello");
    use torsion_reactor::Transport;
    pair.pump.client_transport().lose_connection(); // the TCP connection, not TLS
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"hello");
    let reason = reason(&pair.server);
    assert!(reason.check::<ConnectionLost>(), "{reason}");
}

/// `abort_connection` drops the connection at once.
#[test]
fn abort_connection() {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    transport(&pair.client.borrow()).abort_connection();
    pair.pump.flush();
    let reason = reason(&pair.client);
    assert!(reason.check::<ConnectionAborted>(), "{reason}");
    assert!(pair.server.borrow().closed);
}

/// Records the half-close events and answers once the peer is done.
#[derive(Default)]
struct HalfCloser {
    transport: Option<TransportRef>,
    received: Vec<u8>,
    read_closed: bool,
    reason: Option<torsion_reactor::Failure>,
}

impl Protocol for HalfCloser {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
    }
    fn connection_lost(&mut self, reason: torsion_reactor::Failure) {
        self.reason = Some(reason);
    }
    fn as_half_closeable(&mut self) -> Option<&mut dyn torsion_reactor::HalfCloseableProtocol> {
        Some(self)
    }
}

impl torsion_reactor::HalfCloseableProtocol for HalfCloser {
    fn read_connection_lost(&mut self) {
        self.read_closed = true;
        let transport = self.transport.clone().unwrap();
        transport.write(format!("got {} bytes", self.received.len()).as_bytes());
        transport.lose_connection();
    }
}

/// `lose_write_connection` sends close_notify: a half-closeable peer hears
/// `read_connection_lost` and can still answer, which arrives before the
/// clean close.
#[test]
fn half_close_is_close_notify() {
    let pair = localhost_pair(AccumulatingProtocol::new(), HalfCloser::default());
    pair.pump.flush();
    let client = transport(&pair.client.borrow());
    client.write(b"request");
    client.lose_write_connection();
    pair.pump.flush();
    assert!(pair.server.borrow().read_closed);
    assert_eq!(pair.server.borrow().received, b"request");
    assert_eq!(pair.client.borrow().data, b"got 7 bytes");
    let client_reason = reason(&pair.client);
    assert!(client_reason.check::<ConnectionDone>(), "{client_reason}");
    let server_reason = pair.server.borrow().reason.clone().expect("closed");
    assert!(server_reason.check::<ConnectionDone>(), "{server_reason}");
}
