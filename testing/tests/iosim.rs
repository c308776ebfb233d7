//! Tests for the in-memory connection pump: a port of Twisted's
//! `src/twisted/test/test_iosim.py`, then Torsion's own.
//!
//! Over 500 lines: a port of `test_iosim.py`, kept whole so it reads beside
//! the original.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{ConnectionAborted, ConnectionDone, ConnectionLost, ProducerError};
use torsion_reactor::{
    Address, Consumer, Factory, Failure, HalfCloseableProtocol, Producer, ProducerRef, Protocol,
    ProtocolRef, PullProducer, PushProducer, ReactorTimeExt, Transport, TransportRef,
};
use torsion_testing::{
    connect, connected_protocols, connected_server_and_client, connected_server_and_client_with,
    AccumulatingProtocol, Clock, ConnectOptions, FakeTransport, IoPump,
};

// ---------------------------------------------------------------------------
// Helpers

/// A shared, ordered record of what happened on both sides.
type Log = Rc<RefCell<Vec<String>>>;

type MadeHook = Box<dyn FnMut(&TransportRef)>;
type DataHook = Box<dyn FnMut(&TransportRef, &[u8])>;

/// A protocol that logs every event as `"<name> <event>"` and runs
/// optional hooks, so a test can script one side of a conversation.
struct Peer {
    name: &'static str,
    log: Log,
    transport: Option<TransportRef>,
    received: Vec<u8>,
    reason: Option<Failure>,
    half_closeable: bool,
    on_made: Option<MadeHook>,
    on_data: Option<DataHook>,
    on_read_lost: Option<MadeHook>,
}

impl Peer {
    fn new(name: &'static str, log: &Log) -> Peer {
        Peer {
            name,
            log: log.clone(),
            transport: None,
            received: Vec::new(),
            reason: None,
            half_closeable: false,
            on_made: None,
            on_data: None,
            on_read_lost: None,
        }
    }

    fn half_closeable(mut self) -> Peer {
        self.half_closeable = true;
        self
    }

    fn on_made(mut self, hook: impl FnMut(&TransportRef) + 'static) -> Peer {
        self.on_made = Some(Box::new(hook));
        self
    }

    fn on_data(mut self, hook: impl FnMut(&TransportRef, &[u8]) + 'static) -> Peer {
        self.on_data = Some(Box::new(hook));
        self
    }

    fn on_read_lost(mut self, hook: impl FnMut(&TransportRef) + 'static) -> Peer {
        self.on_read_lost = Some(Box::new(hook));
        self
    }

    fn transport(&self) -> TransportRef {
        self.transport.clone().expect("connection_made ran")
    }

    fn record(&self, event: String) {
        self.log.borrow_mut().push(format!("{} {event}", self.name));
    }
}

/// The error type's short name, for transcripts.
fn reason_name(reason: &Failure) -> &'static str {
    if reason.check::<ConnectionDone>() {
        "ConnectionDone"
    } else if reason.check::<ConnectionAborted>() {
        "ConnectionAborted"
    } else if reason.check::<ConnectionLost>() {
        "ConnectionLost"
    } else {
        reason.type_name()
    }
}

