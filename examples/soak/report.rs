//! The checks once the run is over, and the printed summary.
//!
//! Over 500 lines because the soak run's checks and its summary read the same
//! records and are meant to be read together.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::client::History;
use super::schedule::ScheduleOutcome;
use super::{two_numbers, Event, PolicyPromise, Records, SoakConfig};

/// Every wait before a connection attempt, checked against the policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryStats {
    /// Waits checked (each attempt after a failure or a lost connection).
    pub checked: u64,
    /// Waits shorter than the policy's shortest, `base(n)`.
    pub too_early: u64,
    /// Waits longer than the policy's longest, `base(n) + jitter`, plus slack.
    pub too_late: u64,
    /// Smallest wait minus `base(n)`, in seconds: the drawn jitter plus lateness.
    pub jitter_min: f64,
    /// Mean of the same (the jitter is uniform in [0, 1): about 0.5).
    pub jitter_mean: f64,
    /// Largest of the same.
    pub jitter_max: f64,
}

/// One outage: when the server came back, and how long each client then
/// took to be connected again, against what the policy promised it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutageReport {
    /// From the run's start to the `SIGKILL`, in seconds.
    pub killed_at: f64,
    /// From the `SIGKILL` to the new server listening, in seconds.
    pub down: f64,
    /// From starting the new process to it listening, in seconds.
    pub restart: f64,
    /// Clients that saw the server go (lost their connection or failed an attempt).
    pub clients_hit: u32,
    /// Clients that never noticed it went (must be 0).
    pub not_noticed: u32,
    /// The lowest and highest retry number pending when the server came back.
    pub retry_range: (u32, u32),
    /// The latest reconnection the policy allowed any client, in seconds
    /// after the server was back: its pending retry's wait began at its last
    /// failure and lasts at most `base(n) + jitter`.
    pub promised: f64,
    /// Reconnection delays after the server was back, in seconds: min, median, max.
    pub delay: (f64, f64, f64),
    /// Clients back later than their own pending retry allowed (plus
    /// slack), or not back at all though due (must be 0).
    pub outside: u32,
    /// Clients not yet back when the next outage began, but not yet due either.
    pub cut_short: u32,
    /// Attempts started after the server was back that failed (must be 0).
    pub failed_while_up: u32,
}

/// Everything the soak measured; [`problems`](SoakReport::problems) says
/// what, if anything, went wrong.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoakReport {
    /// Whether it ran in the simulated network (`run_simulated`).
    pub simulated: bool,
    /// Clients.
    pub clients: u32,
    /// The seed.
    pub seed: u64,
    /// The server's port.
    pub port: u16,
    /// From start until the clients were stopped, in seconds.
    pub elapsed: f64,
    /// The slack allowed for timers and connects, in seconds.
    pub slack: f64,
    /// New messages sent (each has its own number).
    pub sent: u64,
    /// Of those, acknowledged by the server.
    pub acknowledged: u64,
    /// Sent and never acknowledged (the run ended first).
    pub unacknowledged: u64,
    /// Messages sent again after a reconnection, having had no ack.
    pub resent: u64,
    /// Distinct messages in the server logs.
    pub recorded: u64,
    /// Records of a message the server had already recorded (its ack was
    /// lost with the connection, so the client sent it again).
    pub duplicates: u64,
    /// Acknowledged messages that no server recorded (must be 0).
    pub lost: u64,
    /// The first few lost messages, `(client, seq)`.
    pub lost_examples: Vec<(u32, u64)>,
    /// Lines the servers logged as malformed, records of messages never
    /// sent, acks the clients could not parse, acks for no outstanding
    /// message (all must be 0).
    pub corrupt: u64,
    /// Connections made.
    pub connections: u64,
    /// Connections made after a client's first.
    pub reconnects: u64,
    /// Connections lost before the clients were stopped.
    pub connections_lost: u64,
    /// The waits before retries.
    pub retries: RetryStats,
    /// The outages, in order.
    pub outages: Vec<OutageReport>,
    /// Where the server logs are (deleted unless kept).
    pub logs: PathBuf,
}

