//! Issue 20, found trying Torsion as a new user would: traps in the
//! reactor's surface.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

// The prelude alone brings `run`, `stop` and `call_later` into scope.
use torsion_reactor::prelude::*;

/// `stop()` before `run()` (from an errback that fired early, say) is
/// remembered: `run` fires `startup`, then `shutdown`, and returns at once.
#[test]
fn stop_before_run_makes_run_return_at_once() {
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let failed = Deferred::<()>::new();
    let stopper = reactor.clone();
    failed.clone().add_errback(move |_| {
        stopper.stop().expect("a stop before run is accepted");
        Ok(())
    });
    failed.errback(Failure::msg("could not connect"));
    let (started, shut_down) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let flag = started.clone();
    reactor.call_when_running(Box::new(move || flag.set(true)));
    let flag = shut_down.clone();
    reactor.add_system_event_trigger(
        torsion_reactor::Phase::Before,
        torsion_reactor::events::SHUTDOWN,
        Box::new(move || {
            flag.set(true);
            None
        }),
    );
    // Would run for an hour if the stop were lost.
    reactor.call_later(Duration::from_secs(3600), || {});
    let began = Instant::now();
    reactor.run().unwrap();
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(started.get() && shut_down.get());
    // Stopped now: a second stop is the error it always was.
    assert!(reactor.stop().is_err());
}