impl Protocol for Peer {
    fn connection_made(&mut self, transport: TransportRef) {
        self.record("made".into());
        self.transport = Some(transport.clone());
        if let Some(hook) = &mut self.on_made {
            hook(&transport);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.record(format!("data {}", data.escape_ascii()));
        self.received.extend_from_slice(data);
        let transport = self.transport();
        if let Some(hook) = &mut self.on_data {
            hook(&transport, data);
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.record(format!("lost {}", reason_name(&reason)));
        self.reason = Some(reason);
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        if self.half_closeable {
            Some(self)
        } else {
            None
        }
    }
}

impl HalfCloseableProtocol for Peer {
    fn read_connection_lost(&mut self) {
        self.record("read lost".into());
        let transport = self.transport();
        if let Some(hook) = &mut self.on_read_lost {
            hook(&transport);
        }
    }

    fn write_connection_lost(&mut self) {
        self.record("write lost".into());
    }
}

/// Connects `server` and `client` without greeting.
fn quiet_pair(server: Peer, client: Peer) -> (Rc<RefCell<Peer>>, Rc<RefCell<Peer>>, IoPump) {
    connected_protocols(server, client, ConnectOptions::new().greet(false))
}

/// Takes the transcript so far.
fn drain(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.borrow_mut())
}

fn dummy_protocol() -> ProtocolRef {
    Rc::new(RefCell::new(AccumulatingProtocol::new()))
}

// ---------------------------------------------------------------------------
// FakeTransportTests

/// Each `FakeTransport` receives a serial number that uniquely identifies
/// it.
#[test]
fn connection_serial() {
    let protocol = dummy_protocol();
    let a = FakeTransport::new(protocol.clone(), true);
    let b = FakeTransport::new(protocol, false);
    assert_ne!(a.serial(), b.serial());
}

/// `FakeTransport::write_sequence` will write a sequence of bytes to the
/// transport.
#[test]
fn write_sequence() {
    let a = FakeTransport::new(dummy_protocol(), false);
    a.write(b"a");
    a.write_sequence(&[b"b", b"c", b"d"]);
    assert_eq!(a.pending_output(), b"abcd");
}

/// `FakeTransport::write` will accept writes after the transport was
/// closed, but the data will be silently discarded.
#[test]
fn write_after_close() {
    let a = FakeTransport::new(dummy_protocol(), false);
    a.write(b"before");
    a.lose_connection();
    a.write(b"after");
    assert_eq!(a.pending_output(), b"before");
}

// ---------------------------------------------------------------------------
// StrictPushProducer and StrictPushProducerTests

/// A push producer which produces nothing but enforces preconditions on
/// its state transition methods (panicking where Twisted raises
/// `ValueError`).
struct StrictPushProducer {
    state: Cell<&'static str>,
}

impl StrictPushProducer {
    fn new() -> StrictPushProducer {
        StrictPushProducer {
            state: Cell::new("running"),
        }
    }
}

impl Producer for StrictPushProducer {
    fn stop_producing(&self) {
        assert!(
            self.state.get() != "stopped",
            "Cannot stop already-stopped IPushProducer"
        );
        self.state.set("stopped");
    }
}

impl PushProducer for StrictPushProducer {
    fn pause_producing(&self) {
        let state = self.state.get();
        assert!(state == "running", "Cannot pause {state} IPushProducer");
        self.state.set("paused");
    }

