//! [`TimerQueue`]: the one timer queue behind both the mio reactor and
//! `testing::Clock`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Duration;

use slab::Slab;

/// Identifies one scheduled entry of a [`TimerQueue`]; stale ids (of entries
/// that ran, were removed or were rescheduled) are recognised, never confused
/// with a newer entry in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: usize,
    seq: u64,
}

impl TimerId {
    /// An id that matches no entry (a stand-in before the real one is known).
    pub(crate) fn placeholder() -> TimerId {
        TimerId {
            slot: usize::MAX,
            seq: u64::MAX,
        }
    }
}

struct Entry<T> {
    deadline: u64,
    seq: u64,
    value: T,
}

/// A timer queue ordered by `(deadline, sequence)`.
///
/// * Entries due at the same instant come out in the order they were
///   scheduled: each insert (and each reschedule) takes the next sequence
///   number, so a rescheduled entry goes behind those already waiting for the
///   same instant.
/// * Entries live in a [`Slab`]; a binary min-heap holds `(deadline, seq,
///   slot)` keys. Removing or rescheduling an entry is O(1) on the slab and
///   leaves its old heap key behind as *stale* (its `seq` no longer matches);
///   stale keys are skipped when they surface and the heap is rebuilt when
///   they outnumber live ones, so memory stays proportional to live entries.
/// * Insert is O(log n) (O(1) on average for a binary heap), remove O(1),
///   reschedule O(log n); with a million entries queued each stays well under
///   a microsecond (see `benches/timers.rs`).
///
/// Deadlines are [`Duration`]s since the owner's epoch, kept as whole
/// nanoseconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_reactor::TimerQueue;
///
/// let mut queue = TimerQueue::new();
/// let a = queue.insert(Duration::from_secs(2), "a");
/// queue.insert(Duration::from_secs(1), "b");
/// queue.insert(Duration::from_secs(2), "c");
/// assert_eq!(queue.remove(a), Some("a"));
/// let due: Vec<_> = std::iter::from_fn(|| queue.pop_due(Duration::from_secs(5)))
///     .map(|(_, value)| value)
///     .collect();
/// assert_eq!(due, ["b", "c"]);
/// ```
pub struct TimerQueue<T> {
    entries: Slab<Entry<T>>,
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    next_seq: u64,
}

impl<T> fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("len", &self.entries.len())
            .field("heap_keys", &self.heap.len())
            .finish()
    }
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue::new()
    }
}

/// Whole nanoseconds, saturating (584 years).
fn ticks(deadline: Duration) -> u64 {
    u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX)
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub fn new() -> TimerQueue<T> {
        TimerQueue {
            entries: Slab::new(),
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// How many entries are scheduled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Schedules `value` at `deadline`.
    pub fn insert(&mut self, deadline: Duration, value: T) -> TimerId {
        let deadline = ticks(deadline);
        let seq = self.take_seq();
        let slot = self.entries.insert(Entry {
            deadline,
            seq,
            value,
        });
        self.heap.push(Reverse((deadline, seq, slot)));
        TimerId { slot, seq }
    }

    fn live(&self, id: TimerId) -> bool {
        self.entries.get(id.slot).is_some_and(|e| e.seq == id.seq)
    }

    /// Removes the entry; `None` if `id` is stale.
    pub fn remove(&mut self, id: TimerId) -> Option<T> {
        if !self.live(id) {
            return None;
        }
        let entry = self.entries.remove(id.slot);
        self.maybe_compact();
        Some(entry.value)
    }

    /// Moves the entry to `deadline`, behind entries already scheduled for
    /// that instant; returns its new id, or `None` if `id` is stale.
    pub fn reschedule(&mut self, id: TimerId, deadline: Duration) -> Option<TimerId> {
        if !self.live(id) {
            return None;
        }
        let seq = self.take_seq();
        let deadline = ticks(deadline);
        let entry = &mut self.entries[id.slot];
        entry.deadline = deadline;
        entry.seq = seq;
        self.heap.push(Reverse((deadline, seq, id.slot)));
        self.maybe_compact();
        Some(TimerId { slot: id.slot, seq })
    }

    /// The entry's deadline; `None` if `id` is stale.
    pub fn deadline(&self, id: TimerId) -> Option<Duration> {
        self.entries
            .get(id.slot)
            .filter(|e| e.seq == id.seq)
            .map(|e| Duration::from_nanos(e.deadline))
    }

    /// The value of a live entry.
    pub fn get(&self, id: TimerId) -> Option<&T> {
        self.entries
            .get(id.slot)
            .filter(|e| e.seq == id.seq)
            .map(|e| &e.value)
    }

    /// Drops stale keys from the top of the heap.
    fn skip_stale(&mut self) {
        while let Some(Reverse((_, seq, slot))) = self.heap.peek() {
            if self.entries.get(*slot).is_some_and(|e| e.seq == *seq) {
                return;
            }
            self.heap.pop();
        }
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&mut self) -> Option<Duration> {
        self.skip_stale();
        self.heap
            .peek()
            .map(|Reverse((deadline, _, _))| Duration::from_nanos(*deadline))
    }

    /// Removes and returns the earliest entry due at or before `now`.
    pub fn pop_due(&mut self, now: Duration) -> Option<(TimerId, T)> {
        let now = ticks(now);
        self.skip_stale();
        let Reverse((deadline, seq, slot)) = *self.heap.peek()?;
        if deadline > now {
            return None;
        }
        self.heap.pop();
        let entry = self.entries.remove(slot);
        Some((TimerId { slot, seq }, entry.value))
    }

    /// The ids of every entry due at or before `now`, in order, without
    /// removing them: a reactor turn runs exactly these, skipping any that
    /// are removed or rescheduled meanwhile, so calls scheduled during the
    /// turn wait for the next one.
    pub fn due(&mut self, now: Duration, out: &mut Vec<TimerId>) {
        let now = ticks(now);
        loop {
            self.skip_stale();
            match self.heap.peek() {
                Some(Reverse((deadline, seq, slot))) if *deadline <= now => {
                    out.push(TimerId {
                        slot: *slot,
                        seq: *seq,
                    });
                    self.heap.pop();
                }
                _ => return,
            }
        }
    }

    /// Every live entry, ordered by `(deadline, sequence)`.
    pub fn iter(&self) -> impl Iterator<Item = (TimerId, Duration, &T)> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .map(|(slot, e)| (e.deadline, e.seq, slot, &e.value))
            .collect();
        all.sort_unstable_by_key(|&(deadline, seq, _, _)| (deadline, seq));
        all.into_iter().map(|(deadline, seq, slot, value)| {
            (TimerId { slot, seq }, Duration::from_nanos(deadline), value)
        })
    }

    /// Rebuilds the heap from live entries once stale keys outnumber them.
    fn maybe_compact(&mut self) {
        let live = self.entries.len();
        if self.heap.len() > 2 * live + 1024 {
            // Ids handed out by `due` but not yet run are re-keyed here too;
            // running them removes the entry and leaves the new key stale.
            self.heap = self
                .entries
                .iter()
                .map(|(slot, e)| Reverse((e.deadline, e.seq, slot)))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests;
