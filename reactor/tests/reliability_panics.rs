//! Reliability (issue 9, item 5): panics in user code, against the mio
//! reactor on 127.0.0.1.
//!
//! One test per place user code runs: `build_protocol`, `connection_made`,
//! `data_received`, a timed call, a Deferred callback and a spawned future.
//! Each panics once, and the test checks what became of the call or the
//! connection it happened in, that the panic was logged (at error level,
//! with its message), and that the reactor serves on: a bystander
//! connection opened before the fault still echoes, a fresh connection is
//! served, and so is a new connection to the server that panicked.
//!
//! What happens to the connection (compare Twisted, whose reactor logs the
//! exception and, for a protocol method, drops the connection with the
//! exception as the reason):
//!
//! * `build_protocol` panics: logged; the accepted socket is closed (the
//!   peer reads EOF or a reset), as if the factory had refused it; no
//!   protocol, so no `connection_lost`. The port accepts on.
//! * `connection_made` panics: logged; the connection is aborted (the
//!   peer sees a reset or EOF) and `connection_lost` is still called, once,
//!   with a [`PanicError`] failure, so the protocol can release what it
//!   took. (Twisted drops a client connection this way; for an accepted one
//!   it only logs, leaving a half-initialised protocol connected: we abort.)
//! * `data_received` panics: logged; the connection is aborted (unsent
//!   writes dropped, the peer sees a reset or EOF), the protocol gets no
//!   more `data_received`, even for bytes already read, and
//!   `connection_lost` is called once with a [`PanicError`] failure.
//! * A timed call (`call_later`) panics: logged; only that call is lost:
//!   the connection that scheduled it and later timers carry on.
//! * A Deferred callback panics: logged, and the panic becomes a
//!   [`PanicError`] failure that the next errback receives (Twisted: an
//!   exception in a callback becomes a `Failure`).
//! * A spawned future panics: logged; the task is dropped, other tasks and
//!   the connection that spawned it carry on.
//!
//! The reactor runs on the test thread (so its log records land in this
//! thread's capture); the peer is a plain blocking client on a thread of
//! its own, each read bounded by a timeout.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use torsion_reactor::error::PanicError;
use torsion_reactor::{
    Deferred, Factory, Failure, Protocol, Reactor, ReactorTcp, ReactorTimeExt, TransportRef,
    DEFAULT_BACKLOG,
};

/// How long any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(5);

/// What a [`Faulty`] server panics in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    BuildProtocol,
    ConnectionMade,
    DataReceived,
    Timer,
    Callback,
    Future,
}

/// What the server side saw.
#[derive(Default)]
struct Seen {
    built: Cell<usize>,
    /// `data_received` calls after the protocol panicked in it.
    calls_after_panic: Cell<usize>,
    lost: RefCell<Vec<Failure>>,
}

/// Echoes, except that it panics (once per server) where its [`Fault`]
/// says: in `connection_made` on the first connection, in `data_received`
/// or in work it schedules when it receives `boom`.
struct Faulty {
    fault: Fault,
    first: bool,
    panicked: bool,
    seen: Rc<Seen>,
    reactor: Reactor,
    transport: Option<TransportRef>,
}

impl Faulty {
    fn transport(&self) -> TransportRef {
        self.transport.clone().expect("connected")
    }

    /// Schedules work that panics, then work that proves what survived it,
    /// whose answer goes to the peer.
    fn boom(&mut self) {
        let transport = self.transport();
        match self.fault {
            Fault::DataReceived => {
                self.panicked = true;
                panic!("boom in data_received");
            }
            Fault::Timer => {
                self.reactor
                    .call_later(Duration::ZERO, || panic!("boom in a timed call"));
                self.reactor.call_later(Duration::from_millis(10), move || {
                    transport.write(b"a later timer ran\n");
                });
            }
            Fault::Callback => {
                let d = Deferred::<()>::new();
                d.clone()
                    .add_callback(|()| -> Result<(), Failure> { panic!("boom in a callback") })
                    .add_errback(move |failure: Failure| {
                        let answer = match failure.check::<PanicError>() {
                            true => "the errback got a PanicError\n",
                            false => "the errback got something else\n",
                        };
                        transport.write(answer.as_bytes());
                        Ok(())
                    });
                self.reactor
                    .call_later(Duration::ZERO, move || d.callback(()));
            }
            Fault::Future => {
                let woken = Deferred::<()>::new();
                let fire = woken.clone();
                self.reactor.spawn_local(async move {
                    woken.await.expect("fired");
                    panic!("boom in a future");
                });
                let later = Deferred::<()>::new();
                let fire_later = later.clone();
                self.reactor.spawn_local(async move {
                    later.await.expect("fired");
                    transport.write(b"another future ran\n");
                });
                self.reactor
                    .call_later(Duration::ZERO, move || fire.callback(()));
                self.reactor
                    .call_later(Duration::from_millis(10), move || fire_later.callback(()));
            }
            Fault::BuildProtocol | Fault::ConnectionMade => transport.write(b"boom"),
        }
    }
}

