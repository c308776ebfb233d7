//! Twisted's `AbortConnectionMixin` (`internet/test/test_tcp.py`, run over
//! TCP as `AbortConnectionTests`), ported scenario by scenario (none
//! skipped) to the mio reactor over 127.0.0.1, ephemeral ports, every wait
//! bounded.
//!
//! [`run_abort_test`] is `runAbortTest`: a client and a server [`Kind`]
//! connected on one reactor; when one side loses its connection the other
//! writes `GOODBYE` (`writeToDetectPeerDisconnection`); once both have, the
//! reactor holds no source and no timed call (`removeAll()`,
//! `getDelayedCalls()`), and each side's reason is one Twisted accepts.
//!
//! Differences from Twisted, behaviour kept:
//!
//! * Twisted's `ConnectionAborted` subclasses `ConnectionLost`; Torsion's
//!   are distinct types, so "a `ConnectionLost`" is either ([`is_lost`]).
//! * A raised exception is a panic, caught at the reactor boundary and
//!   logged at error level: `ZeroDivisionError` as a reason is
//!   [`PanicError`], `flushLoggedErrors` counts the error records naming
//!   the panic, and, as trial fails a test that logs any other error, no
//!   other may be logged.
//! * The "BUG" `RuntimeError`s the protocols raise are recorded and asserted
//!   absent; `stopReading`/`startReading` are the transport's
//!   `pause_producing`/`resume_producing`; the `SSL.Error` alternatives
//!   belong to the TLS run of the mixin, not ported.

mod tcp_twisted_util;
mod util;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use tcp_twisted_util::{connect, listen, registered_sources, run_until, stop_listening, turn};
use torsion_reactor::error::{ConnectionAborted, ConnectionDone, ConnectionLost, PanicError};
use torsion_reactor::{
    Factory, Failure, Producer, ProducerRef, Protocol, PullProducer, PushProducer, Reactor,
    ReactorTime, ReactorTimeExt, TransportRef,
};

/// One side's `ConnectableProtocol` state, shared with the test and the peer.
#[derive(Default)]
struct Side {
    transport: RefCell<Option<TransportRef>>,
    reason: RefCell<Option<Failure>>,
    losses: Cell<u32>,
    in_reactor_method: Cell<bool>, // Twisted's `inReactorMethod`
    bugs: RefCell<Vec<String>>,    // the "BUG: ..." errors they raise
}

/// The reactor and both sides: `[client, server]`.
struct Pair {
    reactor: Reactor,
    sides: [Side; 2],
}

/// A protocol's (or producer's) view of the pair: its side and the peer's.
#[derive(Clone)]
struct Conn {
    pair: Rc<Pair>,
    me: usize,
}

impl Conn {
    fn me(&self) -> &Side {
        &self.pair.sides[self.me]
    }

    fn peer(&self) -> &Side {
        &self.pair.sides[1 - self.me]
    }

    fn transport(&self) -> TransportRef {
        self.me().transport.borrow().clone().expect("connected")
    }

    fn bug(&self, what: &str) {
        self.me().bugs.borrow_mut().push(format!("BUG: {what}"));
    }

    /// `ConnectableProtocol.connectionLost`, then the other side's
    /// `writeToDetectPeerDisconnection` (what `runProtocolsWithReactor`
    /// does once this side is done).
    fn lost(&self, reason: Failure) {
        let me = self.me();
        me.losses.set(me.losses.get() + 1);
        *me.reason.borrow_mut() = Some(reason);
        let peer = self.peer().transport.borrow().clone();
        if let Some(peer) = peer {
            peer.write(b"GOODBYE");
        }
    }
}

/// Twisted's protocol classes of these tests, one variant each, named as
/// in `test_tcp.py` (`ConnectableProtocol` is the base class, doing
/// nothing); what each does is in [`Peer`]'s and [`Producing`]'s methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ConnectableProtocol,
    AbortServerWritingProtocol,
    ReadAbortServerProtocol,
    ServerAbortsTwice,
    ServerAbortsThenLoses,
    NoReadServer,
    EventualNoReadServer,
    AbortingClient,
    AbortingTwiceClient,
    AbortingThenLosingClient,
    WritingButNotAbortingClient,
    ProducerAbortingClient,
    ProducerAbortingClientLater,
    ResumeThrowsClient,
    StreamingProducerClient,
    StreamingProducerClientLater,
    DataReceivedRaisingClient,
}

use Kind::*;

struct Peer {
    conn: Conn,
    kind: Kind,
    got_data: bool,
    /// The protocol as a producer (Twisted's protocols register themselves).
    producer: Rc<Producing>,
}

