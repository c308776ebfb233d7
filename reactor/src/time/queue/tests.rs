use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn drain<T>(queue: &mut TimerQueue<T>, now: Duration) -> Vec<T> {
    std::iter::from_fn(|| queue.pop_due(now).map(|(_, v)| v)).collect()
}

#[test]
fn same_instant_entries_come_out_in_scheduling_order() {
    let mut queue = TimerQueue::new();
    for i in 0..100 {
        queue.insert(secs(1), i);
    }
    assert_eq!(drain(&mut queue, secs(1)), (0..100).collect::<Vec<_>>());
}

#[test]
fn earlier_deadlines_come_first_regardless_of_insertion() {
    let mut queue = TimerQueue::new();
    queue.insert(secs(3), "c");
    queue.insert(secs(1), "a");
    queue.insert(secs(2), "b");
    assert_eq!(drain(&mut queue, secs(10)), ["a", "b", "c"]);
}

#[test]
fn nothing_is_due_before_its_deadline() {
    let mut queue = TimerQueue::new();
    queue.insert(Duration::from_nanos(1_000_000_001), ());
    assert!(queue.pop_due(secs(1)).is_none());
    assert_eq!(
        queue.next_deadline(),
        Some(Duration::from_nanos(1_000_000_001))
    );
    assert!(queue.pop_due(Duration::from_nanos(1_000_000_001)).is_some());
}

#[test]
fn remove_is_exact_and_stale_ids_are_refused() {
    let mut queue = TimerQueue::new();
    let a = queue.insert(secs(1), "a");
    let b = queue.insert(secs(1), "b");
    assert_eq!(queue.remove(a), Some("a"));
    assert_eq!(queue.remove(a), None, "removing twice");
    // The freed slot is reused; the old id must not reach the new entry.
    let c = queue.insert(secs(1), "c");
    assert_eq!(queue.remove(a), None);
    assert_eq!(queue.get(c), Some(&"c"));
    assert_eq!(drain(&mut queue, secs(1)), ["b", "c"]);
    assert_eq!(queue.remove(b), None, "removing after it ran");
}

#[test]
fn reschedule_moves_behind_entries_already_at_that_instant() {
    let mut queue = TimerQueue::new();
    let a = queue.insert(secs(1), "a");
    queue.insert(secs(2), "b");
    let a = queue.reschedule(a, secs(2)).expect("live");
    assert_eq!(queue.deadline(a), Some(secs(2)));
    assert_eq!(drain(&mut queue, secs(2)), ["b", "a"]);
}

#[test]
fn reschedule_earlier_and_later() {
    let mut queue = TimerQueue::new();
    let a = queue.insert(secs(5), "a");
    let b = queue.insert(secs(1), "b");
    let a2 = queue.reschedule(a, secs(0)).unwrap();
    assert!(queue.reschedule(a, secs(9)).is_none(), "old id is stale");
    queue.reschedule(b, secs(9)).unwrap();
    assert_eq!(drain(&mut queue, secs(1)), ["a"]);
    assert!(queue.remove(a2).is_none());
    assert_eq!(drain(&mut queue, secs(9)), ["b"]);
    assert!(queue.is_empty());
}

#[test]
fn due_lists_without_removing_and_skips_what_changed() {
    let mut queue = TimerQueue::new();
    let a = queue.insert(secs(1), "a");
    let b = queue.insert(secs(1), "b");
    let c = queue.insert(secs(1), "c");
    queue.insert(secs(2), "later");
    let mut due = Vec::new();
    queue.due(secs(1), &mut due);
    assert_eq!(due, [a, b, c]);
    // While the turn runs: b is cancelled, c rescheduled, d scheduled now.
    assert_eq!(queue.remove(due[0]), Some("a"));
    queue.remove(b);
    queue.reschedule(c, secs(1)).unwrap();
    queue.insert(secs(1), "d");
    let ran: Vec<_> = due[1..].iter().filter_map(|id| queue.remove(*id)).collect();
    assert!(ran.is_empty());
    // The next turn sees c and d, in that order.
    assert_eq!(drain(&mut queue, secs(1)), ["c", "d"]);
}

#[test]
fn iter_is_ordered_by_deadline_then_sequence() {
    let mut queue = TimerQueue::new();
    queue.insert(secs(2), 'b');
    queue.insert(secs(1), 'a');
    queue.insert(secs(2), 'c');
    let order: Vec<char> = queue.iter().map(|(_, _, v)| *v).collect();
    assert_eq!(order, ['a', 'b', 'c']);
}

#[test]
fn heap_stays_proportional_to_live_entries() {
    let mut queue = TimerQueue::new();
    let keep = queue.insert(secs(100), ());
    for i in 0..100_000u64 {
        let id = queue.insert(secs(i), ());
        queue.remove(id);
    }
    assert_eq!(queue.len(), 1);
    assert!(
        queue.heap.len() <= 2 * queue.len() + 1025,
        "heap has {} keys",
        queue.heap.len()
    );
    assert!(queue.get(keep).is_some());
    let mut id = keep;
    for i in 0..100_000u64 {
        id = queue.reschedule(id, secs(i)).unwrap();
    }
    assert!(queue.heap.len() <= 2 * queue.len() + 1025);
    assert_eq!(queue.next_deadline(), Some(secs(99_999)));
}

#[test]
fn huge_deadlines_saturate() {
    let mut queue = TimerQueue::new();
    queue.insert(Duration::MAX, "never");
    queue.insert(secs(1), "soon");
    assert_eq!(
        drain(&mut queue, Duration::from_secs(u64::MAX / 2_000_000_000)),
        ["soon"]
    );
    assert_eq!(queue.len(), 1);
}
