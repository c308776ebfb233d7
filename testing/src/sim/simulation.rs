//! [`Simulation`]: named hosts on one clock, the links between them, the
//! faults, the seed and the trace.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::ReactorTime;

use super::error::SimError;
use super::faults::FaultPlan;
use super::host::SimHost;
use super::network::{pair, Link, Net};
use super::rng::SimRng;
use crate::Clock;

/// A simulated network of named hosts sharing one [`Clock`] and one seeded
/// RNG ([`SimRng`]): the application under test runs on each host's
/// [`SimHost`] exactly as it runs on the mio reactor.
///
/// The network gives each connection TCP's promises: bytes arrive in
/// order, after the link's latency (plus jitter, limited by bandwidth),
/// and none is lost once written. A [`partition`](Simulation::partition)
/// stalls the stream (nothing arrives; everything arrives after
/// [`repair`](Simulation::repair)); a sender that cannot reach its peer for
/// the TCP time-out ([`DEFAULT_TCP_TIMEOUT`](super::DEFAULT_TCP_TIMEOUT),
/// Linux's ~924.6 s, settable) loses its connection with a
/// `ConnectionLost` (timed out), while an idle end notices nothing, as in
/// TCP. Connecting where nothing listens is refused after a round trip; a
/// SYN into a partition is retried each second until the connector's own
/// time-out. `abort_connection` resets the peer; `lose_write_connection`
/// half-closes. Each direction has at most [`WINDOW`](super::WINDOW) bytes
/// on the wire; the rest waits in the sender's buffer, whose water marks
/// pause a streaming producer as a real socket's would. A handshake cut by
/// a partition completes when it is repaired, if the connector still waits.
///
/// A panic in user code is not caught (the mio reactor logs it and ends
/// the connection): it ends [`run_for`](Simulation::run_for) and the test,
/// with the seed printed if the scenario runs in
/// [`run_seed`](Simulation::run_seed).
///
/// # Determinism
///
/// Everything random (jitter, the [`FaultPlan`] schedule, whatever the
/// test draws from [`rng`](Simulation::rng), e.g. `ClientService`'s retry
/// jitter) comes from the one seed. Events due at the same instant run in
/// the order they were scheduled, which the seed and the code fix; so one
/// seed gives one [`trace`](Simulation::trace).
/// [`run_seed`](Simulation::run_seed) prints the seed of a failing run.
///
/// # Examples
///
/// See the [module documentation](super).
pub struct Simulation {
    net: Rc<Net>,
}

impl Simulation {
    /// An empty network whose every random choice is fixed by `seed`.
    pub fn new(seed: u64) -> Simulation {
        Simulation {
            net: Net::new(seed),
        }
    }

