//! Reliability (issue 9, items 2 and 3): misbehaving peers and a stalled
//! reader, against the mio reactor on 127.0.0.1.
//!
//! Each scenario uses a std (or socket2) socket as the misbehaving peer,
//! bounds every wait with a deadline of a few seconds, and ends by proving
//! the reactor still serves others: a bystander connection to an echo
//! server, opened before the fault, still echoes after it, and so does a
//! fresh one.
//!
//! Over 500 lines: one scenario per misbehaving peer, kept together as issue
//! 9's checklist.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{ConnectionDone, ConnectionLost};
use torsion_reactor::{
    Factory, Failure, HalfCloseableProtocol, Producer, ProducerRef, Protocol, PushProducer,
    Reactor, ReactorTcp, ReactorTimeExt, TransportRef, DEFAULT_BACKLOG, DEFAULT_HIGH_WATER,
};

/// How long any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(5);

/// Iterates until `done` or [`DEADLINE`] (then fails the test).
fn run_until(reactor: &Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(2))).unwrap();
    }
}

/// Reads from a non-blocking `stream` while iterating the reactor until
/// `want` bytes arrived (or EOF, if `want` is `usize::MAX`).
fn read_while_iterating(reactor: &Reactor, stream: &mut TcpStream, want: usize) -> Vec<u8> {
    stream.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    run_until(reactor, "the peer's read", || {
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("peer read failed: {e}"),
            }
        }
        got.len() >= want
    });
    got
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
        self.transport.as_ref().unwrap().write(data);
    }
}

fn listen<P: Protocol + 'static>(reactor: &Reactor, build: impl Fn() -> P + 'static) -> u16 {
    reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(build)),
            DEFAULT_BACKLOG,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap()
}

/// A connection to an echo server that lives through the fault.
struct Bystander {
    stream: TcpStream,
    port: u16,
}

impl Bystander {
    fn start(reactor: &Reactor) -> Bystander {
        let port = listen(reactor, Echo::default);
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut bystander = Bystander { stream, port };
        bystander.round_trip(reactor, b"before the fault");
        bystander
    }

    fn round_trip(&mut self, reactor: &Reactor, message: &[u8]) {
        self.stream.write_all(message).unwrap();
        let echoed = read_while_iterating(reactor, &mut self.stream, message.len());
        assert_eq!(echoed, message);
    }

    /// The old connection still echoes, and a new one is served too.
    fn still_served(mut self, reactor: &Reactor) {
        self.round_trip(reactor, b"after the fault");
        let mut fresh = Bystander {
            stream: TcpStream::connect(("127.0.0.1", self.port)).unwrap(),
            port: self.port,
        };
        fresh.round_trip(reactor, b"a new connection");
    }
}

/// What the server-side protocols of one scenario saw.
#[derive(Default)]
struct Log {
    made: Cell<usize>,
    seen: RefCell<Vec<u8>>,
    lost: RefCell<Vec<Failure>>,
}

/// Records bytes and the close; not half-closeable.
struct Recorder {
    log: Rc<Log>,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, _: TransportRef) {
        self.log.made.set(self.log.made.get() + 1);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.log.seen.borrow_mut().extend_from_slice(data);
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.log.lost.borrow_mut().push(reason);
    }
}

fn recorder_server(reactor: &Reactor) -> (u16, Rc<Log>) {
    let log = Rc::new(Log::default());
    let l = log.clone();
    let port = listen(reactor, move || Recorder { log: l.clone() });
    (port, log)
}

/// Deterministic test bytes: a xorshift stream.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---- (a) reset mid-write -------------------------------------------------

/// An endless streaming producer; records whether the transport stopped it.
struct Firehose {
    transport: RefCell<Option<TransportRef>>,
    paused: Cell<bool>,
    stopped: Cell<bool>,
    sent: Cell<usize>,
}

impl Firehose {
    fn pump(&self) {
        let Some(transport) = self.transport.borrow().clone() else {
            return;
        };
        let chunk = [0x5a; 16 * 1024];
        while !self.paused.get() && !self.stopped.get() {
            self.sent.set(self.sent.get() + chunk.len());
            transport.write(&chunk);
        }
    }
}

