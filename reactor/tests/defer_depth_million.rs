//! Stack depth at a million (issue 9 item 5): a Deferred chain 1 000 000
//! deep does not overflow the stack, whichever way it is built. Each test
//! runs on a thread with an explicit 2 MiB stack (the default test thread
//! stack); `defer_stack.rs` covers the same shapes at 100 000 and the
//! dropping and cancelling edges.
//!
//! The shapes: a plain `add_callback` chain; Deferreds returned from
//! callbacks (implicit chaining), each waiting on the next; and `chain_deferred` (explicit chaining, Twisted's
//! `chainDeferred`), where each Deferred hands its result to the next.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::Deferred;
use util::{on_2mib_stack, success_result_of};

const N: u64 = 1_000_000;

/// 1 000 000 callbacks on one Deferred run in order on a 2 MiB stack.
#[test]
fn chain_of_a_million_callbacks() {
    on_2mib_stack(|| {
        let d = Deferred::<u64>::new();
        let mut tail = d.clone();
        for _ in 0..N {
            tail = tail.add_callback(|n| Ok(n + 1));
        }
        d.callback(0);
        assert_eq!(success_result_of(&tail), N);
    });
}

/// A million nested Deferreds fired outermost first: each one's callback
/// returns the next, which has no result yet, so each waits on the next;
/// firing the innermost resumes them all without recursion. (Fired
/// innermost first, each callback finds its result already there: that
/// never nests, and `defer_stack.rs` covers it at 100 000.)
#[test]
fn a_million_nested_deferreds_fired_outermost_first() {
    on_2mib_stack(|| {
        // Each Deferred gets its callback before it is fired (a callback
        // added while it waits would run after the result moved on).
        let first = Deferred::<u64>::new();
        let mut next = Deferred::<u64>::new();
        let returned = next.clone();
        first.clone().add_callback(move |_| returned);
        let mut current = first.clone();
        for i in 0..N {
            let after = Deferred::<u64>::new();
            let returned = after.clone();
            next.clone().add_callback(move |_| returned);
            current.callback(i);
            current = std::mem::replace(&mut next, after);
        }
        current.callback(N);
        assert!(!first.has_result() && first.is_paused());
        next.callback(N + 1);
        assert_eq!(success_result_of(&first), N + 1);
    });
}

/// `d[i].chain_deferred(d[i + 1])`, a million long: firing the first hands
/// the result down to the last.
#[test]
fn a_million_explicitly_chained_deferreds() {
    on_2mib_stack(|| {
        let first = Deferred::<u64>::new();
        let mut last = first.clone();
        for _ in 0..N {
            let next = Deferred::<u64>::new();
            drop(last.chain_deferred(next.clone()));
            last = next;
        }
        first.callback(7);
        assert_eq!(success_result_of(&last), 7);
    });
}

/// Handing on through the loop keeps the order a nested fire had: the
/// target's callbacks run before the source's next one, also when a
/// target's callback adds one to the source; and a paused target does not
/// stall the source's chain.
#[test]
fn chain_deferred_keeps_the_order_of_a_nested_fire() {
    let order = util::Recorder::new();
    let source = Deferred::<u32>::new();
    let target = Deferred::<u32>::new();
    // The source's chain, typed for where it will be when the target runs.
    let source_tail: Rc<RefCell<Option<Deferred<()>>>> = Rc::default();
    let (o, s) = (order.clone(), source_tail.clone());
    let o2 = order.clone();
    target.clone().add_callback(move |n| {
        o.push(format!("target {n}"));
        let tail = s.borrow_mut().take().expect("set below");
        tail.add_callback(move |()| o2.push("added to source".to_string()));
        Ok(n)
    });
    let o = order.clone();
    let tail = source
        .clone()
        .chain_deferred(target.clone())
        .add_callback(move |()| o.push("source next".to_string()));
    *source_tail.borrow_mut() = Some(tail);
    source.callback(1);
    assert_eq!(order.take(), ["target 1", "source next", "added to source"]);

    let source = Deferred::<u32>::new();
    let target = Deferred::<u32>::new();
    target.pause();
    let o = order.clone();
    let tail = source
        .clone()
        .chain_deferred(target.clone())
        .add_callback(move |()| o.push("source next".to_string()));
    source.callback(2);
    assert_eq!(order.take(), ["source next"]);
    assert!(!target.has_result());
    target.unpause();
    assert_eq!(success_result_of(&target), 2);
    success_result_of(&tail);
}
