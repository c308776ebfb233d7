//! Bulk data through a child process's pipes: `cat` gets MiB on its stdin
//! and gives them back on its stdout, driven by Torsion's `spawn_process`,
//! by a hand-written mio loop over `std::process` pipes, and by tokio's
//! `tokio::process` on its current-thread runtime, side by side.
//!
//! ```text
//! cargo run --release -p torsion-bench --bin process-pipe              # 5 rounds of 256 MiB
//! cargo run --release -p torsion-bench --bin process-pipe -- --mib 64 --rounds 3
//! ```
//!
//! Each run is a process of its own (this binary re-executed as
//! `process-pipe run KIND MIB`), which reads its own CPU seconds from
//! `/proc` before and after (its threads only: `cat`'s work is the same
//! for all three and is left out). Rounds interleave the three, the first
//! rotating; the table shows medians, and ratios taken round by round.

#[path = "../procfs.rs"]
#[allow(dead_code)] // the suite's other readings
mod procfs;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: process-pipe [--mib N] [--rounds N]
       process-pipe run torsion|mio|tokio MIB   (one run; prints bytes, seconds, CPU seconds)

Pipes N MiB (default 256) through `cat` and back with Torsion, a raw mio
loop and tokio, in interleaved rounds (default 5), and prints medians of
MiB/s and MiB per CPU-second of the process driving the pipes, with
Torsion's ratios to the others.";

const KINDS: [&str; 3] = ["torsion", "mio", "tokio"];
/// What each implementation writes at a time.
const CHUNK: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Mode::Run { kind, mib }) => match run(&kind, mib) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("process-pipe run {kind}: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Mode::Suite { mib, rounds }) => match suite(mib, rounds) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("process-pipe: {e}");
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            eprintln!("process-pipe: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

enum Mode {
    Suite { mib: usize, rounds: usize },
    Run { kind: String, mib: usize },
}

fn number(value: Option<&String>, what: &str) -> Result<usize, String> {
    value
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0 && n <= 1 << 20)
        .ok_or_else(|| format!("{what} needs a positive number"))
}

fn parse(args: &[String]) -> Result<Mode, String> {
    if args.first().map(String::as_str) == Some("run") {
        let kind = args.get(1).cloned().unwrap_or_default();
        if !KINDS.contains(&kind.as_str()) {
            return Err(format!("unknown kind {kind:?}"));
        }
        return Ok(Mode::Run {
            kind,
            mib: number(args.get(2), "run")?,
        });
    }
    let (mut mib, mut rounds) = (256, 5);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--mib" => mib = number(rest.next(), "--mib")?,
            "--rounds" => rounds = number(rest.next(), "--rounds")?,
            "help" | "--help" | "-h" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Mode::Suite { mib, rounds })
}

/// One run's numbers.
#[derive(Debug, Clone, Copy)]
struct Sample {
    mib_per_s: f64,
    mib_per_cpu_s: f64,
}

