//! Ports of Twisted's `twisted/internet/test/test_tcp.py`:
//! `TCPConnectionTestsBuilder`, `TCPConnectorTestsBuilder` and
//! `TCPClientTestsBase.test_buildProtocolReturnsNone`, on the mio reactor
//! over 127.0.0.1 (port 0; every wait bounded).
//!
//! Skipped: `test_invalidServiceName` (Torsion's `connect_tcp` takes a
//! `u16` port, so a service name such as `"invalid-port"` cannot be
//! passed: the type system rules out what Twisted checks at run time).
//! `test_resumeProducing` is not in the brief.
//!
//! Twisted asserts "reading" through `reactor.getReaders()`; Torsion has no
//! reader list, so these ports check what reading means: whether bytes the
//! peer sent reach `data_received`.

mod tcp_twisted_conn_util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tcp_twisted_conn_util::{
    connect, kind, listen, loopback, port_number, run_until, spin, ClosingFactory, MyFactory,
};
use torsion_reactor::error::{ConnectionDone, ConnectionRefused, NoProtocol};
use torsion_reactor::{
    Factory, Failure, HalfCloseableProtocol, Protocol, Reactor, ReactorTimeExt, TransportRef,
};

/// Twisted's `StopStartReadingProtocol`: pauses and resumes its transport
/// four times, one reactor turn apart, then says it is ready.
struct StopStartReading {
    reactor: Reactor,
    ready: Rc<Cell<bool>>,
    data: Rc<RefCell<Vec<u8>>>,
}

fn pause_resume(reactor: Reactor, transport: TransportRef, ready: Rc<Cell<bool>>, left: u32) {
    transport.pause_producing();
    transport.resume_producing();
    let again = reactor.clone();
    if left > 0 {
        reactor.call_later(Duration::ZERO, move || {
            pause_resume(again, transport, ready, left - 1);
        });
    } else {
        reactor.call_later(Duration::ZERO, move || ready.set(true));
    }
}

impl Protocol for StopStartReading {
    fn connection_made(&mut self, transport: TransportRef) {
        pause_resume(self.reactor.clone(), transport, self.ready.clone(), 3);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.data.borrow_mut().extend_from_slice(data);
    }
}

/// Ports `test_stopStartReading`: a server that paused and resumed its
/// transport several times, one turn apart, then receives 16 KiB from the
/// client whole and in order (no read lost or doubled by the toggling).
#[test]
fn stop_start_reading() {
    let reactor = Reactor::new().unwrap();
    let (ready, data) = (Rc::new(Cell::new(false)), Rc::new(RefCell::new(Vec::new())));
    let (r, rd, d) = (reactor.clone(), ready.clone(), data.clone());
    let server = Rc::new(Factory::for_protocol(move || StopStartReading {
        reactor: r.clone(),
        ready: rd.clone(),
        data: d.clone(),
    }));
    let port = listen(&reactor, &server);
    let client = Rc::new(MyFactory::default());
    connect(&reactor, port_number(&port), &client);
    run_until(&reactor, "the client and the ready server", || {
        client.made() && ready.get()
    });
    let expected = [vec![b'x'; 2 * 4096], vec![b'y'; 2 * 4096]].concat();
    let client_transport = client.last().unwrap().transport();
    client_transport.write(&expected);
    run_until(&reactor, "16 KiB at the server", || {
        data.borrow().len() >= expected.len()
    });
    assert!(*data.borrow() == expected, "did not get the right data");
    client_transport.lose_connection();
    let client_side = client.last().unwrap();
    run_until(&reactor, "the client's close", || {
        client_side.closed.get() == 1
    });
    assert!(matches!(port.stop_listening().take_result(), Some(Ok(()))));
}

/// A server protocol handing its transport to the test.
struct Hand(Rc<dyn Fn(TransportRef)>, Rc<RefCell<Vec<String>>>);

