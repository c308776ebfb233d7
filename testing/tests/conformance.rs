//! The fake clock and the real reactor agree on timer semantics: one
//! scripted schedule (same-deadline ties, cancels, resets, a call that
//! schedules another) gives the same order on `Clock` and on `Reactor`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{Reactor, ReactorTime, ReactorTimeExt};
use torsion_testing::Clock;

type Log = Rc<RefCell<Vec<&'static str>>>;

/// The script; delays in units of 15 ms.
fn script(time: Rc<dyn ReactorTime>, log: &Log) {
    let unit = Duration::from_millis(15);
    let mut calls = Vec::new();
    for (name, units) in [("a", 2), ("b", 1), ("c", 2), ("d", 3), ("e", 1), ("f", 4)] {
        let log = log.clone();
        calls.push(time.call_later(unit * units, move || log.borrow_mut().push(name)));
    }
    calls[1].cancel().unwrap(); // b never runs
    calls[3].reset(unit * 5).unwrap(); // d moves last
    let (log2, time2) = (log.clone(), time.clone());
    time.call_later(unit * 3, move || {
        log2.borrow_mut().push("g");
        let log3 = log2.clone();
        time2.call_later(unit, move || log3.borrow_mut().push("h (scheduled by g)"));
    });
}

const EXPECTED: [&str; 7] = ["e", "a", "c", "g", "f", "h (scheduled by g)", "d"];

#[test]
fn clock_and_reactor_agree() {
    let on_clock = Log::default();
    let clock = Clock::new();
    script(Rc::new(clock.clone()), &on_clock);
    clock.pump(&[Duration::from_millis(15); 6]);
    assert_eq!(*on_clock.borrow(), EXPECTED);

    let on_reactor = Log::default();
    let reactor = Reactor::new().unwrap();
    script(Rc::new(reactor.clone()), &on_reactor);
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_reactor.borrow().len() < EXPECTED.len() {
        assert!(
            Instant::now() < deadline,
            "timers did not all fire: {:?}",
            on_reactor.borrow()
        );
        reactor.iterate(Some(Duration::from_millis(50))).unwrap();
    }
    assert_eq!(*on_reactor.borrow(), *on_clock.borrow());
    assert!(reactor.delayed_calls().is_empty());
}
