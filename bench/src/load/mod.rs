//! The load generator: one driver per kind of scenario, all on loopback.

mod churn;
mod idle;
mod pingpong;
mod stream;
mod stream_threads;
mod tls_stream;
mod udp_pingpong;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::server::{ServerKind, PER_CORE_REACTORS};

/// One scenario of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// 1 connection, 64-byte request, wait for the echo, repeat.
    PingPong1,
    /// The same with server and load generator pinned to one CPU.
    PingPong1Same,
    /// The same with server and load generator pinned to different CPUs.
    PingPong1Split,
    /// The same on 50 connections at once.
    PingPong50,
    /// 4 connections streaming 16 KiB chunks, every byte checked.
    Stream,
    /// Open, one 64-byte echo, close; 4 clients at a time.
    Churn,
    /// Many connections held open, then each answered once.
    Idle,
    /// pingpong50 against Torsion on one reactor and on several
    /// (`run_per_core`): what spreading over cores costs per operation.
    PingPong50PerCore,
    /// pingpong50-per-core with every server thread on CPU 0 and the load
    /// generator on CPU 1: one and several reactors on the same CPU budget.
    PingPong50PerCoreOneCpu,
    /// The stream load against one reactor and several.
    StreamPerCore,
    /// 4 connections, a writer and a reader thread each, no cap on bytes
    /// in flight but the kernel's: every byte checked.
    StreamUnbounded,
    /// 1 UDP peer: a 64-byte datagram, wait for its echo, repeat.
    UdpPingPong1,
    /// The same with 50 UDP peers at once.
    UdpPingPong50,
    /// The stream load over TLS: Torsion's TLS layer against
    /// tokio-rustls.
    TlsStream,
}

