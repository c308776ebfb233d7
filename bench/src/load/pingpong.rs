//! Ping-pong: each connection sends 64 bytes and waits for their echo.
//!
//! One client thread drives every connection through mio, so 1 and 50
//! connections cost the client the same per message.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{Config, Outcome};

const MESSAGE: usize = 64;

struct Client {
    stream: TcpStream,
    message: [u8; MESSAGE],
    received: [u8; MESSAGE],
    got: usize,
    sent_at: Instant,
}

impl Peer for Client {
    /// Sends the next message (its bytes change each time, so a stale or
    /// misrouted echo is caught).
    fn send(&mut self) -> io::Result<()> {
        let next = self.message[0].wrapping_add(1);
        self.message.fill(next);
        self.got = 0;
        self.sent_at = Instant::now();
        // 64 bytes always fit an empty send buffer.
        match (&self.stream).write(&self.message)? {
            MESSAGE => Ok(()),
            n => Err(io::Error::other(format!("short write of {n} bytes"))),
        }
    }

    /// Reads what has come; `Some(latency)` once the whole echo is in.
    fn receive(&mut self) -> io::Result<Option<Duration>> {
        while self.got < MESSAGE {
            match (&self.stream).read(&mut self.received[self.got..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.received != self.message {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the echo differs from the message",
            ));
        }
        Ok(Some(self.sent_at.elapsed()))
    }
}

pub(super) fn run(
    addr: SocketAddr,
    pid: u32,
    conns: usize,
    config: &Config,
) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut clients = Vec::with_capacity(conns);
    for i in 0..conns {
        let stream = super::connect(addr)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        clients.push(Client {
            stream,
            message: [i as u8; MESSAGE],
            received: [0; MESSAGE],
            got: 0,
            sent_at: Instant::now(),
        });
    }
    drive(&mut poll, &mut events, &mut clients, pid, config)
}

/// One peer of a ping-pong: a message in flight at a time.
pub(super) trait Peer {
    /// Sends the next message.
    fn send(&mut self) -> io::Result<()>;
    /// Reads what has come; `Some(latency)` once the whole echo is in.
    fn receive(&mut self) -> io::Result<Option<Duration>>;
}

/// Starts every peer (registered with `poll` under its index) and, for the
/// measured window, sends again whenever a peer's echo is in; counts the
/// round trips and their latencies.
pub(super) fn drive<P: Peer>(
    poll: &mut Poll,
    events: &mut Events,
    peers: &mut [P],
    pid: u32,
    config: &Config,
) -> io::Result<Outcome> {
    for peer in peers.iter_mut() {
        peer.send()?;
    }
    let mut outcome = Outcome::default();
    outcome.latencies_ns.reserve(1 << 20);
    let measured = super::measured_loop(poll, events, pid, config, |event, measuring| {
        let peer = &mut peers[event.token().0];
        if let Some(latency) = peer.receive()? {
            if measuring {
                outcome.ops += 1;
                outcome.latencies_ns.push(super::nanos(latency));
            }
            peer.send()?;
        }
        Ok(())
    })?;
    outcome.record(measured);
    Ok(outcome)
}