impl Protocol for Hand {
    fn connection_made(&mut self, transport: TransportRef) {
        (self.0)(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        let seen = format!("data {}", String::from_utf8_lossy(data));
        self.1.borrow_mut().push(seen);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.1.borrow_mut().push(format!("lost {}", kind(&reason)));
    }
}

/// Listens with [`Hand`] protocols; returns the port number and the events.
fn hand_server(
    reactor: &Reactor,
    made: impl Fn(TransportRef) + 'static,
) -> (u16, Rc<RefCell<Vec<String>>>) {
    let events = Rc::new(RefCell::new(Vec::new()));
    let (made, e): (Rc<dyn Fn(TransportRef)>, _) = (Rc::new(made), events.clone());
    let factory = Rc::new(Factory::for_protocol(move || Hand(made.clone(), e.clone())));
    (port_number(&listen(reactor, &factory)), events)
}

/// A std peer that sends `ping` at once (then sets the flag), waits
/// `delay`, then reads until the server closes (or resets).
fn pinging_peer(port: u16, delay: Duration) -> (std::thread::JoinHandle<usize>, Arc<AtomicBool>) {
    let sent = Arc::new(AtomicBool::new(false));
    let flag = sent.clone();
    let peer = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.write_all(b"ping").unwrap();
        flag.store(true, Ordering::SeqCst);
        std::thread::sleep(delay);
        let (mut total, mut chunk) = (0, vec![0; 64 * 1024]);
        while let Ok(n @ 1..) = stream.read(&mut chunk) {
            total += n;
        }
        total
    });
    (peer, sent)
}

/// Ports `test_resumeProducingWhileDisconnecting`: `resume_producing` on a
/// transport that is disconnecting (`lose_connection` called) does not make
/// it read: the peer's `ping` never reaches `data_received`, and the
/// connection then closes cleanly.
///
/// Twisted's `loseConnection` stops reading itself; Torsion's leaves the
/// pause flag alone, so the port pauses first (the same state) for
/// `resume_producing` to have reading to resume. It writes 8 MiB the peer
/// reads only later (read backpressure off), so the disconnect stays
/// pending while `ping` waits in the socket.
#[test]
fn resume_producing_while_disconnecting() {
    let reactor = Reactor::new().unwrap();
    let (port, events) = hand_server(&reactor, |transport| {
        transport
            .as_tcp()
            .unwrap()
            .set_write_buffer_limits(usize::MAX, usize::MAX);
        transport.write(&vec![b'z'; 8 * 1024 * 1024]);
        transport.pause_producing();
        transport.lose_connection();
        transport.resume_producing();
        assert!(transport.is_disconnecting());
    });
    let (peer, _) = pinging_peer(port, Duration::from_millis(300));
    run_until(&reactor, "the server's close", || {
        !events.borrow().is_empty()
    });
    assert_eq!(*events.borrow(), ["lost ConnectionDone"]);
    run_until(&reactor, "the peer", || peer.is_finished());
    assert!(peer.join().unwrap() > 0);
}

/// Ports `test_resumeProducingWhileDisconnected`: `resume_producing` on a
/// transport whose connection is gone does not read: the peer's `ping`,
/// waiting in the socket, never reaches `data_received`, and
/// `connection_lost` comes once.
///
/// Twisted calls the transport's `connectionLost` directly, a Python-only
/// internal; here the server pauses (Twisted's `connectionLost` stops
/// reading), the test aborts the connection once `ping` was sent, then
/// resumes the closed transport (twice, a while apart).
#[test]
fn resume_producing_while_disconnected() {
    let reactor = Reactor::new().unwrap();
    let kept: Rc<RefCell<Option<TransportRef>>> = Rc::default();
    let k = kept.clone();
    let (port, events) = hand_server(&reactor, move |transport| {
        transport.pause_producing();
        *k.borrow_mut() = Some(transport);
    });
    let (peer, sent) = pinging_peer(port, Duration::ZERO);
    run_until(&reactor, "the ping, unread", || {
        kept.borrow().is_some() && sent.load(Ordering::SeqCst)
    });
    spin(&reactor, 3);
    let transport = kept.borrow().clone().unwrap();
    transport.abort_connection();
    run_until(&reactor, "the server's close", || {
        !events.borrow().is_empty()
    });
    transport.resume_producing();
    run_until(&reactor, "the peer", || peer.is_finished());
    transport.resume_producing();
    spin(&reactor, 10);
    assert_eq!(*events.borrow(), ["lost ConnectionAborted"]);
    peer.join().unwrap();
}