/// What a scenario's rate counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Round trips, connections or answers per second.
    Ops,
    /// Bytes echoed, shown as MiB/s.
    Bytes,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 14] = [
        Scenario::PingPong1,
        Scenario::PingPong1Same,
        Scenario::PingPong1Split,
        Scenario::PingPong50,
        Scenario::Stream,
        Scenario::Churn,
        Scenario::Idle,
        Scenario::PingPong50PerCore,
        Scenario::PingPong50PerCoreOneCpu,
        Scenario::StreamPerCore,
        Scenario::StreamUnbounded,
        Scenario::UdpPingPong1,
        Scenario::UdpPingPong50,
        Scenario::TlsStream,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::PingPong1 => "pingpong1",
            Scenario::PingPong1Same => "pingpong1-same-cpu",
            Scenario::PingPong1Split => "pingpong1-two-cpus",
            Scenario::PingPong50 => "pingpong50",
            Scenario::Stream => "stream",
            Scenario::Churn => "churn",
            Scenario::Idle => "idle",
            Scenario::PingPong50PerCore => "pingpong50-per-core",
            Scenario::PingPong50PerCoreOneCpu => "pingpong50-per-core-one-cpu",
            Scenario::StreamPerCore => "stream-per-core",
            Scenario::StreamUnbounded => "stream-unbounded",
            Scenario::UdpPingPong1 => "udp-pingpong1",
            Scenario::UdpPingPong50 => "udp-pingpong50",
            Scenario::TlsStream => "tls-stream",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// (server CPU, load generator CPU) this scenario is pinned to.
    pub(crate) fn pins(self) -> Option<(usize, usize)> {
        match self {
            Scenario::PingPong1Same => Some((0, 0)),
            Scenario::PingPong1Split | Scenario::PingPong50PerCoreOneCpu => Some((0, 1)),
            _ => None,
        }
    }

    /// Whether this scenario runs the servers' UDP echo (datagrams) rather
    /// than their TCP one.
    pub(crate) fn is_udp(self) -> bool {
        matches!(self, Scenario::UdpPingPong1 | Scenario::UdpPingPong50)
    }

    /// Whether this scenario compares one reactor with several.
    pub(crate) fn is_per_core(self) -> bool {
        matches!(
            self,
            Scenario::PingPong50PerCore
                | Scenario::PingPong50PerCoreOneCpu
                | Scenario::StreamPerCore
        )
    }

    /// The servers this scenario runs against: their own (one and several
    /// threads) for the per-core scenarios, else those chosen on the
    /// command line.
    pub(crate) fn servers(self, chosen: &[ServerKind]) -> Vec<ServerKind> {
        match self {
            s if s.is_per_core() => vec![
                ServerKind::Torsion,
                ServerKind::TorsionPerCore,
                ServerKind::Mio,
                ServerKind::MioPerCore,
            ],
            Scenario::TlsStream => vec![ServerKind::TorsionTls, ServerKind::TokioTls],
            _ => chosen.to_vec(),
        }
    }

    pub(crate) fn unit(self) -> Unit {
        match self {
            Scenario::Stream
            | Scenario::StreamPerCore
            | Scenario::StreamUnbounded
            | Scenario::TlsStream => Unit::Bytes,
            _ => Unit::Ops,
        }
    }

    /// What the scenario does and what its rate counts, for the report.
    pub(crate) fn describe(self, idle_conns: usize) -> String {
        match self {
            Scenario::PingPong1 => "1 connection; the client sends 64 bytes, waits for all 64 to \
                come back, and sends again. Rate = round trips/s; p50/p99 = round-trip latency. \
                Measures the per-message cost of the whole path (wakeup, read, dispatch, write)."
                .to_string(),
            Scenario::PingPong1Same => "pingpong1 with the server and the load generator both \
                pinned to CPU 0: every round trip is two context switches on one CPU."
                .to_string(),
            Scenario::PingPong1Split => "pingpong1 with the server pinned to CPU 0 and the load \
                generator to CPU 1: every round trip is two cross-CPU wakeups."
                .to_string(),
            Scenario::PingPong50 => "50 connections, each doing the 1-connection ping-pong at \
                once from one mio client thread. Rate = round trips/s over all connections; \
                measures per-event cost when one poll returns many ready connections."
                .to_string(),
            Scenario::Stream => "4 connections, each streaming 16 KiB chunks with up to 256 KiB \
                in flight; the client checks every echoed byte against the pattern it sent. \
                Rate = MiB/s echoed (ops/CPU-s is MiB per server CPU-second); measures bulk \
                throughput and write buffering under backpressure."
                .to_string(),
            Scenario::Churn => "4 client threads, one connection open per thread at a time, each \
                in a loop: connect, send 64 bytes, read \
                the echo, close (with SO_LINGER 0, so no TIME_WAIT). Rate = connections/s; \
                p50/p99 = the whole open-echo-close. Measures accept, setup and teardown."
                .to_string(),
            Scenario::Idle => format!(
                "{idle_conns} connections opened and held, then each sends 64 bytes once and \
                  reads the echo. Rate = answers/s in the answering phase; mem/conn = server \
                 RSS growth per connection (after all are answered, still held). Server CPU \
                 covers only the answering phase, tens of milliseconds, so at clock-tick \
                 resolution its per-CPU-s figures are rough."
            ),
            Scenario::PingPong50PerCore => format!(
                "the pingpong50 load (50 connections, one mio client thread) against Torsion's \
                 echo server on 1 reactor (`torsion`) and on {PER_CORE_REACTORS} reactors \
                 started by `run_per_core`, each on its own thread with its own SO_REUSEPORT \
                 socket on the port (`torsion-per-core`); the kernel spreads the connections \
                 over the sockets. The mio loop on 1 and on {PER_CORE_REACTORS} threads \
                 (`mio`, `mio-per-core`, built the same way) is the control: what splitting \
                 the load costs any event loop on this machine. Server CPU counts every thread \
                 of the process. The ratio that matters is operations per server CPU-second, \
                 {PER_CORE_REACTORS} threads over 1: what running on several cores costs per \
                 operation (the load generator is one thread, and the machine may have no core \
                 to spare, so the rate need not grow). Small messages make this the hard case: \
                 per-wakeup costs (epoll_wait, the context switch) are shared by fewer events \
                 when the same load is split, and on a machine with fewer cores than server \
                 threads plus the load generator, the threads also preempt each other \
                 (\"per wakeup\" under Beyond one core shows how much work each wakeup found)."
            ),
            Scenario::PingPong50PerCoreOneCpu => "pingpong50-per-core with every thread of the \
                server (1 or 2) pinned to CPU 0 and the load generator to CPU 1: one reactor and \
                several on the same CPU budget, with no thread competing with the load \
                generator. Isolates what running several reactors costs per operation (more \
                polls, more threads, the kernel spreading connections over SO_REUSEPORT \
                sockets) from what an oversubscribed machine costs; it does not show scaling."
                .to_string(),
            Scenario::TlsStream => format!(
                "the stream load over TLS 1.3 ({}, rustls with the ring provider, one \
                 self-signed certificate): 4 connections, 16 KiB chunks, up to 256 KiB in \
                 flight each, every byte checked after decryption. Torsion's TlsFactory \
                 around the echo protocol against tokio-rustls on tokio's current-thread \
                 runtime, both on the same rustls ServerConfig; the load generator \
                 (rustls client) offers only that suite.",
                crate::tls::CIPHER_SUITE
            ),
            Scenario::StreamPerCore => "the stream load (4 connections, every byte checked) \
                against one thread and two, unpinned: bulk transfer, where the cost is per \
                byte rather than per wakeup, split over two reactors (`run_per_core`) or two \
                mio threads."
                .to_string(),
            Scenario::StreamUnbounded => "4 connections, each with a writer thread sending 16 KiB \
                chunks as fast as the socket takes them and a reader thread checking every \
                echoed byte (blocking sockets): no application cap on bytes in flight, the \
                peer's receive window and the socket buffers are the only limit, so the server \
                meets a full socket on most writes. Rate = MiB/s echoed (ops/CPU-s is MiB per \
                server CPU-second); measures what a server does under real backpressure: how \
                much it reads per write it cannot finish, how much it buffers, how often it \
                wakes the peer."
                .to_string(),
            Scenario::UdpPingPong1 => "1 UDP peer (a connected mio socket) sends a 64-byte \
                datagram to the server's UDP echo port, waits for the echo (checked byte for \
                byte), and sends again. Rate = round trips/s. The servers: Torsion's \
                `DatagramProtocol` on `listen_udp`, a raw mio `UdpSocket` loop (recv_from until \
                WouldBlock, send_to back), tokio's `UdpSocket` on the current-thread runtime."
                .to_string(),
            Scenario::UdpPingPong50 => "udp-pingpong1 with 50 UDP peers at once, from one mio \
                client thread, all to the one server port: the server reads many datagrams per \
                wakeup (Torsion: at most 32 per turn, then the rest in the next iteration)."
                .to_string(),
        }
    }
}

