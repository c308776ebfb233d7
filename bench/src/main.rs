//! Torsion's benchmark suite: Torsion's echo server against a hand-written
//! mio loop and tokio's current-thread runtime, side by side, and Torsion
//! on several reactors (`run_per_core`) against one.
//!
//! ```text
//! cargo run --release -p torsion-bench -- all              # the table
//! cargo run --release -p torsion-bench -- all --markdown > BENCHMARKS.md
//! cargo run --release -p torsion-bench -- help             # every option
//! ```
//!
//! Each server runs in a process of its own (this binary, re-executed as
//! `torsion-bench serve KIND PORT [CPU]`), so its CPU seconds and memory are
//! read from `/proc/<pid>` apart from the load generator's. Scenarios run in
//! interleaved rounds: in each round every scenario runs against a fresh
//! process of every server, their measured seconds cut into short slices
//! taken in turn (the starting server rotates from round to round), and the
//! table shows medians over the rounds, with ratios taken round by round, so
//! drifts and bursts of a shared machine land on every server alike.

mod cli;
mod load;
mod procfs;
mod report;
mod server;
mod tls;

use std::io;
use std::process::ExitCode;

use cli::{Command, Options};
use load::{Config, Outcome, Scenario};
use report::{Run, Sample};
use server::{ServerKind, ServerProcess};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Serve {
            kind,
            port,
            cpu,
            udp,
        }) => match server::serve(kind, port, cpu, udp) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("torsion-bench serve {}: {e}", kind.name());
                ExitCode::FAILURE
            }
        },
        Ok(Command::All(options)) => match all(&options) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("torsion-bench: {e}");
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            eprintln!("torsion-bench: {message}\n\n{}", cli::USAGE);
            ExitCode::from(2)
        }
    }
}

/// Runs every chosen scenario against every chosen server; `Ok(false)` if
/// any run failed (the table still shows the rest).
fn all(options: &Options) -> io::Result<bool> {
    let mut runs = Vec::new();
    for round in 0..options.rounds {
        for &scenario in &options.scenarios {
            let servers = scenario.servers(&options.servers);
            let order: Vec<ServerKind> = (0..servers.len())
                .map(|k| servers[(k + round) % servers.len()])
                .collect();
            for (kind, result) in order.iter().zip(measure_round(scenario, &order, options)) {
                match &result {
                    Ok(sample) => eprintln!(
                        "round {}/{} {:<10} {:<7} {}",
                        round + 1,
                        options.rounds,
                        scenario.name(),
                        kind.name(),
                        report::brief(scenario, sample)
                    ),
                    Err(e) => eprintln!(
                        "round {}/{} {:<10} {:<7} FAILED: {e}",
                        round + 1,
                        options.rounds,
                        scenario.name(),
                        kind.name()
                    ),
                }
                runs.push(Run {
                    round,
                    scenario,
                    server: *kind,
                    result: result.map_err(|e| e.to_string()),
                });
            }
        }
    }
    let ok = runs.iter().all(|r| r.result.is_ok());
    let summary = report::Summary::new(&runs, options);
    if options.markdown {
        print!("{}", summary.markdown(options));
    } else {
        print!("{}", summary.text());
    }
    Ok(ok)
}

/// One round of `scenario`: a fresh server process of each kind in
/// `order`, all started at once, then the measured seconds cut into
/// `options.slices` slices taken in turn (server 1, 2, 3, 1, 2, 3...), so
/// a burst of load from elsewhere on a shared machine lands on every
/// server alike. The idle scenario, which is one-shot, has one slice.
/// Returns each server's slices added up, in `order`.
fn measure_round(
    scenario: Scenario,
    order: &[ServerKind],
    options: &Options,
) -> Vec<io::Result<Sample>> {
    let pins = scenario.pins().or(options.pin);
    let mut servers: Vec<io::Result<(ServerProcess, Outcome)>> = order
        .iter()
        .map(|&kind| {
            ServerProcess::spawn(kind, pins.map(|(server, _)| server), scenario.is_udp())
                .map(|server| (server, Outcome::default()))
        })
        .collect();
    let slices = if scenario == Scenario::Idle {
        1
    } else {
        options.slices
    };
    let config = Config {
        seconds: options.config.seconds / u32::try_from(slices).unwrap_or(u32::MAX),
        ..options.config
    };
    for _ in 0..slices {
        for entry in &mut servers {
            let Ok((server, total)) = entry else {
                continue;
            };
            match run_load(scenario, server, pins, &config) {
                Ok(outcome) => total.add(outcome),
                Err(e) => *entry = Err(e),
            }
        }
    }
    servers
        .into_iter()
        .map(|entry| {
            let (server, outcome) = entry?;
            let memory = procfs::memory(server.pid())?;
            Ok(Sample { outcome, memory })
        })
        .collect()
}

/// One slice of `scenario`'s load against `server`.
fn run_load(
    scenario: Scenario,
    server: &ServerProcess,
    pins: Option<(usize, usize)>,
    config: &Config,
) -> io::Result<Outcome> {
    // The load runs on a thread of its own so its pin (inherited by the
    // threads it starts) ends with the slice.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some((_, client)) = pins {
                    pin_to(client)?;
                }
                load::run(scenario, server.port(), server.pid(), config)
            })
            .join()
            .map_err(|_| io::Error::other("the load generator panicked"))?
    })
}

/// Keeps the calling thread (and threads it starts later) on `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    // Not looked up in `get_core_ids()`: that lists only the CPUs this
    // thread may already use, and a server inherits the load generator's pin.
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        Err(io::Error::other(format!("could not pin to CPU {cpu}")))
    }
}
