//! The server processes and the outage schedule, on a thread of their own
//! so the clients' reactor never waits for a process to start.

use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ServerArgs, SoakConfig, READY_LINE};

/// Makes the command that starts one server process with these arguments:
/// the soak example runs itself with `--server`; a test runs its own binary.
/// The command's stdout must carry [`READY_LINE`](super::READY_LINE) once
/// the server listens.
#[derive(Clone)]
pub struct ServerLauncher(Arc<dyn Fn(&ServerArgs) -> Command + Send + Sync>);

impl ServerLauncher {
    /// A launcher making its commands with `make`.
    pub fn new(make: impl Fn(&ServerArgs) -> Command + Send + Sync + 'static) -> ServerLauncher {
        ServerLauncher(Arc::new(make))
    }

    /// The command for a server with these arguments.
    pub fn command(&self, args: &ServerArgs) -> Command {
        (self.0)(args)
    }
}

impl fmt::Debug for ServerLauncher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerLauncher")
    }
}

/// One outage, as the schedule saw it.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// The server process was sent `SIGKILL` (and then reaped).
    pub killed: Instant,
    /// The next server process was started.
    pub restarted: Instant,
    /// It said it listens: the server is back.
    pub up: Instant,
}

/// A running server process.
pub(super) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// `SIGKILL`, then wait for the process to be gone (its sockets closed
    /// by the kernel, its port free to bind again).
    fn kill(mut self) -> io::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// What the schedule thread hands back.
pub(super) struct ScheduleOutcome {
    pub(super) outages: Vec<Outage>,
    /// Every server process's log, first to last.
    pub(super) logs: Vec<PathBuf>,
}

/// Starts server number `index` and waits until it listens.
pub(super) fn start_server(
    launcher: &super::ServerLauncher,
    folder: &Path,
    index: usize,
    port: u16,
    max_life: Duration,
) -> io::Result<Server> {
    let args = ServerArgs {
        port,
        log: folder.join(format!("server-{index}.log")),
        max_life,
    };
    let mut command = launcher.command(&args);
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            let status = child.wait()?;
            return Err(io::Error::other(format!(
                "server process {index} ended ({status}) before listening on port {port}"
            )));
        }
        // `contains`: a test harness may print on the same line first.
        if line.contains(READY_LINE) {
            break;
        }
    }
    // Keep draining its stdout, so it never blocks on a full pipe.
    std::thread::spawn(move || io::copy(&mut reader, &mut io::sink()));
    Ok(Server {
        child,
        log: args.log,
    })
}

/// Kills and restarts the server on `config`'s schedule until the run's
/// end (or a message on `stop`), then kills the last one. An outage only
/// starts if the server can be back and settled before the end.
pub(super) fn run_schedule(
    config: &SoakConfig,
    folder: &Path,
    port: u16,
    start: Instant,
    max_life: Duration,
    first: Server,
    stop: &Receiver<()>,
) -> io::Result<ScheduleOutcome> {
    let mut rng = config.seed;
    let draw = |rng: &mut u64, (low, high): (f64, f64)| {
        low + (high - low) * (super::splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64
    };
    let end = start + config.duration;
    let settle = config.settle();
    let mut outages = Vec::new();
    let mut logs = vec![first.log.clone()];
    let mut server = first;
    let mut last_up = start;
    loop {
        let mut up = draw(&mut rng, config.up);
        if !outages.is_empty() {
            up = up.max(settle);
        }
        let down = draw(&mut rng, config.down);
        let kill_at = last_up + Duration::from_secs_f64(up);
        if kill_at + Duration::from_secs_f64(down + settle) > end {
            break;
        }
        if !sleep_until(stop, kill_at) {
            server.kill()?;
            return Ok(ScheduleOutcome { outages, logs });
        }
        let killed = Instant::now();
        server.kill()?;
        if !sleep_until(stop, killed + Duration::from_secs_f64(down)) {
            return Ok(ScheduleOutcome { outages, logs });
        }
        let restarted = Instant::now();
        server = start_server(&config.launcher, folder, logs.len(), port, max_life)?;
        logs.push(server.log.clone());
        let now = Instant::now();
        last_up = now;
        outages.push(Outage {
            killed,
            restarted,
            up: now,
        });
        if config.progress {
            eprintln!(
                "soak: outage {}: server killed at {:.1} s, back at {:.1} s (down {:.2} s)",
                outages.len(),
                (killed - start).as_secs_f64(),
                (now - start).as_secs_f64(),
                (now - killed).as_secs_f64(),
            );
        }
    }
    // The end: wait for the clients to be done (the sender is dropped),
    // then kill the last server.
    let _ = stop.recv();
    server.kill()?;
    Ok(ScheduleOutcome { outages, logs })
}

/// Sleeps until `at`; false if told to stop first.
fn sleep_until(stop: &Receiver<()>, at: Instant) -> bool {
    let wait = at.saturating_duration_since(Instant::now());
    matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
}
