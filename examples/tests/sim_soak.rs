//! The soak in simulation (`torsion_examples::soak::run_simulated`): the
//! soak's `ClientService` clients and recording server, the server host
//! crashing and restarting every few seconds, checked as the real soak
//! checks (no acknowledged message lost, every retry and reconnection
//! within the backoff policy's promise).
//!
//! Sizes: the issue's, 200 clients for 10 simulated minutes (~70 server
//! crashes) for each of 100 seeds, split over four tests so they share the
//! cores. Our crates build with `opt-level = 2` in the test profile (root
//! `Cargo.toml`): 18 s for this whole file on 2 cores, where unoptimized
//! code took ~7 s per seed.

use std::time::{Duration, Instant};

use torsion_examples::soak::{broken_retry_policy, run_simulated, SoakConfig};

fn full(seed: u64) -> SoakConfig {
    let mut config = SoakConfig::simulated(seed);
    config.clients = 200;
    config
}

fn seeds(range: std::ops::Range<u64>) {
    for seed in range {
        let report = run_simulated(&full(seed), None).unwrap();
        assert!(
            report.passed(),
            "simulated soak failed with seed {seed}:\n{report}"
        );
        assert!(
            report.outages.len() > 50,
            "seed {seed}: {} outages",
            report.outages.len()
        );
        assert!(
            report.acknowledged > 0 && report.reconnects > 0,
            "seed {seed}"
        );
    }
}

#[test]
fn hundred_seeds_part_1() {
    seeds(0..25);
}

#[test]
fn hundred_seeds_part_2() {
    seeds(25..50);
}

#[test]
fn hundred_seeds_part_3() {
    seeds(50..75);
}

#[test]
fn hundred_seeds_part_4() {
    seeds(75..100);
}

/// The full soak: 200 clients, 10 simulated minutes, ~70 server crashes.
#[test]
fn two_hundred_clients_for_ten_simulated_minutes() {
    let started = Instant::now();
    let report = run_simulated(&SoakConfig::simulated(2026), None).unwrap();
    eprintln!("200 clients, 600 simulated s: {:?} real", started.elapsed());
    assert!(
        report.passed(),
        "simulated soak failed with seed 2026:\n{report}"
    );
    assert_eq!(report.clients, 200);
    assert!(report.outages.len() > 50);
    assert_eq!(report.lost, 0);
    assert!(report.resent > 0, "outages caught messages in flight");
}

/// One seed, one run: the same report twice.
#[test]
fn same_seed_same_report() {
    let mut config = full(7);
    config.duration = Duration::from_secs(120);
    let a = run_simulated(&config, None).unwrap();
    let b = run_simulated(&config, None).unwrap();
    assert_eq!(a, b);
    config.seed = 8;
    assert_ne!(a, run_simulated(&config, None).unwrap());
}

/// A reconnect policy with an off-by-one in its exponent (retry `n` waits
/// what retry `n - 1` should) is caught within the hundred seeds.
#[test]
fn a_broken_reconnect_policy_is_caught() {
    let caught = (0..100).find(|&seed| {
        let report = run_simulated(&full(seed), Some(broken_retry_policy())).unwrap();
        !report.passed() && report.retries.too_early > 0
    });
    assert!(caught.is_some(), "the mutant survived 100 seeds");
}
