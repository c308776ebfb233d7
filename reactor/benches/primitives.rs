//! Deferred primitive micro benchmarks: a `DeferredLock` acquire/release
//! and a `DeferredQueue` put/get against one Deferred callback (a new
//! Deferred, one callback added, fired, result taken). The bar (issue 17):
//! each within 3x of the callback.
//!
//! Run: `cargo bench -p torsion-reactor --bench primitives`
#![allow(missing_docs)] // criterion_group! generates undocumented public functions

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use torsion_reactor::{Deferred, DeferredLock, DeferredQueue, DeferredSemaphore};

fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitives");
    group.bench_function("deferred_callback", |b| {
        b.iter(|| {
            let d = Deferred::<u64>::new();
            let tail = d.clone().add_callback(|x| Ok(black_box(x + 1)));
            d.callback(black_box(1));
            tail.take_result()
        })
    });
    let lock = DeferredLock::new();
    group.bench_function("lock_acquire_release", |b| {
        b.iter(|| {
            let guard = lock.acquire().take_result();
            black_box(&guard);
            drop(guard);
        })
    });
    // Contended: a waiter queued behind the holder gets the lock on release.
    group.bench_function("lock_acquire_release_contended", |b| {
        let holder = lock.acquire().take_result();
        let mut holder = Some(holder);
        b.iter(|| {
            let waiter = lock.acquire();
            drop(holder.take());
            holder = Some(waiter.take_result());
        })
    });
    let semaphore = DeferredSemaphore::new(4).expect("4 tokens");
    group.bench_function("semaphore_acquire_release", |b| {
        b.iter(|| {
            let token = semaphore.acquire().take_result();
            black_box(&token);
        })
    });
    let queue = DeferredQueue::<u64>::new();
    group.bench_function("queue_put_get", |b| {
        b.iter(|| {
            let _ = queue.put(black_box(1));
            queue.get().ok().and_then(|d| d.take_result())
        })
    });
    // A get waiting before the put: the put fires it.
    group.bench_function("queue_get_put", |b| {
        b.iter(|| {
            let d = queue.get().ok();
            let _ = queue.put(black_box(1));
            d.and_then(|d| d.take_result())
        })
    });
    group.finish();
}

criterion_group!(benches, primitives);
criterion_main!(benches);
