//! Streaming: each connection sends 16 KiB chunks of a known pattern as
//! fast as the server echoes them, and checks every byte that comes back.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{Config, Outcome};

pub(super) const CHUNK: usize = 16 * 1024;
/// Bytes sent but not yet echoed, per connection.
pub(super) const IN_FLIGHT: u64 = 256 * 1024;
pub(super) const READ_BUFFER: usize = 64 * 1024;
/// The pattern's period: prime, so it never lines up with chunk sizes.
pub(super) const PERIOD: u64 = 251;

struct Flow {
    stream: TcpStream,
    /// Shifts this connection's pattern, so crossed streams are caught.
    shift: u64,
    sent: u64,
    received: u64,
}

/// Byte `k` of a stream shifted by `shift` is `pattern[(k + shift) % PERIOD]`.
pub(super) fn pattern() -> Vec<u8> {
    (0..PERIOD as usize + READ_BUFFER.max(CHUNK))
        .map(|i| (i as u64 % PERIOD) as u8)
        .collect()
}

impl Flow {
    fn offset(&self, at: u64) -> usize {
        ((at + self.shift) % PERIOD) as usize
    }

    /// Reads until `WouldBlock`, checking; returns the bytes checked.
    fn read(&mut self, pattern: &[u8], buffer: &mut [u8]) -> io::Result<u64> {
        let mut total = 0;
        loop {
            let n = match (&self.stream).read(buffer) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n as u64 > self.sent - self.received {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "more bytes echoed than were sent",
                ));
            }
            let expected = &pattern[self.offset(self.received)..][..n];
            // One memcmp over the read: the check must cost the generator
            // less than the echo costs the server, or it caps the rate.
            if buffer[..n] != *expected {
                let i = (0..n).find(|&i| buffer[i] != expected[i]).unwrap_or(0);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("echoed byte {} differs", self.received + i as u64),
                ));
            }
            self.received += n as u64;
            total += n as u64;
        }
    }

    /// Writes chunks until the socket or the in-flight cap says stop.
    fn write(&mut self, pattern: &[u8]) -> io::Result<()> {
        while self.sent - self.received < IN_FLIGHT {
            // Finish the current 16 KiB chunk first: writes stay chunk-sized.
            let len = CHUNK - (self.sent % CHUNK as u64) as usize;
            let data = &pattern[self.offset(self.sent)..][..len];
            match (&self.stream).write(data) {
                Ok(n) => self.sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

pub(super) fn run(
    addr: SocketAddr,
    pid: u32,
    conns: usize,
    config: &Config,
) -> io::Result<Outcome> {
    let pattern = pattern();
    let mut buffer = vec![0; READ_BUFFER];
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(64);
    let mut flows = Vec::with_capacity(conns);
    for i in 0..conns {
        let stream = super::connect(addr)?;
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        flows.push(Flow {
            stream,
            shift: i as u64 * 37,
            sent: 0,
            received: 0,
        });
    }
    let mut outcome = Outcome::default();
    let measured =
        super::measured_loop(&mut poll, &mut events, pid, config, |event, measuring| {
            let flow = &mut flows[event.token().0];
            let checked = flow.read(&pattern, &mut buffer)?;
            if measuring {
                outcome.ops += checked;
            }
            flow.write(&pattern)
        })?;
    outcome.record(measured);
    Ok(outcome)
}
