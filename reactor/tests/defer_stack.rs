//! Stack depth: long chains, deeply nested Deferreds, dropping and
//! cancelling them. Twisted's test_boundedStackDepth (spec/deferred.md §12
//! case 37) plus the edges its iterative `_runCallbacks` promises: every
//! large test runs on a thread with an explicit 2 MiB stack (the default
//! test thread stack) to prove it needs no more.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use torsion_reactor::error::CancelledError;
use torsion_reactor::Deferred;
use util::{failure_result_of, on_2mib_stack, success_result_of, Recorder};

/// A chain 100 000 callbacks long runs, on a 2 MiB stack, in order.
#[test]
fn chain_of_100_000_callbacks() {
    on_2mib_stack(|| {
        const N: u64 = 100_000;
        let d = Deferred::<u64>::new();
        let mut tail = d.clone();
        for i in 0..N {
            tail = tail.add_callback(move |n| {
                assert_eq!(n, i, "callbacks run in order");
                Ok(n + 1)
            });
        }
        d.callback(0);
        assert_eq!(success_result_of(&tail), N);
    });
}

/// spec/deferred.md §12 case 37: test_boundedStackDepth. The stack depth
/// at which a callback runs does not grow with the number of chained
/// Deferreds. Python counts frames; Rust compares the address of a local in
/// the callback, which is the same when the depth is.
#[test]
fn bounded_stack_depth() {
    fn chain_deferreds(how_many: usize) -> usize {
        let stack = Recorder::new();
        let top = Deferred::<()>::new();
        let originals: Vec<Deferred<()>> = (0..how_many).map(|_| Deferred::new()).collect();
        let last = Deferred::<()>::new();
        let mut inners = originals.clone();
        let mut inner = inners.pop().expect("at least one");
        let (first_inner, s) = (inner.clone(), stack.clone());
        top.clone()
            .add_callback(move |()| first_inner)
            .add_callback(move |()| {
                let marker = 0u8;
                s.push(std::hint::black_box(&marker) as *const u8 as usize);
                Ok(())
            });
        while let Some(new_inner) = inners.pop() {
            let next = new_inner.clone();
            inner.add_callback(move |()| next);
            inner = new_inner;
        }
        let l = last.clone();
        inner.add_callback(move |()| l);
        top.callback(());
        for inner in &originals {
            inner.callback(());
        }
        assert!(stack.is_empty(), "the record callback has not fired yet");
        last.callback(());
        stack.get()[0]
    }
    assert_eq!(chain_deferreds(1), chain_deferreds(2));
    assert_eq!(chain_deferreds(1), chain_deferreds(1000));
}

/// 100 000 Deferreds, each returned from the previous one's callback.
fn nested(n: u64) -> Vec<Deferred<u64>> {
    let ds: Vec<Deferred<u64>> = (0..n).map(|_| Deferred::new()).collect();
    for pair in ds.windows(2) {
        let next = pair[1].clone();
        pair[0].clone().add_callback(move |_| next);
    }
    ds
}

/// 100 000 nested Deferreds fired from the innermost out: each callback
/// returns a Deferred that already has its result. Runs on a 2 MiB stack.
#[test]
fn nested_100_000_fired_innermost_first() {
    on_2mib_stack(|| {
        let ds = nested(100_000);
        for (i, d) in ds.iter().enumerate().rev() {
            d.callback(i as u64);
        }
        assert_eq!(success_result_of(&ds[0]), 99_999);
        assert!(ds[1..].iter().all(Deferred::is_consumed));
    });
}

/// 100 000 nested Deferreds fired from the outermost in: each waits on the
/// next, and firing the innermost resumes all of them, without recursion.
/// Runs on a 2 MiB stack.
#[test]
fn nested_100_000_fired_outermost_first() {
    on_2mib_stack(|| {
        let ds = nested(100_000);
        for (i, d) in ds.iter().enumerate() {
            d.callback(i as u64);
            if i + 1 < ds.len() {
                assert!(d.is_waiting_on(&ds[i + 1]));
            }
        }
        assert_eq!(success_result_of(&ds[0]), 99_999);
        assert!(ds[1..].iter().all(Deferred::is_consumed));
    });
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Dropping the outermost of 100 000 nested pending Deferreds (each held
/// only by the previous one's callback) frees them all without recursing
/// 100 000 deep. Runs on a 2 MiB stack.
#[test]
fn drop_100_000_nested_pending_deferreds() {
    on_2mib_stack(|| {
        let dropped = Rc::new(Cell::new(false));
        let first = Deferred::<u64>::new();
        let mut current = first.clone();
        for _ in 0..100_000 {
            let next = Deferred::<u64>::new();
            let returned = next.clone();
            current.add_callback(move |_| returned);
            current = next;
        }
        let flag = DropFlag(dropped.clone());
        current.add_callback(move |n| {
            let _keep = &flag;
            Ok(n)
        });
        assert!(!dropped.get());
        drop(first);
        assert!(dropped.get(), "the innermost Deferred's callback was freed");
    });
}

/// Cancelling the outermost of 100 000 nested Deferreds, each waiting on
/// the next, reaches the innermost without recursing 100 000 deep, and the
/// CancelledError travels back out. Runs on a 2 MiB stack.
#[test]
fn cancel_100_000_nested_waiting_deferreds() {
    on_2mib_stack(|| {
        let ds: Vec<Deferred<u64>> = (0..100_000).map(|_| Deferred::new()).collect();
        for pair in ds.windows(2) {
            let next = pair[1].clone();
            pair[0].clone().add_callback(move |_| next);
        }
        for d in &ds[..ds.len() - 1] {
            d.callback(0);
        }
        ds[0].cancel();
        assert!(failure_result_of(&ds[0]).check::<CancelledError>());
        assert!(ds[1..].iter().all(Deferred::is_consumed));
    });
}
