//! `Timers` and `DelayedCall`: Twisted's `IDelayedCall` rules and the two
//! ways of running due calls (the fake clock's and the reactor's).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::DelayedCallError;
use torsion_reactor::{DelayedCall, ReactorTime, ReactorTimeExt, Timers};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

type Log = Rc<RefCell<Vec<(&'static str, Duration)>>>;

fn record(timers: &Timers, log: &Log, name: &'static str, delay: Duration) -> DelayedCall {
    let (log, clock) = (log.clone(), timers.clone());
    timers.call_later(delay, move || log.borrow_mut().push((name, clock.now())))
}

fn advance(timers: &Timers, by: Duration) {
    timers.set_now(timers.now() + by);
    timers.run_until_idle();
}

#[test]
fn cancel_twice_is_already_cancelled() {
    let timers = Timers::manual();
    let call = timers.call_later(secs(1), || {});
    assert_eq!(call.cancel(), Ok(()));
    assert!(!call.active());
    assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(call.reset(secs(1)), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(call.delay(secs(1)), Err(DelayedCallError::AlreadyCancelled));
    assert!(timers.delayed_calls().is_empty());
}

#[test]
fn cancel_after_it_ran_is_already_called() {
    let timers = Timers::manual();
    let call = timers.call_later(secs(1), || {});
    advance(&timers, secs(1));
    assert!(!call.active());
    assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCalled));
    assert_eq!(call.reset(secs(1)), Err(DelayedCallError::AlreadyCalled));
    assert_eq!(call.delay(secs(1)), Err(DelayedCallError::AlreadyCalled));
}

#[test]
fn a_call_is_not_called_while_running_so_cancelling_itself_is_already_called() {
    let timers = Timers::manual();
    let me: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
    let seen = Rc::new(RefCell::new(None));
    let (me2, seen2) = (me.clone(), seen.clone());
    *me.borrow_mut() = Some(timers.call_later(secs(1), move || {
        let call = me2.borrow().clone().unwrap();
        *seen2.borrow_mut() = Some((call.active(), call.cancel()));
    }));
    advance(&timers, secs(1));
    assert_eq!(
        *seen.borrow(),
        Some((false, Err(DelayedCallError::AlreadyCalled)))
    );
}

#[test]
fn time_reset_and_delay() {
    let timers = Timers::manual();
    let log = Log::default();
    let call = record(&timers, &log, "a", secs(5));
    assert_eq!(call.time(), secs(5));
    advance(&timers, secs(2));
    call.reset(secs(5)).unwrap();
    assert_eq!(call.time(), secs(7));
    call.delay(secs(1)).unwrap();
    assert_eq!(call.time(), secs(8));
    call.reset(secs(1)).unwrap();
    assert_eq!(call.time(), secs(3), "reset may move a call earlier");
    advance(&timers, secs(1));
    assert_eq!(*log.borrow(), [("a", secs(3))]);
    assert_eq!(call.time(), secs(3), "time survives the call");
}

#[test]
fn calls_run_at_the_advanced_time_in_deadline_order() {
    // Twisted's Clock: advance(3.5) with calls due at 1, 2, 3 runs all
    // three with seconds() == 3.5.
    let timers = Timers::manual();
    let log = Log::default();
    record(&timers, &log, "c", secs(3));
    record(&timers, &log, "a", secs(1));
    record(&timers, &log, "b", secs(2));
    advance(&timers, Duration::from_millis(3500));
    let at = Duration::from_millis(3500);
    assert_eq!(*log.borrow(), [("a", at), ("b", at), ("c", at)]);
}

#[test]
fn run_until_idle_runs_calls_scheduled_for_now_by_a_call() {
    let timers = Timers::manual();
    let log = Log::default();
    let (t, l) = (timers.clone(), log.clone());
    timers.call_later(secs(1), move || {
        record(&t, &l, "scheduled during advance", Duration::ZERO);
    });
    advance(&timers, secs(1));
    assert_eq!(*log.borrow(), [("scheduled during advance", secs(1))]);
}

#[test]
fn run_turn_leaves_calls_scheduled_for_now_to_the_next_turn() {
    let timers = Timers::manual();
    let log = Log::default();
    let (t, l) = (timers.clone(), log.clone());
    timers.call_later(secs(1), move || {
        record(&t, &l, "next turn", Duration::ZERO);
    });
    timers.set_now(secs(1));
    assert_eq!(timers.run_turn(), 1);
    assert!(log.borrow().is_empty());
    assert_eq!(timers.run_turn(), 1);
    assert_eq!(*log.borrow(), [("next turn", secs(1))]);
}