impl Producer for Firehose {
    fn stop_producing(&self) {
        self.stopped.set(true);
    }
}

impl PushProducer for Firehose {
    fn pause_producing(&self) {
        self.paused.set(true);
    }
    fn resume_producing(&self) {
        self.paused.set(false);
        self.pump();
    }
}

struct FirehoseProtocol {
    hose: Rc<Firehose>,
    log: Rc<Log>,
}

impl Protocol for FirehoseProtocol {
    fn connection_made(&mut self, t: TransportRef) {
        *self.hose.transport.borrow_mut() = Some(t.clone());
        t.register_producer(ProducerRef::Push(self.hose.clone()))
            .unwrap();
        self.hose.pump();
    }
    fn data_received(&mut self, _: &[u8]) {}
    fn connection_lost(&mut self, reason: Failure) {
        self.log.lost.borrow_mut().push(reason);
    }
}

/// The peer resets (SO_LINGER 0, then close) while our protocol streams to
/// it: the protocol hears ConnectionLost (ConnectionDone if the reset raced
/// with an orderly read of EOF), its producer is stopped, and the reactor
/// serves on.
#[test]
fn peer_resets_mid_write() {
    let reactor = Reactor::new().unwrap();
    let bystander = Bystander::start(&reactor);
    let hose = Rc::new(Firehose {
        transport: RefCell::new(None),
        paused: Cell::new(false),
        stopped: Cell::new(false),
        sent: Cell::new(0),
    });
    let log = Rc::new(Log::default());
    let (h, l) = (hose.clone(), log.clone());
    let port = listen(&reactor, move || FirehoseProtocol {
        hose: h.clone(),
        log: l.clone(),
    });
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Writing has started, and the peer leaves unread bytes behind.
    let got = read_while_iterating(&reactor, &mut peer, 256 * 1024);
    assert!(got.iter().all(|b| *b == 0x5a));
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    run_until(&reactor, "connection_lost", || {
        !log.lost.borrow().is_empty()
    });
    let reason = log.lost.borrow()[0].clone();
    assert!(
        reason.check::<ConnectionLost>() || reason.check::<ConnectionDone>(),
        "{reason}"
    );
    assert!(hose.stopped.get(), "the producer was not stopped");
    assert!(hose.sent.get() > 256 * 1024);
    bystander.still_served(&reactor);
    assert_eq!(log.lost.borrow().len(), 1, "connection_lost called twice");
}

// ---- (b) FIN mid-frame ---------------------------------------------------

/// The peer sends half a line and shuts down its write side: a protocol that
/// is not half-closeable gets exactly those bytes, then ConnectionDone, and
/// the peer sees our side close.
#[test]
fn fin_mid_frame() {
    let reactor = Reactor::new().unwrap();
    let bystander = Bystander::start(&reactor);
    let (port, log) = recorder_server(&reactor);
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    peer.write_all(b"half a li").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    run_until(&reactor, "connection_lost", || {
        !log.lost.borrow().is_empty()
    });
    assert_eq!(&*log.seen.borrow(), b"half a li");
    let reason = log.lost.borrow()[0].clone();
    assert!(reason.check::<ConnectionDone>(), "{reason}");
    // Our side closed too: the peer reads EOF.
    assert!(read_while_iterating(&reactor, &mut peer, usize::MAX).is_empty());
    bystander.still_served(&reactor);
}

// ---- (c) connect then silence --------------------------------------------