impl Protocol for Faulty {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
        if self.fault == Fault::ConnectionMade && self.first {
            panic!("boom in connection_made");
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        if self.panicked {
            self.seen
                .calls_after_panic
                .set(self.seen.calls_after_panic.get() + 1);
        } else if data.starts_with(b"boom") {
            self.boom();
        } else {
            self.transport().write(data);
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.seen.lost.borrow_mut().push(reason);
    }
}

/// Listens on an ephemeral loopback port with `build`'s protocols.
fn listen<P: Protocol + 'static>(
    reactor: &Reactor,
    build: impl Fn() -> Option<P> + 'static,
) -> u16 {
    let factory = Factory::new(move |_| build());
    let port = reactor
        .listen_tcp(0, Rc::new(factory), DEFAULT_BACKLOG, "127.0.0.1")
        .expect("listen on 127.0.0.1");
    port.host().port().expect("a TCP port")
}

/// A server that panics where `fault` says, once.
fn faulty_server(reactor: &Reactor, fault: Fault) -> (u16, Rc<Seen>) {
    let seen = Rc::new(Seen::default());
    let (s, r) = (seen.clone(), reactor.clone());
    let port = listen(reactor, move || {
        s.built.set(s.built.get() + 1);
        let first = s.built.get() == 1;
        if fault == Fault::BuildProtocol && first {
            panic!("boom in build_protocol");
        }
        Some(Faulty {
            fault,
            first,
            panicked: false,
            seen: s.clone(),
            reactor: r.clone(),
            transport: None,
        })
    });
    (port, seen)
}

/// Plain echo.
struct Echo(Option<TransportRef>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.0 {
            t.write(data);
        }
    }
}

// ---- the peer side: blocking sockets on their own thread ------------------

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Sends `message` and expects it back.
fn echoes(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).expect("write");
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(back, message);
}

/// Reads one `\n`-terminated answer.
fn answer(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while byte[0] != b'\n' {
        assert_eq!(stream.read(&mut byte).expect("an answer"), 1, "closed");
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// The server closed `stream`: EOF, or a reset (an aborted connection).
fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("expected the server to close the connection: {e}"),
        }
    }
}

/// The reactor, an echo server, a faulty one, and log capture.
struct Scene {
    reactor: Reactor,
    echo: u16,
    faulty: u16,
    seen: Rc<Seen>,
}

impl Scene {
    fn new(fault: Fault) -> Scene {
        util::capture_logs();
        let reactor = Reactor::new().unwrap();
        let echo = listen(&reactor, || Some(Echo(None)));
        let (faulty, seen) = faulty_server(&reactor, fault);
        Scene {
            reactor,
            echo,
            faulty,
            seen,
        }
    }

    /// Runs the reactor on this thread while `fault` drives the faulty
    /// server from a peer thread, between two round trips of a bystander
    /// connection; then proves fresh connections to both servers are
    /// served. Returns the error-level messages logged meanwhile.
    fn run(&self, fault: impl FnOnce(u16) + Send + 'static) -> Vec<String> {
        let (echo, faulty) = (self.echo, self.faulty);
        let peer = thread::spawn(move || {
            let mut bystander = connect(echo);
            echoes(&mut bystander, b"before the fault");
            fault(faulty);
            echoes(&mut bystander, b"after the fault");
            echoes(&mut connect(echo), b"a fresh connection");
            echoes(&mut connect(faulty), b"the faulty server, again");
        });
        let deadline = Instant::now() + 2 * DEADLINE;
        while !peer.is_finished() {
            assert!(Instant::now() < deadline, "the peer thread is stuck");
            self.reactor
                .iterate(Some(Duration::from_millis(2)))
                .unwrap();
        }
        if let Err(panic) = peer.join() {
            std::panic::resume_unwind(panic);
        }
        util::take_errors().into_iter().map(|r| r.message).collect()
    }
}