impl Peer {
    fn new(conn: Conn, kind: Kind) -> Peer {
        let producing = [ProducerAbortingClient, ProducerAbortingClientLater];
        // Their class attribute `inReactorMethod = True`.
        conn.me().in_reactor_method.set(producing.contains(&kind));
        let producer = Rc::new_cyclic(|me| Producing {
            conn: conn.clone(),
            kind,
            me: me.clone(),
            in_register: Cell::new(false),
            stopped: Cell::new(false),
            paused: Cell::new(false),
        });
        Peer {
            conn,
            kind,
            got_data: false,
            producer,
        }
    }

    /// `ProducerAbortingClient.write`.
    fn write_and_register(&self) {
        let t = self.conn.transport();
        t.write(&b"lalala".repeat(127_000));
        self.producer.in_register.set(true);
        let registered = t.register_producer(ProducerRef::Pull(self.producer.clone()));
        self.producer.in_register.set(false);
        registered.expect("no producer yet");
    }

    /// `StreamingProducerClient.write`.
    fn stream(&self) {
        let t = self.conn.transport();
        let registered = t.register_producer(ProducerRef::Push(self.producer.clone()));
        registered.expect("no producer yet");
        let chunk = b"1234567890".repeat(32_000);
        for _ in 0..100 {
            t.write(&chunk);
        }
    }
}

