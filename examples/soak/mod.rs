//! The soak test behind `cargo run --release --example soak`: a line server
//! in its own process, killed with `SIGKILL` and restarted on the same port
//! over and over, and many [`ClientService`](torsion::application::ClientService)
//! clients on one reactor sending numbered messages that the server records
//! before acknowledging them.
//!
//! [`run_soak`] runs it and returns a [`SoakReport`]: messages sent,
//! acknowledged, re-sent, duplicated and lost (an acknowledged message the
//! server never recorded), and every reconnection delay checked against
//! Twisted's `backoffPolicy()`, which `ClientService` uses by default.
//! [`serve`] is the server process's whole program.
//!
//! # The wire
//!
//! A client sends `"<client> <seq> <payload>\n"`; the payload is a function
//! of client and sequence number ([`payload`]), so the server checks every
//! byte. The server appends `"<client> <seq>\n"` to its log file with one
//! `write` (no user-space buffer: the kernel's page cache survives the
//! process being killed), and only then answers `"ack <client> <seq>\n"`.
//! A client counts a message acknowledged when the ack arrives, and re-sends
//! every unacknowledged message when it connects again.

mod client;
mod report;
mod schedule;
mod server;
mod sim;

pub use report::{OutageReport, RetryStats, SoakReport};
pub use schedule::{Outage, ServerLauncher};
pub use server::serve;
pub use sim::{broken_retry_policy, run_simulated};

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use torsion::application::{run, set_service_parent, MultiService, Service, DEFAULT_STOP_DEADLINE};
use torsion::{Reactor, ReactorCore, ReactorTimeExt};

/// The line a server process prints on stdout once it listens.
pub const READY_LINE: &str = "soak-server listening";

/// Twisted's `backoffPolicy()` defaults, which `ClientService` uses unless
/// given another policy: the wait before retry `n` is
/// `min(initial * factor^n, max)` plus a jitter in `[0, jitter)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyPromise {
    /// `initialDelay`, in seconds.
    pub initial: f64,
    /// `factor`.
    pub factor: f64,
    /// `maxDelay`, in seconds.
    pub max: f64,
    /// The jitter's exclusive upper end, in seconds.
    pub jitter: f64,
}

impl PolicyPromise {
    /// Twisted's defaults: 1 s, × 1.5, at most 60 s, plus up to 1 s.
    pub const TWISTED: PolicyPromise = PolicyPromise {
        initial: 1.0,
        factor: 1.5,
        max: 60.0,
        jitter: 1.0,
    };

    /// The wait before retry `n` without jitter: the shortest the policy allows.
    pub fn base(&self, n: u32) -> f64 {
        (self.initial * self.factor.powi(n.min(100) as i32)).min(self.max)
    }

    /// The longest wait before retry `n` the policy allows.
    pub fn longest(&self, n: u32) -> f64 {
        self.base(n) + self.jitter
    }

    /// The most failures in a row a client can reach while the server is
    /// down for `down` seconds (every retry at its earliest, each refused at
    /// once): the retry pending when the server comes back is at most this.
    pub fn worst_retry_after(&self, down: f64) -> u32 {
        let (mut n, mut elapsed) = (1, 0.0);
        while elapsed + self.base(n) < down {
            elapsed += self.base(n);
            n += 1;
        }
        n
    }
}

/// What [`run_soak`] does.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long the clients send (then they drain, stop, and it ends).
    pub duration: Duration,
    /// How many `ClientService` clients.
    pub clients: u32,
    /// The server stays up for a time drawn from this range (seconds)
    /// between outages; after an outage, never less than [`settle`](SoakConfig::settle).
    pub up: (f64, f64),
    /// Each outage lasts a time drawn from this range (seconds).
    pub down: (f64, f64),
    /// Seeds the outage schedule (the jitter is `ClientService`'s own).
    pub seed: u64,
    /// New messages per second per connected client, sent in bursts about
    /// 20 times a second.
    pub rate: u32,
    /// Most unacknowledged messages per client.
    pub window: usize,
    /// The port; 0 picks a free one below the ephemeral range.
    pub port: u16,
    /// How late (beyond the policy's longest wait) a retry or reconnection
    /// may be and still count as on time: timers and connects on a busy
    /// machine are not instant.
    pub slack: Duration,
    /// Keep the server logs (their folder is printed).
    pub keep_logs: bool,
    /// Print a line per outage on stderr.
    pub progress: bool,
    /// How to start a server process (see [`ServerLauncher`]).
    pub launcher: ServerLauncher,
}