    fn resume_producing(&self) {
        let state = self.state.get();
        assert!(state == "paused", "Cannot resume {state} IPushProducer");
        self.state.set("running");
    }
}

/// A new `StrictPushProducer` which has not been through any state changes.
fn initial() -> StrictPushProducer {
    StrictPushProducer::new()
}

/// A new, stopped `StrictPushProducer`.
fn stopped() -> StrictPushProducer {
    let producer = StrictPushProducer::new();
    producer.stop_producing();
    producer
}

/// A new, paused `StrictPushProducer`.
fn paused() -> StrictPushProducer {
    let producer = StrictPushProducer::new();
    producer.pause_producing();
    producer
}

/// A new `StrictPushProducer` which has been paused and resumed.
fn resumed() -> StrictPushProducer {
    let producer = StrictPushProducer::new();
    producer.pause_producing();
    producer.resume_producing();
    producer
}

/// `StrictPushProducer::stop_producing` panics if called when the producer
/// is stopped.
#[test]
#[should_panic(expected = "Cannot stop already-stopped IPushProducer")]
fn stop_then_stop() {
    stopped().stop_producing();
}

/// `StrictPushProducer::pause_producing` panics if called when the producer
/// is stopped.
#[test]
#[should_panic(expected = "Cannot pause stopped IPushProducer")]
fn stop_then_pause() {
    stopped().pause_producing();
}

/// `StrictPushProducer::resume_producing` panics if called when the
/// producer is stopped.
#[test]
#[should_panic(expected = "Cannot resume stopped IPushProducer")]
fn stop_then_resume() {
    stopped().resume_producing();
}

/// `StrictPushProducer` is stopped if `stop_producing` is called on a
/// paused producer.
#[test]
fn pause_then_stop() {
    let producer = paused();
    producer.stop_producing();
    assert_eq!(producer.state.get(), "stopped");
}

/// `StrictPushProducer::pause_producing` panics if called on a paused
/// producer.
#[test]
#[should_panic(expected = "Cannot pause paused IPushProducer")]
fn pause_then_pause() {
    paused().pause_producing();
}

/// `StrictPushProducer` is resumed if `resume_producing` is called on a
/// paused producer.
#[test]
fn pause_then_resume() {
    let producer = paused();
    producer.resume_producing();
    assert_eq!(producer.state.get(), "running");
}

/// `StrictPushProducer` is stopped if `stop_producing` is called on a
/// resumed producer.
#[test]
fn resume_then_stop() {
    let producer = resumed();
    producer.stop_producing();
    assert_eq!(producer.state.get(), "stopped");
}

/// `StrictPushProducer` is paused if `pause_producing` is called on a
/// resumed producer.
#[test]
fn resume_then_pause() {
    let producer = resumed();
    producer.pause_producing();
    assert_eq!(producer.state.get(), "paused");
}

/// `StrictPushProducer::resume_producing` panics if called on a resumed
/// producer.
#[test]
#[should_panic(expected = "Cannot resume running IPushProducer")]
fn resume_then_resume() {
    resumed().resume_producing();
}

/// `StrictPushProducer` is stopped if `stop_producing` is called in the
/// initial state.
#[test]
fn stop() {
    let producer = initial();
    producer.stop_producing();
    assert_eq!(producer.state.get(), "stopped");
}

/// `StrictPushProducer` is paused if `pause_producing` is called in the
/// initial state.
#[test]
fn pause() {
    let producer = initial();
    producer.pause_producing();
    assert_eq!(producer.state.get(), "paused");
}

/// `StrictPushProducer` panics if `resume_producing` is called in the
/// initial state.
#[test]
#[should_panic(expected = "Cannot resume running IPushProducer")]
fn resume() {
    initial().resume_producing();
}

// ---------------------------------------------------------------------------
// IOPumpTests

/// Connect a couple protocol/transport pairs to an `IoPump` and then pump
/// it. Verify that a streaming producer registered with one of the
/// transports does not receive invalid `PushProducer` method calls and ends
/// in the right state.
fn test_streaming_producer(server_mode: bool) {
    let server_proto = dummy_protocol();
    let server_transport = Rc::new(FakeTransport::new(server_proto.clone(), true));
    let client_proto = dummy_protocol();
    let client_transport = Rc::new(FakeTransport::new(client_proto.clone(), false));
    let pump = connect(
        server_proto,
        server_transport.clone(),
        client_proto,
        client_transport.clone(),
        false,
        None,
    );

    let producer = Rc::new(StrictPushProducer::new());
    let victim = if server_mode {
        server_transport
    } else {
        client_transport
    };
    victim
        .register_producer(ProducerRef::Push(producer.clone()))
        .expect("no producer yet");

    pump.pump();
    assert_eq!(producer.state.get(), "running");
}

/// `IoPump::pump` does not call `resume_producing` on a push (streaming)
/// producer registered with the server transport.
#[test]
fn server_streaming_producer() {
    test_streaming_producer(true);
}

/// `IoPump::pump` does not call `resume_producing` on a push (streaming)
/// producer registered with the client transport.
#[test]
fn client_streaming_producer() {
    test_streaming_producer(false);
}

/// `IoPump::pump` advances time in the given `Clock`.
#[test]
fn time_advances() {
    let time_passed = Rc::new(Cell::new(false));
    let clock = Clock::new();
    let (_, _, pump) = connected_server_and_client_with(
        &Factory::for_protocol(AccumulatingProtocol::new),
        &Factory::for_protocol(AccumulatingProtocol::new),
        ConnectOptions::new().clock(clock.clone()),
    );
    let passed = time_passed.clone();
    clock.call_later(Duration::ZERO, move || passed.set(true));
    assert!(!time_passed.get());
    pump.pump();
    assert!(time_passed.get());
}

// ConnectionCompleterTests (test_noConnection, test_someConnection) are not
// ported: `ConnectionCompleter` needs `MemoryReactor` and is not here yet.

// ---------------------------------------------------------------------------
// Torsion's own

/// Bytes written by the client reach the server, and its echo comes back,
/// on a flush.
#[test]
fn echo_over_the_pump() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_data(|t, data| t.write(data));
    let client = Peer::new("client", &log);
    let (client, server, pump) = quiet_pair(server, client);