impl Protocol for Peer {
    fn connection_made(&mut self, t: TransportRef) {
        *self.conn.me().transport.borrow_mut() = Some(t.clone());
        match self.kind {
            AbortServerWritingProtocol | ReadAbortServerProtocol => t.write(b"ready"),
            NoReadServer => t.pause_producing(),
            WritingButNotAbortingClient | StreamingProducerClientLater => t.write(b"hello"),
            StreamingProducerClient => self.stream(),
            ProducerAbortingClient | ResumeThrowsClient => self.write_and_register(),
            _ => {}
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        let t = self.conn.transport();
        match self.kind {
            ReadAbortServerProtocol if data.iter().any(|&b| b != b'X') => {
                let surprise = String::from_utf8_lossy(data).replace('X', "");
                let start: String = surprise.chars().take(20).collect();
                let what = format!("received {} bytes: {start:?}...", surprise.len());
                self.conn.bug(&what);
            }
            ServerAbortsTwice => {
                t.abort_connection();
                t.abort_connection();
            }
            ServerAbortsThenLoses => {
                t.abort_connection();
                t.lose_connection();
            }
            EventualNoReadServer if !self.got_data => {
                self.got_data = true;
                let registered = t.register_producer(ProducerRef::Pull(self.producer.clone()));
                registered.expect("no producer yet");
                t.write(b"hello");
            }
            AbortingClient | AbortingTwiceClient | AbortingThenLosingClient => {
                let side = self.conn.me();
                side.in_reactor_method.set(true);
                t.write(&[b'X'; 10_000]);
                t.abort_connection();
                t.write(&[b'Y'; 10_000]);
                match self.kind {
                    AbortingTwiceClient => t.abort_connection(),
                    AbortingThenLosingClient => t.lose_connection(),
                    _ => {}
                }
                side.in_reactor_method.set(false);
            }
            ProducerAbortingClientLater => self.write_and_register(),
            StreamingProducerClientLater if !self.got_data => {
                self.got_data = true;
                self.stream();
            }
            DataReceivedRaisingClient => {
                t.abort_connection();
                panic!("ONO");
            }
            _ => {}
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        let side = self.conn.me();
        match self.kind {
            AbortingClient
            | AbortingTwiceClient
            | AbortingThenLosingClient
            | WritingButNotAbortingClient
            | DataReceivedRaisingClient
                if side.in_reactor_method.get() =>
            {
                self.conn.bug("connectionLost was called re-entrantly!");
            }
            ProducerAbortingClient | ProducerAbortingClientLater => {
                if !self.producer.stopped.get() {
                    self.conn.bug("stopProducing() was never called.");
                }
                if side.in_reactor_method.get() {
                    self.conn.bug("connectionLost called re-entrantly!");
                }
            }
            StreamingProducerClient | StreamingProducerClientLater => {
                // Tell the server to start reading again so it knows to go away.
                let server = self.conn.peer().transport.borrow().clone();
                if let Some(server) = server {
                    server.resume_producing();
                }
            }
            _ => {}
        }
        self.conn.lost(reason);
    }
}
/// The protocols that register themselves as producers, as producers:
/// `ProducerAbortingClient` and `ResumeThrowsClient` (pull),
/// `EventualNoReadServer` (pull), `StreamingProducerClient` (push). State in
/// cells: a transport calls its producer while the protocol may be borrowed.
struct Producing {
    conn: Conn,
    kind: Kind,
    me: Weak<Producing>,
    /// `inRegisterProducer`.
    in_register: Cell<bool>,
    /// `producerStopped`.
    stopped: Cell<bool>,
    /// `paused`, or `stoppedReading` for `EventualNoReadServer`.
    paused: Cell<bool>,
}

impl Producing {
    /// `StreamingProducerClient.doAbort`.
    fn do_abort(&self) {
        if !self.paused.get() {
            self.conn.bug("We should be paused a this point.");
        }
        let side = self.conn.me();
        side.in_reactor_method.set(true);
        self.conn.transport().abort_connection();
        side.in_reactor_method.set(false);
    }
}

impl Producer for Producing {
    fn stop_producing(&self) {
        self.stopped.set(true);
    }
}

impl PullProducer for Producing {
    fn resume_producing(&self) {
        let t = self.conn.transport();
        match self.kind {
            EventualNoReadServer if !self.paused.replace(true) => t.pause_producing(),
            ResumeThrowsClient if !self.in_register.get() => {
                t.abort_connection();
                panic!("ono!");
            }
            ProducerAbortingClient | ProducerAbortingClientLater => {
                let side = self.conn.me();
                side.in_reactor_method.set(true);
                if !self.in_register.get() {
                    t.abort_connection();
                }
                side.in_reactor_method.set(false);
            }
            _ => {}
        }
    }
}

impl PushProducer for Producing {
    fn pause_producing(&self) {
        if self.paused.replace(true) {
            return;
        }
        let me = self.me.upgrade().expect("alive while registered");
        let reactor = &self.conn.pair.reactor;
        reactor.call_later(Duration::from_millis(10), move || me.do_abort());
    }

    fn resume_producing(&self) {
        self.paused.set(false);
    }
}

/// Twisted's `isinstance(reason, ConnectionLost)` (`ConnectionAborted`
/// is a subclass there).
fn is_lost(reason: &Failure) -> bool {
    reason.check::<ConnectionLost>() || reason.check::<ConnectionAborted>()
}

/// `runAbortTest(clientClass, serverClass)`.
fn abort_test(client: Kind, server: Kind) {
    run_abort_test(client, server, is_lost, None);
}

/// `runAbortTest(..., clientConnectionLostReason=ZeroDivisionError)`, then
/// `flushLoggedErrors(ZeroDivisionError)` finds one: the panic naming `word`.
fn abort_test_panicking(client: Kind, server: Kind, word: &str) {
    let ok = |reason: &Failure| is_lost(reason) || reason.check::<PanicError>();
    run_abort_test(client, server, ok, Some(word));
}

/// Twisted's `runAbortTest`: connects a `client` and a `server`, runs until
/// both lost their connection, and checks what Twisted checks (see the
/// module docs). `logged`: a word of the one panic expected in the log.
fn run_abort_test(client: Kind, server: Kind, ok: fn(&Failure) -> bool, logged: Option<&str>) {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    let pair = Rc::new(Pair {
        reactor: reactor.clone(),
        sides: Default::default(),
    });
    let factory = |me: usize, kind: Kind| {
        let pair = pair.clone();
        Rc::new(Factory::for_protocol(move || {
            let pair = pair.clone();
            Peer::new(Conn { pair, me }, kind)
        }))
    };
    let (port, number) = listen(&reactor, factory(1, server));
    let connector = connect(&reactor, number, factory(0, client));
    let [client_side, server_side] = &pair.sides;
    run_until(&reactor, "both sides to lose the connection", || {
        client_side.losses.get() > 0 && server_side.losses.get() > 0
    });
    drop(connector);
    stop_listening(&reactor, &port);
    turn(&reactor, 3);
    assert_eq!(registered_sources(&reactor), 0, "{reactor:?}");
    assert!(reactor.delayed_calls().is_empty(), "{reactor:?}");
    for (name, side) in [("client", client_side), ("server", server_side)] {
        assert_eq!(side.losses.get(), 1, "{name}'s connection_lost calls");
        let bugs = side.bugs.borrow();
        assert!(bugs.is_empty(), "{name}: {bugs:?}");
    }
    let describe = |f: &Failure| format!("{}: {f}", f.type_name());
    let reason = client_side.reason.borrow().clone().unwrap();
    assert!(ok(&reason), "client: {}", describe(&reason));
    let reason = server_side.reason.borrow().clone().unwrap();
    let server_ok = is_lost(&reason) || reason.check::<ConnectionDone>();
    assert!(server_ok, "server: {}", describe(&reason));
    let errors = util::take_errors();
    let (named, others): (Vec<_>, Vec<_>) = errors
        .iter()
        .partition(|r| logged.is_some_and(|w| r.message.contains(w)));
    assert_eq!(named.len(), usize::from(logged.is_some()), "{errors:?}");
    assert!(others.is_empty(), "unexpected errors logged: {others:?}");
}

/// Ports `test_dataReceivedAbort`: `abort_connection` inside
/// `data_received` disconnects both sides, the `Y`s written after the abort
/// never reach the server, and `connection_lost` is not called re-entrantly
/// (it comes after `data_received` returns).
#[test]
fn data_received_abort() {
    abort_test(AbortingClient, ReadAbortServerProtocol);
}

/// Ports `test_clientAbortsConnectionTwice`: a second `abort_connection`
/// from the client is harmless (no panic, one `connection_lost`) and the
/// connection closes.
#[test]
fn client_aborts_connection_twice() {
    abort_test(AbortingTwiceClient, ReadAbortServerProtocol);
}

/// Ports `test_clientAbortsConnectionThenLosesConnection`: the client's
/// `lose_connection` after `abort_connection` is harmless and the
/// connection closes.
#[test]
fn client_aborts_connection_then_loses_connection() {
    abort_test(AbortingThenLosingClient, ReadAbortServerProtocol);
}

/// Ports `test_serverAbortsConnectionTwice`: the server aborts twice on the
/// client's `hello`; no panic, and the client sees a lost connection (a
/// reset, `ConnectionLost`), not a clean close.
#[test]
fn server_aborts_connection_twice() {
    abort_test(WritingButNotAbortingClient, ServerAbortsTwice);
}

/// Ports `test_serverAbortsConnectionThenLosesConnection`: the server's
/// `lose_connection` after its abort is harmless; the client sees a lost
/// connection.
#[test]
fn server_aborts_connection_then_loses_connection() {
    abort_test(WritingButNotAbortingClient, ServerAbortsThenLoses);
}

/// Ports `test_resumeProducingAbort`: a pull producer aborts from
/// `resume_producing` before any byte came back; it is stopped before
/// `connection_lost`, which is not called from inside `resume_producing`.
/// Twisted resumes it inside `registerProducer` (ignored by the client:
/// `inRegisterProducer`) and aborts on the next resume, from the write
/// path; Torsion resumes it after `register_producer` returns, so (literal
/// port) the abort comes from that first resume, made by the reactor.
#[test]
fn resume_producing_abort() {
    abort_test(ProducerAbortingClient, ConnectableProtocol);
}

/// Ports `test_resumeProducingAbortLater`: as [`resume_producing_abort`],
/// but the client starts writing and producing once the server's `ready`
/// arrived.
#[test]
fn resume_producing_abort_later() {
    abort_test(ProducerAbortingClientLater, AbortServerWritingProtocol);
}

/// Ports `test_fullWriteBuffer`: the server stops reading; the client's
/// streaming producer is paused once its 32 MB back up, and 10 ms later it
/// aborts (a write timeout). Both sides close (the server, told to read
/// again, sees the reset), and no timed call is left over.
#[test]
fn full_write_buffer() {
    abort_test(StreamingProducerClient, NoReadServer);
}

/// Ports `test_fullWriteBufferAfterByteExchange`: as [`full_write_buffer`],
/// but the server stops reading (from its own pull producer's first resume)
/// only after a `hello` each way.
#[test]
fn full_write_buffer_after_byte_exchange() {
    abort_test(StreamingProducerClientLater, EventualNoReadServer);
}

/// Ports `test_dataReceivedThrows`: `data_received` aborts and then panics
/// (Twisted: raises `ZeroDivisionError`). The connection is lost and the
/// panic logged exactly once, not masked by the abort. The client's reason
/// may be the panic or the abort, as Twisted's test allows (Twisted gives
/// the exception; Torsion `ConnectionAborted`, the close queued first).
#[test]
fn data_received_throws() {
    abort_test_panicking(DataReceivedRaisingClient, AbortServerWritingProtocol, "ONO");
}

/// Ports `test_resumeProducingThrows`: `resume_producing` aborts and then
/// panics. The connection is lost (reason: the panic or the abort), and the
/// panic is logged exactly once (here by the reactor, which made the call
/// queued by `register_producer`). As in Twisted, whether `stop_producing`
/// follows a producer that blew up is not checked.
#[test]
fn resume_producing_throws() {
    abort_test_panicking(ResumeThrowsClient, ConnectableProtocol, "ono!");
}
