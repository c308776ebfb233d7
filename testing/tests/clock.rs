//! `Clock`: ports of Twisted's `test_task.ClockTests`, and a conformance
//! test that the fake clock and the reactor's way of running timers agree.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::DelayedCallError;
use torsion_reactor::{DelayedCall, ReactorTime, ReactorTimeExt, Timers};
use torsion_testing::Clock;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

type Events = Rc<RefCell<Vec<(&'static str, f64)>>>;

fn logtime(clock: &Clock, events: &Events, name: &'static str, delay: f64) -> DelayedCall {
    let (clock2, events) = (clock.clone(), events.clone());
    clock.call_later(secs(delay), move || {
        events.borrow_mut().push((name, clock2.seconds()))
    })
}

/// Test that the `seconds` method of the fake clock returns fake time.
#[test]
fn seconds() {
    assert_eq!(Clock::new().seconds(), 0.0);
}

/// Test that calls can be scheduled for later with the fake clock and hands
/// back a `DelayedCall`.
#[test]
fn call_later() {
    let c = Clock::new();
    let call = c.call_later(secs(1.0), || {});
    assert_eq!(call.time(), secs(1.0));
    assert!(call.active());
}

/// Test that calls can be cancelled.
#[test]
fn call_later_cancelled() {
    let c = Clock::new();
    let call = c.call_later(secs(1.0), || {});
    call.cancel().unwrap();
    assert!(!call.active());
}

/// Test that the `DelayedCall` returned is not one previously created.
#[test]
fn call_later_ordering() {
    let c = Clock::new();
    let call1 = c.call_later(secs(10.0), || {});
    let call2 = c.call_later(secs(1.0), || {});
    assert!(!call1.is_same(&call2));
}

/// Test that advancing the clock will fire some calls.
#[test]
fn advance() {
    let events = Events::default();
    let c = Clock::new();
    let call = logtime(&c, &events, "x", 2.0);
    c.advance(secs(1.0));
    assert!(events.borrow().is_empty());
    c.advance(secs(1.0));
    assert_eq!(*events.borrow(), [("x", 2.0)]);
    assert!(!call.active());
}

/// Test attempting to cancel the call in a callback: `AlreadyCalled` is
/// reported, which requires the call to be marked called before it runs.
#[test]
fn advance_cancel() {
    let c = Clock::new();
    let handle: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
    let seen = Rc::new(RefCell::new(None));
    let (h, s) = (handle.clone(), seen.clone());
    *handle.borrow_mut() = Some(c.call_later(secs(1.0), move || {
        *s.borrow_mut() = Some(h.borrow().as_ref().unwrap().cancel());
    }));
    c.advance(secs(1.0));
    assert_eq!(*seen.borrow(), Some(Err(DelayedCallError::AlreadyCalled)));
}

/// Test that calls can be delayed.
#[test]
fn call_later_delayed() {
    let events = Events::default();
    let c = Clock::new();
    let call = logtime(&c, &events, "x", 1.0);
    call.delay(secs(1.0)).unwrap();
    assert_eq!(call.time(), secs(2.0));
    c.advance(secs(1.5));
    assert!(events.borrow().is_empty());
    c.advance(secs(1.0));
    assert_eq!(*events.borrow(), [("x", 2.5)]);
}

/// Test that calls can have their time reset to a later time.
#[test]
fn call_later_reset_later() {
    let events = Events::default();
    let c = Clock::new();
    let call = logtime(&c, &events, "x", 2.0);
    c.advance(secs(1.0));
    call.reset(secs(3.0)).unwrap();
    assert_eq!(call.time(), secs(4.0));
    c.advance(secs(2.0));
    assert!(events.borrow().is_empty());
    c.advance(secs(1.0));
    assert_eq!(*events.borrow(), [("x", 4.0)]);
}

/// Test that calls can have their time reset to an earlier time.
#[test]
fn call_later_reset_sooner() {
    let events = Events::default();
    let c = Clock::new();
    let call = logtime(&c, &events, "x", 4.0);
    call.reset(secs(3.0)).unwrap();
    assert_eq!(call.time(), secs(3.0));
    c.advance(secs(3.0));
    assert_eq!(*events.borrow(), [("x", 3.0)]);
}

/// Test that we can get a list of all delayed calls.
#[test]
fn get_delayed_calls() {
    let c = Clock::new();
    let call = c.call_later(secs(1.0), || {});
    let call2 = c.call_later(secs(2.0), || {});
    let calls = c.delayed_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().any(|x| x.is_same(&call)));
    assert!(calls.iter().any(|x| x.is_same(&call2)));
}

/// Test that we get an empty list from `delayed_calls` on a newly
/// constructed Clock.
#[test]
fn get_delayed_calls_empty() {
    assert!(Clock::new().delayed_calls().is_empty());
}

/// `Clock` provides `ReactorTime`, usable as a trait object.
#[test]
fn provides_ireactor_time() {
    let clock: Rc<dyn ReactorTime> = Rc::new(Clock::new());
    assert_eq!(clock.now(), Duration::ZERO);
}

