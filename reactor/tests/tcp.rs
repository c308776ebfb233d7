//! The mio reactor over real loopback sockets (127.0.0.1, ephemeral ports,
//! every wait bounded).
//!
//! Over 500 lines: the conformance tests of the one real TCP transport, kept
//! together.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{
    ConnectionAborted, ConnectionDone, ConnectionLost, ConnectionRefused,
};
use torsion_reactor::{
    Address, Connector, Factory, Failure, HalfCloseableProtocol, Producer, ProducerRef, Protocol,
    PushProducer, Reactor, ReactorCore, ReactorFromThreads, ReactorTcp, ReactorTimeExt,
    TransportRef, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT,
};

/// Iterates until `done` or 10 s (then fails the test).
fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

#[derive(Default)]
struct Echo {
    transport: Option<TransportRef>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        let t = self.transport.as_ref().unwrap();
        if data == b"quit" {
            t.lose_connection();
        } else if data == b"abort" {
            t.abort_connection();
        } else {
            t.write(data);
        }
    }
}

type Seen = Rc<RefCell<Vec<u8>>>;
type Lost = Rc<RefCell<Option<Failure>>>;

struct Client {
    send: Vec<u8>,
    seen: Seen,
    lost: Lost,
    transport: Option<TransportRef>,
}

impl Protocol for Client {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(&self.send);
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.seen.borrow_mut().extend_from_slice(data);
    }
    fn connection_lost(&mut self, reason: Failure) {
        *self.lost.borrow_mut() = Some(reason);
    }
}

fn echo_server(reactor: &Reactor) -> u16 {
    let port = reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(Echo::default)),
            DEFAULT_BACKLOG,
            "127.0.0.1",
        )
        .unwrap();
    port.host().port().unwrap()
}

fn client(reactor: &Reactor, port: u16, send: &[u8]) -> (Seen, Lost, Rc<dyn Connector>) {
    let (seen, lost) = (Seen::default(), Lost::default());
    let (s, l, send) = (seen.clone(), lost.clone(), send.to_vec());
    let factory = Factory::for_protocol(move || Client {
        send: send.clone(),
        seen: s.clone(),
        lost: l.clone(),
        transport: None,
    });
    let connector = reactor.connect_tcp(
        "127.0.0.1",
        port,
        Rc::new(factory),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    (seen, lost, connector)
}

#[test]
fn echo_over_loopback() {
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let (seen, _, _) = client(&reactor, port, b"hello, torsion");
    run_until(&reactor, "the echo", || seen.borrow().len() == 14);
    assert_eq!(&*seen.borrow(), b"hello, torsion");
}

#[test]
fn lose_connection_flushes_then_closes_with_connection_done() {
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let (_, lost, _) = client(&reactor, port, b"quit");
    run_until(&reactor, "the close", || lost.borrow().is_some());
    assert!(lost.borrow().as_ref().unwrap().check::<ConnectionDone>());
}

#[test]
fn abort_resets_the_peer() {
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let (_, lost, _) = client(&reactor, port, b"abort");
    run_until(&reactor, "the reset", || lost.borrow().is_some());
    // The aborting side sends an RST: the peer sees a reset (or, racing, EOF).
    let reason = lost.borrow().clone().unwrap();
    assert!(
        reason.check::<ConnectionLost>() || reason.check::<ConnectionDone>(),
        "{reason}"
    );
}

#[test]
fn abort_gives_connection_aborted_locally() {
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    struct Aborter(Lost);
    impl Protocol for Aborter {
        fn connection_made(&mut self, t: TransportRef) {
            t.write(b"never sent");
            t.abort_connection();
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn connection_lost(&mut self, reason: Failure) {
            *self.0.borrow_mut() = Some(reason);
        }
    }
    let lost = Lost::default();
    let l = lost.clone();
    reactor.connect_tcp(
        "127.0.0.1",
        port,
        Rc::new(Factory::for_protocol(move || Aborter(l.clone()))),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    run_until(&reactor, "the abort", || lost.borrow().is_some());
    assert!(lost.borrow().as_ref().unwrap().check::<ConnectionAborted>());
}

#[test]
fn connection_refused_reaches_the_factory() {
    struct Failing(Rc<RefCell<Option<Failure>>>);
    impl torsion_reactor::ProtocolFactory for Failing {
        type Protocol = Echo;
        fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Echo> {
            Some(Echo::default())
        }
        fn client_connection_failed(&self, _: &dyn Connector, reason: Failure) {
            *self.0.borrow_mut() = Some(reason);
        }
    }
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reactor = Reactor::new().unwrap();
    let failed = Rc::new(RefCell::new(None));
    let connector = reactor.connect_tcp(
        "127.0.0.1",
        port,
        Rc::new(Failing(failed.clone())),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    run_until(&reactor, "the refusal", || failed.borrow().is_some());
    assert!(failed
        .borrow()
        .as_ref()
        .unwrap()
        .check::<ConnectionRefused>());
    assert_eq!(
        connector.state(),
        torsion_reactor::ConnectorState::Disconnected
    );
}

/// A half-closeable server answers after the client's FIN; the client sees
/// the answer, then the close.
#[test]
fn half_close_from_the_client() {
    #[derive(Default)]
    struct Summer {
        transport: Option<TransportRef>,
        total: usize,
    }
    impl Protocol for Summer {
        fn connection_made(&mut self, t: TransportRef) {
            self.transport = Some(t);
        }
        fn data_received(&mut self, data: &[u8]) {
            self.total += data.len();
        }
        fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
            Some(self)
        }
    }
    impl HalfCloseableProtocol for Summer {
        fn read_connection_lost(&mut self) {
            let t = self.transport.as_ref().unwrap();
            t.write(format!("{} bytes", self.total).as_bytes());
            t.lose_connection();
        }
    }
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(Summer::default)),
            50,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let handle = reactor.thread_handle();
    let worker = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&[7; 1000]).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        handle.call_from_thread(move || {}).unwrap();
        answer
    });
    run_until(&reactor, "the answer", || worker.is_finished());
    assert_eq!(worker.join().unwrap(), "1000 bytes");
    d.set(true);
    assert!(done.get());
}

