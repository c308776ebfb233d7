//! System event triggers (Twisted's `_ThreePhaseEvent`): `before`, `during`
//! and `after` phases per event name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::error::PanicError;
use crate::interfaces::{Phase, Trigger, TriggerId};
use crate::{Deferred, DeferredList};

type Shared = Rc<RefCell<Trigger>>;

#[derive(Default)]
struct Phases {
    before: Vec<(TriggerId, Shared)>,
    during: Vec<(TriggerId, Shared)>,
    after: Vec<(TriggerId, Shared)>,
}

impl Phases {
    fn list(&mut self, phase: Phase) -> &mut Vec<(TriggerId, Shared)> {
        match phase {
            Phase::Before => &mut self.before,
            Phase::During => &mut self.during,
            Phase::After => &mut self.after,
        }
    }
}

/// Every event's triggers. Triggers run with no borrow held: a trigger may
/// add or remove triggers, or fire another event.
#[derive(Default)]
pub(crate) struct SystemEvents {
    events: RefCell<HashMap<String, Phases>>,
    next_id: std::cell::Cell<u64>,
}

fn run_trigger(trigger: &Shared) -> Option<Deferred<()>> {
    let outcome = catch_unwind(AssertUnwindSafe(|| match trigger.try_borrow_mut() {
        Ok(mut trigger) => trigger(),
        Err(_) => {
            log::error!("a system event trigger fired its own event re-entrantly; skipped");
            None
        }
    }));
    outcome.unwrap_or_else(|payload| {
        log::error!(
            "a system event trigger panicked: {}",
            PanicError::from_payload(payload.as_ref())
        );
        None
    })
}

impl SystemEvents {
    pub(crate) fn add(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        let id = TriggerId(self.next_id.get());
        self.next_id.set(id.0 + 1);
        self.events
            .borrow_mut()
            .entry(event.to_string())
            .or_default()
            .list(phase)
            .push((id, Rc::new(RefCell::new(trigger))));
        id
    }

    pub(crate) fn remove(&self, id: TriggerId) -> bool {
        let mut events = self.events.borrow_mut();
        for phases in events.values_mut() {
            for phase in [Phase::Before, Phase::During, Phase::After] {
                let list = phases.list(phase);
                if let Some(index) = list.iter().position(|(t, _)| *t == id) {
                    list.remove(index);
                    return true;
                }
            }
        }
        false
    }

    /// The first trigger of a phase not in `done`, if any is still registered.
    fn next(&self, event: &str, phase: Phase, done: &[TriggerId]) -> Option<(TriggerId, Shared)> {
        let mut events = self.events.borrow_mut();
        events
            .get_mut(event)?
            .list(phase)
            .iter()
            .find(|(id, _)| !done.contains(id))
            .map(|(id, t)| (*id, t.clone()))
    }

    fn run_phase(&self, event: &str, phase: Phase) -> Vec<Deferred<()>> {
        // By id, not index: triggers added while the phase runs also run,
        // and removing one that already ran does not skip the next.
        let mut held = Vec::new();
        let mut done = Vec::new();
        while let Some((id, trigger)) = self.next(event, phase, &done) {
            done.push(id);
            held.extend(run_trigger(&trigger).map(|d| {
                d.add_errback(|failure| {
                    crate::log_failure("a system event trigger failed", &failure);
                    Ok(())
                })
            }));
        }
        held
    }

    /// Fires `event`: `before` triggers, then (once every Deferred they
    /// returned has fired, failures included) `during` and `after`.
    /// Returns the Deferred of the whole event.
    pub(crate) fn fire(self: &Rc<Self>, event: &str) -> Deferred<()> {
        let held = self.run_phase(event, Phase::Before);
        let (events, name) = (self.clone(), event.to_string());
        DeferredList::new(held)
            .consume_errors(true)
            .into_deferred()
            .add_callback(move |_| {
                events.run_phase(&name, Phase::During);
                events.run_phase(&name, Phase::After);
                Ok(())
            })
    }
}
