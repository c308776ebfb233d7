//! The connection's read backpressure on real loopback sockets: what the
//! server holds in its write buffer is read from the connection's
//! `TransportCore` (bytes counted, not RSS).

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use super::{Connection, Stream};
use crate::interfaces::{Protocol, ProtocolRef, TransportRef};
use crate::mio_reactor::reactor::READ_BUFFER;
use crate::{Reactor, DEFAULT_HIGH_WATER};

/// Echoes everything, counting what it received.
struct Echo {
    transport: Option<TransportRef>,
    received: Rc<Cell<usize>>,
    /// Write buffer limits set on connection.
    limits: Option<(usize, usize)>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        if let (Some((high, low)), Some(tcp)) = (self.limits, transport.as_tcp()) {
            tcp.set_write_buffer_limits(high, low);
        }
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.received.set(self.received.get() + data.len());
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }
}

/// The byte at `at` of the client's stream.
fn byte(at: usize) -> u8 {
    (at % 251) as u8
}

/// A reactor serving one echo connection, and its client.
struct EchoPair {
    reactor: Reactor,
    connection: Rc<Connection>,
    /// Non-blocking.
    client: TcpStream,
    /// Bytes the echo protocol received.
    received: Rc<Cell<usize>>,
}

fn echo_pair(limits: Option<(usize, usize)>) -> io::Result<EchoPair> {
    let reactor = Reactor::new()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    client.set_nonblocking(true)?;
    let (server, _) = listener.accept()?;
    server.set_nonblocking(true)?;
    let received = Rc::new(Cell::new(0));
    let protocol: ProtocolRef = Rc::new(RefCell::new(Echo {
        transport: None,
        received: received.clone(),
        limits,
    }));
    let stream = Stream::Tcp(mio::net::TcpStream::from_std(server));
    let connection = Connection::start(&reactor.shared, stream, None, None, protocol, None)?;
    Ok(EchoPair {
        reactor,
        connection,
        client,
        received,
    })
}

/// The most the client sends before it reads: more than loopback's socket
/// buffers hold, so a server that reads on holds the difference.
const FLOOD: usize = 32 * 1024 * 1024;

/// The client writes as fast as the sockets take it (up to [`FLOOD`]) and
/// reads nothing, until neither the client nor the server makes progress; returns (bytes
/// the client sent, the most the server ever held in its write buffer).
fn flood_without_reading(
    reactor: &Reactor,
    connection: &Connection,
    client: &mut TcpStream,
    received: &Cell<usize>,
) -> (usize, usize) {
    let (mut sent, mut most, mut quiet) = (0, 0, 0);
    // Bounded: quiet for 50 turns of up to 20 ms, or 100 000 turns.
    for _ in 0..100_000 {
        let before = (sent, received.get());
        while sent < FLOOD {
            let piece: Vec<u8> = (sent..sent + 16 * 1024).map(byte).collect();
            match client.write(&piece) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("client write failed: {e}"),
            }
        }
        let wait = if quiet > 0 {
            Some(Duration::from_millis(20))
        } else {
            Some(Duration::ZERO)
        };
        reactor.iterate(wait).expect("iterate");
        most = most.max(connection.state.borrow().core.buffered());
        if (sent, received.get()) == before {
            quiet += 1;
            if quiet == 50 {
                break;
            }
        } else {
            quiet = 0;
        }
    }
    (sent, most)
}

/// The client reads back `sent` bytes, checking each, while the reactor
/// runs.
fn read_back(reactor: &Reactor, client: &mut TcpStream, sent: usize) {
    let mut buffer = vec![0; READ_BUFFER];
    let mut got = 0;
    for _ in 0..100_000 {
        if got == sent {
            return;
        }
        reactor
            .iterate(Some(Duration::from_millis(1)))
            .expect("iterate");
        loop {
            match client.read(&mut buffer) {
                Ok(0) => panic!("the server closed after {got} of {sent} bytes"),
                Ok(n) => {
                    for (i, b) in buffer[..n].iter().enumerate() {
                        assert_eq!(*b, byte(got + i), "echoed byte {} differs", got + i);
                    }
                    got += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("client read failed: {e}"),
            }
        }
    }
    panic!("only {got} of {sent} bytes came back");
}

/// An echo whose peer sends without reading holds at most the high-water
/// mark plus one read's answer in its write buffer, however much the peer
/// sends; once the peer reads, every byte comes back in order.
#[test]
fn echo_buffer_bounded_while_the_peer_does_not_read() {
    let EchoPair {
        reactor,
        connection,
        mut client,
        received,
    } = echo_pair(None).expect("pair");
    let (sent, most) = flood_without_reading(&reactor, &connection, &mut client, &received);
    let bound = DEFAULT_HIGH_WATER + READ_BUFFER;
    assert!(most <= bound, "held {most} bytes, bound {bound}");
    // The bound was tested: the server got more than it may hold.
    assert!(
        received.get() > bound,
        "the server received only {}",
        received.get()
    );
    assert!(sent >= received.get());
    read_back(&reactor, &mut client, sent);
    assert_eq!(received.get(), sent);
    assert_eq!(connection.state.borrow().core.buffered(), 0);
}

/// With a high-water mark of `usize::MAX` the transport reads on however
/// much waits to be sent, as Twisted's does: it holds more than the
/// default bound, and still echoes every byte.
#[test]
fn unbounded_high_water_reads_as_twisted_does() {
    let limits = Some((usize::MAX, DEFAULT_HIGH_WATER));
    let EchoPair {
        reactor,
        connection,
        mut client,
        received,
    } = echo_pair(limits).expect("pair");
    let (sent, most) = flood_without_reading(&reactor, &connection, &mut client, &received);
    assert!(
        most > DEFAULT_HIGH_WATER + READ_BUFFER,
        "held only {most} bytes"
    );
    read_back(&reactor, &mut client, sent);
    assert_eq!(received.get(), sent);
}
