//! What the cooperator tests share: Twisted's `FakeScheduler` and the
//! one-step-per-tick termination predicate.

#![allow(dead_code)] // each test file uses its part

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::task::Scheduler;
use torsion_reactor::Timers;

/// A scheduled tick and whether it was cancelled (Twisted's `FakeDelayedCall`).
pub(crate) type FakeDelayedCall = (Box<dyn FnOnce()>, Rc<Cell<bool>>);

/// Twisted's `FakeScheduler`: keeps the ticks for the test to run.
#[derive(Clone, Default)]
pub(crate) struct FakeScheduler {
    pub(crate) work: Rc<RefCell<Vec<FakeDelayedCall>>>,
}

impl FakeScheduler {
    pub(crate) fn scheduler(&self) -> Scheduler {
        let work = self.work.clone();
        Box::new(move |tick| {
            let cancelled = Rc::new(Cell::new(false));
            work.borrow_mut().push((tick, cancelled.clone()));
            Box::new(move || cancelled.set(true))
        })
    }

    /// Do all of the work that is currently available to be done.
    pub(crate) fn pump(&self) {
        let work = std::mem::take(&mut *self.work.borrow_mut());
        for (tick, cancelled) in work {
            if !cancelled.get() {
                tick();
            }
        }
    }

    pub(crate) fn last_cancelled(&self) -> Option<bool> {
        self.work
            .borrow()
            .last()
            .map(|(_, cancelled)| cancelled.get())
    }
}

pub(crate) fn one_step_per_tick() -> torsion_reactor::task::TerminationPredicateFactory {
    Box::new(|| Box::new(|| true))
}

pub(crate) fn new_clock() -> Rc<Timers> {
    Rc::new(Timers::manual())
}