impl SoakReport {
    /// What went wrong; empty if the run passed.
    pub fn problems(&self) -> Vec<String> {
        let sum = |f: fn(&OutageReport) -> u32| self.outages.iter().map(f).sum::<u32>();
        let counts = [
            (self.lost, "acknowledged messages never recorded"),
            (self.corrupt, "corrupt or unknown lines"),
            (self.unacknowledged, "messages never acknowledged"),
            (
                self.retries.too_early,
                "retries earlier than the policy allows",
            ),
            (
                self.retries.too_late,
                "retries later than the policy allows",
            ),
            (
                sum(|o| o.outside).into(),
                "reconnections later than promised",
            ),
            (
                sum(|o| o.not_noticed).into(),
                "clients that never noticed an outage",
            ),
            (
                sum(|o| o.failed_while_up).into(),
                "attempts failed while the server was up",
            ),
        ];
        let mut problems: Vec<String> = counts
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, what)| format!("{count} {what}"))
            .collect();
        if self.outages.is_empty() {
            problems.push("no outage took place: run longer".to_string());
        }
        problems
    }

    /// No problems.
    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }

    /// Every reconnection delay's summary over all outages: min, median
    /// (of the outages' medians), max.
    fn overall_delay(&self) -> (f64, f64, f64) {
        let mut medians: Vec<f64> = self.outages.iter().map(|o| o.delay.1).collect();
        medians.sort_by(f64::total_cmp);
        let min = self
            .outages
            .iter()
            .map(|o| o.delay.0)
            .fold(f64::INFINITY, f64::min);
        let max = self.outages.iter().map(|o| o.delay.2).fold(0.0, f64::max);
        (
            min,
            medians.get(medians.len() / 2).copied().unwrap_or(0.0),
            max,
        )
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = PolicyPromise::TWISTED;
        let (server, outage) = if self.simulated {
            ("simulated host server", "host crash, restart")
        } else {
            ("127.0.0.1", "SIGKILL, restart on the same port")
        };
        writeln!(
            f,
            "soak: {} ClientService clients for {:.1} s, seed {}, server on {server}:{}, outages: {} ({outage})",
            self.clients, self.elapsed, self.seed, self.port, self.outages.len()
        )?;
        writeln!(f, "messages")?;
        let rows: [(&str, u64, &str); 8] = [
            ("sent", self.sent, "distinct numbered messages"),
            (
                "acknowledged",
                self.acknowledged,
                "the server recorded it, then said so",
            ),
            (
                "not acknowledged",
                self.unacknowledged,
                "at the end; must be 0",
            ),
            (
                "re-sent",
                self.resent,
                "unacknowledged when a connection died, sent again",
            ),
            (
                "recorded",
                self.recorded,
                "distinct messages in the server logs",
            ),
            (
                "duplicates",
                self.duplicates,
                "recorded again: the ack died with the connection",
            ),
            (
                "lost",
                self.lost,
                "acknowledged but never recorded; must be 0",
            ),
            (
                "corrupt",
                self.corrupt,
                "malformed lines, unknown records, bad acks; must be 0",
            ),
        ];
        for (name, value, what) in rows {
            writeln!(f, "  {name:<17} {value:>10}   {what}")?;
        }
        if !self.lost_examples.is_empty() {
            writeln!(
                f,
                "  lost (client, seq), first ones: {:?}",
                self.lost_examples
            )?;
        }
        writeln!(f, "connections")?;
        writeln!(f, "  {:<17} {:>10}", "made", self.connections)?;
        writeln!(f, "  {:<17} {:>10}", "reconnects", self.reconnects)?;
        writeln!(f, "  {:<17} {:>10}", "lost", self.connections_lost)?;
        let r = &self.retries;
        writeln!(
            f,
            "retries: every wait before an attempt against backoffPolicy(): min({} * {}^n, {}) s + jitter in [0, {}) s",
            policy.initial, policy.factor, policy.max, policy.jitter
        )?;
        writeln!(
            f,
            "  checked {}, too early {}, too late {} (slack {:.0} ms); wait - base: min {:.3} mean {:.3} max {:.3} s",
            r.checked, r.too_early, r.too_late, self.slack * 1e3, r.jitter_min, r.jitter_mean, r.jitter_max
        )?;
        writeln!(
            f,
            "outages: reconnection delay after the server was back, against the latest the pending retry allowed (last failure + base(n) + jitter)"
        )?;
        writeln!(
            f,
            "  {:>3} {:>9} {:>9} {:>7} {:>8} {:>7} {:>7} {:>9} {:>25} {:>7} {:>5}",
            "#",
            "killed at",
            "back at",
            "down",
            "restart",
            "clients",
            "retry n",
            "promised",
            "delay min / median / max",
            "outside",
            "cut"
        )?;
        for (i, o) in self.outages.iter().enumerate() {
            writeln!(
                f,
                "  {:>3} {:>7.2} s {:>7.2} s {:>5.2} s {:>5.0} ms {:>7} {:>7} {:>7.2} s {:>6.2} / {:>6.2} / {:>6.2} s {:>7} {:>5}",
                i + 1,
                o.killed_at,
                o.killed_at + o.down,
                o.down,
                o.restart * 1e3,
                o.clients_hit,
                format!("{}-{}", o.retry_range.0, o.retry_range.1),
                o.promised,
                o.delay.0,
                o.delay.1,
                o.delay.2,
                o.outside,
                o.cut_short,
            )?;
        }
        let (min, median, max) = self.overall_delay();
        let outside: u32 = self.outages.iter().map(|o| o.outside).sum();
        writeln!(
            f,
            "  delay after server-up, all outages: min {min:.2} s, median {median:.2} s, max {max:.2} s; outside the policy's bound: {outside}"
        )?;
        let problems = self.problems();
        if problems.is_empty() {
            write!(f, "PASS")
        } else {
            write!(f, "FAIL: {}", problems.join("; "))
        }
    }
}

