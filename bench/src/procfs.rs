//! What `/proc/<pid>` tells about a server: CPU seconds, how often its
//! threads blocked, and memory.

use std::io;
use std::time::{Duration, Instant};

/// CPU seconds (all threads) `pid` has used so far: the scheduler's
/// nanosecond count (`se.sum_exec_runtime` in `/proc/<pid>/task/*/sched`)
/// where the kernel keeps it, else user + system clock ticks from
/// `/proc/<pid>/stat`. Nanoseconds matter: a run's measured seconds are cut
/// into slices, and a 10 ms tick would blur each slice's share by ~2%.
pub(crate) fn cpu_seconds(pid: u32) -> io::Result<f64> {
    if std::path::Path::new(&format!("/proc/{pid}/sched")).exists() {
        // In milliseconds, with six decimals.
        return Ok(sum_over_threads(pid, "sched", "se.sum_exec_runtime")? / 1000.0);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: fields are counted from
    // its closing parenthesis; utime and stime are fields 14 and 15.
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other(format!("odd /proc/{pid}/stat: {stat:?}")))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no field {} in /proc/{pid}/stat", i + 3)))
    };
    let total = ticks(11)? + ticks(12)?;
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(total as f64 / per_second as f64)
}

/// How many times the threads of `pid` have blocked so far (voluntary
/// context switches, summed over `/proc/<pid>/task/*/status`): for an
/// event loop, the waits in `epoll_wait` that found nothing ready.
pub(crate) fn sleeps(pid: u32) -> io::Result<u64> {
    Ok(sum_over_threads(pid, "status", "voluntary_ctxt_switches")? as u64)
}

/// Adds up, over the live threads of `pid`, the number on the line that
/// starts with `key` (then spaces, `:` and the number) in each thread's
/// `/proc/<pid>/task/<tid>/<file>`.
fn sum_over_threads(pid: u32, file: &str, key: &str) -> io::Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let text = match std::fs::read_to_string(task?.path().join(file)) {
            Ok(text) => text,
            // A thread that ended between the listing and the read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        total += text
            .lines()
            .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix(':'))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .ok_or_else(|| io::Error::other(format!("no {key} in {file} of a thread of {pid}")))?;
    }
    Ok(total)
}

/// Resident memory of `pid`, now and at its peak, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) peak_kib: u64,
}

pub(crate) fn memory(pid: u32) -> io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// The measured stretch of a scenario: wall time and the server's CPU.
#[derive(Debug)]
pub(crate) struct Window {
    pid: u32,
    started: Instant,
    cpu_at_start: f64,
    sleeps_at_start: u64,
}

/// What a closed [`Window`] measured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Measured {
    pub(crate) elapsed: Duration,
    /// Server CPU seconds.
    pub(crate) cpu: f64,
    /// Times the server's threads blocked ([`sleeps`]).
    pub(crate) sleeps: u64,
}

impl Window {
    pub(crate) fn open(pid: u32) -> io::Result<Window> {
        Ok(Window {
            pid,
            cpu_at_start: cpu_seconds(pid)?,
            sleeps_at_start: sleeps(pid)?,
            started: Instant::now(),
        })
    }

    /// Wall time, server CPU seconds and server sleeps since
    /// [`Window::open`].
    pub(crate) fn close(self) -> io::Result<Measured> {
        let elapsed = self.started.elapsed();
        Ok(Measured {
            elapsed,
            cpu: cpu_seconds(self.pid)? - self.cpu_at_start,
            sleeps: sleeps(self.pid)?.saturating_sub(self.sleeps_at_start),
        })
    }
}
