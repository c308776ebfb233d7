//! [`FaultPlan`]: a seeded schedule of partitions and crashes.

use std::rc::Rc;
use std::time::Duration;

use super::host::SimHost;

/// Sets a restarted host up again.
pub type Setup = Rc<dyn Fn(&SimHost)>;

/// What a seeded fault schedule may do, drawn from the simulation's RNG
/// by [`Simulation::schedule_faults`](super::Simulation::schedule_faults).
///
/// Faults start at random times `[min_gap, max_gap)` apart until `until`;
/// each lasts `[min_outage, max_outage)`. A fault is a partition of a
/// random pair from `links`, or a crash of a random host from `crashable`
/// (restarted at the end of its outage with `restart`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_testing::sim::FaultPlan;
///
/// let plan = FaultPlan::new(Duration::from_secs(600))
///     .partitions(&[("client", "server")])
///     .gaps(Duration::from_secs(20), Duration::from_secs(60))
///     .outages(Duration::from_secs(1), Duration::from_secs(15));
/// assert_eq!(plan.until, Duration::from_secs(600));
/// ```
#[derive(Clone)]
pub struct FaultPlan {
    /// No fault starts after this simulated time.
    pub until: Duration,
    /// Host pairs that may be partitioned.
    pub links: Vec<(String, String)>,
    /// Hosts that may crash, with what sets each up again.
    pub crashable: Vec<(String, Setup)>,
    /// Shortest time between two faults.
    pub min_gap: Duration,
    /// Longest time between two faults.
    pub max_gap: Duration,
    /// Shortest outage.
    pub min_outage: Duration,
    /// Longest outage.
    pub max_outage: Duration,
}

impl FaultPlan {
    /// No faults yet, up to `until`; gaps 10-60 s, outages 1-10 s.
    pub fn new(until: Duration) -> FaultPlan {
        FaultPlan {
            until,
            links: Vec::new(),
            crashable: Vec::new(),
            min_gap: Duration::from_secs(10),
            max_gap: Duration::from_secs(60),
            min_outage: Duration::from_secs(1),
            max_outage: Duration::from_secs(10),
        }
    }

    /// Pairs of hosts that may be partitioned.
    pub fn partitions(mut self, pairs: &[(&str, &str)]) -> FaultPlan {
        self.links
            .extend(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        self
    }

    /// A host that may crash; `restart` sets it up again after the outage.
    pub fn crash(mut self, host: &str, restart: impl Fn(&SimHost) + 'static) -> FaultPlan {
        self.crashable.push((host.to_string(), Rc::new(restart)));
        self
    }

    /// Time between faults.
    pub fn gaps(mut self, min: Duration, max: Duration) -> FaultPlan {
        self.min_gap = min;
        self.max_gap = max;
        self
    }

    /// How long each fault lasts.
    pub fn outages(mut self, min: Duration, max: Duration) -> FaultPlan {
        self.min_outage = min;
        self.max_outage = max;
        self
    }
}

impl std::fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultPlan")
            .field("until", &self.until)
            .field("links", &self.links)
            .field(
                "crashable",
                &self.crashable.iter().map(|(h, _)| h).collect::<Vec<_>>(),
            )
            .field("gaps", &(self.min_gap, self.max_gap))
            .field("outages", &(self.min_outage, self.max_outage))
            .finish()
    }
}