/// A panicking protocol loses only its own connection; another keeps working.
#[test]
fn a_panicking_protocol_is_contained() {
    struct Bomb;
    impl Protocol for Bomb {
        fn data_received(&mut self, _: &[u8]) {
            panic!("protocol bug");
        }
    }
    let reactor = Reactor::new().unwrap();
    let bombs = reactor
        .listen_tcp(0, Rc::new(Factory::for_protocol(|| Bomb)), 50, "127.0.0.1")
        .unwrap()
        .host()
        .port()
        .unwrap();
    let echo = echo_server(&reactor);
    let (_, lost, _) = client(&reactor, bombs, b"boom");
    run_until(&reactor, "the bomb's connection to close", || {
        lost.borrow().is_some()
    });
    let (seen, _, _) = client(&reactor, echo, b"still here");
    run_until(&reactor, "the echo", || seen.borrow().len() == 10);
}

/// A fast writer to a slow reader: the producer is paused past the
/// high-water mark and resumed, and every byte arrives in order.
#[test]
fn streaming_producer_is_paused_and_resumed() {
    const TOTAL: usize = 8 * 1024 * 1024;
    struct Streamer {
        transport: RefCell<Option<TransportRef>>,
        paused: Cell<bool>,
        sent: Cell<usize>,
        pauses: Cell<u32>,
    }
    impl Streamer {
        fn pump(&self) {
            let transport = self.transport.borrow().clone().unwrap();
            while !self.paused.get() && self.sent.get() < TOTAL {
                let start = self.sent.get();
                let chunk: Vec<u8> = (start..start + 16 * 1024)
                    .map(|i| (i % 251) as u8)
                    .collect();
                self.sent.set(start + chunk.len());
                transport.write(&chunk);
            }
            if self.sent.get() >= TOTAL {
                transport.unregister_producer().unwrap();
                transport.lose_connection();
            }
        }
    }
    impl Producer for Streamer {
        fn stop_producing(&self) {}
    }
    impl PushProducer for Streamer {
        fn pause_producing(&self) {
            self.paused.set(true);
            self.pauses.set(self.pauses.get() + 1);
        }
        fn resume_producing(&self) {
            self.paused.set(false);
            self.pump();
        }
    }
    struct Serve(Rc<Streamer>);
    impl Protocol for Serve {
        fn connection_made(&mut self, t: TransportRef) {
            *self.0.transport.borrow_mut() = Some(t.clone());
            t.register_producer(ProducerRef::Push(self.0.clone()))
                .unwrap();
            self.0.pump();
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    let streamer = Rc::new(Streamer {
        transport: RefCell::new(None),
        paused: Cell::new(false),
        sent: Cell::new(0),
        pauses: Cell::new(0),
    });
    let s = streamer.clone();
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(move || Serve(s.clone()))),
            50,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut received = Vec::with_capacity(TOTAL);
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..n]);
            if received.len() < 1024 * 1024 {
                std::thread::sleep(Duration::from_millis(1)); // a slow reader at first
            }
        }
        received
    });
    run_until(&reactor, "the stream to finish", || reader.is_finished());
    let received = reader.join().unwrap();
    assert_eq!(received.len(), TOTAL);
    assert!(
        received
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8),
        "bytes out of order"
    );
    assert!(streamer.pauses.get() > 0, "the producer was never paused");
}

