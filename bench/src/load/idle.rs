//! Idle connections: open many, hold them, then answer each once.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{Config, Outcome};
use crate::procfs::{self, Window};

const MESSAGE: usize = 64;

pub(super) fn run(addr: SocketAddr, pid: u32, config: &Config) -> io::Result<Outcome> {
    // Both ends of every connection are ours or the server's descriptors.
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    let needed = config.idle_conns as u64 + 64;
    if limit < needed {
        return Err(io::Error::other(format!(
            "RLIMIT_NOFILE is {limit}, {needed} needed for {} connections",
            config.idle_conns
        )));
    }
    let before = procfs::memory(pid)?;
    let mut streams: Vec<TcpStream> = Vec::with_capacity(config.idle_conns);
    for _ in 0..config.idle_conns {
        let stream = super::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        streams.push(stream);
    }
    let window = Window::open(pid)?;
    for (i, stream) in streams.iter_mut().enumerate() {
        stream.write_all(&[i as u8; MESSAGE])?;
    }
    let mut answered = 0;
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut echo = [0; MESSAGE];
        stream.read_exact(&mut echo)?;
        if echo != [i as u8; MESSAGE] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("connection {i}: the echo differs from the message"),
            ));
        }
        answered += 1;
    }
    let measured = window.close()?;
    let after = procfs::memory(pid)?;
    let growth = after.rss_kib.saturating_sub(before.rss_kib) * 1024;
    drop(streams);
    let mut outcome = Outcome {
        ops: answered,
        bytes_per_conn: Some(growth as f64 / config.idle_conns as f64),
        ..Outcome::default()
    };
    outcome.record(measured);
    Ok(outcome)
}
