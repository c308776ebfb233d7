//! The echo servers, and the child process each runs in.
//!
//! Every measured server runs alone in a process of its own (this binary
//! re-executed as `torsion-bench serve KIND PORT`), so its CPU seconds and
//! memory can be read from `/proc/<pid>` without the load generator's.

mod mio_loop;
mod tls;
mod tokio_rt;
mod torsion;
mod udp;

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// Listen backlog for every server (mio's and tokio's own default), so a
/// burst of connects is not dropped by one server and not another.
const BACKLOG: u32 = 1024;

/// Which echo server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerKind {
    /// A Torsion `Protocol` on `torsion_reactor::Reactor`.
    Torsion,
    /// A hand-written mio loop: the near-the-limit baseline.
    Mio,
    /// tokio's current-thread runtime, one task per connection.
    Tokio,
    /// Torsion's server on [`PER_CORE_REACTORS`] reactors through
    /// `torsion_reactor::run_per_core`, one `SO_REUSEPORT` socket each.
    TorsionPerCore,
    /// The mio loop on [`PER_CORE_REACTORS`] threads, one `SO_REUSEPORT`
    /// socket each: the control for `TorsionPerCore`.
    MioPerCore,
    /// Torsion's echo protocol under `torsion_tls::TlsFactory`.
    TorsionTls,
    /// tokio-rustls on tokio's current-thread runtime: the TLS baseline.
    TokioTls,
}

/// How many reactors (threads) the per-core servers run.
pub(crate) const PER_CORE_REACTORS: usize = 2;

impl ServerKind {
    /// The servers every scenario runs against by default, in table order.
    pub(crate) const ALL: [ServerKind; 3] =
        [ServerKind::Torsion, ServerKind::Mio, ServerKind::Tokio];

    /// Every server `--servers` and `serve` accept.
    const ANY: [ServerKind; 7] = [
        ServerKind::Torsion,
        ServerKind::Mio,
        ServerKind::Tokio,
        ServerKind::TorsionPerCore,
        ServerKind::MioPerCore,
        ServerKind::TorsionTls,
        ServerKind::TokioTls,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            ServerKind::Torsion => "torsion",
            ServerKind::Mio => "mio",
            ServerKind::Tokio => "tokio",
            ServerKind::TorsionPerCore => "torsion-per-core",
            ServerKind::MioPerCore => "mio-per-core",
            ServerKind::TorsionTls => "torsion-tls",
            ServerKind::TokioTls => "tokio-rustls",
        }
    }

    /// The same server on one thread: what a per-core server is compared
    /// with (itself for the others).
    pub(crate) fn one_thread(self) -> ServerKind {
        match self {
            ServerKind::TorsionPerCore => ServerKind::Torsion,
            ServerKind::MioPerCore => ServerKind::Mio,
            other => other,
        }
    }

    /// Threads serving connections.
    pub(crate) fn threads(self) -> usize {
        match self {
            ServerKind::TorsionPerCore | ServerKind::MioPerCore => PER_CORE_REACTORS,
            _ => 1,
        }
    }

    /// Whether it serves TLS.
    pub(crate) fn is_tls(self) -> bool {
        matches!(self, ServerKind::TorsionTls | ServerKind::TokioTls)
    }

    /// The server a ratio "over `self`" compares `server` with: tokio's
    /// TLS server for a TLS one, else `self`.
    pub(crate) fn baseline_for(self, server: ServerKind) -> ServerKind {
        match self {
            ServerKind::Tokio if server.is_tls() => ServerKind::TokioTls,
            other => other,
        }
    }

    pub(crate) fn parse(name: &str) -> Option<ServerKind> {
        ServerKind::ANY.into_iter().find(|k| k.name() == name)
    }
}

/// Runs `kind` in this process until killed: `serve KIND PORT [CPU] [udp]`
/// (with `udp`, its UDP echo server instead of the TCP one).
pub(crate) fn serve(kind: ServerKind, port: u16, cpu: Option<usize>, udp: bool) -> io::Result<()> {
    if let Some(cpu) = cpu {
        crate::pin_to(cpu)?;
    }
    // The idle scenario holds 10 000 connections; raise the soft limit to
    // the hard one (a no-op when it already is).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    if udp {
        return udp::serve(kind, port);
    }
    match kind {
        ServerKind::Torsion => torsion::serve(port),
        ServerKind::Mio => mio_loop::serve(port),
        ServerKind::Tokio => tokio_rt::serve(port),
        ServerKind::TorsionPerCore => torsion::serve_per_core(port, PER_CORE_REACTORS),
        ServerKind::MioPerCore => mio_loop::serve_per_core(port, PER_CORE_REACTORS),
        ServerKind::TorsionTls => tls::serve_torsion(port),
        ServerKind::TokioTls => tls::serve_tokio(port),
    }
}

/// Tells the parent the server is listening (one line on stdout).
fn announce(port: u16) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening {port}")?;
    out.flush()
}

/// A server running in a child process; killed when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    /// Starts `kind` on a free loopback port and waits until it listens
    /// (with `udp`, its UDP echo server).
    pub(crate) fn spawn(
        kind: ServerKind,
        cpu: Option<usize>,
        udp: bool,
    ) -> io::Result<ServerProcess> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["serve", kind.name(), "0"]);
        if let Some(cpu) = cpu {
            command.arg(cpu.to_string());
        }
        if udp {
            command.arg("udp");
        }
        if kind.is_tls() {
            crate::tls::pass_to(&mut command)?;
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout was piped just above");
        let read = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse::<u16>().ok());
        match (read, port) {
            (Ok(_), Some(port)) => Ok(ServerProcess { child, port }),
            (read, _) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "{} server did not start (said {line:?}, {read:?})",
                    kind.name()
                )))
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
