//! The stream load over TLS: each connection is a rustls client on a mio
//! socket, sending 16 KiB chunks of the known pattern (up to 256 KiB in
//! flight) and checking every decrypted byte that comes back.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use torsion_tls::rustls::pki_types::ServerName;
use torsion_tls::rustls::ClientConnection;

use super::stream::{pattern, CHUNK, IN_FLIGHT, PERIOD, READ_BUFFER};
use super::{Config, Outcome};

struct TlsFlow {
    stream: TcpStream,
    tls: ClientConnection,
    /// Shifts this connection's pattern, so crossed streams are caught.
    shift: u64,
    sent: u64,
    received: u64,
    /// Whether the negotiated suite was checked.
    suite_checked: bool,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl TlsFlow {
    fn offset(&self, at: u64) -> usize {
        ((at + self.shift) % PERIOD) as usize
    }

    /// Reads and decrypts until the socket is drained, checking every
    /// byte; returns the bytes checked.
    fn read(&mut self, pattern: &[u8], buffer: &mut [u8]) -> io::Result<u64> {
        let mut total = 0;
        loop {
            match self.tls.read_tls(&mut &self.stream) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if would_block(&e) => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.tls.process_new_packets().map_err(io::Error::other)?;
            if !self.suite_checked && !self.tls.is_handshaking() {
                let suite = self.tls.negotiated_cipher_suite().map(|s| s.suite());
                if format!("{suite:?}") != format!("Some({})", crate::tls::CIPHER_SUITE) {
                    return Err(io::Error::other(format!("negotiated {suite:?}")));
                }
                self.suite_checked = true;
            }
            loop {
                let n = match self.tls.reader().read(buffer) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => n,
                    Err(e) if would_block(&e) => break,
                    Err(e) => return Err(e),
                };
                if n as u64 > self.sent - self.received {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "more bytes echoed than were sent",
                    ));
                }
                let expected = &pattern[self.offset(self.received)..][..n];
                if buffer[..n] != *expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("echoed bytes from {} differ", self.received),
                    ));
                }
                self.received += n as u64;
                total += n as u64;
            }
        }
    }

    /// Encrypts chunks up to the in-flight cap (once the handshake is
    /// done) and writes records until the socket is full.
    fn write(&mut self, pattern: &[u8]) -> io::Result<()> {
        if !self.tls.is_handshaking() {
            while self.sent - self.received < IN_FLIGHT {
                let data = &pattern[self.offset(self.sent)..][..CHUNK];
                self.tls.writer().write_all(data)?;
                self.sent += CHUNK as u64;
            }
        }
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut &self.stream) {
                Ok(_) => {}
                Err(e) if would_block(&e) => return Ok(()),
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
    let client_config = crate::tls::client_config()?;
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
        let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
        let mut tls =
            ClientConnection::new(client_config.clone(), name).map_err(io::Error::other)?;
        tls.set_buffer_limit(None);
        flows.push(TlsFlow {
            stream,
            tls,
            shift: i as u64 * 37,
            sent: 0,
            received: 0,
            suite_checked: false,
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
