//! Connection churn: clients that connect, echo 64 bytes once, and close.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Config, Outcome};
use crate::procfs::Window;

const MESSAGE: usize = 64;

/// One open-echo-close.
fn once(addr: SocketAddr, message: &[u8; MESSAGE]) -> io::Result<()> {
    let mut stream = super::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(message)?;
    let mut echo = [0; MESSAGE];
    stream.read_exact(&mut echo)?;
    if &echo != message {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from the message",
        ));
    }
    Ok(())
}

pub(super) fn run(
    addr: SocketAddr,
    pid: u32,
    clients: usize,
    config: &Config,
) -> io::Result<Outcome> {
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|i| {
                let (measuring, stop) = (&measuring, &stop);
                scope.spawn(move || -> io::Result<(u64, Vec<u32>)> {
                    let message = [i as u8; MESSAGE];
                    let mut latencies = Vec::with_capacity(1 << 18);
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let counted = measuring.load(Ordering::Relaxed);
                        once(addr, &message)?;
                        if counted && !stop.load(Ordering::Relaxed) {
                            latencies.push(super::nanos(started.elapsed()));
                        }
                    }
                    Ok((latencies.len() as u64, latencies))
                })
            })
            .collect();
        std::thread::sleep(config.warmup);
        let window = Window::open(pid);
        measuring.store(true, Ordering::Relaxed);
        std::thread::sleep(config.seconds);
        stop.store(true, Ordering::Relaxed);
        let closed = window.and_then(Window::close);
        let mut outcome = Outcome::default();
        for worker in workers {
            let (ops, latencies) = worker
                .join()
                .map_err(|_| io::Error::other("a churn client panicked"))??;
            outcome.ops += ops;
            outcome.latencies_ns.extend(latencies);
        }
        outcome.record(closed?);
        Ok(outcome)
    })
}
