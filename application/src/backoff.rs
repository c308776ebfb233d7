//! [`backoff_policy`]: Twisted's `backoffPolicy`.

use std::rc::Rc;
use std::time::Duration;

/// A retry policy: how long to wait before retry number `attempt` (the count
/// of failures in a row, 1 for the first retry).
pub type RetryPolicy = Rc<dyn Fn(u32) -> Duration>;

/// Uniform jitter in [0, 1) s from a fast, non-cryptographic generator:
/// Twisted's `random.random`.
pub fn default_jitter() -> Duration {
    Duration::from_secs_f64(fastrand::f64())
}

/// Twisted's `backoffPolicy`: the delay before retry `attempt` is
///
/// `min(initial * factor ^ min(100, attempt), max) + jitter()`
///
/// The exponent is clamped at 100 so the power cannot overflow with sane
/// factors; if it still does (a huge `factor`), or is not a number, the
/// delay is `max`. Jitter is added *after* the cap, so the longest wait is
/// `max` plus the largest jitter. `jitter` is injectable so tests are exact.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_application::backoff_policy;
///
/// let policy = backoff_policy(Duration::from_secs(1), Duration::from_secs(60), 1.5, || Duration::ZERO);
/// assert_eq!(policy(1), Duration::from_millis(1500));
/// assert_eq!(policy(2), Duration::from_millis(2250));
/// assert_eq!(policy(1_000_000), Duration::from_secs(60));
/// ```
pub fn backoff_policy(
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: impl Fn() -> Duration + 'static,
) -> impl Fn(u32) -> Duration + 'static {
    move |attempt| {
        let exponent = attempt.min(100) as f64;
        let grown = initial.as_secs_f64() * factor.powf(exponent);
        let capped = if grown.is_finite() && grown < max.as_secs_f64() {
            Duration::try_from_secs_f64(grown).unwrap_or(max)
        } else {
            max
        };
        capped.saturating_add(jitter())
    }
}

/// Twisted's defaults: 1 s initial, 60 s max, factor 1.5, jitter uniform in [0, 1) s.
pub fn default_retry_policy() -> RetryPolicy {
    Rc::new(backoff_policy(
        Duration::from_secs(1),
        Duration::from_secs(60),
        1.5,
        default_jitter,
    ))
}