/// How to run scenarios.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// The measured stretch of each timed scenario.
    pub(crate) seconds: Duration,
    /// Load before measuring starts.
    pub(crate) warmup: Duration,
    /// Connections held by the idle scenario.
    pub(crate) idle_conns: usize,
}

/// One scenario run against one server.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Operations (or bytes) completed inside the window.
    pub(crate) ops: u64,
    pub(crate) elapsed: Duration,
    /// Server CPU seconds inside the window.
    pub(crate) cpu: f64,
    /// Times the server's threads blocked inside the window.
    pub(crate) sleeps: u64,
    /// Per-operation latencies in nanoseconds (empty if not measured).
    pub(crate) latencies_ns: Vec<u32>,
    /// Server RSS growth per connection, in bytes (idle only).
    pub(crate) bytes_per_conn: Option<f64>,
}

impl Outcome {
    /// Adds `slice`, another measured stretch of the same scenario against
    /// the same server.
    pub(crate) fn add(&mut self, slice: Outcome) {
        self.ops += slice.ops;
        self.elapsed += slice.elapsed;
        self.cpu += slice.cpu;
        self.sleeps += slice.sleeps;
        self.latencies_ns.extend(slice.latencies_ns);
        if slice.bytes_per_conn.is_some() {
            self.bytes_per_conn = slice.bytes_per_conn;
        }
    }

    /// Takes the window's wall time, server CPU and server sleeps.
    fn record(&mut self, measured: crate::procfs::Measured) {
        self.elapsed = measured.elapsed;
        self.cpu = measured.cpu;
        self.sleeps = measured.sleeps;
    }
}

/// Runs `scenario` against the server at `port` (process `pid`).
pub(crate) fn run(scenario: Scenario, port: u16, pid: u32, config: &Config) -> io::Result<Outcome> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match scenario {
        Scenario::PingPong1 | Scenario::PingPong1Same | Scenario::PingPong1Split => {
            pingpong::run(addr, pid, 1, config)
        }
        Scenario::PingPong50 | Scenario::PingPong50PerCore | Scenario::PingPong50PerCoreOneCpu => {
            pingpong::run(addr, pid, 50, config)
        }
        Scenario::Stream | Scenario::StreamPerCore => stream::run(addr, pid, 4, config),
        Scenario::StreamUnbounded => stream_threads::run(addr, pid, 4, config),
        Scenario::TlsStream => tls_stream::run(addr, pid, 4, config),
        Scenario::Churn => churn::run(addr, pid, 4, config),
        Scenario::Idle => idle::run(addr, pid, config),
        Scenario::UdpPingPong1 => udp_pingpong::run(addr, pid, 1, config),
        Scenario::UdpPingPong50 => udp_pingpong::run(addr, pid, 50, config),
    }
}

/// Polls `poll` for the warm-up and then the measured seconds of `config`,
/// handing each event to `on_event` with whether the measured window is
/// open; returns what the window measured of the server (`pid`).
fn measured_loop(
    poll: &mut mio::Poll,
    events: &mut mio::Events,
    pid: u32,
    config: &Config,
    mut on_event: impl FnMut(&mio::event::Event, bool) -> io::Result<()>,
) -> io::Result<crate::procfs::Measured> {
    let measure_from = std::time::Instant::now() + config.warmup;
    let end = measure_from + config.seconds;
    let mut window = None;
    loop {
        let now = std::time::Instant::now();
        if window.is_none() && now >= measure_from {
            window = Some(crate::procfs::Window::open(pid)?);
        }
        if now >= end {
            break;
        }
        let wait = if window.is_none() { measure_from } else { end } - now;
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            on_event(event, window.is_some())?;
        }
    }
    window
        .expect("the loop opens the window before it can reach the end")
        .close()
}

/// A client socket: Nagle off, and a reset rather than TIME_WAIT on close
/// (churn and idle open tens of thousands; ports would run out).
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    Ok(stream)
}

/// Nanoseconds, saturating at `u32::MAX` (about 4.3 s).
fn nanos(d: Duration) -> u32 {
    u32::try_from(d.as_nanos()).unwrap_or(u32::MAX)
}
