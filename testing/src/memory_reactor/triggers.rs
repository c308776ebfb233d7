//! The system event triggers of a [`MemoryReactor`](super::MemoryReactor):
//! recorded by phase and event name, run only by `fire_system_event`.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use torsion_reactor::error::PanicError;
use torsion_reactor::{log_failure, Deferred, Phase, Trigger, TriggerId};

struct Entry {
    id: TriggerId,
    phase: Phase,
    event: String,
    /// `None` while the trigger runs: the borrow is released during the call.
    trigger: Option<Trigger>,
}

/// Every registered trigger, in registration (and so id) order.
#[derive(Default)]
pub(super) struct Triggers {
    entries: RefCell<Vec<Entry>>,
}

impl Triggers {
    pub(super) fn add(&self, id: TriggerId, phase: Phase, event: &str, trigger: Trigger) {
        self.entries.borrow_mut().push(Entry {
            id,
            phase,
            event: event.to_string(),
            trigger: Some(trigger),
        });
    }

    pub(super) fn remove(&self, id: TriggerId) -> bool {
        let removed = {
            let mut entries = self.entries.borrow_mut();
            let found = entries.iter().position(|e| e.id == id);
            found.map(|index| entries.remove(index))
        };
        // Dropped with no borrow held: the trigger's captures may run code on drop.
        removed.is_some()
    }

    pub(super) fn ids(&self, phase: Phase, event: &str) -> Vec<TriggerId> {
        self.entries
            .borrow()
            .iter()
            .filter(|e| e.phase == phase && e.event == event)
            .map(|e| e.id)
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Takes out the first trigger of `phase` of `event` registered after
    /// `after`. Going by id rather than by index means a trigger added while
    /// the phase runs also runs, and one removed before its turn does not,
    /// as in Twisted's `_ThreePhaseEvent`.
    fn take_next(
        &self,
        event: &str,
        phase: Phase,
        after: Option<TriggerId>,
    ) -> Option<(TriggerId, Option<Trigger>)> {
        let mut entries = self.entries.borrow_mut();
        let entry = entries.iter_mut().find(|e| {
            e.phase == phase && e.event == event && after.is_none_or(|after| e.id.0 > after.0)
        })?;
        Some((entry.id, entry.trigger.take()))
    }

    fn put_back(&self, id: TriggerId, trigger: Trigger) {
        // Gone if it removed itself (or was removed) while running: dropped.
        if let Some(entry) = self.entries.borrow_mut().iter_mut().find(|e| e.id == id) {
            entry.trigger = Some(trigger);
        }
    }

    /// Runs every trigger of one phase, with no borrow held during a call;
    /// returns the Deferreds they handed back, failures logged.
    pub(super) fn run_phase(&self, event: &str, phase: Phase) -> Vec<Deferred<()>> {
        let mut held = Vec::new();
        let mut last = None;
        while let Some((id, trigger)) = self.take_next(event, phase, last) {
            last = Some(id);
            let Some(mut trigger) = trigger else {
                log::error!(
                    "system event trigger {id:?} fired its own event re-entrantly; skipped"
                );
                continue;
            };
            let outcome = catch_unwind(AssertUnwindSafe(&mut trigger));
            self.put_back(id, trigger);
            match outcome {
                Ok(Some(deferred)) => held.push(deferred.add_errback(|failure| {
                    log_failure("a system event trigger failed", &failure);
                    Ok(())
                })),
                Ok(None) => {}
                Err(payload) => log::error!(
                    "a system event trigger panicked: {}",
                    PanicError::from_payload(payload.as_ref())
                ),
            }
        }
        held
    }
}