/// Asserts one of `errors` contains every one of `needles`.
#[track_caller]
fn assert_logged(errors: &[String], needles: &[&str]) {
    assert!(
        errors
            .iter()
            .any(|e| needles.iter().all(|needle| e.contains(needle))),
        "no error record containing {needles:?}; logged: {errors:#?}"
    );
}

/// A single failure, a PanicError carrying `message`.
#[track_caller]
fn assert_lost_with_panic(seen: &Seen, message: &str) {
    let lost = seen.lost.borrow();
    let panics: Vec<&Failure> = lost.iter().filter(|f| f.check::<PanicError>()).collect();
    assert_eq!(panics.len(), 1, "{lost:?}");
    assert!(panics[0].to_string().contains(message), "{}", panics[0]);
}

/// `build_protocol` panics: that socket is closed, the port accepts on.
#[test]
fn panic_in_build_protocol_closes_that_socket_only() {
    let scene = Scene::new(Fault::BuildProtocol);
    let errors = scene.run(|faulty| closed_by_server(&mut connect(faulty)));
    assert_logged(&errors, &["build_protocol", "boom in build_protocol"]);
    // No protocol was built for the refused socket: nothing to tell. The
    // second connection's protocol was, and heard no panic.
    assert!(scene.seen.built.get() >= 2);
    assert!(!scene
        .seen
        .lost
        .borrow()
        .iter()
        .any(|f| f.check::<PanicError>()));
}

/// `connection_made` panics: that connection is aborted and the protocol
/// hears `connection_lost` with the PanicError.
#[test]
fn panic_in_connection_made_aborts_that_connection() {
    let scene = Scene::new(Fault::ConnectionMade);
    let errors = scene.run(|faulty| closed_by_server(&mut connect(faulty)));
    assert_logged(&errors, &["connection_made", "boom in connection_made"]);
    assert_lost_with_panic(&scene.seen, "boom in connection_made");
}

/// `data_received` panics: that connection is aborted, no more bytes reach
/// the protocol, and it hears `connection_lost` with the PanicError.
#[test]
fn panic_in_data_received_aborts_that_connection() {
    let scene = Scene::new(Fault::DataReceived);
    let errors = scene.run(|faulty| {
        let mut stream = connect(faulty);
        // The panic comes with plenty more bytes behind it, some read in
        // the same turn: none of them reaches the protocol.
        let mut message = b"boom".to_vec();
        message.resize(512 * 1024, b'x');
        // The server may reset before it all went out.
        let _ = stream.write_all(&message);
        closed_by_server(&mut stream);
    });
    assert_logged(&errors, &["data_received", "boom in data_received"]);
    assert_lost_with_panic(&scene.seen, "boom in data_received");
    assert_eq!(scene.seen.calls_after_panic.get(), 0);
}

/// Sends `boom` to a server panicking where `fault` says, in work it
/// schedules; expects `answer` from the work scheduled after it, and the
/// connection to echo on; returns what was logged.
fn panic_in_scheduled_work(fault: Fault, answer_wanted: &'static str) -> Vec<String> {
    let scene = Scene::new(fault);
    scene.run(move |faulty| {
        let mut stream = connect(faulty);
        stream.write_all(b"boom").unwrap();
        assert_eq!(answer(&mut stream), answer_wanted);
        echoes(&mut stream, b"the same connection");
    })
}

/// A timed call panics: later timers and the connection carry on.
#[test]
fn panic_in_a_timed_call_loses_only_that_call() {
    let errors = panic_in_scheduled_work(Fault::Timer, "a later timer ran\n");
    assert_logged(&errors, &["timed call", "boom in a timed call"]);
}

/// A Deferred callback panics: the next errback gets a PanicError.
#[test]
fn panic_in_a_deferred_callback_becomes_a_failure() {
    let errors = panic_in_scheduled_work(Fault::Callback, "the errback got a PanicError\n");
    assert_logged(&errors, &["Deferred callback", "boom in a callback"]);
}

/// A spawned future panics: other tasks and the connection carry on.
#[test]
fn panic_in_a_spawned_future_drops_only_that_task() {
    let errors = panic_in_scheduled_work(Fault::Future, "another future ran\n");
    assert_logged(&errors, &["spawned future", "boom in a future"]);
}