impl SoakConfig {
    /// 200 clients for 60 s, down 1–3 s every 4–8 s, 50 messages per second
    /// each, 250 ms of slack; `launcher` starts the server processes.
    pub fn new(launcher: ServerLauncher) -> SoakConfig {
        SoakConfig {
            duration: Duration::from_secs(60),
            clients: 200,
            up: (4.0, 8.0),
            down: (1.0, 3.0),
            seed: 1,
            rate: 50,
            window: 64,
            port: 0,
            slack: Duration::from_millis(250),
            keep_logs: false,
            progress: true,
            launcher,
        }
    }

    /// The least up time after an outage: long enough for every client to
    /// be due back, whatever retry it was waiting for (the down time plus
    /// half a second of restart, at the policy's earliest retries), plus slack.
    pub fn settle(&self) -> f64 {
        let policy = PolicyPromise::TWISTED;
        let worst = policy.worst_retry_after(self.down.1 + 0.5);
        policy.longest(worst) + self.slack.as_secs_f64()
    }
}

/// What a server process is told: where to listen, where to record, and
/// when to give up by itself should its parent vanish.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerArgs {
    /// The port, on 127.0.0.1.
    pub port: u16,
    /// The file it appends `"<client> <seq>"` lines to.
    pub log: PathBuf,
    /// It exits by itself after this long.
    pub max_life: Duration,
}

impl ServerArgs {
    /// As command-line arguments: `--port P --log FILE --max-life SECONDS`.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--port".into(),
            self.port.to_string(),
            "--log".into(),
            self.log.display().to_string(),
            "--max-life".into(),
            self.max_life.as_secs().to_string(),
        ]
    }

    /// Parses what [`to_args`](ServerArgs::to_args) made.
    ///
    /// # Errors
    ///
    /// A message naming the missing or malformed argument.
    pub fn parse(args: &[String]) -> Result<ServerArgs, String> {
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .ok_or_else(|| format!("soak server: {flag} is missing"))
        };
        let number = |flag: &str| {
            value(flag)?
                .parse::<u64>()
                .map_err(|e| format!("soak server: {flag}: {e}"))
        };
        Ok(ServerArgs {
            port: u16::try_from(number("--port")?).map_err(|e| format!("--port: {e}"))?,
            log: PathBuf::from(value("--log")?),
            max_life: Duration::from_secs(number("--max-life")?),
        })
    }
}

/// The payload of message `seq` of `client`: 0 to 63 lowercase letters, a
/// function of both, so the server can check every byte it gets.
pub fn payload(client: u32, seq: u64) -> String {
    let mut x = (u64::from(client) << 40) ^ seq;
    let len = splitmix(&mut x) % 64;
    (0..len)
        .map(|_| char::from(b'a' + (splitmix(&mut x) % 26) as u8))
        .collect()
}

/// SplitMix64: the payloads' letters, the schedule's draws.
pub(crate) fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Parses `"<a> <b> <rest>"` into the two numbers and the rest.
fn two_numbers(line: &[u8]) -> Option<(u32, u64, &[u8])> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let a = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let b = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    Some((a, b, parts.next().unwrap_or_default()))
}

/// A port to listen on that no client socket can be given: below the
/// kernel's ephemeral range. (A client connecting to 127.0.0.1:P while
/// nothing listens there can, if the kernel picks P as its own port, connect
/// to itself; with thousands of retries that happens.)
///
/// # Errors
///
/// If no free port turned up in 200 tries.
pub fn pick_port(seed: u64) -> std::io::Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768)
        .max(11_000);
    let mut state = seed ^ u64::from(std::process::id());
    for _ in 0..200 {
        let port = 10_000 + (splitmix(&mut state) % u64::from(low - 10_000)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        "no free port below the ephemeral range",
    ))
}