/// Peers that connect and send nothing block nobody; when they go, each
/// silent connection ends with ConnectionDone.
#[test]
fn connect_then_silence() {
    const SILENT: usize = 64;
    let reactor = Reactor::new().unwrap();
    let (port, log) = recorder_server(&reactor);
    // Connected from a thread while the reactor accepts: more than a
    // backlog's worth, so a reactor that stopped accepting would show.
    let connecting = std::thread::spawn(move || {
        (0..SILENT)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect::<Vec<_>>()
    });
    run_until(&reactor, "the silent connections", || {
        log.made.get() == SILENT && connecting.is_finished()
    });
    let silent = connecting.join().unwrap();
    // Served while the silent ones sit there, and promptly.
    let started = Instant::now();
    let bystander = Bystander::start(&reactor);
    bystander.still_served(&reactor);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "serving others took {:?}",
        started.elapsed()
    );
    assert!(log.lost.borrow().is_empty());
    assert!(log.seen.borrow().is_empty());
    drop(silent);
    run_until(&reactor, "the silent connections to end", || {
        log.lost.borrow().len() == SILENT
    });
    for reason in log.lost.borrow().iter() {
        assert!(reason.check::<ConnectionDone>(), "{reason}");
    }
}

// ---- (d) 1-byte dribble --------------------------------------------------

/// 10 000 bytes sent one byte per write (Nagle off) arrive complete and in
/// order.
#[test]
fn one_byte_dribble() {
    const LEN: usize = 10_000;
    let reactor = Reactor::new().unwrap();
    let bystander = Bystander::start(&reactor);
    let (port, log) = recorder_server(&reactor);
    let data = pattern(LEN, 0xd1bb1e);
    let sent = data.clone();
    let peer = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        for byte in &sent {
            stream.write_all(std::slice::from_ref(byte)).unwrap();
        }
        stream.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        rest
    });
    run_until(&reactor, "the dribble to end", || {
        !log.lost.borrow().is_empty()
    });
    assert!(peer.join().unwrap().is_empty());
    assert_eq!(log.seen.borrow().len(), LEN);
    assert!(*log.seen.borrow() == data, "bytes lost or out of order");
    assert!(log.lost.borrow()[0].check::<ConnectionDone>());
    bystander.still_served(&reactor);
}

// ---- (e) writes after the peer closed ------------------------------------

/// Keeps writing on a timer after the peer has gone; writes (and closes)
/// from `connection_lost` too.
struct LateWriter {
    reactor: Reactor,
    transport: Option<TransportRef>,
    half_closeable: bool,
    log: Rc<Log>,
    over: Rc<Cell<bool>>,
}

impl LateWriter {
    fn keep_writing(reactor: Reactor, transport: TransportRef, over: Rc<Cell<bool>>) {
        if over.get() {
            return;
        }
        transport.write(&[b'x'; 1024]);
        let r = reactor.clone();
        reactor.call_later(Duration::from_millis(2), move || {
            LateWriter::keep_writing(r, transport, over)
        });
    }
}

impl Protocol for LateWriter {
    fn connection_made(&mut self, t: TransportRef) {
        self.transport = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.log.seen.borrow_mut().extend_from_slice(data);
        if !self.half_closeable {
            // Start writing now; the peer's close races these writes.
            let t = self.transport.clone().unwrap();
            LateWriter::keep_writing(self.reactor.clone(), t, self.over.clone());
        }
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.log.lost.borrow_mut().push(reason);
        // Everything a confused protocol might do now is a quiet no-op.
        let t = self.transport.as_ref().unwrap();
        t.write(b"too late");
        t.write_sequence(&[b"far", b"too late"]);
        t.lose_connection();
        t.abort_connection();
        t.lose_write_connection();
        self.over.set(true);
    }
    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        if self.half_closeable {
            Some(self)
        } else {
            None
        }
    }
}

impl HalfCloseableProtocol for LateWriter {
    fn read_connection_lost(&mut self) {
        // The peer closed entirely, not just its write side: these writes
        // meet a reset.
        let t = self.transport.clone().unwrap();
        LateWriter::keep_writing(self.reactor.clone(), t, self.over.clone());
    }
}