/// The order of calls scheduled by `call_later` is honoured when adding a
/// new call: A at t0 reset to t2 > t0, then B at t0 < t1 < t2: B runs before A.
#[test]
fn call_later_keeps_calls_ordered() {
    let events = Events::default();
    let clock = Clock::new();
    let call_a = logtime(&clock, &events, "a", 1.0);
    call_a.reset(secs(3.0)).unwrap();
    logtime(&clock, &events, "b", 2.0);
    clock.pump(&[secs(1.0); 3]);
    assert_eq!(*events.borrow(), [("b", 2.0), ("a", 3.0)]);
}

/// The order is honoured when re-scheduling an existing call with `reset`:
/// A at t0, B at t1 > t0, A reset to t2 > t1: B runs before A.
#[test]
fn call_later_reset_keeps_calls_ordered() {
    let events = Events::default();
    let clock = Clock::new();
    let call_a = logtime(&clock, &events, "a", 1.0);
    logtime(&clock, &events, "b", 2.0);
    call_a.reset(secs(3.0)).unwrap();
    clock.pump(&[secs(1.0); 3]);
    assert_eq!(*events.borrow(), [("b", 2.0), ("a", 3.0)]);
}

/// The order is honoured even when `reset` happens inside a scheduled call.
#[test]
fn call_later_reset_inside_call_keeps_calls_ordered() {
    let events = Events::default();
    let clock = Clock::new();
    let call_b = logtime(&clock, &events, "b", 2.0);
    clock.call_later(secs(1.0), move || call_b.reset(secs(3.0)).unwrap());
    logtime(&clock, &events, "c", 3.0);
    clock.pump(&[secs(0.5); 10]);
    assert_eq!(*events.borrow(), [("c", 3.0), ("b", 4.0)]);
}

/// Calls due at the same instant run in the order they were scheduled.
#[test]
fn same_instant_calls_run_in_scheduling_order() {
    let events = Events::default();
    let clock = Clock::new();
    for name in ["1", "2", "3", "4"] {
        logtime(&clock, &events, name, 5.0);
    }
    clock.advance(secs(5.0));
    let names: Vec<_> = events.borrow().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["1", "2", "3", "4"]);
}

/// A call that schedules another for "now" sees it run within the same
/// `advance` (Twisted's `Clock`), including `call_later(0)` chains.
#[test]
fn calls_scheduled_during_advance_for_now_run_in_that_advance() {
    let events = Events::default();
    let clock = Clock::new();
    let (c, e) = (clock.clone(), events.clone());
    clock.call_later(secs(1.0), move || {
        let (c2, e2) = (c.clone(), e.clone());
        c.call_later(Duration::ZERO, move || {
            logtime(&c2, &e2, "grandchild", 0.0);
        });
    });
    clock.advance(secs(1.0));
    assert_eq!(*events.borrow(), [("grandchild", 1.0)]);
}

/// A panic in a call propagates out of `advance`; calls not yet run stay queued.
#[test]
fn panic_propagates_and_keeps_the_rest() {
    let events = Events::default();
    let clock = Clock::new();
    clock.call_later(secs(1.0), || panic!("boom"));
    logtime(&clock, &events, "later", 1.0);
    let c = clock.clone();
    assert!(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.advance(secs(1.0)))).is_err()
    );
    assert_eq!(clock.delayed_calls().len(), 1);
    clock.advance(Duration::ZERO);
    assert_eq!(*events.borrow(), [("later", 1.0)]);
}

/// One scripted schedule (same-instant ties, cancels, resets, calls that
/// schedule calls for later) gives the same transcript on `Clock` and on the
/// reactor's way of running timers (`Timers::run_turn` once per loop
/// iteration), and the same transcript twice.
#[test]
fn clock_and_reactor_turns_agree_on_a_scripted_schedule() {
    fn script(time: &dyn ReactorTime, events: &Events, now: Rc<dyn Fn() -> f64>) {
        let mut calls = Vec::new();
        for (i, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .into_iter()
            .enumerate()
        {
            let (events, now) = (events.clone(), now.clone());
            calls.push(time.call_later(secs(((i * 3) % 5) as f64), move || {
                events.borrow_mut().push((name, now()))
            }));
        }
        calls[1].cancel().unwrap();
        calls[2].reset(secs(4.0)).unwrap();
        calls[3].delay(secs(0.5)).unwrap();
        let (events2, now2) = (events.clone(), now.clone());
        let victim = calls[6].clone();
        time.call_later(secs(2.0), move || {
            let _ = victim.cancel();
            events2.borrow_mut().push(("canceller", now2()));
        });
    }

    let on_clock = |events: &Events| {
        let clock = Clock::new();
        let c = clock.clone();
        script(&clock, events, Rc::new(move || c.seconds()));
        for _ in 0..12 {
            clock.advance(secs(0.5));
        }
    };
    let on_turns = |events: &Events| {
        let timers = Timers::manual();
        let t = timers.clone();
        script(&timers, events, Rc::new(move || t.seconds()));
        for step in 1..=12 {
            timers.set_now(secs(step as f64 * 0.5));
            while timers.run_turn() > 0 {}
        }
    };
    let (a, b, c) = (Events::default(), Events::default(), Events::default());
    on_clock(&a);
    on_turns(&b);
    on_clock(&c);
    assert_eq!(a.borrow().len(), 7, "{:?}", a.borrow());
    assert_eq!(*a.borrow(), *b.borrow());
    assert_eq!(*a.borrow(), *c.borrow());
}
