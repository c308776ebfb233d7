//! Datagram ping-pong: each UDP peer sends a 64-byte datagram and waits for
//! its echo.
//!
//! One client thread drives every peer through mio, so 1 and 50 peers cost
//! the client the same per datagram. Each peer is a connected socket of
//! its own, so the kernel hands it only the server's answers.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::{Config, Outcome};

const MESSAGE: usize = 64;

struct Peer {
    socket: UdpSocket,
    message: [u8; MESSAGE],
    sent_at: Instant,
}

impl super::pingpong::Peer for Peer {
    /// Sends the next datagram (its bytes change each time, so a stale or
    /// misrouted echo is caught).
    fn send(&mut self) -> io::Result<()> {
        let next = self.message[0].wrapping_add(1);
        self.message.fill(next);
        self.sent_at = Instant::now();
        match self.socket.send(&self.message)? {
            MESSAGE => Ok(()),
            n => Err(io::Error::other(format!("short datagram of {n} bytes"))),
        }
    }

    /// Reads what has come; `Some(latency)` once the echo is in.
    fn receive(&mut self) -> io::Result<Option<Duration>> {
        let mut received = [0; MESSAGE + 1];
        loop {
            match self.socket.recv(&mut received) {
                Ok(n) if received[..n] == self.message => return Ok(Some(self.sent_at.elapsed())),
                Ok(n) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("an echo of {n} bytes differs from the datagram"),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

pub(super) fn run(
    addr: SocketAddr,
    pid: u32,
    peers: usize,
    config: &Config,
) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut clients = Vec::with_capacity(peers);
    for i in 0..peers {
        let mut socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        socket.connect(addr)?;
        poll.registry()
            .register(&mut socket, Token(i), Interest::READABLE)?;
        clients.push(Peer {
            socket,
            message: [i as u8; MESSAGE],
            sent_at: Instant::now(),
        });
    }
    // Edge-triggered: each datagram that arrives is an edge of its own,
    // and one echo per peer is ever in flight, so one read per event.
    super::pingpong::drive(&mut poll, &mut events, &mut clients, pid, config)
}