    client.borrow().transport().write(b"hello");
    assert!(pump.flush());
    assert_eq!(server.borrow().received, b"hello");
    assert_eq!(client.borrow().received, b"hello");
    assert!(!pump.flush(), "nothing left to move");
}

/// `connect` calls the server's `make_connection` before the client's.
#[test]
fn server_is_connected_first() {
    let log = Log::default();
    let _ = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    assert_eq!(drain(&log), ["server made", "client made"]);
}

/// A `lose_connection` takes two pump steps to reach both protocols: the
/// peer's first, then the closer's; both get `ConnectionDone`.
#[test]
fn lose_connection_takes_two_steps_peer_first() {
    let log = Log::default();
    let (client, server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    drain(&log);

    client.borrow().transport().lose_connection();
    assert!(pump.client_transport().is_disconnecting());
    assert!(!pump.server_transport().is_disconnecting());

    assert!(pump.pump());
    assert_eq!(drain(&log), ["server lost ConnectionDone"]);
    assert!(pump.server_transport().is_disconnecting());
    assert!(pump.client_transport().is_disconnected());

    assert!(pump.pump());
    assert_eq!(drain(&log), ["client lost ConnectionDone"]);
    assert!(!pump.pump());
    assert!(server.borrow().reason.is_some() && client.borrow().reason.is_some());

    // And the mirror case: a server's close reaches the client first.
    let log = Log::default();
    let (_client, server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    drain(&log);
    server.borrow().transport().lose_connection();
    pump.flush();
    assert_eq!(
        drain(&log),
        ["client lost ConnectionDone", "server lost ConnectionDone"]
    );
}

/// Bytes written before `lose_connection` are delivered before the close.
#[test]
fn lose_connection_delivers_pending_bytes_first() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_made(|t| {
        t.write(b"bye");
        t.lose_connection();
    });
    let (_client, _server, pump) = quiet_pair(server, Peer::new("client", &log));
    pump.flush();
    assert_eq!(
        drain(&log),
        [
            "server made",
            "client made",
            "client data bye",
            "client lost ConnectionDone",
            "server lost ConnectionDone"
        ]
    );
}

/// `abort_connection` drops unsent bytes; the aborting side gets
/// `ConnectionAborted`, the peer `ConnectionLost`, in the usual two steps.
#[test]
fn abort_connection() {
    let log = Log::default();
    let (client, _server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    drain(&log);

    let transport = client.borrow().transport();
    transport.write(b"never sent");
    transport.abort_connection();
    transport.abort_connection(); // idempotent
    assert!(pump.client_transport().is_aborted());
    assert_eq!(pump.client_transport().take_out_buffer(), None);

    assert!(pump.flush());
    assert_eq!(
        drain(&log),
        [
            "server lost ConnectionLost",
            "client lost ConnectionAborted"
        ]
    );
}

/// A protocol may abort from inside `data_received`; it gets
/// `connection_lost` only after `data_received` returned.
#[test]
fn abort_inside_data_received() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_data(|t, _| {
        t.write(b"dropped");
        t.abort_connection();
    });
    let (client, _server, pump) = quiet_pair(server, Peer::new("client", &log));
    drain(&log);
    client.borrow().transport().write(b"x");
    pump.flush();
    assert_eq!(
        drain(&log),
        [
            "server data x",
            "client lost ConnectionLost",
            "server lost ConnectionAborted"
        ]
    );
}

/// A protocol that loses the connection inside `data_received` gets its
/// `connection_lost` after `data_received` returned and after its last
/// bytes were delivered.
#[test]
fn lose_connection_inside_data_received() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_data(|t, data| {
        t.write(&data.to_ascii_uppercase());
        t.lose_connection();
        t.write(b"ignored");
    });
    let (client, _server, pump) = quiet_pair(server, Peer::new("client", &log));
    drain(&log);
    client.borrow().transport().write(b"hi");
    assert!(pump.flush());
    assert_eq!(
        drain(&log),
        [
            "server data hi",
            "client data HI",
            "client lost ConnectionDone",
            "server lost ConnectionDone"
        ]
    );
}

