//! Streaming with no cap on bytes in flight: per connection, one blocking
//! thread writes 16 KiB chunks of a known pattern as fast as the socket
//! takes them and another reads and checks every byte echoed. The only
//! limit on bytes in flight is the kernel's: the peer's receive window and
//! the socket buffers, so the server meets backpressure on every write.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Config, Outcome};
use crate::procfs::Window;

const CHUNK: usize = 16 * 1024;
const READ_BUFFER: usize = 64 * 1024;
/// The pattern's period: prime, so it never lines up with chunk sizes.
const PERIOD: usize = 251;
/// How long a blocked read or write may wait before the run fails.
const STALL: Duration = Duration::from_secs(10);

/// Byte `k` of a stream shifted by `shift` is `pattern[(k + shift) % PERIOD]`.
fn pattern() -> Vec<u8> {
    (0..PERIOD + READ_BUFFER.max(CHUNK))
        .map(|i| (i % PERIOD) as u8)
        .collect()
}

/// Writes chunks until `stop`, then shuts the write side so the reader
/// sees the end once the server has echoed everything.
fn writer(stream: &TcpStream, shift: usize, pattern: &[u8], stop: &AtomicBool) -> io::Result<u64> {
    let mut sent = 0u64;
    let mut stream = stream;
    while !stop.load(Ordering::Relaxed) {
        let at = ((sent + shift as u64) % PERIOD as u64) as usize;
        stream.write_all(&pattern[at..][..CHUNK])?;
        sent += CHUNK as u64;
    }
    stream.shutdown(Shutdown::Write)?;
    Ok(sent)
}

/// Reads and checks until the end of the stream (or `stop` and a quiet
/// socket); adds the bytes checked while `measuring` to `counted`.
fn reader(
    stream: &TcpStream,
    shift: usize,
    pattern: &[u8],
    measuring: &AtomicBool,
    stop: &AtomicBool,
    counted: &AtomicU64,
) -> io::Result<u64> {
    let mut buffer = vec![0; READ_BUFFER];
    let mut received = 0u64;
    let mut stream = stream;
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => return Ok(received),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A server that drops what it buffered when the peer half-closes
            // (the mio loop does) may leave the reader waiting: after stop,
            // a quiet socket is the end.
            Err(e)
                if stop.load(Ordering::Relaxed)
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::ConnectionReset
                    ) =>
            {
                return Ok(received)
            }
            Err(e) => return Err(e),
        };
        let at = ((received + shift as u64) % PERIOD as u64) as usize;
        let expected = &pattern[at..][..n];
        if buffer[..n] != *expected {
            let i = (0..n).find(|&i| buffer[i] != expected[i]).unwrap_or(0);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("echoed byte {} differs", received + i as u64),
            ));
        }
        received += n as u64;
        if measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
            counted.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

pub(super) fn run(
    addr: SocketAddr,
    pid: u32,
    conns: usize,
    config: &Config,
) -> io::Result<Outcome> {
    let pattern = pattern();
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let counted = AtomicU64::new(0);
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let stream = super::connect(addr)?;
        stream.set_read_timeout(Some(STALL))?;
        stream.set_write_timeout(Some(STALL))?;
        streams.push(stream);
    }
    std::thread::scope(|scope| {
        let mut threads = Vec::with_capacity(2 * conns);
        for (i, stream) in streams.iter().enumerate() {
            let shift = i * 37;
            let (pattern, measuring, stop, counted) = (&pattern, &measuring, &stop, &counted);
            threads.push(scope.spawn(move || writer(stream, shift, pattern, stop)));
            threads.push(
                scope.spawn(move || reader(stream, shift, pattern, measuring, stop, counted)),
            );
        }
        std::thread::sleep(config.warmup);
        let window = Window::open(pid);
        measuring.store(true, Ordering::Relaxed);
        std::thread::sleep(config.seconds);
        stop.store(true, Ordering::Relaxed);
        let measured = window.and_then(Window::close);
        // Unblock a reader the server left waiting (see `reader`).
        for stream in &streams {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        }
        let mut failure = None;
        for thread in threads {
            match thread.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => failure = failure.or(Some(io::Error::other("a stream thread panicked"))),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let mut outcome = Outcome {
            ops: counted.load(Ordering::Relaxed),
            ..Outcome::default()
        };
        outcome.record(measured?);
        Ok(outcome)
    })
}