fn writes_after_the_peer_closed(half_closeable: bool) -> Failure {
    let reactor = Reactor::new().unwrap();
    let bystander = Bystander::start(&reactor);
    let log = Rc::new(Log::default());
    let over = Rc::new(Cell::new(false));
    let (l, o, r) = (log.clone(), over.clone(), reactor.clone());
    let port = listen(&reactor, move || LateWriter {
        reactor: r.clone(),
        transport: None,
        half_closeable,
        log: l.clone(),
        over: o.clone(),
    });
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    peer.write_all(b"bye").unwrap();
    drop(peer);
    run_until(&reactor, "connection_lost", || {
        !log.lost.borrow().is_empty()
    });
    assert_eq!(&*log.seen.borrow(), b"bye");
    // Timers still queued find the connection closed: no panic, no second
    // connection_lost.
    let settle = Instant::now() + Duration::from_millis(20);
    run_until(&reactor, "timers to settle", || Instant::now() > settle);
    assert_eq!(log.lost.borrow().len(), 1);
    bystander.still_served(&reactor);
    let reason = log.lost.borrow()[0].clone();
    reason
}

/// A half-closeable protocol keeps writing after the peer closed its socket:
/// the writes meet a reset and the connection ends with ConnectionLost.
#[test]
fn writes_after_the_peer_closed_end_in_connection_lost() {
    let reason = writes_after_the_peer_closed(true);
    assert!(reason.check::<ConnectionLost>(), "{reason}");
}

/// A plain protocol writing when the peer closes: ConnectionDone (the EOF
/// was read first) or ConnectionLost (a write met the reset first).
#[test]
fn writes_racing_the_peer_close_end_with_a_typed_reason() {
    let reason = writes_after_the_peer_closed(false);
    assert!(
        reason.check::<ConnectionDone>() || reason.check::<ConnectionLost>(),
        "{reason}"
    );
}

// ---- (f) slow, stalled, resumed reader -----------------------------------

const STREAM_TOTAL: usize = 1024 * 1024 * 1024;
const STREAM_CHUNK: usize = 16 * 1024;
/// The stream is made of blocks of this size: the block's number (8 bytes,
/// little-endian), then the same random body. A lost, repeated or misplaced
/// piece shifts the body (or, a whole number of blocks, the numbers).
const STREAM_BLOCK: usize = 64 * 1024;

/// The body every block repeats (its first 8 bytes are the number's place).
fn stream_body() -> Vec<u8> {
    pattern(STREAM_BLOCK, 0x57ea)
}

/// Fills `out` with the stream's bytes from position `at` on, a block piece
/// at a time (copies, no per-byte work: 1 GiB goes through a debug build).
fn stream_bytes(body: &[u8], mut at: usize, mut out: &mut [u8]) {
    while !out.is_empty() {
        let (block, offset) = (at / STREAM_BLOCK, at % STREAM_BLOCK);
        let n = (STREAM_BLOCK - offset).min(out.len());
        let (piece, rest) = out.split_at_mut(n);
        piece.copy_from_slice(&body[offset..offset + n]);
        if offset < 8 {
            let number = (block as u64).to_le_bytes();
            let h = (8 - offset).min(n);
            piece[..h].copy_from_slice(&number[offset..offset + h]);
        }
        at += n;
        out = rest;
    }
}

/// Streams `STREAM_TOTAL` bytes in `STREAM_CHUNK` writes, and checks the
/// producer contract as it goes: no write while paused, and a pause only
/// ever arrives inside a write (the one that crossed the high-water mark).
struct Streamer {
    transport: RefCell<Option<TransportRef>>,
    paused: Cell<bool>,
    in_write: Cell<bool>,
    sent: Cell<usize>,
    pauses: Cell<u32>,
    resumes: Cell<u32>,
    chunk: RefCell<Vec<u8>>,
    body: Vec<u8>,
}

