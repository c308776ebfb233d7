//! The soak in a simulation (`torsion_testing::sim`): the same clients,
//! server protocol and checks as [`run_soak`](super::run_soak), with the
//! server process's `SIGKILL` replaced by a crash of the simulated host,
//! on one fake clock from one seed: ten simulated minutes in well under a
//! second of real time.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion::application::{
    backoff_policy, set_service_parent, MultiService, RetryPolicy, Service,
};
use torsion::endpoints::client_from_string;
use torsion::{ReactorTcp, ReactorTime, StreamClientEndpoint};
use torsion_testing::sim::{Link, SimRng, Simulation};

use super::client::Clients;
use super::report::{analyse, parse_log};
use super::schedule::{Outage, ScheduleOutcome};
use super::server::{recorder_factory, RecordLog};
use super::{PolicyPromise, Records, SoakConfig, SoakReport};

/// The simulated server's port.
const PORT: u16 = 7000;

/// The longest round trip on the simulated links (1 ms latency plus up to
/// 2 ms jitter, each way).
const UP_AFTER: Duration = Duration::from_millis(6);

/// The server's log in memory: like the page cache, it survives the crash
/// of the process that wrote it.
#[derive(Default)]
struct MemoryLog(RefCell<Vec<u8>>);

impl RecordLog for MemoryLog {
    fn append(&self, record: &[u8]) -> std::io::Result<()> {
        self.0.borrow_mut().extend_from_slice(record);
        Ok(())
    }
}

/// Twisted's backoff policy (what `ClientService` uses by default) with its
/// jitter drawn from the simulation's RNG.
fn twisted_policy(rng: &SimRng) -> RetryPolicy {
    let promise = PolicyPromise::TWISTED;
    Rc::new(backoff_policy(
        Duration::from_secs_f64(promise.initial),
        Duration::from_secs_f64(promise.max),
        promise.factor,
        rng.jitter(Duration::from_secs_f64(promise.jitter)),
    ))
}

/// A deliberately broken reconnect policy, for showing the simulated soak
/// catches one: an off-by-one in the exponent, so retry `n` waits what
/// retry `n - 1` should (too early by a factor of 1.5).
pub fn broken_retry_policy() -> RetryPolicy {
    let promise = PolicyPromise::TWISTED;
    Rc::new(move |n: u32| Duration::from_secs_f64(promise.base(n.saturating_sub(1))))
}

/// Runs the soak in a simulation seeded with `config.seed`: `config.clients`
/// `ClientService` clients on host `clients` connect with
/// `tcp:host=server:port=7000` to host `server`, which crashes and restarts
/// on the schedule `config.up`/`config.down` draws (from the seed). Checks
/// as [`run_soak`](super::run_soak) does. `policy` replaces the clients'
/// retry policy (by default Twisted's, its jitter from the seed); the
/// checks always hold the clients to Twisted's promise.
///
/// # Errors
///
/// If the simulation cannot be set up (an endpoint string or a listen
/// failing: a bug).
pub fn run_simulated(
    config: &SoakConfig,
    policy: Option<RetryPolicy>,
) -> Result<SoakReport, Box<dyn std::error::Error>> {
    let sim = Simulation::new(config.seed);
    sim.set_default_link(Link::new(Duration::from_millis(1)).jitter(Duration::from_millis(2)));
    let server = sim.add_host("server")?;
    let host = sim.add_host("clients")?;
    let log = Rc::new(MemoryLog::default());
    let serve = {
        let log = log.clone();
        move |server: &torsion_testing::sim::SimHost| {
            server.listen_tcp(PORT, recorder_factory(log.clone()), 1024, "")
        }
    };
    serve(&server)?;

    let start = Instant::now();
    let clock = sim.clock().clone();
    let now = Rc::new(move || start + clock.now());
    let endpoint = client_from_string(host.clone(), &format!("tcp:host=server:port={PORT}"))?;
    let policy = policy.unwrap_or_else(|| twisted_policy(&sim.rng()));
    let clients = Clients::build(
        Rc::new(host.clone()),
        now,
        config,
        |_| -> Rc<dyn StreamClientEndpoint> { endpoint.clone() },
        Some(policy),
    );
    let root = MultiService::new();
    for service in clients.services() {
        set_service_parent(&service, &root)?;
    }
    let load: Rc<dyn Service> = Rc::new(clients.load_service(Rc::new(host.clone())));
    set_service_parent(&load, &root)?;
    root.start_service();

    // The outage schedule, drawn as the real soak draws it.
    let rng = sim.rng();
    let draw = |(low, high): (f64, f64)| low + (high - low) * rng.next_f64();
    let end = config.duration;
    let settle = config.settle();
    let mut outages = Vec::new();
    let mut last_up = Duration::ZERO;
    loop {
        let mut up = draw(config.up);
        if !outages.is_empty() {
            up = up.max(settle);
        }
        let down = draw(config.down);
        let kill_at = last_up + Duration::from_secs_f64(up);
        if kill_at + Duration::from_secs_f64(down + settle) > end {
            break;
        }
        sim.run_until(kill_at);
        sim.crash("server")?;
        sim.run_until(kill_at + Duration::from_secs_f64(down));
        let mut listening = Ok(());
        sim.restart("server", |server| listening = serve(server).map(drop))?;
        listening?;
        last_up = sim.now();
        // Back once a SYN sent at the restart could have been answered: an
        // attempt refused by the dead process until then counts as a
        // failure before the server was up (its refusal is on the wire).
        outages.push(Outage {
            killed: start + kill_at,
            restarted: start + last_up,
            up: start + last_up + UP_AFTER,
        });
    }
    sim.run_until(end);
    clients.stop_sending();
    let drain_until = end + Duration::from_secs(10);
    while clients.unacknowledged() > 0 && sim.now() < drain_until {
        sim.run_for(Duration::from_millis(50));
    }
    let stopped = start + sim.now();
    drop(root.stop_service());
    sim.run_for(Duration::from_secs(1));

    let mut records = Records::default();
    parse_log(&log.0.borrow(), &mut records);
    let schedule = ScheduleOutcome {
        outages,
        logs: Vec::new(),
    };
    let mut report = analyse(
        config,
        start,
        stopped,
        &clients.histories(),
        &schedule,
        &records,
        PORT,
        Path::new("(in memory)"),
    );
    report.seed = config.seed;
    report.simulated = true;
    Ok(report)
}

impl SoakConfig {
    /// What [`run_simulated`] runs by default: 200 clients for 10 simulated
    /// minutes, the server down 1–3 s every 4–8 s (as the real soak), one
    /// message per second per client, 20 ms of slack (a connection's round
    /// trip; simulated timers are never late). The launcher is not used.
    pub fn simulated(seed: u64) -> SoakConfig {
        let unused = super::ServerLauncher::new(|_| std::process::Command::new("false"));
        SoakConfig {
            duration: Duration::from_secs(600),
            rate: 1,
            slack: Duration::from_millis(20),
            seed,
            progress: false,
            ..SoakConfig::new(unused)
        }
    }
}
