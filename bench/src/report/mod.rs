//! Medians, ratios and the bars of the performance issue, from the runs.
//!
//! Rates, latencies, CPU and memory are medians over the rounds. Ratios
//! are taken round by round (Torsion's rate in round 2 over mio's in round
//! 2) and the median of those is shown, so a machine that slows down
//! between rounds moves both sides of each ratio alike.

mod render;

use crate::cli::Options;
use crate::load::{Outcome, Scenario, Unit};
use crate::procfs::Memory;
use crate::server::{ServerKind, PER_CORE_REACTORS};

/// One scenario run against one server.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) outcome: Outcome,
    /// The server's memory at the end of the run.
    pub(crate) memory: Memory,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.outcome.ops as f64 / self.outcome.elapsed.as_secs_f64()
    }

    /// Operations (or bytes) per server CPU-second.
    fn efficiency(&self) -> Option<f64> {
        (self.outcome.cpu > 0.0).then(|| self.outcome.ops as f64 / self.outcome.cpu)
    }

    /// Operations (or bytes) per time a server thread blocked: how much
    /// work each wakeup found.
    fn per_wakeup(&self) -> Option<f64> {
        (self.outcome.sleeps > 0).then(|| self.outcome.ops as f64 / self.outcome.sleeps as f64)
    }

    /// The `q` quantile of latency, in microseconds.
    fn latency_us(&self, q: f64) -> Option<f64> {
        let mut l = self.outcome.latencies_ns.clone();
        if l.is_empty() {
            return None;
        }
        l.sort_unstable();
        let i = ((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1;
        Some(f64::from(l[i]) / 1000.0)
    }
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) round: usize,
    pub(crate) scenario: Scenario,
    pub(crate) server: ServerKind,
    pub(crate) result: Result<Sample, String>,
}

