//! Deferred micro benchmarks: the cost of one callback in a 1 000-long
//! chain against the same chain of boxed closures, and the cost of a
//! callback that returns a Deferred.
//!
//! Run: `cargo bench -p torsion-reactor --bench deferred`
#![allow(missing_docs)] // criterion_group! generates undocumented public functions

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use torsion_reactor::{succeed, Deferred};

const CHAIN: u64 = 1_000;

fn callback_chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("chain_1000");
    group.throughput(Throughput::Elements(CHAIN));
    // The baseline: what a hand-written callback list costs (box each
    // closure, then call them in order, threading the value through).
    group.bench_function("boxed_closures", |b| {
        b.iter(|| {
            let mut chain: Vec<Box<dyn FnOnce(u64) -> u64>> = Vec::with_capacity(CHAIN as usize);
            for i in 0..CHAIN {
                chain.push(Box::new(move |x| black_box(x + i)));
            }
            chain.into_iter().fold(black_box(0), |x, f| f(x))
        })
    });
    group.bench_function("deferred_add_then_fire", |b| {
        b.iter(|| {
            let d = Deferred::<u64>::new();
            let mut tail = d.clone();
            for i in 0..CHAIN {
                tail = tail.add_callback(move |x| Ok(black_box(x + i)));
            }
            d.callback(black_box(0));
            tail.take_result()
        })
    });
    group.bench_function("deferred_fire_then_add", |b| {
        b.iter(|| {
            let mut d = succeed(black_box(0u64));
            for i in 0..CHAIN {
                d = d.add_callback(move |x| Ok(black_box(x + i)));
            }
            d.take_result()
        })
    });
    group.finish();
}

fn deferred_returning_deferred(c: &mut Criterion) {
    let mut group = c.benchmark_group("deferred_returning_deferred");
    group.throughput(Throughput::Elements(1));
    // The inner Deferred already has its result: the outer steals it.
    group.bench_function("inner_already_fired", |b| {
        b.iter(|| {
            succeed(black_box(1u64))
                .add_callback(|x| succeed(x + 1))
                .take_result()
        })
    });
    // The inner fires later: the outer pauses, then resumes from the inner's run.
    group.bench_function("inner_fired_later", |b| {
        b.iter_batched(
            Deferred::<u64>::new,
            |inner| {
                let waiting = inner.clone();
                let outer = succeed(black_box(1u64)).add_callback(move |_| waiting);
                inner.callback(2);
                outer.take_result()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, callback_chain, deferred_returning_deferred);
criterion_main!(benches);