fn suite(mib: usize, rounds: usize) -> io::Result<()> {
    let me = std::env::current_exe()?;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); KINDS.len()];
    for round in 0..rounds {
        for k in 0..KINDS.len() {
            let index = (k + round) % KINDS.len();
            let kind = KINDS[index];
            let output = Command::new(&me)
                .args(["run", kind, &mib.to_string()])
                .stderr(Stdio::inherit())
                .output()?;
            if !output.status.success() {
                return Err(io::Error::other(format!("the {kind} run failed")));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<f64> = text
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            let [bytes, seconds, cpu] = fields[..] else {
                return Err(io::Error::other(format!("odd output of {kind}: {text:?}")));
            };
            let moved = bytes / MIB as f64;
            let sample = Sample {
                mib_per_s: moved / seconds,
                mib_per_cpu_s: moved / cpu.max(1e-9),
            };
            eprintln!(
                "round {}/{rounds} {kind:<7} {:>8.1} MiB/s {:>8.1} MiB per CPU-s",
                round + 1,
                sample.mib_per_s,
                sample.mib_per_cpu_s
            );
            samples[index].push(sample);
        }
    }
    println!("process-pipe: {mib} MiB through cat and back, {rounds} rounds (medians)");
    println!(
        "{:<8} {:>10} {:>14} {:>12} {:>12}",
        "", "MiB/s", "MiB per CPU-s", "rate ratio", "CPU ratio"
    );
    for (index, kind) in KINDS.iter().enumerate() {
        let rate = median(samples[index].iter().map(|s| s.mib_per_s).collect());
        let per_cpu = median(samples[index].iter().map(|s| s.mib_per_cpu_s).collect());
        let (rate_ratio, cpu_ratio) = if index == 0 {
            ("".to_string(), "".to_string())
        } else {
            // Torsion over this kind, round by round.
            let ratios = |f: fn(&Sample) -> f64| {
                median(
                    samples[0]
                        .iter()
                        .zip(&samples[index])
                        .map(|(t, o)| f(t) / f(o))
                        .collect(),
                )
            };
            (
                format!("{:.3}x", ratios(|s| s.mib_per_s)),
                format!("{:.3}x", ratios(|s| s.mib_per_cpu_s)),
            )
        };
        println!("{kind:<8} {rate:>10.1} {per_cpu:>14.1} {rate_ratio:>12} {cpu_ratio:>12}");
    }
    println!("(ratios: Torsion's value over the row's, median of the per-round ratios)");
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The byte at `offset` of the stream (a pattern that is not a multiple of
/// the chunk size, so a misplaced chunk shows).
fn pattern(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// The stream from `offset`, `len` bytes (at most `CHUNK`): a slice of
/// one block made once, so making data costs nothing measurable.
fn chunk_at(offset: usize, len: usize) -> &'static [u8] {
    static BLOCK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let block = BLOCK.get_or_init(|| (0..CHUNK + 251).map(pattern).collect());
    let start = offset % 251;
    &block[start..start + len]
}

/// Checks what came back: the first byte of each read is where it belongs.
struct Check {
    received: usize,
}

impl Check {
    fn take(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(&first) = data.first() {
            if first != pattern(self.received) {
                return Err(io::Error::other(format!(
                    "byte {} came back as {first}",
                    self.received
                )));
            }
        }
        self.received += data.len();
        Ok(())
    }
}

/// One run: prints bytes moved, wall seconds and this process's CPU seconds.
fn run(kind: &str, mib: usize) -> io::Result<()> {
    let total = mib * MIB;
    chunk_at(0, 0);
    let pid = std::process::id();
    let cpu_before = procfs::cpu_seconds(pid)?;
    let began = Instant::now();
    let received = match kind {
        "torsion" => with_torsion(total)?,
        "mio" => with_mio(total)?,
        _ => with_tokio(total)?,
    };
    let seconds = began.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(pid)? - cpu_before;
    if received != total {
        return Err(io::Error::other(format!(
            "{received} of {total} bytes came back"
        )));
    }
    println!("{received} {seconds:.6} {cpu:.6}");
    Ok(())
}

// ---- Torsion ----------------------------------------------------------------

mod torsion_run {
    use super::*;
    use torsion_reactor::{
        Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, Producer, ProducerRef,
        PushProducer, Reactor, ReactorCore, ReactorProcess,
    };

    /// Writes chunks while the child's stdin takes them (a push producer
    /// on the process transport), then closes stdin.
    pub(super) struct Feeder {
        pub(super) transport: RefCell<Option<ProcessTransportRef>>,
        pub(super) sent: Cell<usize>,
        pub(super) total: usize,
        pub(super) paused: Cell<bool>,
    }

    impl Producer for Feeder {
        fn stop_producing(&self) {
            self.paused.set(true);
        }
    }

    impl PushProducer for Feeder {
        fn pause_producing(&self) {
            self.paused.set(true);
        }

        fn resume_producing(&self) {
            self.paused.set(false);
            let Some(transport) = self.transport.borrow().clone() else {
                return;
            };
            while !self.paused.get() && self.sent.get() < self.total {
                let len = CHUNK.min(self.total - self.sent.get());
                transport.write(chunk_at(self.sent.get(), len));
                self.sent.set(self.sent.get() + len);
            }
            if self.sent.get() == self.total {
                let _ = transport.unregister_producer();
                transport.close_stdin();
            }
        }
    }

    pub(super) struct Collect {
        pub(super) reactor: Reactor,
        pub(super) feeder: Rc<Feeder>,
        pub(super) check: Check,
        pub(super) error: Option<io::Error>,
    }

    impl ProcessProtocol for Collect {
        fn connection_made(&mut self, transport: ProcessTransportRef) {
            *self.feeder.transport.borrow_mut() = Some(transport.clone());
            transport
                .register_producer(ProducerRef::Push(self.feeder.clone()))
                .expect("no producer yet");
            self.feeder.resume_producing();
        }

        fn out_received(&mut self, data: &[u8]) {
            if let Err(e) = self.check.take(data) {
                self.error.get_or_insert(e);
            }
        }

        fn process_ended(&mut self, _reason: Failure) {
            let _ = self.reactor.stop();
        }
    }

    pub(super) fn spawn(reactor: &Reactor, collect: Rc<RefCell<Collect>>) -> io::Result<()> {
        reactor
            .spawn_process(collect, ProcessOptions::new("cat"))
            .map(drop)
            .map_err(io::Error::other)
    }
}

fn with_torsion(total: usize) -> io::Result<usize> {
    use torsion_reactor::{Reactor, ReactorCore};
    use torsion_run::{Collect, Feeder};
    let reactor = Reactor::new()?;
    reactor.set_install_signal_handlers(false);
    let feeder = Rc::new(Feeder {
        transport: RefCell::new(None),
        sent: Cell::new(0),
        total,
        paused: Cell::new(false),
    });
    let collect = Rc::new(RefCell::new(Collect {
        reactor: reactor.clone(),
        feeder,
        check: Check { received: 0 },
        error: None,
    }));
    torsion_run::spawn(&reactor, collect.clone())?;
    reactor.run().map_err(io::Error::other)?;
    let mut collect = collect.borrow_mut();
    match collect.error.take() {
        Some(e) => Err(e),
        None => Ok(collect.check.received),
    }
}

// ---- a raw mio loop ------------------------------------------------------------

fn with_mio(total: usize) -> io::Result<usize> {
    use mio::unix::pipe::{Receiver, Sender};
    use mio::{Events, Interest, Poll, Token};
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = Some(Sender::from(child.stdin.take().expect("piped")));
    let mut stdout = Receiver::from(child.stdout.take().expect("piped"));
    let poll_result = (|| -> io::Result<usize> {
        let mut poll = Poll::new()?;
        let mut events = Events::with_capacity(16);
        if let Some(stdin) = stdin.as_mut() {
            stdin.set_nonblocking(true)?;
            poll.registry()
                .register(stdin, Token(0), Interest::WRITABLE)?;
        }
        stdout.set_nonblocking(true)?;
        poll.registry()
            .register(&mut stdout, Token(1), Interest::READABLE)?;
        let mut check = Check { received: 0 };
        let mut sent = 0;
        let mut pending: &[u8] = &[];
        let mut buffer = vec![0u8; CHUNK];
        loop {
            // Write until the pipe is full.
            while let Some(pipe) = stdin.as_mut() {
                if pending.is_empty() {
                    if sent == total {
                        poll.registry().deregister(pipe)?;
                        stdin = None;
                        break;
                    }
                    let len = CHUNK.min(total - sent);
                    pending = chunk_at(sent, len);
                    sent += len;
                }
                match pipe.write(pending) {
                    Ok(n) => pending = &pending[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            // Read until it is empty.
            loop {
                match stdout.read(&mut buffer) {
                    Ok(0) => return Ok(check.received),
                    Ok(n) => check.take(&buffer[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            poll.poll(&mut events, Some(Duration::from_secs(10)))?;
            if events.is_empty() {
                return Err(io::Error::other("no progress in 10 s"));
            }
        }
    })();
    drop(stdin);
    child.wait()?;
    poll_result
}

// ---- tokio ----------------------------------------------------------------------

fn with_tokio(total: usize) -> io::Result<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut child = tokio::process::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let writer = async move {
            let mut sent = 0;
            while sent < total {
                let len = CHUNK.min(total - sent);
                stdin.write_all(chunk_at(sent, len)).await?;
                sent += len;
            }
            drop(stdin);
            io::Result::Ok(())
        };
        let reader = async move {
            let mut check = Check { received: 0 };
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let n = stdout.read(&mut buffer).await?;
                if n == 0 {
                    return io::Result::Ok(check.received);
                }
                check.take(&buffer[..n])?;
            }
        };
        let (written, received) = tokio::join!(writer, reader);
        written?;
        child.wait().await?;
        received
    })
}
