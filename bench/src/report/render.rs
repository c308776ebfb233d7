//! The summary as a plain table (terminal) or a Markdown report.

use std::fmt::Write as _;

use super::{Row, Summary, Unit};
use crate::cli::Options;
use crate::server::PER_CORE_REACTORS;

const HEADER: [&str; 13] = [
    "scenario",
    "server",
    "rate",
    "p50",
    "p99",
    "server CPU s",
    "per CPU-s",
    "peak RSS",
    "mem/conn",
    "rate ×mio",
    "rate ×tokio",
    "per CPU-s ×mio",
    "per CPU-s ×tokio",
];

pub(super) fn rate(unit: Unit, value: Option<f64>) -> String {
    match (unit, value) {
        (_, None) => "-".to_string(),
        (Unit::Ops, Some(v)) => format!("{v:.0}{}", unit.suffix()),
        (Unit::Bytes, Some(v)) => format!("{:.1}{}", v / (1024.0 * 1024.0), unit.suffix()),
    }
}

pub(super) fn micros(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |us| format!("{us:.1} µs"))
}

pub(super) fn kib(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |k| format!("{:.1} MiB", k / 1024.0))
}

fn ratio(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.3}"))
}

/// Operations (or MiB, for a byte-counting scenario) per server CPU-second.
fn per_cpu(row: &Row) -> String {
    match (row.scenario.unit(), row.efficiency) {
        (_, None) => "-".to_string(),
        (Unit::Ops, Some(v)) => format!("{v:.0}"),
        (Unit::Bytes, Some(v)) => format!("{:.0} MiB", v / (1024.0 * 1024.0)),
    }
}

fn cells(row: &Row) -> Vec<String> {
    let unit = row.scenario.unit();
    let mut rate = rate(unit, row.rate);
    if !row.failures.is_empty() {
        rate = format!("{rate} ({} FAILED)", row.failures.len());
    }
    vec![
        row.scenario.name().to_string(),
        row.server.name().to_string(),
        rate,
        micros(row.p50_us),
        micros(row.p99_us),
        row.cpu.map_or("-".to_string(), |c| format!("{c:.2}")),
        per_cpu(row),
        kib(row.peak_kib),
        row.bytes_per_conn
            .map_or("-".to_string(), |b| format!("{b:.0} B")),
        ratio(row.rate_vs[0]),
        ratio(row.rate_vs[1]),
        ratio(row.efficiency_vs[0]),
        ratio(row.efficiency_vs[1]),
    ]
}

/// The columns of the one-reactor-against-several table.
const PER_CORE_HEADER: [&str; 9] = [
    "scenario",
    "server",
    "threads",
    "rate",
    "server CPU s",
    "per CPU-s",
    "per wakeup",
    "rate ×1 thread",
    "per CPU-s ×1 thread",
];

impl Summary {
    fn table(&self) -> Vec<Vec<String>> {
        self.rows.iter().map(cells).collect()
    }

    /// The per-core scenarios' rows, one per scenario and server, with
    /// their ratios to the same server on one thread.
    fn per_core_table(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .filter(|row| row.scenario.is_per_core())
            .map(|row| {
                vec![
                    row.scenario.name().to_string(),
                    row.server.name().to_string(),
                    row.server.threads().to_string(),
                    rate(row.scenario.unit(), row.rate),
                    row.cpu.map_or("-".to_string(), |c| format!("{c:.2}")),
                    per_cpu(row),
                    match (row.scenario.unit(), row.per_wakeup) {
                        (_, None) => "-".to_string(),
                        (Unit::Ops, Some(v)) => format!("{v:.1}"),
                        (Unit::Bytes, Some(v)) => format!("{:.0} KiB", v / 1024.0),
                    },
                    ratio(row.vs_one_thread[0]),
                    ratio(row.vs_one_thread[1]),
                ]
            })
            .collect()
    }

    fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .flat_map(|row| {
                row.failures
                    .iter()
                    .map(move |f| format!("{} on {}: {f}", row.scenario.name(), row.server.name()))
            })
            .collect()
    }

    /// An aligned plain-text table, then the bars.
    pub(crate) fn text(&self) -> String {
        let table = self.table();
        let widths: Vec<usize> = (0..HEADER.len())
            .map(|i| {
                table
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([HEADER[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i < 2 {
                    let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
                } else {
                    let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = format!("medians over {} rounds\n", self.rounds);
        out += &line(&HEADER.map(String::from));
        for row in &table {
            out += &line(row);
        }
        let per_core = self.per_core_table();
        if !per_core.is_empty() {
            let _ = writeln!(
                out,
                "\nper core: {PER_CORE_REACTORS} threads against 1, each server against itself \
                 (ratios: medians of the round-by-round ratios)"
            );
            for row in &per_core {
                let _ = writeln!(
                    out,
                    "  {:<27} {:<16} {} thread(s)  {:>12}  CPU {:>5} s  {:>8}/CPU-s  \
                     {:>7}/wakeup  rate ×1 {}  per CPU-s ×1 {}",
                    row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8]
                );
            }
        }
        out += "\nbars (Torsion):\n";
        for bar in self.bars() {
            let verdict = if bar.holds { "holds" } else { "MISSES" };
            let _ = writeln!(
                out,
                "  {:<10} {:<52} {:>10}  {verdict}",
                bar.scenario.name(),
                bar.what,
                bar.shown
            );
        }
        for failure in self.failures() {
            let _ = writeln!(out, "FAILED: {failure}");
        }
        out
    }

    /// The whole of BENCHMARKS.md.
    pub(crate) fn markdown(&self, options: &Options) -> String {
        let mut out = String::new();
        out += "# Benchmarks\n\n";
        out += "Generated by the benchmark tool itself; do not edit by hand. Regenerate with:\n\n";
        let _ = writeln!(
            out,
            "```sh\ncargo run --release -p torsion-bench -- all {} > BENCHMARKS.md\n```\n",
            options.args.join(" ")
        );
        out += "## Machine\n\n";
        for (what, value) in machine() {
            let _ = writeln!(out, "- {what}: {value}");
        }
        out += "\nThe machine is shared and noisy (other work runs on the same cores), so \
            absolute numbers move from run to run; the ratios, taken round by round between \
            servers measured in alternating slices, are the figures to read.\n\n";
        out += "## Method\n\n";
        let _ = writeln!(
            out,
            "- {} interleaved rounds. In each, for every scenario, a fresh server process of \
             each kind is started (this binary re-executed as `torsion-bench serve KIND PORT`), \
             and each server's {:.1} measured seconds are cut into {} slices taken in turn \
             (server 1, 2, 3, 1, 2, 3...; the first server rotates from round to round), so a \
             burst of other work on the shared machine lands on every server alike. The idle \
             scenario, one-shot, has one slice.",
            self.rounds,
            options.config.seconds.as_secs_f64(),
            options.slices
        );
        let _ = writeln!(
            out,
            "- Each slice: new connections, {:.2} s of warm-up load, then the measured stretch; \
             a server's figures for the round add its slices up. Server CPU seconds (all \
             threads: the scheduler's nanosecond run time, `se.sum_exec_runtime` in \
             `/proc/<pid>/task/*/sched`, or clock ticks from `/proc/<pid>/stat` on kernels \
             without it) cover the measured stretches only; peak RSS is the server's `VmHWM` \
             at the end of the round.",
            options.config.warmup.as_secs_f64()
        );
        let pinning = match options.pin {
            None => "not pinned to CPUs (the scheduler places them)".to_string(),
            Some((s, c)) => format!("server pinned to CPU {s}, load generator to CPU {c}"),
        };
        let _ = writeln!(
            out,
            "- Loopback only (127.0.0.1); {pinning}. Every server sets TCP_NODELAY on \
             accepted connections; the load generator's sockets close with SO_LINGER 0."
        );
        out += "- Table cells are medians over the rounds; ratio columns are the median of the \
            round-by-round ratios (this server's figure over mio's, or tokio's, in the same \
            round). \"per CPU-s\" is operations (MiB for stream) per server CPU-second.\n\n";
        out += "### Servers\n\n";
        out += "- **torsion**: a `Protocol` whose `data_received` calls `transport.write`, \
            served by `torsion_reactor::Reactor` through `ReactorTcp::listen_tcp` (backlog 1024).\n";
        out += "- **mio**: a hand-written mio 1.x loop on one thread: a slab of connections, \
            edge-triggered, read until `WouldBlock` into one shared 64 KiB buffer, write straight \
            back, and buffer per connection only what a partial write left (reading stops until \
            it is flushed). The near-the-limit baseline.\n";
        out += "- **tokio**: tokio's current-thread runtime, `tokio::net::TcpListener`, one task \
            per connection doing `read` into its own 16 KiB buffer then `write_all`.\n";
        if self.rows.iter().any(|row| row.server.threads() > 1) {
            let _ = writeln!(
                out,
                "- **torsion-per-core**: the torsion server's protocol and factory on \
                 {PER_CORE_REACTORS} reactors started by `torsion_reactor::run_per_core`, each on \
                 its own thread with its own `SO_REUSEPORT` listening socket on the port \
                 (`CoreSetup::listen_tcp`, backlog 1024); the threads share nothing.\n\
                 - **mio-per-core**: the mio loop on {PER_CORE_REACTORS} threads, each with its \
                 own `SO_REUSEPORT` listening socket on the port (backlog 1024)."
            );
        }
        out += "\n";
        out += "### Scenarios\n\n";
        for &scenario in &options.scenarios {
            let _ = writeln!(
                out,
                "- **{}**: {}",
                scenario.name(),
                scenario.describe(options.config.idle_conns)
            );
        }
        out += "\n## Results\n\n";
        out += &markdown_table(&HEADER, &self.table(), 2);
        let per_core = self.per_core_table();
        if !per_core.is_empty() {
            out += "\n## Beyond one core\n\n";
            let _ = writeln!(
                out,
                "Torsion on {PER_CORE_REACTORS} reactors (`run_per_core`) against 1, and the mio \
                 loop on {PER_CORE_REACTORS} threads against 1, under the same load; ratios are \
                 each server's figure over its own on one thread, medians of the round-by-round \
                 ratios. The mio rows are the control: what the same split costs a raw event \
                 loop on this machine. \"per wakeup\" is operations (KiB for stream) per time a \
                 server thread blocked waiting for events (voluntary context switches of all \
                 its threads, from `/proc/<pid>/task/*/status`): how much work each wakeup \
                 found, and so how far each wakeup's fixed cost is shared.\n"
            );
            out += &markdown_table(&PER_CORE_HEADER, &per_core, 2);
        }
        out += "\n## Bars of the performance issue (Torsion)\n\n";
        out += "| scenario | bar | measured | verdict |\n| --- | --- | ---: | --- |\n";
        for bar in self.bars() {
            let verdict = if bar.holds { "holds" } else { "**misses**" };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {verdict} |",
                bar.scenario.name(),
                bar.what,
                bar.shown
            );
        }
        let failures = self.failures();
        if !failures.is_empty() {
            out += "\n## Failed runs\n\n";
            for failure in failures {
                let _ = writeln!(out, "- {failure}");
            }
        }
        out
    }
}

/// A Markdown table; the first `left` columns are left-aligned, the rest
/// (numbers) right-aligned.
fn markdown_table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut out = format!("| {} |\n|", header.join(" | "));
    for i in 0..header.len() {
        out += if i < left { " --- |" } else { " ---: |" };
    }
    out += "\n";
    for row in rows {
        out += &format!("| {} |\n", row.join(" | "));
    }
    out
}

/// What the report says about the machine.
fn machine() -> Vec<(&'static str, String)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_string(), |(_, m)| m.trim().to_string());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map_or("unknown".to_string(), |m| m.trim().to_string());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        ("CPUs (nproc)", nproc.to_string()),
        ("CPU model", model),
        ("memory", memory),
        (
            "kernel",
            read("/proc/sys/kernel/osrelease").trim().to_string(),
        ),
        ("date (UTC)", today()),
    ]
}

/// Today's date, from the system clock (civil-from-days, proleptic Gregorian).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
