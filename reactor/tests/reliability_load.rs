//! Reliability (issue 9, item 4, first half): 1 000 concurrent echo
//! connections of 1 MiB each, all open at once, each checked byte for byte,
//! against the mio reactor on 127.0.0.1.
//!
//! The peers are non-blocking std sockets driven by their own mio polls on
//! a few threads; the reactor runs on the test thread. The process needs
//! some 2 000 descriptors, so the test raises its soft limit to the hard
//! one. This file holds a single test, so the process's descriptor count
//! at the end says whether the reactor leaked one.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use torsion_reactor::error::ConnectionDone;
use torsion_reactor::{Failure, Protocol, Reactor, TransportRef};

mod load;
use load::{listen_for, open_descriptors, raise_nofile};

/// Connections open at once.
const CONNECTIONS: usize = 1000;
/// Peer threads; each drives `CONNECTIONS / THREADS` sockets.
const THREADS: usize = 8;
/// Bytes each connection sends and must get back.
const PER_CONNECTION: usize = 1024 * 1024;
/// Largest single write of a peer; sizes are drawn from 1..=MAX_CHUNK.
const MAX_CHUNK: usize = 64 * 1024;
/// The whole test fails past this.
const DEADLINE: Duration = Duration::from_secs(30);

/// A tiny deterministic generator (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chunk(&mut self) -> usize {
        1 + (self.next() as usize) % MAX_CHUNK
    }
}

/// Random bytes every connection takes its data from, at its own offset,
/// so no two connections send the same stream.
fn shared_data() -> Vec<u8> {
    let mut rng = XorShift::new(0x10ad);
    (0..PER_CONNECTION + 64 * 1024)
        .map(|_| (rng.next() >> 32) as u8)
        .collect()
}

fn offset(id: usize) -> usize {
    (id * 7919) % (64 * 1024)
}

struct Echo {
    transport: Option<TransportRef>,
    lost: Rc<RefCell<Vec<Failure>>>,
    made: Rc<Cell<usize>>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.made.set(self.made.get() + 1);
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.transport.as_ref().unwrap().write(data);
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.lost.borrow_mut().push(reason);
    }
}

/// One peer socket: what it sent, what came back.
struct Peer {
    id: usize,
    stream: TcpStream,
    rng: XorShift,
    next_chunk: usize,
    sent: usize,
    got: usize,
}