/// Half-closing toward a half-closeable peer: after the bytes written
/// before are delivered, the closer gets `write_connection_lost` and the
/// peer `read_connection_lost`; the peer can still answer.
#[test]
fn half_close_to_half_closeable_server() {
    let log = Log::default();
    let server = Peer::new("server", &log)
        .half_closeable()
        .on_read_lost(|t| {
            t.write(b"response");
            t.lose_connection();
        });
    let client = Peer::new("client", &log).half_closeable();
    let (client, _server, pump) = quiet_pair(server, client);
    drain(&log);

    let transport = client.borrow().transport();
    transport.write(b"request");
    transport.lose_write_connection();
    transport.write(b"dropped: write side shut");
    assert!(pump.client_transport().is_write_closed());
    assert!(!transport.is_disconnecting());

    assert!(pump.flush());
    assert_eq!(
        drain(&log),
        [
            "server data request",
            "client write lost",
            "server read lost",
            "client data response",
            "client lost ConnectionDone",
            "server lost ConnectionDone"
        ]
    );
}

/// Half-closing works from the server to the client too.
#[test]
fn half_close_to_half_closeable_client() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_made(|t| {
        t.write(b"banner");
        t.lose_write_connection();
    });
    let client = Peer::new("client", &log)
        .half_closeable()
        .on_read_lost(|t| {
            t.write(b"thanks");
            t.lose_connection();
        });
    let (_client, _server, pump) = quiet_pair(server, client);
    drain(&log);
    pump.flush();
    assert_eq!(
        drain(&log),
        [
            "client data banner",
            "client read lost",
            "server data thanks",
            "server lost ConnectionDone",
            "client lost ConnectionDone"
        ]
    );
}

/// Half-closing toward a protocol that is not half-closeable closes the
/// connection: the peer gets `connection_lost(ConnectionDone)` on
/// end-of-file, and the closer hears of that close on the next step.
#[test]
fn half_close_to_plain_peer() {
    let log = Log::default();
    let client = Peer::new("client", &log).half_closeable();
    let (client, _server, pump) = quiet_pair(Peer::new("server", &log), client);
    drain(&log);

    client.borrow().transport().lose_write_connection();
    assert!(pump.pump());
    assert_eq!(
        drain(&log),
        ["client write lost", "server lost ConnectionDone"]
    );
    assert!(pump.pump());
    assert_eq!(drain(&log), ["client lost ConnectionDone"]);
    assert!(!pump.pump());
}

/// A transport's own `pause_producing` holds incoming bytes (and the
/// peer's close) until `resume_producing`; the next step delivers them.
#[test]
fn pause_and_resume_reading() {
    let log = Log::default();
    let (client, server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    drain(&log);

    let server_transport = server.borrow().transport();
    server_transport.pause_producing();
    assert!(pump.server_transport().is_reading_paused());

    let client_transport = client.borrow().transport();
    client_transport.write(b"one");
    assert!(pump.flush(), "the bytes moved into the server's inbox");
    client_transport.write(b"two");
    client_transport.lose_connection();
    pump.flush();
    assert!(drain(&log).is_empty(), "nothing delivered while paused");

    server_transport.resume_producing();
    assert!(log.borrow().is_empty(), "resume delivers on the next step");
    assert!(pump.flush());
    assert_eq!(
        drain(&log),
        [
            "server data onetwo",
            "server lost ConnectionDone",
            "client lost ConnectionDone"
        ]
    );
}

/// A protocol may pause its transport from inside `data_received`: what
/// arrives after waits.
#[test]
fn pause_inside_data_received() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_data(|t, _| t.pause_producing());
    let (client, server, pump) = quiet_pair(server, Peer::new("client", &log));
    drain(&log);

    let transport = client.borrow().transport();
    transport.write(b"first");
    pump.flush();
    transport.write(b"second");
    pump.flush();
    assert_eq!(drain(&log), ["server data first"]);

    server.borrow().transport().resume_producing();
    pump.flush();
    assert_eq!(drain(&log), ["server data second"]);
}