#[test]
fn stop_from_a_callback_and_triggers_run_in_order() {
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let order = Rc::new(RefCell::new(Vec::new()));
    for (phase, name) in [
        (torsion_reactor::Phase::After, "after"),
        (torsion_reactor::Phase::Before, "before"),
        (torsion_reactor::Phase::During, "during"),
    ] {
        let o = order.clone();
        reactor.add_system_event_trigger(
            phase,
            torsion_reactor::events::SHUTDOWN,
            Box::new(move || {
                o.borrow_mut().push(name);
                None
            }),
        );
    }
    let o = order.clone();
    reactor.call_when_running(Box::new(move || o.borrow_mut().push("running")));
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(5), move || r.stop().unwrap());
    reactor.run().unwrap();
    assert_eq!(*order.borrow(), ["running", "before", "during", "after"]);
    assert!(matches!(
        reactor.run(),
        Err(torsion_reactor::error::ReactorError::NotRestartable)
    ));
}

#[test]
fn call_from_thread_from_many_threads() {
    let reactor = Reactor::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let handle = reactor.thread_handle();
            let got = got.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let got = got.clone();
                    handle
                        .call_from_thread(move || {
                            got.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    let c = count.clone();
    let g = got.clone();
    run_until(&reactor, "800 calls", move || {
        c.set(g.load(std::sync::atomic::Ordering::SeqCst));
        c.get() == 800
    });
    for w in workers {
        w.join().unwrap();
    }
}

/// A connect that gets no answer times out with TimeoutError through the
/// factory's `client_connection_failed`. No answer on loopback: a listener
/// whose accept queue is full drops further SYNs.
#[test]
fn connect_timeout() {
    use socket2::{Domain, Socket, Type};
    use torsion_reactor::error::TimeoutError;
    struct Failing(Rc<RefCell<Option<Failure>>>);
    impl torsion_reactor::ProtocolFactory for Failing {
        type Protocol = Echo;
        fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Echo> {
            Some(Echo::default())
        }
        fn client_connection_failed(&self, _: &dyn Connector, reason: Failure) {
            *self.0.borrow_mut() = Some(reason);
        }
    }
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    // Fill the accept queue (never accepted).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(
            &format!("127.0.0.1:{port}")
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        );
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    let reactor = Reactor::new().unwrap();
    let failed = Rc::new(RefCell::new(None));
    let started = Instant::now();
    reactor.connect_tcp(
        "127.0.0.1",
        port,
        Rc::new(Failing(failed.clone())),
        Duration::from_millis(300),
        None,
    );
    run_until(&reactor, "the timeout", || failed.borrow().is_some());
    let reason = failed.borrow().clone().unwrap();
    if reason.check::<TimeoutError>() {
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "fired early: {:?}",
            started.elapsed()
        );
    } else {
        // Some kernels answer a full queue with a reset instead of silence.
        assert!(reason.check::<ConnectionRefused>(), "{reason}");
    }
}

/// The server half-closes (`lose_write_connection`) after answering: the
/// client reads the answer then EOF, and can still send; the server's
/// half-closeable protocol hears `write_connection_lost`.
#[test]
fn half_close_from_the_server() {
    #[derive(Default)]
    struct Answer {
        transport: Option<TransportRef>,
        events: Rc<RefCell<Vec<String>>>,
    }
    impl Protocol for Answer {
        fn connection_made(&mut self, t: TransportRef) {
            t.write(b"answer");
            t.lose_write_connection();
            self.transport = Some(t);
        }
        fn data_received(&mut self, data: &[u8]) {
            self.events
                .borrow_mut()
                .push(format!("got {}", String::from_utf8_lossy(data)));
        }
        fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
            Some(self)
        }
    }
    impl HalfCloseableProtocol for Answer {
        fn read_connection_lost(&mut self) {
            self.events.borrow_mut().push("read lost".into());
            self.transport.as_ref().unwrap().lose_connection();
        }
        fn write_connection_lost(&mut self) {
            self.events.borrow_mut().push("write lost".into());
        }
    }
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(move || Answer {
                transport: None,
                events: e.clone(),
            })),
            50,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap();
    let worker = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap(); // ends at the server's FIN
        stream.write_all(b"thanks").unwrap(); // our side still open
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        answer
    });
    run_until(&reactor, "both halves closed", || {
        events.borrow().len() == 3
    });
    assert_eq!(worker.join().unwrap(), "answer");
    assert_eq!(*events.borrow(), ["write lost", "got thanks", "read lost"]);
}

/// A factory that panics in `build_protocol` refuses that connection only.
#[test]
fn a_panicking_factory_is_contained() {
    struct Bomb;
    impl torsion_reactor::ProtocolFactory for Bomb {
        type Protocol = Echo;
        fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Echo> {
            panic!("factory bug");
        }
    }
    let reactor = Reactor::new().unwrap();
    let bomb = reactor
        .listen_tcp(0, Rc::new(Bomb), 50, "127.0.0.1")
        .unwrap()
        .host()
        .port()
        .unwrap();
    let (_, lost, _) = client(&reactor, bomb, b"hello");
    run_until(&reactor, "the refused connection to close", || {
        lost.borrow().is_some()
    });
    let echo = echo_server(&reactor);
    let (seen, _, _) = client(&reactor, echo, b"fine");
    run_until(&reactor, "the echo", || seen.borrow().len() == 4);
}