impl Peer {
    /// Writes and reads until both would block (the poll is edge-triggered).
    fn pump(&mut self, data: &[u8], buffer: &mut [u8]) -> Result<(), String> {
        let mine = &data[offset(self.id)..offset(self.id) + PER_CONNECTION];
        while self.sent < PER_CONNECTION {
            let end = (self.sent + self.next_chunk).min(PER_CONNECTION);
            match self.stream.write(&mine[self.sent..end]) {
                Ok(n) => {
                    self.sent += n;
                    if self.sent == end {
                        self.next_chunk = self.rng.chunk();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("connection {}: write: {e}", self.id)),
            }
        }
        while self.got < PER_CONNECTION {
            match self.stream.read(buffer) {
                Ok(0) => {
                    return Err(format!(
                        "connection {}: EOF after {} bytes",
                        self.id, self.got
                    ))
                }
                Ok(n) => {
                    if self.got + n > PER_CONNECTION || buffer[..n] != mine[self.got..self.got + n]
                    {
                        return Err(format!(
                            "connection {}: wrong bytes at {}",
                            self.id, self.got
                        ));
                    }
                    self.got += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("connection {}: read: {e}", self.id)),
            }
        }
        Ok(())
    }
}

/// Connects `ids` to the echo server at `port`, waits until the server
/// has accepted every connection of the test (`accepted`), then drives them
/// until each has its whole stream back.
fn peer_thread(
    port: u16,
    ids: std::ops::Range<usize>,
    data: Arc<Vec<u8>>,
    accepted: Arc<AtomicUsize>,
    deadline: Instant,
) -> Result<(), String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut peers = Vec::new();
    for id in ids {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connection {id}: connect: {e}"))?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut stream = TcpStream::from_std(stream);
        let token = Token(peers.len());
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        let mut rng = XorShift::new(id as u64);
        let next_chunk = rng.chunk();
        peers.push(Peer {
            id,
            stream,
            rng,
            next_chunk,
            sent: 0,
            got: 0,
        });
    }
    // All open at once: nobody sends (so nobody finishes and closes) before
    // the server holds all of them.
    while accepted.load(SeqCst) < CONNECTIONS {
        if Instant::now() > deadline {
            return Err(format!(
                "timed out: the server accepted {} connections",
                accepted.load(SeqCst)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut events = Events::with_capacity(64);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut unfinished = peers.len();
    while unfinished > 0 {
        if Instant::now() > deadline {
            let behind: Vec<_> = peers
                .iter()
                .filter(|p| p.got < PER_CONNECTION)
                .map(|p| (p.id, p.sent, p.got))
                .collect();
            return Err(format!("timed out; (id, sent, got) behind: {behind:?}"));
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        for event in events.iter() {
            let peer = &mut peers[event.token().0];
            if peer.got == PER_CONNECTION {
                continue;
            }
            peer.pump(&data, &mut buffer)?;
            if peer.got == PER_CONNECTION {
                unfinished -= 1;
                // Closes our side; the server hears ConnectionDone.
                poll.registry()
                    .deregister(&mut peer.stream)
                    .map_err(|e| e.to_string())?;
                peer.stream
                    .shutdown(std::net::Shutdown::Both)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// Every connection's bytes come back complete and in order, every
/// server-side connection ends with ConnectionDone, and their descriptors
/// are closed.
#[test]
fn concurrent_echo_connections_lose_nothing() {
    // Both ends of every connection, and some to spare.
    raise_nofile(2 * CONNECTIONS as u64 + 100);
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let reactor = Reactor::new().unwrap();
    let lost = Rc::new(RefCell::new(Vec::new()));
    let made = Rc::new(Cell::new(0));
    let (l, m) = (lost.clone(), made.clone());
    // Every peer may connect before the reactor accepts one.
    let port = listen_for(&reactor, CONNECTIONS, move || Echo {
        transport: None,
        lost: l.clone(),
        made: m.clone(),
    });
    let descriptors_before = open_descriptors();
    let data = Arc::new(shared_data());
    let accepted = Arc::new(AtomicUsize::new(0));
    let per_thread = CONNECTIONS / THREADS;
    let mut threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (data, accepted) = (data.clone(), accepted.clone());
            let ids = t * per_thread..(t + 1) * per_thread;
            Some(std::thread::spawn(move || {
                peer_thread(port, ids, data, accepted, deadline)
            }))
        })
        .collect();
    let mut max_open = 0;
    while threads.iter().any(Option::is_some) || lost.borrow().len() < CONNECTIONS {
        assert!(
            Instant::now() < deadline + Duration::from_secs(1),
            "timed out: {} made, {} lost",
            made.get(),
            lost.borrow().len()
        );
        // A peer thread that failed ends the test at once, with its message.
        for slot in threads.iter_mut() {
            if slot.as_ref().is_some_and(|t| t.is_finished()) {
                let thread = slot.take().expect("checked just above");
                thread.join().unwrap().unwrap();
            }
        }
        max_open = max_open.max(made.get() - lost.borrow().len());
        reactor.iterate(Some(Duration::from_millis(5))).unwrap();
        accepted.store(made.get(), SeqCst);
    }
    assert_eq!(made.get(), CONNECTIONS);
    for reason in lost.borrow().iter() {
        assert!(reason.check::<ConnectionDone>(), "{reason}");
    }
    assert_eq!(
        max_open, CONNECTIONS,
        "not every connection was open at once"
    );
    assert_eq!(
        open_descriptors(),
        descriptors_before,
        "descriptors left open"
    );
    eprintln!(
        "{CONNECTIONS} connections x {PER_CONNECTION} bytes echoed in {:?} (at most {max_open} open at once)",
        started.elapsed()
    );
}