/// A push producer that only records the calls it gets.
#[derive(Default)]
struct RecordingProducer {
    calls: RefCell<Vec<&'static str>>,
}

impl Producer for RecordingProducer {
    fn stop_producing(&self) {
        self.calls.borrow_mut().push("stop");
    }
}

impl PushProducer for RecordingProducer {
    fn pause_producing(&self) {
        self.calls.borrow_mut().push("pause");
    }

    fn resume_producing(&self) {
        self.calls.borrow_mut().push("resume");
    }
}

/// A streaming producer is paused once more than the high-water mark
/// waits unread at the peer, and resumed once the peer has read it.
#[test]
fn streaming_producer_paused_while_peer_does_not_read() {
    let log = Log::default();
    let (client, server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    let transport = client.borrow().transport();
    let tcp = transport
        .as_tcp()
        .expect("FakeTransport is a TCP transport");
    tcp.set_write_buffer_limits(4, 0);
    assert_eq!(pump.client_transport().write_buffer_limits(), (4, 0));

    let producer = Rc::new(RecordingProducer::default());
    transport
        .register_producer(ProducerRef::Push(producer.clone()))
        .expect("no producer yet");
    server.borrow().transport().pause_producing();

    transport.write(b"1234");
    assert!(
        producer.calls.borrow().is_empty(),
        "4 bytes are not above 4"
    );
    pump.flush();
    transport.write(b"5");
    assert_eq!(*producer.calls.borrow(), ["pause"]);
    assert!(pump.client_transport().is_producer_paused());

    pump.flush();
    assert_eq!(*producer.calls.borrow(), ["pause"], "still unread");

    server.borrow().transport().resume_producing();
    pump.flush();
    assert_eq!(*producer.calls.borrow(), ["pause", "resume"]);
    assert_eq!(server.borrow().received, b"12345");

    transport.lose_connection();
    pump.flush();
    assert_eq!(
        *producer.calls.borrow(),
        ["pause", "resume", "stop"],
        "the producer is stopped when the connection is lost"
    );
    assert!(pump.client_transport().producer().is_none());
}

/// A pull producer that writes `chunks` chunks, one per
/// `resume_producing`, then unregisters.
struct Chunks {
    transport: TransportRef,
    left: Cell<u32>,
}

impl Producer for Chunks {
    fn stop_producing(&self) {}
}

impl PullProducer for Chunks {
    fn resume_producing(&self) {
        let left = self.left.get();
        if left == 0 {
            self.transport
                .unregister_producer()
                .expect("registered while producing");
            return;
        }
        self.left.set(left - 1);
        self.transport.write(format!("<{left}>").as_bytes());
    }
}

/// A pull producer is asked for a chunk when registered and again on every
/// pump step.
#[test]
fn pull_producer_resumed_on_every_pump() {
    let log = Log::default();
    let (client, server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    let transport = client.borrow().transport();
    let producer = Rc::new(Chunks {
        transport: transport.clone(),
        left: Cell::new(3),
    });
    transport
        .register_producer(ProducerRef::Pull(producer.clone()))
        .expect("no producer yet");
    assert_eq!(pump.client_transport().pending_output(), b"<3>");
    assert_eq!(producer.left.get(), 2);

    pump.flush();
    assert_eq!(server.borrow().received, b"<3><2><1>");
    assert!(pump.client_transport().producer().is_none());
}

/// The `Consumer` contract: one producer at a time, unregistering needs
/// one, and registering on a lost connection stops the producer at once.
#[test]
fn producer_registration_errors() {
    let log = Log::default();
    let (client, _server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    let transport = client.borrow().transport();
    let producer = Rc::new(RecordingProducer::default());

    assert_eq!(
        transport.unregister_producer(),
        Err(ProducerError::NotRegistered)
    );
    transport
        .register_producer(ProducerRef::Push(producer.clone()))
        .expect("first registration");
    assert_eq!(
        transport.register_producer(ProducerRef::Push(producer.clone())),
        Err(ProducerError::AlreadyRegistered)
    );
    transport.unregister_producer().expect("registered");

    transport.lose_connection();
    pump.flush();
    transport
        .register_producer(ProducerRef::Push(producer.clone()))
        .expect("no producer registered");
    assert_eq!(*producer.calls.borrow(), ["stop"]);
    assert!(pump.client_transport().producer().is_none());
}

/// With `greet` false, `connect` calls `make_connection` but moves no
/// bytes; the greeting waits in the server's buffer.
#[test]
fn greet_false_moves_nothing() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_made(|t| t.write(b"220 ready"));
    let (client, _server, pump) = quiet_pair(server, Peer::new("client", &log));
    assert!(client.borrow().received.is_empty());
    assert_eq!(pump.server_transport().pending_output(), b"220 ready");
    assert!(pump.pump());
    assert_eq!(client.borrow().received, b"220 ready");
}

/// With `greet` (the default), the greeting has arrived when `connect`
/// returns.
#[test]
fn greet_flushes_once() {
    let log = Log::default();
    let server = Peer::new("server", &log).on_made(|t| t.write(b"220 ready"));
    let (client, _server, pump) =
        connected_protocols(server, Peer::new("client", &log), ConnectOptions::new());
    assert_eq!(client.borrow().received, b"220 ready");
    assert!(!pump.pump());
}

/// `flush` gives up with "Too long" after 1000 steps that all moved
/// something.
#[test]
#[should_panic(expected = "Too long")]
fn flush_too_long() {
    let log = Log::default();
    let server = Peer::new("server", &log)
        .on_made(|t| t.write(b"ping"))
        .on_data(|t, data| t.write(data));
    let client = Peer::new("client", &log).on_data(|t, data| t.write(data));
    let _ = connected_protocols(server, client, ConnectOptions::new());
}

/// The same scenario run twice gives the same transcript.
#[test]
fn deterministic() {
    fn scenario() -> Vec<String> {
        let log = Log::default();
        let clock = Clock::new();
        let timer_log = log.clone();
        let server = Peer::new("server", &log)
            .half_closeable()
            .on_made(|t| t.write(b"hello"))
            .on_data(|t, data| t.write(&data.to_ascii_uppercase()))
            .on_read_lost(|t| {
                t.write(b"bye");
                t.lose_connection();
            });
        let client = Peer::new("client", &log).on_data(|t, data| {
            if data == b"hello" {
                t.write_sequence(&[b"a", b"b"]);
            } else {
                t.lose_write_connection();
            }
        });
        let (_client, _server, pump) =
            connected_protocols(server, client, ConnectOptions::new().clock(clock.clone()));
        clock.call_later(Duration::ZERO, move || {
            timer_log.borrow_mut().push("timer".into());
        });
        pump.flush();
        let transcript = drain(&log);
        assert!(transcript.len() > 5, "{transcript:?}");
        transcript
    }
    assert_eq!(scenario(), scenario());
}

/// `connected_server_and_client` hands back the user's own protocol types;
/// each factory builds for the other side's address, and the transports'
/// addresses match.
#[test]
fn connected_server_and_client_is_typed() {
    let asked = Rc::new(RefCell::new(Vec::new()));
    let (client_asked, server_asked) = (asked.clone(), asked.clone());
    let server_factory = Factory::new(move |addr: &Address| {
        server_asked.borrow_mut().push(("server", addr.clone()));
        Some(AccumulatingProtocol::new())
    });
    let client_factory = Factory::new(move |addr: &Address| {
        client_asked.borrow_mut().push(("client", addr.clone()));
        Some(AccumulatingProtocol::new())
    });
    let (client, server, pump) = connected_server_and_client(&server_factory, &client_factory);
    let server_address: Address = "127.0.0.1:4321"
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .into();
    let client_address: Address = "127.0.0.1:54321"
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .into();
    assert_eq!(
        *asked.borrow(),
        [
            ("client", server_address.clone()),
            ("server", client_address.clone())
        ]
    );
    assert!(client.borrow().made && server.borrow().made);
    assert_eq!(pump.server_transport().host(), server_address);
    assert_eq!(pump.server_transport().peer(), client_address);
    assert_eq!(pump.client_transport().host(), client_address);
    assert_eq!(pump.client_transport().peer(), server_address);
    assert!(pump.server_transport().is_server());
    assert!(!pump.client_transport().is_server());
}

/// Addresses can be chosen.
#[test]
fn addresses_are_configurable() {
    let server_address: Address = "10.0.0.1:443"
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .into();
    let client_address: Address = "10.0.0.2:50000"
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .into();
    let (client, _server, _pump) = connected_protocols(
        AccumulatingProtocol::new(),
        AccumulatingProtocol::new(),
        ConnectOptions::new()
            .server_address(server_address.clone())
            .client_address(client_address.clone()),
    );
    let transport = client.borrow().transport.clone().unwrap();
    assert_eq!(transport.peer(), server_address);
    assert_eq!(transport.host(), client_address);
}

/// TCP options are recorded and read back.
#[test]
fn tcp_options_are_recorded() {
    let transport = FakeTransport::new(dummy_protocol(), false);
    let tcp = transport.as_tcp().expect("a TCP transport");
    assert!(!tcp.tcp_no_delay().unwrap());
    tcp.set_tcp_no_delay(true).unwrap();
    tcp.set_tcp_keep_alive(true).unwrap();
    assert!(tcp.tcp_no_delay().unwrap());
    assert!(tcp.tcp_keep_alive().unwrap());
}

/// `stop_producing` on the transport loses the connection, as in iosim.
#[test]
fn stop_producing_loses_connection() {
    let log = Log::default();
    let (client, _server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    drain(&log);
    client.borrow().transport().stop_producing();
    pump.flush();
    assert_eq!(
        drain(&log),
        ["server lost ConnectionDone", "client lost ConnectionDone"]
    );
}

/// A reason set with `set_disconnect_reason` is what the protocol gets.
#[test]
fn disconnect_reason_is_settable() {
    let log = Log::default();
    let (client, _server, pump) = quiet_pair(Peer::new("server", &log), Peer::new("client", &log));
    drain(&log);
    pump.server_transport()
        .set_disconnect_reason(Failure::new(ConnectionLost::new()));
    client.borrow().transport().lose_connection();
    pump.flush();
    assert_eq!(
        drain(&log),
        ["server lost ConnectionLost", "client lost ConnectionDone"]
    );
}

/// `buffer_received` hands bytes to the protocol directly, as Twisted's
/// `bufferReceived`.
#[test]
fn buffer_received_delivers() {
    let protocol = Rc::new(RefCell::new(AccumulatingProtocol::new()));
    let transport = FakeTransport::new(protocol.clone(), true);
    assert!(transport.buffer_received(b"abc"));
    assert!(!transport.buffer_received(b""));
    assert_eq!(protocol.borrow().data, b"abc");
}

/// `Debug` shows Twisted's repr.
#[test]
fn debug_shows_side_serial_and_protocol() {
    let protocol = dummy_protocol();
    let transport = FakeTransport::new(protocol.clone(), true);
    let text = format!("{transport:?}");
    assert!(
        text.starts_with(&format!(
            "FakeTransport<S,{},AccumulatingProtocol>",
            transport.serial()
        )),
        "{text}"
    );
}
