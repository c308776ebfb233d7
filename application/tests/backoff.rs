//! Twisted's `BackoffPolicyTests` (`twisted/test/test_application.py`).

use std::time::Duration;

use torsion_application::{backoff_policy, default_retry_policy};

fn approx(actual: Duration, seconds: f64) {
    assert!(
        (actual.as_secs_f64() - seconds).abs() < 1e-6,
        "{actual:?} != {seconds}"
    );
}

fn policy(factor: f64) -> impl Fn(u32) -> Duration {
    backoff_policy(
        Duration::from_secs(1),
        Duration::from_secs(60),
        factor,
        || Duration::from_secs(1),
    )
}

/// `backoff_policy` computes `min(initial * factor ^ attempt, max) + jitter`.
#[test]
fn calculates_correct_values() {
    let p = policy(1.5);
    approx(p(0), 2.0);
    approx(p(1), 2.5);
    approx(p(10), 58.6650390625);
    assert_eq!(p(20), Duration::from_secs(61));
    assert_eq!(p(100), Duration::from_secs(61));
}

/// Very high attempt counts neither overflow nor exceed the maximum.
#[test]
fn does_not_overflow_on_high_attempts() {
    let p = policy(1.5);
    assert_eq!(p(1751), Duration::from_secs(61));
    assert_eq!(p(1_000_000), Duration::from_secs(61));
    assert_eq!(p(u32::MAX), Duration::from_secs(61));
}

/// A huge factor does not overflow either: the delay is the maximum.
#[test]
fn does_not_overflow_with_large_factor_value() {
    assert_eq!(policy(1e10)(1751), Duration::from_secs(61));
    assert_eq!(policy(f64::INFINITY)(3), Duration::from_secs(61));
    assert_eq!(policy(f64::NAN)(3), Duration::from_secs(61));
}

/// The default policy: first retry in [1.5, 2.5) s, never more than 61 s.
#[test]
fn default_policy_bounds() {
    let p = default_retry_policy();
    for _ in 0..1000 {
        let first = p(1).as_secs_f64();
        assert!((1.5..2.5).contains(&first), "{first}");
        assert!(p(1000) < Duration::from_secs(61));
    }
}