/// Runs the soak: starts the server, the clients and the outage schedule,
/// sends for `config.duration`, lets the last acknowledgements arrive, stops
/// the clients (`stop_service`), kills the server, and checks the server
/// logs and every client's connection history.
///
/// # Errors
///
/// If the reactor, the log folder or a server process cannot be set up.
pub fn run_soak(config: &SoakConfig) -> Result<SoakReport, Box<dyn std::error::Error>> {
    let mut config = config.clone();
    config.up.0 = config.up.0.max(0.0);
    config.up.1 = config.up.1.max(config.up.0);
    config.down.1 = config.down.1.max(config.down.0);
    let port = match config.port {
        0 => pick_port(config.seed)?,
        port => port,
    };
    let logs = std::env::temp_dir().join(format!(
        "torsion-soak-{}-{}",
        std::process::id(),
        config.seed
    ));
    std::fs::create_dir_all(&logs)?;

    let start = Instant::now();
    let max_life = config.duration + Duration::from_secs(120);
    let first = schedule::start_server(&config.launcher, &logs, 0, port, max_life)?;
    let (stop_tx, stop_rx) = mpsc::channel();
    let scheduler = {
        let config = config.clone();
        let logs = logs.clone();
        std::thread::Builder::new()
            .name("soak-schedule".into())
            .spawn(move || {
                schedule::run_schedule(&config, &logs, port, start, max_life, first, &stop_rx)
            })?
    };

    let reactor = Reactor::new()?;
    let clients = client::Clients::new(&reactor, &config, port);
    let root = MultiService::new();
    for service in clients.services() {
        set_service_parent(&service, &root)?;
    }
    let load: Rc<dyn Service> = Rc::new(clients.load_service(Rc::new(reactor.clone())));
    set_service_parent(&load, &root)?;

    let stopped_at = Rc::new(std::cell::Cell::new(None));
    {
        let (reactor2, clients, stopped_at) =
            (reactor.clone(), clients.clone(), stopped_at.clone());
        reactor.call_later(config.duration, move || {
            clients.stop_sending();
            let drain_until = Instant::now() + Duration::from_secs(10);
            drain(reactor2, clients, drain_until, stopped_at);
        });
    }
    let outcome = run(&root, &reactor, DEFAULT_STOP_DEADLINE);
    drop(stop_tx);
    let schedule = scheduler
        .join()
        .map_err(|_| "the schedule thread panicked")??;
    let end = Instant::now();
    outcome?;

    let records = report::read_logs(&schedule.logs)?;
    let report = report::analyse(
        &config,
        start,
        stopped_at.get().unwrap_or(end),
        &clients.histories(),
        &schedule,
        &records,
        port,
        &logs,
    );
    if !config.keep_logs {
        let _ = std::fs::remove_dir_all(&logs);
    }
    Ok(report)
}

/// Waits until every message is acknowledged (or `until`), then stops the
/// reactor, which stops every service.
fn drain(
    reactor: Reactor,
    clients: client::Clients,
    until: Instant,
    stopped_at: Rc<std::cell::Cell<Option<Instant>>>,
) {
    if clients.unacknowledged() == 0 || Instant::now() >= until {
        stopped_at.set(Some(Instant::now()));
        let _ = reactor.stop();
        return;
    }
    let again = reactor.clone();
    reactor.call_later(Duration::from_millis(50), move || {
        drain(again, clients, until, stopped_at);
    });
}

/// How many times each `(client, seq)` was recorded, over all server logs,
/// and the lines that were not records.
#[derive(Debug, Default)]
pub struct Records {
    /// Count per message.
    pub seen: HashMap<(u32, u64), u32>,
    /// Lines the servers wrote about malformed messages.
    pub corrupt: Vec<String>,
}

/// What one client's handler reports, for the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `ClientService` called the endpoint's `connect`.
    Attempt,
    /// That attempt failed.
    AttemptFailed,
    /// A connection was made.
    Connected,
    /// A connection was lost.
    Lost,
}
