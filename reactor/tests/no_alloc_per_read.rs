//! Issue 8 item 4: no heap allocation per read on the hot path.
//!
//! A real TCP echo connection over 127.0.0.1 through the mio reactor: the
//! server protocol echoes each `data_received` with `transport.write`; the
//! client is a non-blocking std socket on the same thread. After a warm-up,
//! 1000 messages go one at a time (send, iterate the reactor until the
//! echo is back) while `allocation_counter` counts the heap allocations
//! this thread makes: the reactor's poll, the read into the shared buffer,
//! the protocol's call, the write, and the client's own socket calls.
//! None of it may allocate.
//!
//! `allocation_counter` installs itself as this binary's global allocator
//! (the workspace forbids the `unsafe` a `GlobalAlloc` needs) and counts
//! per thread, so the harness's and other threads' allocations never enter
//! the window. This file holds one test, in a binary of its own.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{Factory, Protocol, Reactor, ReactorTcp, TransportRef, DEFAULT_BACKLOG};

/// Messages in the measured phase.
const MESSAGES: usize = 1000;
/// Messages before it: buffers, the slab and the poller's lists grow here.
const WARM_UP: usize = 100;
/// How long the whole test may take.
const DEADLINE: Duration = Duration::from_secs(5);

struct Echo(Option<TransportRef>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.0 {
            transport.write(data);
        }
    }
}

/// Sends `message` and iterates `reactor` until its echo is read back.
/// Allocates nothing itself: a fixed buffer, no formatting unless it fails.
fn round_trip(reactor: &Reactor, client: &mut TcpStream, message: &[u8], deadline: Instant) {
    client.write_all(message).expect("the client's write");
    let mut echoed = [0u8; 64];
    let mut got = 0;
    while got < message.len() {
        assert!(Instant::now() < deadline, "timed out waiting for an echo");
        reactor.iterate(Some(Duration::from_millis(1))).unwrap();
        match client.read(&mut echoed[got..]) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("the client's read failed: {e}"),
        }
    }
    assert_eq!(&echoed[..got], message);
}

#[test]
fn echo_reads_and_writes_allocate_nothing() {
    let deadline = Instant::now() + DEADLINE;
    let reactor = Reactor::new().unwrap();
    let factory = Rc::new(Factory::for_protocol(|| Echo(None)));
    let listening = reactor.listen_tcp(0, factory, DEFAULT_BACKLOG, "127.0.0.1");
    let port = listening.unwrap().host().port().unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.set_nodelay(true).unwrap();
    client.set_nonblocking(true).unwrap();
    let message = *b"one message of forty bytes, echoed back\n";
    for _ in 0..WARM_UP {
        round_trip(&reactor, &mut client, &message, deadline);
    }

    let counted = allocation_counter::measure(|| {
        for _ in 0..MESSAGES {
            round_trip(&reactor, &mut client, &message, deadline);
        }
    });

    // The counter must be live, or a zero would prove nothing.
    let control = allocation_counter::measure(|| drop(std::hint::black_box(vec![0u8; 8])));
    assert_eq!(control.count_total, 1, "allocation_counter is not counting");
    assert_eq!(
        counted.count_total, 0,
        "{} allocations ({} bytes) in {MESSAGES} echoed messages: {counted:?}",
        counted.count_total, counted.bytes_total
    );
}
