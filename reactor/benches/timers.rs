//! Timer micro benchmarks with 1 000 000 timers already queued: schedule,
//! cancel, reset, on the shared timer queue and through `Timers`.
//!
//! Run: `cargo bench -p torsion-reactor --bench timers`
#![allow(missing_docs)] // criterion_group! generates undocumented public functions

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use torsion_reactor::{ReactorTimeExt, TimerQueue, Timers};

const QUEUED: u64 = 1_000_000;

/// Deadlines spread over an hour, in a scrambled order.
fn deadline(i: u64) -> Duration {
    Duration::from_micros(i.wrapping_mul(2_654_435_761) % 3_600_000_000)
}

fn queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_queue_1M_queued");
    let mut queue = TimerQueue::new();
    for i in 0..QUEUED {
        queue.insert(deadline(i), i);
    }
    let mut i = QUEUED;
    group.bench_function("insert_then_remove", |b| {
        b.iter(|| {
            i += 1;
            let id = queue.insert(deadline(i), i);
            black_box(queue.remove(id))
        })
    });
    let mut id = queue.insert(deadline(7), 7);
    group.bench_function("reschedule", |b| {
        b.iter(|| {
            i += 1;
            id = queue.reschedule(id, deadline(i)).expect("live");
        })
    });
    group.finish();
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers_1M_queued");
    let timers = Timers::manual();
    let calls: Vec<_> = (0..QUEUED)
        .map(|i| timers.call_later(deadline(i), || {}))
        .collect();
    let mut i = 0;
    group.bench_function("call_later_then_cancel", |b| {
        b.iter(|| {
            i += 1;
            let call = timers.call_later(deadline(i), || {});
            call.cancel().expect("pending")
        })
    });
    group.bench_function("reset", |b| {
        b.iter(|| {
            i += 1;
            calls[(i % QUEUED) as usize]
                .reset(deadline(i))
                .expect("pending")
        })
    });
    group.finish();
}

criterion_group!(benches, queue, timers);
criterion_main!(benches);