#[test]
fn a_call_cancelled_by_an_earlier_call_of_the_same_turn_does_not_run() {
    for run_turn in [false, true] {
        let timers = Timers::manual();
        let log = Log::default();
        let victim: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
        let v = victim.clone();
        timers.call_later(secs(1), move || {
            v.borrow().as_ref().unwrap().cancel().unwrap();
        });
        *victim.borrow_mut() = Some(record(&timers, &log, "victim", secs(1)));
        record(&timers, &log, "survivor", secs(1));
        timers.set_now(secs(1));
        if run_turn {
            assert_eq!(timers.run_turn(), 2);
        } else {
            assert_eq!(timers.run_until_idle(), 2);
        }
        assert_eq!(
            *log.borrow(),
            [("survivor", secs(1))],
            "run_turn: {run_turn}"
        );
    }
}

#[test]
fn a_call_rescheduled_during_a_turn_runs_at_its_new_time() {
    let timers = Timers::manual();
    let log = Log::default();
    let moved: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
    let m = moved.clone();
    timers.call_later(secs(1), move || {
        m.borrow().as_ref().unwrap().reset(secs(1)).unwrap();
    });
    *moved.borrow_mut() = Some(record(&timers, &log, "moved", secs(1)));
    timers.set_now(secs(1));
    timers.run_turn();
    assert!(log.borrow().is_empty());
    timers.set_now(secs(2));
    timers.run_turn();
    assert_eq!(*log.borrow(), [("moved", secs(2))]);
}

#[test]
fn run_turn_catches_a_panic_and_goes_on() {
    let timers = Timers::manual();
    let log = Log::default();
    timers.call_later(secs(1), || panic!("boom"));
    record(&timers, &log, "after", secs(1));
    timers.set_now(secs(1));
    assert_eq!(timers.run_turn(), 2);
    assert_eq!(*log.borrow(), [("after", secs(1))]);
}

#[test]
fn run_until_idle_propagates_a_panic_and_keeps_the_rest_queued() {
    let timers = Timers::manual();
    let log = Log::default();
    timers.call_later(secs(1), || panic!("boom"));
    record(&timers, &log, "after", secs(1));
    timers.set_now(secs(1));
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| timers.run_until_idle()));
    assert!(outcome.is_err());
    assert_eq!(timers.delayed_calls().len(), 1);
    timers.run_until_idle();
    assert_eq!(*log.borrow(), [("after", secs(1))]);
}

#[test]
fn delayed_calls_lists_pending_calls_earliest_first() {
    let timers = Timers::manual();
    let b = timers.call_later(secs(2), || {});
    let a = timers.call_later(secs(1), || {});
    let gone = timers.call_later(secs(1), || {});
    gone.cancel().unwrap();
    let pending = timers.delayed_calls();
    assert_eq!(pending.len(), 2);
    assert!(pending[0].is_same(&a) && pending[1].is_same(&b));
    assert_eq!(timers.next_deadline(), Some(secs(1)));
}

#[test]
fn cancelling_drops_the_callable_and_what_it_captured() {
    let timers = Timers::manual();
    let captured = Rc::new(());
    let held = captured.clone();
    let call = timers.call_later(secs(1), move || drop(held));
    assert_eq!(Rc::strong_count(&captured), 2);
    call.cancel().unwrap();
    assert_eq!(Rc::strong_count(&captured), 1);
}

#[test]
fn a_call_may_cancel_its_own_handle_after_timers_are_dropped() {
    let call = {
        let timers = Timers::manual();
        timers.call_later(secs(1), || {})
    };
    // The queue is gone; the handle stays usable and says so consistently.
    assert!(call.active());
    assert_eq!(call.cancel(), Ok(()));
}

#[test]
fn monotonic_timers_move_on_their_own() {
    let timers = Timers::monotonic();
    let call = timers.call_later(Duration::ZERO, || {});
    std::thread::yield_now();
    assert!(timers.now() >= call.time());
    assert_eq!(timers.run_turn(), 1);
}

#[test]
fn same_schedule_gives_the_same_order_twice() {
    fn scenario() -> Vec<(&'static str, Duration)> {
        let timers = Timers::manual();
        let log = Log::default();
        let names = ["a", "b", "c", "d", "e", "f"];
        for (i, name) in names.iter().enumerate() {
            record(&timers, &log, name, secs((i as u64 * 7) % 4));
        }
        for step in [1, 1, 2] {
            advance(&timers, secs(step));
        }
        let out = log.borrow().clone();
        out
    }
    let first = scenario();
    assert_eq!(first.len(), 6);
    assert_eq!(first, scenario());
}