/// Reads every server log: complete lines only (a process killed in the
/// middle of a `write` may leave half a line, which no ack followed).
pub(super) fn read_logs(paths: &[PathBuf]) -> std::io::Result<Records> {
    let mut records = Records::default();
    for path in paths {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        parse_log(&text, &mut records);
    }
    Ok(records)
}

/// Adds one log's complete lines to `records`.
pub(super) fn parse_log(text: &[u8], records: &mut Records) {
    let complete = text
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&text[..0], |end| &text[..end]);
    for line in complete.split(|&b| b == b'\n') {
        match two_numbers(line) {
            Some((client, seq, [])) => {
                *records.seen.entry((client, seq)).or_default() += 1;
            }
            _ => records
                .corrupt
                .push(String::from_utf8_lossy(line).into_owned()),
        }
    }
}

fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

/// Checks the waits before every attempt of one client.
fn check_retries(
    events: &[(Instant, Event)],
    policy: &PolicyPromise,
    slack: f64,
    stats: &mut RetryStats,
    sum: &mut f64,
) {
    let mut failures = 0;
    let mut since = None;
    for &(at, event) in events {
        match event {
            Event::Lost => {
                failures = 1;
                since = Some(at);
            }
            Event::AttemptFailed => {
                failures += 1;
                since = Some(at);
            }
            Event::Connected => {
                failures = 0;
                since = None;
            }
            Event::Attempt => {
                if let Some(failed) = since.take() {
                    let over = secs(failed, at) - policy.base(failures);
                    stats.checked += 1;
                    *sum += over;
                    stats.jitter_min = stats.jitter_min.min(over);
                    stats.jitter_max = stats.jitter_max.max(over);
                    // 1 ms: the clocks of the timer and of the record differ by float rounding.
                    if over < -0.001 {
                        stats.too_early += 1;
                    } else if over > policy.jitter + slack {
                        stats.too_late += 1;
                    }
                }
            }
        }
    }
}

/// One client through one outage (from `killed` to `next`): whether it
/// noticed, when it was back, and the retry it had pending at `up`.
struct Passage {
    noticed: bool,
    /// The last failure before the server was back: the pending retry's wait began then.
    last_failure: Option<Instant>,
    back: Option<Instant>,
    pending_retry: u32,
    failed_while_up: u32,
}

fn passage(events: &[(Instant, Event)], killed: Instant, up: Instant, next: Instant) -> Passage {
    let window = events.iter().filter(|(at, _)| *at >= killed && *at < next);
    let mut passage = Passage {
        noticed: false,
        last_failure: None,
        back: None,
        pending_retry: 0,
        failed_while_up: 0,
    };
    let mut attempt_at = killed;
    for &(at, event) in window {
        match event {
            Event::Lost | Event::AttemptFailed => {
                passage.noticed = true;
                if at < up && passage.back.is_none() {
                    passage.pending_retry += 1;
                    passage.last_failure = Some(at);
                }
                if event == Event::AttemptFailed && attempt_at >= up {
                    passage.failed_while_up += 1;
                }
            }
            Event::Attempt => attempt_at = at,
            Event::Connected => {
                if passage.noticed && passage.back.is_none() {
                    passage.back = Some(at);
                }
            }
        }
    }
    passage
}