/// A progress line for one run.
pub(crate) fn brief(scenario: Scenario, sample: &Sample) -> String {
    format!(
        "{} in {:.2} s, server CPU {:.2} s, p50 {}, peak RSS {}",
        render::rate(scenario.unit(), Some(sample.rate())),
        sample.outcome.elapsed.as_secs_f64(),
        sample.outcome.cpu,
        render::micros(sample.latency_us(0.5)),
        render::kib(Some(sample.memory.peak_kib as f64)),
    )
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// One line of the table: a scenario against a server, over the rounds.
#[derive(Debug)]
struct Row {
    scenario: Scenario,
    server: ServerKind,
    failures: Vec<String>,
    rate: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    cpu: Option<f64>,
    efficiency: Option<f64>,
    /// Operations (or bytes) per server wakeup.
    per_wakeup: Option<f64>,
    peak_kib: Option<f64>,
    bytes_per_conn: Option<f64>,
    /// Rate over mio's and over tokio's, round by round.
    rate_vs: [Option<f64>; 2],
    /// Operations per CPU-second over mio's and over tokio's.
    efficiency_vs: [Option<f64>; 2],
    /// Rate and operations per CPU-second over the same server's on one
    /// thread ([`ServerKind::one_thread`]), round by round.
    vs_one_thread: [Option<f64>; 2],
}

/// Every row, and the bars of the issue.
#[derive(Debug)]
pub(crate) struct Summary {
    rows: Vec<Row>,
    rounds: usize,
}

const BASELINES: [ServerKind; 2] = [ServerKind::Mio, ServerKind::Tokio];

impl Summary {
    pub(crate) fn new(runs: &[Run], options: &Options) -> Summary {
        let sample = |round: usize, scenario: Scenario, server: ServerKind| {
            runs.iter()
                .find(|r| r.round == round && r.scenario == scenario && r.server == server)
                .and_then(|r| r.result.as_ref().ok())
        };
        let mut rows = Vec::new();
        for &scenario in &options.scenarios {
            for server in scenario.servers(&options.servers) {
                let mine: Vec<&Run> = runs
                    .iter()
                    .filter(|r| r.scenario == scenario && r.server == server)
                    .collect();
                let ok: Vec<&Sample> = mine.iter().filter_map(|r| r.result.as_ref().ok()).collect();
                let of = |f: &dyn Fn(&Sample) -> Option<f64>| {
                    median(ok.iter().filter_map(|s| f(s)).collect())
                };
                let ratio = |base: ServerKind, f: &dyn Fn(&Sample) -> Option<f64>| {
                    median(
                        (0..options.rounds)
                            .filter_map(|round| {
                                let a = f(sample(round, scenario, server)?)?;
                                let b = f(sample(round, scenario, base.baseline_for(server))?)?;
                                (b > 0.0).then(|| a / b)
                            })
                            .collect(),
                    )
                };
                rows.push(Row {
                    scenario,
                    server,
                    failures: mine
                        .iter()
                        .filter_map(|r| r.result.as_ref().err().cloned())
                        .collect(),
                    rate: of(&|s| Some(s.rate())),
                    p50_us: of(&|s| s.latency_us(0.5)),
                    p99_us: of(&|s| s.latency_us(0.99)),
                    cpu: of(&|s| Some(s.outcome.cpu)),
                    efficiency: of(&|s| s.efficiency()),
                    per_wakeup: of(&|s| s.per_wakeup()),
                    peak_kib: of(&|s| Some(s.memory.peak_kib as f64)),
                    bytes_per_conn: of(&|s| s.outcome.bytes_per_conn),
                    rate_vs: BASELINES.map(|b| ratio(b, &|s| Some(s.rate()))),
                    efficiency_vs: BASELINES.map(|b| ratio(b, &|s| s.efficiency())),
                    vs_one_thread: [
                        ratio(server.one_thread(), &|s| Some(s.rate())),
                        ratio(server.one_thread(), &|s| s.efficiency()),
                    ],
                });
            }
        }
        Summary {
            rows,
            rounds: options.rounds,
        }
    }

    fn row(&self, scenario: Scenario, server: ServerKind) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.server == server)
    }

    /// The bars for the scenarios that ran.
    fn bars(&self) -> Vec<Bar> {
        let mut bars = Vec::new();
        let torsion = |s| self.row(s, ServerKind::Torsion);
        for scenario in [
            Scenario::PingPong1,
            Scenario::PingPong1Same,
            Scenario::PingPong1Split,
            Scenario::PingPong50,
            Scenario::Stream,
            Scenario::StreamUnbounded,
            Scenario::UdpPingPong1,
            Scenario::UdpPingPong50,
        ] {
            let Some(row) = torsion(scenario) else {
                continue;
            };
            let checks = [
                ("rate vs mio", row.rate_vs[0], 0.95),
                ("ops/CPU-s vs mio", row.efficiency_vs[0], 0.95),
                ("rate vs tokio", row.rate_vs[1], 1.0),
                ("ops/CPU-s vs tokio", row.efficiency_vs[1], 1.0),
            ];
            for (what, value, at_least) in checks {
                bars.push(Bar::at_least(scenario, what, value, at_least));
            }
        }
        if let Some(row) = torsion(Scenario::Churn) {
            bars.push(Bar::at_least(
                Scenario::Churn,
                "rate vs mio",
                row.rate_vs[0],
                0.90,
            ));
            // Per connection, what accept, setup and close cost the server.
            bars.push(Bar::at_least(
                Scenario::Churn,
                "ops/CPU-s vs mio",
                row.efficiency_vs[0],
                0.95,
            ));
            bars.push(Bar::at_least(
                Scenario::Churn,
                "ops/CPU-s vs tokio",
                row.efficiency_vs[1],
                1.0,
            ));
        }
        if let Some(row) = torsion(Scenario::Idle) {
            let mio = self.row(Scenario::Idle, ServerKind::Mio);
            let extra = match (row.bytes_per_conn, mio.and_then(|m| m.bytes_per_conn)) {
                (Some(t), Some(m)) => Some(t - m),
                _ => None,
            };
            bars.push(Bar {
                scenario: Scenario::Idle,
                what: "all answered".to_string(),
                shown: format!("{} failed runs", row.failures.len()),
                holds: row.failures.is_empty(),
            });
            bars.push(Bar {
                scenario: Scenario::Idle,
                what: "memory per connection above mio's, at most 1024 B".to_string(),
                shown: extra.map_or("n/a".to_string(), |e| format!("{e:+.0} B")),
                holds: extra.is_some_and(|e| e <= 1024.0),
            });
        }
        if let Some(row) = self.row(Scenario::TlsStream, ServerKind::TorsionTls) {
            bars.push(Bar::at_least(
                Scenario::TlsStream,
                "rate vs tokio-rustls",
                row.rate_vs[1],
                1.0,
            ));
            bars.push(Bar::at_least(
                Scenario::TlsStream,
                "MiB/CPU-s vs tokio-rustls",
                row.efficiency_vs[1],
                1.0,
            ));
        }
        for scenario in Scenario::ALL.into_iter().filter(|s| s.is_per_core()) {
            if let Some(row) = self.row(scenario, ServerKind::TorsionPerCore) {
                let mut bar = Bar::at_least(
                    scenario,
                    &format!("ops/CPU-s on {PER_CORE_REACTORS} reactors vs 1"),
                    row.vs_one_thread[1],
                    0.90,
                );
                // What the same split costs the raw mio loop, beside it:
                // the machine's share of the figure.
                if let Some(control) = self
                    .row(scenario, ServerKind::MioPerCore)
                    .and_then(|mio| mio.vs_one_thread[1])
                {
                    bar.shown = format!("{} (mio control: {control:.3}x)", bar.shown);
                }
                bars.push(bar);
            }
        }
        bars
    }
}

/// One bar of the issue and whether the run meets it.
#[derive(Debug)]
struct Bar {
    scenario: Scenario,
    what: String,
    shown: String,
    holds: bool,
}

impl Bar {
    fn at_least(scenario: Scenario, what: &str, value: Option<f64>, at_least: f64) -> Bar {
        Bar {
            scenario,
            what: format!("{what} at least {at_least:.2}x"),
            shown: value.map_or("n/a".to_string(), |v| format!("{v:.3}x")),
            holds: value.is_some_and(|v| v >= at_least),
        }
    }
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Ops => "/s",
            Unit::Bytes => " MiB/s",
        }
    }
}