/// Stopping a reactor that already stopped is an error.
#[test]
fn stop_when_stopped_is_an_error() {
    let reactor = Reactor::new().unwrap();
    reactor.stop().unwrap();
    reactor.run().unwrap();
    assert!(matches!(
        reactor.stop(),
        Err(torsion_reactor::error::ReactorError::NotRunning)
    ));
}

/// Regression (found reviewing the MemoryReactor): a trigger that removes an
/// earlier trigger of its own phase must not make the next one be skipped.
#[test]
fn removing_a_trigger_that_ran_skips_nothing() {
    let reactor = Reactor::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    let first = reactor.add_system_event_trigger(
        torsion_reactor::Phase::During,
        "custom",
        Box::new(move || {
            o.borrow_mut().push("first");
            None
        }),
    );
    let (o, r) = (order.clone(), reactor.clone());
    reactor.add_system_event_trigger(
        torsion_reactor::Phase::During,
        "custom",
        Box::new(move || {
            o.borrow_mut().push("second");
            r.remove_system_event_trigger(first);
            None
        }),
    );
    let o = order.clone();
    reactor.add_system_event_trigger(
        torsion_reactor::Phase::During,
        "custom",
        Box::new(move || {
            o.borrow_mut().push("third");
            None
        }),
    );
    reactor.fire_system_event("custom");
    assert_eq!(*order.borrow(), ["first", "second", "third"]);
}

/// `connect_tcp` with a host name resolves it (Twisted's `connectTCP` does):
/// `localhost` reaches a 127.0.0.1 listener; a name that does not resolve
/// fails with DnsLookupError naming it.
#[test]
fn connect_by_name() {
    use torsion_reactor::error::DnsLookupError;
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let (seen, lost) = (Seen::default(), Lost::default());
    let (s, l) = (seen.clone(), lost.clone());
    reactor.connect_tcp(
        "localhost",
        port,
        Rc::new(Factory::for_protocol(move || Client {
            send: b"by name".to_vec(),
            seen: s.clone(),
            lost: l.clone(),
            transport: None,
        })),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    run_until(&reactor, "the echo by name", || seen.borrow().len() == 7);

    struct Failing(Rc<RefCell<Option<Failure>>>);
    impl torsion_reactor::ProtocolFactory for Failing {
        type Protocol = Echo;
        fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Echo> {
            Some(Echo::default())
        }
        fn client_connection_failed(&self, _: &dyn Connector, reason: Failure) {
            *self.0.borrow_mut() = Some(reason);
        }
    }
    let failed = Rc::new(RefCell::new(None));
    // Not a valid host name (spaces), so the resolver refuses it without
    // asking any server.
    reactor.connect_tcp(
        "no such host",
        port,
        Rc::new(Failing(failed.clone())),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    run_until(&reactor, "the lookup failure", || failed.borrow().is_some());
    let failure = failed.borrow().clone().unwrap();
    assert_eq!(
        failure.downcast_ref::<DnsLookupError>().unwrap().host,
        "no such host",
        "{failure}"
    );
}

/// Records the addresses an accepted connection reports.
struct Addresses(Rc<RefCell<Option<(Address, Address)>>>);

impl Protocol for Addresses {
    fn connection_made(&mut self, transport: TransportRef) {
        *self.0.borrow_mut() = Some((transport.host(), transport.peer()));
    }

    fn data_received(&mut self, _data: &[u8]) {}
}

/// An accepted connection's host is the address the client connected to,
/// and its peer the client's own address, whether the port listens on a
/// specific address (known without asking the kernel) or on the wildcard.
#[test]
fn accepted_connections_report_host_and_peer() {
    for interface in ["127.0.0.1", "0.0.0.0"] {
        let reactor = Reactor::new().unwrap();
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let port = reactor
            .listen_tcp(
                0,
                Rc::new(Factory::for_protocol(move || Addresses(s.clone()))),
                DEFAULT_BACKLOG,
                interface,
            )
            .unwrap()
            .host()
            .port()
            .unwrap();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        run_until(&reactor, "the connection", || seen.borrow().is_some());
        let (host, peer) = seen.borrow().clone().unwrap();
        assert_eq!(
            host,
            Address::Tcp(client.peer_addr().unwrap()),
            "{interface}"
        );
        assert_eq!(
            peer,
            Address::Tcp(client.local_addr().unwrap()),
            "{interface}"
        );
    }
}
