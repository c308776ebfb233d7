//! Descriptor exhaustion on a listening port (issue 9): when `accept` fails
//! with EMFILE the connection stays queued in the kernel's backlog, and an
//! edge-triggered poller reports no new event for it. The port neither
//! spins nor dies: it frees the reactor's reserve descriptor, accepts and
//! closes what is pending, takes the reserve back, logs once per episode,
//! and serves normally as soon as descriptors are free.
//!
//! This file holds a single test because it lowers the process-wide
//! descriptor limit; each integration test file is its own process.

use std::cell::Cell;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

mod util;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use torsion_reactor::{Factory, Protocol, Reactor, ReactorTcp, TransportRef, DEFAULT_BACKLOG};

/// Echoes, and counts connections made.
struct Echo {
    made: Rc<Cell<usize>>,
    transport: Option<TransportRef>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.made.set(self.made.get() + 1);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }
}

fn nofile() -> Rlimit {
    getrlimit(Resource::Nofile)
}

fn set_nofile(limit: Rlimit) {
    setrlimit(Resource::Nofile, limit).expect("setrlimit(RLIMIT_NOFILE)");
}

/// Iterates until the server side closes `peer` (EOF or reset), or fails
/// with `hung` after a few seconds.
fn wait_closed(reactor: &Reactor, peer: &mut TcpStream, hung: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "{hung}");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
        match peer.read(&mut [0u8; 16]) {
            Ok(0) => return,
            Ok(n) => panic!("{n} unexpected bytes"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

#[test]
fn descriptor_exhaustion_sheds_pending_connections_and_recovers() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    let made = Rc::new(Cell::new(0));
    let m = made.clone();
    let port = reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(move || Echo {
                made: m.clone(),
                transport: None,
            })),
            DEFAULT_BACKLOG,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap();

    // Lower the soft limit so exhausting it is cheap, then fill the table.
    let saved = nofile();
    set_nofile(Rlimit {
        current: Some(saved.current.map_or(256, |c| c.min(256))),
        maximum: saved.maximum,
    });
    let mut fillers = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) => break,
            Err(e) => panic!("unexpected error filling the descriptor table: {e}"),
        }
        assert!(fillers.len() < 10_000, "the descriptor limit did not hold");
    }
    // One descriptor for the client; the server side then has none.
    drop(fillers.pop());
    let mut shed = TcpStream::connect(("127.0.0.1", port)).unwrap();
    shed.set_nonblocking(true).unwrap();

    // The port cannot accept it, so it spends its reserve descriptor to
    // accept and close it: the peer learns at once instead of hanging in
    // the backlog.
    wait_closed(
        &reactor,
        &mut shed,
        "a connection that could not be accepted was left hanging",
    );
    assert_eq!(made.get(), 0, "accepted without a free descriptor?");
    // (`shed` stays open: closing it would free a descriptor.)

    // Exhausted and idle, the reactor does not spin: ten iterations of
    // 30 ms each really wait.
    let started = Instant::now();
    for _ in 0..10 {
        reactor.iterate(Some(Duration::from_millis(30))).unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the reactor spun while descriptors were exhausted ({:?} for 10 iterations)",
        started.elapsed()
    );

    // The reserve was taken back: a second episode is handled the same way.
    drop(fillers.pop());
    let mut second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    second.set_nonblocking(true).unwrap();
    wait_closed(&reactor, &mut second, "the second episode hung");
    assert_eq!(made.get(), 0);
    drop((shed, second));
    // Logged once for the whole episode (two shed connections), naming the
    // port and what was done.
    let errors = util::take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains(&format!(":{port}"))
            && errors[0].message.contains("closed 1 pending connection"),
        "{}",
        errors[0].message
    );

    // Descriptors free again: the port serves normally.
    drop(fillers);
    set_nofile(saved);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while made.get() == 0 {
        assert!(
            Instant::now() < deadline,
            "not served once descriptors were free"
        );
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(made.get(), 1);

    // And it works: an echo round trip.
    client.write_all(b"back again").unwrap();
    client.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 10 {
        assert!(Instant::now() < deadline, "no echo");
        reactor.iterate(Some(Duration::from_millis(5))).unwrap();
        match client.read(&mut chunk) {
            Ok(0) => panic!("closed before the echo"),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    assert_eq!(got, b"back again");
}