/// Twisted's `Pauser`: pauses on data, resumes one turn later.
struct Pauser {
    reactor: Reactor,
    transport: Option<TransportRef>,
    events: Rc<RefCell<Vec<&'static str>>>,
}

impl Protocol for Pauser {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, _data: &[u8]) {
        self.events.borrow_mut().push("paused");
        let transport = self.transport.clone().unwrap();
        transport.pause_producing();
        let events = self.events.clone();
        self.reactor.call_later(Duration::ZERO, move || {
            events.borrow_mut().push("resumed");
            transport.resume_producing();
        });
    }

    fn connection_lost(&mut self, _reason: Failure) {
        self.events.borrow_mut().push("lost");
    }
}

/// Twisted's `Client` there: writes and closes at once.
struct WriteAndClose;

impl Protocol for WriteAndClose {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(b"some bytes for you");
        transport.lose_connection();
    }

    fn data_received(&mut self, _data: &[u8]) {}
}

/// Ports `test_connectionLostAfterPausedTransport`: the client writes and
/// closes; the server pauses on the bytes and resumes a turn later, and
/// only then hears the close: `paused`, `resumed`, `lost`.
#[test]
fn connection_lost_after_paused_transport() {
    let reactor = Reactor::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let (r, e) = (reactor.clone(), events.clone());
    let server = Rc::new(Factory::for_protocol(move || Pauser {
        reactor: r.clone(),
        transport: None,
        events: e.clone(),
    }));
    let port = listen(&reactor, &server);
    let client = Rc::new(Factory::for_protocol(|| WriteAndClose));
    connect(&reactor, port_number(&port), &client);
    run_until(&reactor, "the server's close", || {
        events.borrow().contains(&"lost")
    });
    assert_eq!(*events.borrow(), ["paused", "resumed", "lost"]);
}

/// Twisted's `ListenerProtocol`: half-closes when the peer does, closes
/// when its own half-close is done.
struct Listener(Option<TransportRef>, Rc<RefCell<Vec<String>>>);

impl Protocol for Listener {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }

    fn data_received(&mut self, _data: &[u8]) {}

    fn connection_lost(&mut self, reason: Failure) {
        self.1.borrow_mut().push(format!("lost {}", kind(&reason)));
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }
}

impl HalfCloseableProtocol for Listener {
    fn read_connection_lost(&mut self) {
        self.1.borrow_mut().push("read lost".into());
        self.0.as_ref().unwrap().lose_write_connection();
    }

    fn write_connection_lost(&mut self) {
        self.1.borrow_mut().push("write lost".into());
        self.0.as_ref().unwrap().lose_connection();
    }
}

/// Ports `test_doubleHalfClose` (Twisted ticket #3037): the client closes;
/// the server, half-closeable, answers with `lose_write_connection` and,
/// from `write_connection_lost`, `lose_connection`: both connections end,
/// the server's exactly once, cleanly.
#[test]
fn double_half_close() {
    let reactor = Reactor::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    let server = Rc::new(Factory::for_protocol(move || Listener(None, e.clone())));
    let port = listen(&reactor, &server);
    let client = Rc::new(MyFactory::default());
    client.when_made(|acc| acc.transport().lose_connection());
    connect(&reactor, port_number(&port), &client);
    run_until(&reactor, "both closes", || {
        client.last().is_some_and(|c| c.closed.get() == 1)
            && events.borrow().iter().any(|e| e.starts_with("lost"))
    });
    spin(&reactor, 5);
    assert_eq!(
        *events.borrow(),
        ["read lost", "write lost", "lost ConnectionDone"]
    );
    assert!(client.last().unwrap().reason().check::<ConnectionDone>());
}