impl Streamer {
    fn pump(&self) {
        let transport = self.transport.borrow().clone().unwrap();
        while !self.paused.get() && self.sent.get() < STREAM_TOTAL {
            let start = self.sent.get();
            let mut chunk = self.chunk.borrow_mut();
            stream_bytes(&self.body, start, &mut chunk);
            self.sent.set(start + STREAM_CHUNK);
            self.in_write.set(true);
            transport.write(&chunk);
            self.in_write.set(false);
        }
        if self.sent.get() >= STREAM_TOTAL {
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
        assert!(self.in_write.get(), "paused outside a write: too late");
        assert!(!self.paused.get(), "paused twice");
        self.paused.set(true);
        self.pauses.set(self.pauses.get() + 1);
    }
    fn resume_producing(&self) {
        assert!(self.paused.get(), "resumed while not paused");
        self.paused.set(false);
        self.resumes.set(self.resumes.get() + 1);
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

/// What the kernel holds of the loopback stream `server` → `reader`: the
/// server socket's `tx_queue` and the reader socket's `rx_queue`, from one
/// reading of /proc/net/tcp. That table lists every socket of the network
/// namespace, TIME_WAIT ones included (tens of thousands after the load
/// tests), so the lines are found by search rather than by splitting each.
fn kernel_queues(server: u16, reader: u16) -> (usize, usize) {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    // The kernel prints the address as a native-endian u32 of network order.
    let loopback = format!("{:08X}", u32::from_ne_bytes([127, 0, 0, 1]));
    let queues = |local: u16, remote: u16| {
        // "local remote st tx_queue:rx_queue ...", established (01) only.
        let needle = format!("{loopback}:{local:04X} {loopback}:{remote:04X} 01 ");
        let at = table
            .find(&needle)
            .unwrap_or_else(|| panic!("no socket {local} -> {remote} in /proc/net/tcp"));
        let rest = &table[at + needle.len()..];
        let (tx, rx) = rest[..rest.find(' ').unwrap()].split_once(':').unwrap();
        (
            usize::from_str_radix(tx, 16).unwrap(),
            usize::from_str_radix(rx, 16).unwrap(),
        )
    };
    (queues(server, reader).0, queues(reader, server).1)
}

/// A reader of a 1 GiB stream that is slow, then stops, then reads at full
/// speed: the producer is paused and resumed, every byte arrives in order,
/// and while the reader is stalled the transport holds more than the
/// high-water mark (so it paused) but no more than that plus one chunk.
///
/// The transport's buffer is measured exactly while everything is still:
/// bytes the producer wrote, less bytes the reader took, less what the
/// kernel holds in both sockets' queues.
#[test]
fn slow_then_stalled_then_resumed_reader() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let streamer = Rc::new(Streamer {
        transport: RefCell::new(None),
        paused: Cell::new(false),
        in_write: Cell::new(false),
        sent: Cell::new(0),
        pauses: Cell::new(0),
        resumes: Cell::new(0),
        chunk: RefCell::new(vec![0; STREAM_CHUNK]),
        body: stream_body(),
    });
    let s = streamer.clone();
    let reactor = Reactor::new().unwrap();
    let bystander = Bystander::start(&reactor);
    let port = listen(&reactor, move || Serve(s.clone()));
    let received = Arc::new(AtomicUsize::new(0));
    let stalled = Arc::new(AtomicBool::new(false));
    let go_on = Arc::new(AtomicBool::new(false));
    // A small receive buffer, so the slow phase pauses and resumes often.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&address.into()).unwrap();
    let stream = TcpStream::from(socket);
    let reader_port = stream.local_addr().unwrap().port();
    let (r, st, go) = (received.clone(), stalled.clone(), go_on.clone());
    let reader = std::thread::spawn(move || {
        let mut stream = stream;
        let body = stream_body();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut expected = vec![0u8; chunk.len()];
        let mut total = 0usize;
        let mut slow = true;
        loop {
            // Slow: 4 KiB reads with a pause between, for the first 2 MiB.
            let want = if slow { 4096 } else { chunk.len() };
            let n = stream.read(&mut chunk[..want]).unwrap();
            if n == 0 {
                break;
            }
            stream_bytes(&body, total, &mut expected[..n]);
            if chunk[..n] != expected[..n] {
                let k = (0..n).find(|&k| chunk[k] != expected[k]).unwrap();
                panic!("byte {} wrong", total + k);
            }
            total += n;
            r.store(total, SeqCst);
            if slow && total < 2 * 1024 * 1024 {
                std::thread::sleep(Duration::from_micros(500));
            } else if slow {
                // Stalled: stop reading until the test has measured.
                slow = false;
                st.store(true, SeqCst);
                let deadline = Instant::now() + DEADLINE;
                while !go.load(SeqCst) {
                    assert!(Instant::now() < deadline, "never told to go on");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        total
    });
    run_until(&reactor, "the stall", || stalled.load(SeqCst));
    assert!(
        streamer.resumes.get() > 0,
        "not paused and resumed while slow"
    );
    // Let everything settle: the producer paused and nothing moving for
    // 50 turns (some 100 ms), then both kernel queues full: the same in
    // three readings in a row.
    let (mut moving, mut quiet) = ((0, 0), 0);
    let (mut last, mut steady) = ((usize::MAX, usize::MAX), 0);
    run_until(&reactor, "the stalled stream to settle", || {
        let now = (streamer.sent.get(), received.load(SeqCst));
        quiet = if now == moving && streamer.paused.get() {
            quiet + 1
        } else {
            0
        };
        moving = now;
        if quiet < 50 {
            steady = 0;
            return false;
        }
        let queues = kernel_queues(port, reader_port);
        steady = if queues == last { steady + 1 } else { 0 };
        last = queues;
        steady == 2
    });
    let ((sent, _), (tx, rx)) = (moving, last);
    let buffered = sent - received.load(SeqCst) - tx - rx;
    assert!(
        buffered > DEFAULT_HIGH_WATER && buffered <= DEFAULT_HIGH_WATER + STREAM_CHUNK,
        "transport holds {buffered} bytes (sent {sent}, kernel {tx} + {rx})"
    );
    go_on.store(true, SeqCst);
    run_until(&reactor, "the stream to finish", || reader.is_finished());
    assert_eq!(reader.join().unwrap(), STREAM_TOTAL);
    assert!(streamer.resumes.get() > 0, "never resumed");
    bystander.still_served(&reactor);
}

// ---- a flooding peer -----------------------------------------------------

/// Counts what it is sent, slowly (a checksum), so its socket always has
/// more waiting than one turn reads.
struct SlowCounter {
    count: Rc<Cell<usize>>,
    sum: u64,
}

impl Protocol for SlowCounter {
    fn data_received(&mut self, data: &[u8]) {
        // Slower than the peer writes, whatever the build profile.
        let until = Instant::now() + Duration::from_micros(50);
        while Instant::now() < until {
            for b in data {
                self.sum = self.sum.wrapping_mul(31).wrapping_add(u64::from(*b));
            }
        }
        self.count.set(self.count.get() + data.len());
    }
}

/// A peer that floods one connection faster than its protocol reads does
/// not starve the others: a bystander round trip and a timer both complete
/// promptly while the flood goes on.
#[test]
fn a_flooding_peer_does_not_starve_others() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    const FLOOD_FOR: Duration = Duration::from_secs(3);
    let reactor = Reactor::new().unwrap();
    let mut bystander = Bystander::start(&reactor);
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let port = listen(&reactor, move || SlowCounter {
        count: c.clone(),
        sum: 0,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let flood = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let chunk = [7u8; 64 * 1024];
        let until = Instant::now() + FLOOD_FOR;
        while !s.load(SeqCst) && Instant::now() < until {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    run_until(&reactor, "the flood to start", || {
        count.get() > 16 * 1024 * 1024
    });
    let started = Instant::now();
    bystander.round_trip(&reactor, b"still there?");
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    reactor.call_later(Duration::from_millis(1), move || f.set(true));
    run_until(&reactor, "a timer", || fired.get());
    let took = started.elapsed();
    stop.store(true, SeqCst);
    run_until(&reactor, "the flood to stop", || flood.is_finished());
    flood.join().unwrap();
    assert!(
        took < Duration::from_secs(1),
        "others waited {took:?} behind the flood"
    );
    bystander.still_served(&reactor);
}
