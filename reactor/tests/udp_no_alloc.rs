//! Issue 15 item 2: no heap allocation per datagram.
//!
//! A real UDP echo over 127.0.0.1 through the mio reactor: the server
//! protocol echoes each `datagram_received` with `transport.write`; the
//! client is a non-blocking std socket on the same thread. After a
//! warm-up, 1000 datagrams go one at a time (send, iterate the reactor
//! until the echo is back) while `allocation_counter` counts this thread's
//! heap allocations: the reactor's poll, the `recvfrom` into the shared
//! buffer, the protocol's call, the `sendto`, and the client's own calls.
//! None of it may allocate. One test, in a binary of its own (the counter
//! is this binary's global allocator).

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{DatagramProtocol, Reactor, ReactorUdp, UdpTransportRef};

/// Datagrams in the measured phase.
const DATAGRAMS: usize = 1000;
/// Datagrams before it: buffers and the poller's lists grow here.
const WARM_UP: usize = 100;
/// How long the whole test may take.
const DEADLINE: Duration = Duration::from_secs(5);

struct Echo(Option<UdpTransportRef>);

impl DatagramProtocol for Echo {
    fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
        self.0 = transport;
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        if let Some(transport) = &self.0 {
            transport
                .write(data, Some(addr))
                .expect("an echo on loopback");
        }
    }
}

/// Sends `datagram` and iterates `reactor` until its echo is read back.
fn round_trip(reactor: &Reactor, client: &UdpSocket, datagram: &[u8], deadline: Instant) {
    client.send(datagram).expect("the client's send");
    let mut echoed = [0u8; 64];
    loop {
        assert!(Instant::now() < deadline, "timed out waiting for an echo");
        reactor.iterate(Some(Duration::from_millis(1))).unwrap();
        match client.recv(&mut echoed) {
            Ok(n) => {
                assert_eq!(&echoed[..n], datagram);
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("the client's recv failed: {e}"),
        }
    }
}

#[test]
fn datagram_reads_and_writes_allocate_nothing() {
    let deadline = Instant::now() + DEADLINE;
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_udp(0, Rc::new(RefCell::new(Echo(None))), "127.0.0.1", 2048)
        .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(port.host()).unwrap();
    client.set_nonblocking(true).unwrap();
    let datagram = *b"one datagram of forty bytes, echoed back";
    for _ in 0..WARM_UP {
        round_trip(&reactor, &client, &datagram, deadline);
    }

    let counted = allocation_counter::measure(|| {
        for _ in 0..DATAGRAMS {
            round_trip(&reactor, &client, &datagram, deadline);
        }
    });

    // The counter must be live, or a zero would prove nothing.
    let control = allocation_counter::measure(|| drop(std::hint::black_box(vec![0u8; 8])));
    assert_eq!(control.count_total, 1, "allocation_counter is not counting");
    assert_eq!(
        counted.count_total, 0,
        "{} allocations ({} bytes) in {DATAGRAMS} echoed datagrams: {counted:?}",
        counted.count_total, counted.bytes_total
    );
}