/// Ports `TCPClientTestsBase.test_buildProtocolReturnsNone`: a client
/// factory whose `build_protocol` returns `None` fails the connection with
/// `NoProtocol`, and the server's side is closed gracefully
/// (`ConnectionDone`). Twisted goes through a client endpoint; here the
/// failure arrives at the factory's `client_connection_failed`.
#[test]
fn build_protocol_returns_none() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    let client = Rc::new(MyFactory {
        refuse: true,
        ..MyFactory::default()
    });
    connect(&reactor, port_number(&port), &client);
    run_until(&reactor, "the refused client", || client.failed.get() > 0);
    let failure = client.failure.borrow().clone().unwrap();
    assert!(failure.check::<NoProtocol>(), "{failure}");
    run_until(&reactor, "the server's close", || {
        server.last().is_some_and(|s| s.closed.get() > 0)
    });
    let server_side = server.last().unwrap();
    assert_eq!(server_side.closed.get(), 1);
    assert!(server_side.reason().check::<ConnectionDone>());
}

/// Ports `test_connectorIdentity`: `connect_tcp` returns a connector whose
/// destination is the address given, and the very same connector is passed
/// to `started_connecting` and `client_connection_lost` (lost with
/// `ConnectionDone`: the server closes); the factory starts and stops once.
#[test]
fn connector_identity() {
    let reactor = Reactor::new().unwrap();
    let (server, port) = ClosingFactory::listen(&reactor);
    let client = Rc::new(MyFactory::default());
    let connector = connect(&reactor, port, &client);
    assert_eq!(connector.destination(), loopback(port));
    run_until(&reactor, "the client factory's stop", || {
        client.stopped.get() > 0
    });
    let lost = client.lost.borrow().clone().unwrap();
    assert!(lost.check::<ConnectionDone>(), "{lost}");
    let same = Rc::as_ptr(&connector).cast::<()>();
    assert_eq!(*client.connectors.borrow(), [same, same]);
    assert_eq!((client.started.get(), client.stopped.get()), (1, 1));
    server.clean_up();
}

/// Ports `test_userFail`: `stop_connecting` from `started_connecting` fails
/// the attempt with `UserError` through `client_connection_failed` (once),
/// and the factory stops.
#[test]
fn user_fail() {
    use torsion_reactor::error::UserError;
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(MyFactory::default());
    let port = listen(&reactor, &server);
    let client = Rc::new(MyFactory::default());
    let fatal = Rc::new(RefCell::new(Vec::new()));
    let f = fatal.clone();
    *client.on_started_connecting.borrow_mut() = Some(Box::new(move |connector| {
        if let Err(e) = connector.stop_connecting() {
            f.borrow_mut().push(e);
        }
    }));
    connect(&reactor, port_number(&port), &client);
    run_until(&reactor, "the client factory's stop", || {
        client.stopped.get() > 0
    });
    assert!(fatal.borrow().is_empty(), "{:?}", fatal.borrow());
    let failure = client.failure.borrow().clone().unwrap();
    assert!(failure.check::<UserError>(), "{failure}");
    assert_eq!(client.failed.get(), 1);
    assert_eq!(server.called.get(), 0);
}

/// Ports `test_reconnect`: `connector.connect()` from
/// `client_connection_lost` makes a new attempt; the server stopped
/// listening after the first connection, so it is refused
/// (`ConnectionRefused`), and the one protocol was made and closed once.
#[test]
fn reconnect() {
    let reactor = Reactor::new().unwrap();
    let (server, port) = ClosingFactory::listen(&reactor);
    let client = Rc::new(MyFactory::default());
    *client.on_client_lost.borrow_mut() = Some(Box::new(|connector| connector.connect()));
    connect(&reactor, port, &client);
    run_until(&reactor, "the failed reconnect", || client.failed.get() > 0);
    let failure = client.failure.borrow().clone().unwrap();
    assert!(failure.check::<ConnectionRefused>(), "{failure}");
    let last = client.last().unwrap();
    assert_eq!((last.made.get(), last.closed.get()), (1, 1));
    assert_eq!(client.called.get(), 1);
    assert!(server.lost.borrow()[0].check::<ConnectionDone>());
    server.clean_up();
}
