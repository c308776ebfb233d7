//! [`SimRng`]: the simulation's one source of randomness, seeded by a `u64`.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// A seeded pseudo-random generator (SplitMix64) shared by everything in a
/// [`Simulation`](super::Simulation): link jitter, the fault schedule and
/// whatever the test hands it to (e.g. `ClientService`'s retry jitter).
///
/// Clones share one stream of numbers, so the order of draws, and hence
/// every outcome, is a function of the seed and the code alone.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_testing::sim::SimRng;
///
/// let (a, b) = (SimRng::new(7), SimRng::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// let jitter = a.jitter(Duration::from_secs(1));
/// assert!(jitter() < Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct SimRng {
    state: Rc<Cell<u64>>,
}

impl SimRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng {
            state: Rc::new(Cell::new(seed)),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let next = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn next_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `[0, bound)` (`0` if `bound` is `0`).
    pub fn below(&self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    /// A duration in `[0, max)` (zero if `max` is zero).
    pub fn duration_below(&self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.below(nanos))
    }

    /// A duration in `[low, high)` (`low` if the range is empty).
    pub fn duration_between(&self, low: Duration, high: Duration) -> Duration {
        low + self.duration_below(high.saturating_sub(low))
    }

    /// A jitter function drawing from this generator, up to `max`: what
    /// `torsion_application::backoff_policy` takes, so a `ClientService`'s
    /// retry delays come from the simulation's seed.
    pub fn jitter(&self, max: Duration) -> impl Fn() -> Duration + 'static {
        let rng = self.clone();
        move || rng.duration_below(max)
    }
}

impl fmt::Debug for SimRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRng").finish_non_exhaustive()
    }
}