    /// Runs `scenario` on a new simulation with `seed`; if it panics,
    /// prints the seed (and the trace's last lines) first, then lets the
    /// panic go on.
    pub fn run_seed<T>(seed: u64, scenario: impl FnOnce(&Simulation) -> T) -> T {
        let sim = Simulation::new(seed);
        match catch_unwind(AssertUnwindSafe(|| scenario(&sim))) {
            Ok(value) => value,
            Err(panic) => {
                let trace = sim.trace();
                let tail = &trace[trace.len().saturating_sub(20)..];
                eprintln!(
                    "simulation failed with seed {seed} (rerun with this seed to reproduce); last events:\n{}",
                    tail.join("\n")
                );
                resume_unwind(panic)
            }
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.net.seed
    }

    /// The simulation's RNG (shared: drawing from it is part of the run).
    pub fn rng(&self) -> SimRng {
        self.net.rng.clone()
    }

    /// The one clock every host runs on. Move time with
    /// [`run_for`](Simulation::run_for), which stops at each event.
    pub fn clock(&self) -> &Clock {
        &self.net.clock
    }

    /// The simulated time.
    pub fn now(&self) -> Duration {
        self.net.clock.now()
    }

    /// Adds a host named `name`.
    ///
    /// # Errors
    ///
    /// [`SimError::DuplicateHost`] if the name is taken.
    pub fn add_host(&self, name: &str) -> Result<SimHost, SimError> {
        if self.find(name).is_some() {
            return Err(SimError::DuplicateHost(name.to_string()));
        }
        let id = self.net.hosts.borrow().len();
        let host = SimHost::new(&self.net, id, name);
        self.net.hosts.borrow_mut().push(host.clone());
        self.net
            .record(format!("{name}: host added ({})", host.ip()));
        Ok(host)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<SimHost> {
        self.find(name).map(|id| self.net.host(id))
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.net
            .hosts
            .borrow()
            .iter()
            .position(|h| h.name() == name)
    }

    fn id(&self, name: &str) -> Result<usize, SimError> {
        self.find(name)
            .ok_or_else(|| SimError::UnknownHost(name.to_string()))
    }

    fn pair(&self, a: &str, b: &str) -> Result<(usize, usize), SimError> {
        let (a_id, b_id) = (self.id(a)?, self.id(b)?);
        if a_id == b_id {
            return Err(SimError::SameHost(a.to_string()));
        }
        Ok(pair(a_id, b_id))
    }

    /// The settings of links with none of their own (1 ms by default).
    pub fn set_default_link(&self, link: Link) {
        self.net.default_link.set(link);
    }

    /// The settings of the link between `a` and `b`.
    ///
    /// # Errors
    ///
    /// [`SimError`] if a host is unknown or both are one.
    pub fn set_link(&self, a: &str, b: &str, link: Link) -> Result<(), SimError> {
        let key = self.pair(a, b)?;
        self.net.links.borrow_mut().insert(key, link);
        Ok(())
    }

    /// How long a sender retransmits to an unreachable peer before its
    /// connection times out.
    pub fn set_tcp_timeout(&self, timeout: Duration) {
        self.net.tcp_timeout.set(timeout);
    }

    /// Prints each trace line as it happens (for examples and debugging).
    pub fn set_echo(&self, echo: bool) {
        self.net.echo.set(echo);
    }

    /// Cuts the link between `a` and `b`: segments are lost and
    /// retransmitted, so streams stall (and time out if it lasts); new
    /// connections' SYNs go unanswered.
    ///
    /// # Errors
    ///
    /// [`SimError`] if a host is unknown or both are one.
    pub fn partition(&self, a: &str, b: &str) -> Result<(), SimError> {
        self.block(&self.net.partitions, a, b, true, "partition")
    }

    /// Ends a partition: what waited is retransmitted.
    ///
    /// # Errors
    ///
    /// [`SimError`] if a host is unknown or both are one.
    pub fn repair(&self, a: &str, b: &str) -> Result<(), SimError> {
        self.block(&self.net.partitions, a, b, false, "repair")
    }

    /// Holds the link: segments wait (with no time-out) until
    /// [`release`](Simulation::release), like an un-pumped `iosim` pair.
    ///
    /// # Errors
    ///
    /// [`SimError`] if a host is unknown or both are one.
    pub fn hold(&self, a: &str, b: &str) -> Result<(), SimError> {
        self.block(&self.net.holds, a, b, true, "hold")
    }

    /// Releases a held link.
    ///
    /// # Errors
    ///
    /// [`SimError`] if a host is unknown or both are one.
    pub fn release(&self, a: &str, b: &str) -> Result<(), SimError> {
        self.block(&self.net.holds, a, b, false, "release")
    }

    /// Adds (`on`) or removes the pair `a`, `b` in `set`, records `word`
    /// if that changed anything, and lets stalled streams resend on removal.
    fn block(
        &self,
        set: &std::cell::RefCell<std::collections::BTreeSet<(usize, usize)>>,
        a: &str,
        b: &str,
        on: bool,
        word: &str,
    ) -> Result<(), SimError> {
        let key = self.pair(a, b)?;
        let changed = if on {
            set.borrow_mut().insert(key)
        } else {
            set.borrow_mut().remove(&key)
        };
        if changed {
            self.net.record(format!("fault: {word} {a} | {b}"));
            if !on {
                self.net.unblocked();
            }
        }
        Ok(())
    }

    /// The process on `host` dies: its timers are cancelled, its listeners
    /// close, its connections are reset by its (surviving) kernel, so
    /// peers see `ConnectionLost` after the link's latency and new
    /// connections are refused; no callback of the dead process runs.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`] if no host is named so.
    pub fn crash(&self, host: &str) -> Result<(), SimError> {
        let id = self.id(host)?;
        self.net.record(format!("fault: crash {host}"));
        let target = self.net.host(id);
        target.crash();
        for stream in self.net.live_streams() {
            if stream.host == id {
                stream.kill();
            }
        }
        Ok(())
    }

    /// Brings a crashed `host` back and runs `setup` on it (start its
    /// services again).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`] if no host is named so.
    pub fn restart(&self, host: &str, setup: impl FnOnce(&SimHost)) -> Result<(), SimError> {
        let id = self.id(host)?;
        let target = self.net.host(id);
        target.restart();
        self.net.record(format!("fault: restart {host}"));
        setup(&target);
        Ok(())
    }

    /// Adds a note to the trace (the test's own events).
    pub fn note(&self, event: impl AsRef<str>) {
        self.net.record(event);
    }

    /// Every event so far, one line each, stamped with simulated time.
    pub fn trace(&self) -> Vec<String> {
        self.net.trace.borrow().clone()
    }

    /// Runs every event due in the next `duration`, each at its own time.
    /// Returns how many timed calls ran.
    pub fn run_for(&self, duration: Duration) -> usize {
        self.run_until(self.now().saturating_add(duration))
    }

    /// Runs every event due up to the simulated time `end`, each at its
    /// own time; leaves the clock at `end`. Returns how many ran.
    pub fn run_until(&self, end: Duration) -> usize {
        let timers = self.net.clock.timers();
        let mut ran = 0;
        while let Some(next) = timers.next_deadline() {
            if next > end {
                break;
            }
            if next > timers.now() {
                timers.set_now(next);
            }
            ran += timers.run_until_idle();
        }
        if end > timers.now() {
            timers.set_now(end);
        }
        ran
    }

    /// Schedules `plan`'s faults, drawn from the seed.
    ///
    /// # Errors
    ///
    /// [`SimError`] if the plan names an unknown host.
    pub fn schedule_faults(&self, plan: FaultPlan) -> Result<(), SimError> {
        for (a, b) in &plan.links {
            self.pair(a, b)?;
        }
        for (host, _) in &plan.crashable {
            self.id(host)?;
        }
        let choices = plan.links.len() + plan.crashable.len();
        if choices == 0 {
            return Ok(());
        }
        let rng = self.rng();
        let plan = Rc::new(plan);
        let mut at = self.now();
        loop {
            at += rng.duration_between(plan.min_gap, plan.max_gap.max(plan.min_gap));
            if at > plan.until {
                break;
            }
            let outage =
                rng.duration_between(plan.min_outage, plan.max_outage.max(plan.min_outage));
            let pick = rng.below(choices as u64) as usize;
            let me = Rc::downgrade(&self.net);
            let plan = plan.clone();
            let delay = at.saturating_sub(self.now());
            // A fault starts; its end is scheduled when it starts.
            self.net.later(delay, move |net| {
                let sim = Simulation { net: net.clone() };
                if let Some((a, b)) = plan.links.get(pick) {
                    let _ = sim.partition(a, b);
                    let (a, b) = (a.clone(), b.clone());
                    net.later(outage, move |net| {
                        let _ = Simulation { net: net.clone() }.repair(&a, &b);
                    });
                } else {
                    let (host, restart) = plan.crashable[pick - plan.links.len()].clone();
                    let _ = sim.crash(&host);
                    net.later(outage, move |net| {
                        let _ = Simulation { net: net.clone() }.restart(&host, |h| restart(h));
                    });
                }
                drop(me);
            });
            at += outage;
        }
        Ok(())
    }
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.net.seed)
            .field("now", &self.now())
            .field("hosts", &self.net.hosts.borrow().len())
            .finish()
    }
}