/// Checks everything.
#[allow(clippy::too_many_arguments)]
pub(super) fn analyse(
    config: &SoakConfig,
    start: Instant,
    stopped: Instant,
    histories: &[History],
    schedule: &ScheduleOutcome,
    records: &Records,
    port: u16,
    logs: &Path,
) -> SoakReport {
    let policy = PolicyPromise::TWISTED;
    let slack = config.slack.as_secs_f64();
    let mut report = SoakReport {
        clients: config.clients,
        seed: config.seed,
        port,
        elapsed: secs(start, stopped),
        slack,
        logs: logs.to_path_buf(),
        retries: RetryStats {
            jitter_min: f64::INFINITY,
            ..RetryStats::default()
        },
        ..SoakReport::default()
    };
    let mut jitter_sum = 0.0;
    let mut bad_acks = 0;
    for history in histories {
        let sent = history.next_seq - 1;
        report.sent += sent;
        report.unacknowledged += history.unacked.len() as u64;
        report.resent += history.resent;
        bad_acks += history.bad_lines + history.unexpected_acks;
        for seq in 1..history.next_seq {
            if history.unacked.binary_search(&seq).is_err()
                && !records.seen.contains_key(&(history.id, seq))
            {
                report.lost += 1;
                if report.lost_examples.len() < 10 {
                    report.lost_examples.push((history.id, seq));
                }
            }
        }
        let events: Vec<(Instant, Event)> = history
            .events
            .iter()
            .copied()
            .filter(|(at, _)| *at < stopped)
            .collect();
        let made = events
            .iter()
            .filter(|(_, e)| *e == Event::Connected)
            .count() as u64;
        report.connections += made;
        report.reconnects += made.saturating_sub(1);
        report.connections_lost += events.iter().filter(|(_, e)| *e == Event::Lost).count() as u64;
        check_retries(
            &events,
            &policy,
            slack,
            &mut report.retries,
            &mut jitter_sum,
        );
    }
    report.acknowledged = report.sent - report.unacknowledged;
    report.recorded = records.seen.len() as u64;
    report.duplicates = records.seen.values().map(|&n| u64::from(n) - 1).sum();
    let sent_by: HashMap<u32, u64> = histories.iter().map(|h| (h.id, h.next_seq)).collect();
    let unknown = records
        .seen
        .keys()
        .filter(|(client, seq)| sent_by.get(client).is_none_or(|next| seq >= next))
        .count() as u64;
    report.corrupt = records.corrupt.len() as u64 + unknown + bad_acks;
    if report.retries.checked > 0 {
        report.retries.jitter_mean = jitter_sum / report.retries.checked as f64;
    } else {
        report.retries.jitter_min = 0.0;
    }

    for (i, outage) in schedule.outages.iter().enumerate() {
        let next = schedule
            .outages
            .get(i + 1)
            .map_or(stopped, |o| o.killed)
            .min(stopped);
        let mut o = OutageReport {
            killed_at: secs(start, outage.killed),
            down: secs(outage.killed, outage.up),
            restart: secs(outage.restarted, outage.up),
            retry_range: (u32::MAX, 0),
            ..OutageReport::default()
        };
        let mut delays = Vec::new();
        for history in histories {
            let p = passage(&history.events, outage.killed, outage.up, next);
            o.failed_while_up += p.failed_while_up;
            if !p.noticed {
                o.not_noticed += 1;
                continue;
            }
            o.clients_hit += 1;
            // The policy promises the pending retry by its wait's start plus
            // the longest wait; that many seconds after the server was back.
            let promised = match p.last_failure {
                Some(failed) if p.back.is_none_or(|back| back >= outage.up) => {
                    o.retry_range.0 = o.retry_range.0.min(p.pending_retry);
                    o.retry_range.1 = o.retry_range.1.max(p.pending_retry);
                    let due = failed + Duration::from_secs_f64(policy.longest(p.pending_retry));
                    let promised = due.saturating_duration_since(outage.up).as_secs_f64();
                    o.promised = o.promised.max(promised);
                    promised
                }
                // Back before the schedule saw the server listening, or
                // failed only once it was back (that is counted apart).
                _ => f64::INFINITY,
            };
            match p.back {
                Some(back) => {
                    let delay = secs(outage.up, back);
                    if delay > promised + slack {
                        o.outside += 1;
                    }
                    delays.push(delay);
                }
                None if promised + slack < secs(outage.up, next) => o.outside += 1,
                None => o.cut_short += 1,
            }
        }
        if o.retry_range.0 == u32::MAX {
            o.retry_range.0 = 0;
        }
        delays.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (delays.first(), delays.last()) {
            o.delay = (*first, delays[delays.len() / 2], *last);
        }
        report.outages.push(o);
    }
    report
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::soak::schedule::Outage;

    fn config() -> SoakConfig {
        let mut config =
            SoakConfig::new(crate::soak::ServerLauncher::new(|_| Command::new("false")));
        config.clients = 1;
        config
    }

    fn history(next_seq: u64, unacked: Vec<u64>, t0: Instant, events: &[(f64, Event)]) -> History {
        History {
            id: 0,
            next_seq,
            unacked,
            resent: 0,
            unexpected_acks: 0,
            bad_lines: 0,
            events: events
                .iter()
                .map(|&(at, e)| (t0 + Duration::from_secs_f64(at), e))
                .collect(),
        }
    }

    fn analyse_one(
        history: History,
        t0: Instant,
        outages: Vec<Outage>,
        seen: &[u64],
    ) -> SoakReport {
        let records = Records {
            seen: seen.iter().map(|&seq| ((0, seq), 1)).collect(),
            corrupt: Vec::new(),
        };
        let schedule = ScheduleOutcome {
            outages,
            logs: Vec::new(),
        };
        let stopped = t0 + Duration::from_secs(20);
        analyse(
            &config(),
            t0,
            stopped,
            &[history],
            &schedule,
            &records,
            1,
            Path::new("."),
        )
    }

    fn at(t0: Instant, secs: f64) -> Instant {
        t0 + Duration::from_secs_f64(secs)
    }

    #[test]
    fn an_acknowledged_message_missing_from_the_logs_is_lost() {
        let t0 = Instant::now();
        // Sent 1, 2, 3; 3 never acknowledged; the server recorded only 1.
        let report = analyse_one(history(4, vec![3], t0, &[]), t0, Vec::new(), &[1]);
        assert_eq!((report.sent, report.acknowledged, report.lost), (3, 2, 1));
        assert_eq!(report.lost_examples, vec![(0, 2)]);
        assert!(!report.passed());
    }

    #[test]
    fn retries_are_held_to_the_policy_both_ways() {
        let t0 = Instant::now();
        let events = [
            (0.0, Event::Attempt),
            (0.01, Event::Connected),
            (1.0, Event::Lost),
            (2.2, Event::Attempt), // 1.2 s after: retry 1 waits at least 1.5 s
            (2.2, Event::AttemptFailed),
            (5.0, Event::Attempt), // 2.8 s after: retry 2 waits 2.25 to 3.25 s
            (5.01, Event::Connected),
            (6.0, Event::Lost),
            (8.9, Event::Attempt), // 2.9 s after: retry 1 waits at most 2.5 s (+ 0.25)
        ];
        let report = analyse_one(history(1, vec![], t0, &events), t0, Vec::new(), &[]);
        let r = &report.retries;
        assert_eq!((r.checked, r.too_early, r.too_late), (3, 1, 1));
    }

    #[test]
    fn a_reconnection_later_than_the_pending_retry_allows_is_outside() {
        let t0 = Instant::now();
        let outage = |killed: f64, up: f64| Outage {
            killed: at(t0, killed),
            restarted: at(t0, up),
            up: at(t0, up),
        };
        // Connected at 0, lost at 1 (the server was killed at 0.9), the
        // server back at 2: retry 1 is due by 3.5 (+ 0.25 slack).
        let run = |back: Option<f64>, outages: Vec<Outage>| {
            let mut events = vec![
                (0.0, Event::Attempt),
                (0.0, Event::Connected),
                (1.0, Event::Lost),
            ];
            if let Some(back) = back {
                events.extend([(back, Event::Attempt), (back + 0.01, Event::Connected)]);
            }
            analyse_one(history(1, vec![], t0, &events), t0, outages, &[])
        };

        let on_time = run(Some(3.0), vec![outage(0.9, 2.0)]);
        let o = &on_time.outages[0];
        assert_eq!((o.clients_hit, o.outside, o.retry_range), (1, 0, (1, 1)));
        assert!((o.delay.2 - 1.01).abs() < 1e-6);
        assert!((o.promised - 1.5).abs() < 1e-6);
        assert!(on_time.passed(), "{on_time}");

        let late = run(Some(4.0), vec![outage(0.9, 2.0)]);
        assert_eq!(late.outages[0].outside, 1);
        assert!(!late.passed());

        // Never back, though due long before the next outage.
        let gone = run(None, vec![outage(0.9, 2.0), outage(10.0, 11.0)]);
        assert_eq!(gone.outages[0].outside, 1);
        assert_eq!(gone.outages[1].not_noticed, 1);
    }
}
