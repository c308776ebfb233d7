//! The command line.

use std::time::Duration;

use crate::load::{Config, Scenario};
use crate::server::ServerKind;

pub(crate) const USAGE: &str = "\
usage: torsion-bench all [OPTIONS]
       torsion-bench help

Runs echo-server scenarios against Torsion, a raw mio loop and tokio's
current-thread runtime in interleaved rounds, and prints medians and ratios;
the *-per-core scenarios compare Torsion on 2 reactors (run_per_core) with 1,
and the mio loop on 2 threads with 1 as the control.

options:
  --seconds S        measured seconds per server and round (default 3)
  --slices N         cut into N slices, taken in turn with the other
                     servers of the round (default 6; idle: always 1)
  --warmup S         load before each slice's measuring starts (default 0.1)
  --rounds N         interleaved rounds (default 5)
  --scenarios LIST   comma-separated, from: pingpong1, pingpong1-same-cpu,
                     pingpong1-two-cpus, pingpong50, stream, churn, idle,
                     pingpong50-per-core, pingpong50-per-core-one-cpu,
                     stream-per-core, stream-unbounded, udp-pingpong1,
                     udp-pingpong50, tls-stream (default: all)
  --servers LIST     comma-separated, from: torsion, mio, tokio,
                     torsion-per-core, mio-per-core (default: the first
                     three); the *-per-core scenarios always run torsion,
                     torsion-per-core, mio and mio-per-core; the udp-*
                     ones accept only the first three; tls-stream
                     always runs torsion-tls and tokio-rustls
  --idle-conns N     connections held by the idle scenario (default 10000)
  --pin              server on CPU 0, load generator on CPU 1 (scenarios that
                     pin themselves keep their own CPUs)
  --pin-same         server and load generator both on CPU 0
  --markdown         print a Markdown report (for BENCHMARKS.md)
";

/// What to run, as parsed from the command line.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) config: Config,
    pub(crate) rounds: usize,
    /// Slices each server's measured seconds are cut into, in turn with
    /// the other servers' of the round.
    pub(crate) slices: usize,
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) servers: Vec<ServerKind>,
    /// (server CPU, load generator CPU).
    pub(crate) pin: Option<(usize, usize)>,
    pub(crate) markdown: bool,
    /// The arguments as given, for the report.
    pub(crate) args: Vec<String>,
}

#[derive(Debug)]
pub(crate) enum Command {
    All(Options),
    Serve {
        kind: ServerKind,
        port: u16,
        cpu: Option<usize>,
        /// Serve UDP echo instead of TCP.
        udp: bool,
    },
    Help,
}

fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("expected seconds between 0 and 3600, got {value:?}"))
}

fn count(value: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("expected a positive whole number, got {value:?}"))
}

fn list<T>(value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(|name| parse(name).ok_or_else(|| format!("unknown name {name:?}")))
        .collect()
}

pub(crate) fn parse(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => Ok(Command::Help),
        Some("serve") => parse_serve(&args[1..]),
        Some("all") => parse_all(&args[1..]).map(Command::All),
        Some(other) => Err(format!("unknown command {other:?}")),
    }
}

fn parse_serve(args: &[String]) -> Result<Command, String> {
    const USAGE: &str = "usage: serve KIND PORT [CPU] [udp]";
    let [kind, port, rest @ ..] = args else {
        return Err(USAGE.to_string());
    };
    let kind = ServerKind::parse(kind).ok_or_else(|| format!("unknown server {kind:?}"))?;
    let port = port
        .parse::<u16>()
        .map_err(|e| format!("port {port:?}: {e}"))?;
    let (rest, udp) = match rest {
        [before @ .., last] if last == "udp" => (before, true),
        _ => (rest, false),
    };
    let cpu = match rest {
        [] => None,
        [cpu] => Some(
            cpu.parse::<usize>()
                .map_err(|e| format!("CPU {cpu:?}: {e}"))?,
        ),
        _ => return Err(USAGE.to_string()),
    };
    Ok(Command::Serve {
        kind,
        port,
        cpu,
        udp,
    })
}

fn parse_all(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        config: Config {
            seconds: Duration::from_secs(3),
            warmup: Duration::from_millis(100),
            idle_conns: 10_000,
        },
        rounds: 5,
        slices: 6,
        scenarios: Scenario::ALL.to_vec(),
        servers: ServerKind::ALL.to_vec(),
        pin: None,
        markdown: false,
        args: args.to_vec(),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--seconds" => options.config.seconds = seconds(value()?)?,
            "--warmup" => options.config.warmup = seconds(value()?)?,
            "--rounds" => options.rounds = count(value()?)?,
            "--slices" => options.slices = count(value()?)?,
            "--idle-conns" => options.config.idle_conns = count(value()?)?,
            "--scenarios" => options.scenarios = list(value()?, Scenario::parse)?,
            "--servers" => options.servers = list(value()?, ServerKind::parse)?,
            "--pin" => options.pin = Some((0, 1)),
            "--pin-same" => options.pin = Some((0, 0)),
            "--markdown" => options.markdown = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(options)
}
