//! [`SystemTriggers`]: system event triggers (Twisted's `_ThreePhaseEvent`),
//! `before`, `during` and `after` phases per event name; one implementation
//! for the mio reactor and `torsion_testing`'s `MemoryReactor`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::error::PanicError;
use crate::interfaces::{Phase, Trigger, TriggerId};
use crate::{log_failure, Deferred, DeferredList};

struct Entry {
    id: TriggerId,
    phase: Phase,
    event: String,
    /// `None` while the trigger runs: the borrow is released during the call.
    trigger: Option<Trigger>,
}

/// Every registered system event trigger, and the firing of an event: the
/// `Before` triggers, then (once every Deferred they returned has fired,
/// failures included) the `During` and `After` ones.
///
/// Triggers run with no borrow held: a trigger may add or remove triggers,
/// or fire another event. Within a phase they run in registration order,
/// going by id rather than by index, so a trigger added while its phase
/// runs also runs and one removed before its turn does not. A trigger that
/// panics, or fires its own event re-entrantly, is logged and skipped; a
/// failed Deferred is logged.
///
/// Ids come from [`add`](SystemTriggers::add)'s own counter, or from the
/// owner through [`insert`](SystemTriggers::insert) when it shares its id
/// space with other registrations (`MemoryReactor`'s `call_when_running`
/// hooks).
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use torsion_reactor::{Phase, SystemTriggers};
///
/// let triggers = Rc::new(SystemTriggers::new());
/// let ran = Rc::new(Cell::new(0));
/// let counter = ran.clone();
/// let id = triggers.add(Phase::During, "shutdown", Box::new(move || {
///     counter.set(counter.get() + 1);
///     None
/// }));
/// triggers.fire("shutdown");
/// assert_eq!(ran.get(), 1);
/// assert!(triggers.remove(id));
/// triggers.fire("shutdown");
/// assert_eq!(ran.get(), 1);
/// ```
///
/// # Twisted
///
/// `_ThreePhaseEvent` raises `ValueError` when removing an unknown trigger;
/// [`remove`](SystemTriggers::remove) returns `false`.
#[derive(Default)]
pub struct SystemTriggers {
    entries: RefCell<Vec<Entry>>,
    next_id: Cell<u64>,
}

impl SystemTriggers {
    /// No triggers.
    pub fn new() -> SystemTriggers {
        SystemTriggers::default()
    }

    /// Registers `trigger` for `phase` of `event` under a new id.
    pub fn add(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        let id = TriggerId(self.next_id.get());
        self.insert(id, phase, event, trigger);
        id
    }

    /// Registers `trigger` under an id the caller chose (ids must grow:
    /// triggers run in id order).
    pub fn insert(&self, id: TriggerId, phase: Phase, event: &str, trigger: Trigger) {
        self.next_id.set(self.next_id.get().max(id.0 + 1));
        self.entries.borrow_mut().push(Entry {
            id,
            phase,
            event: event.to_string(),
            trigger: Some(trigger),
        });
    }

    /// Unregisters a trigger; returns whether it was registered.
    pub fn remove(&self, id: TriggerId) -> bool {
        let removed = {
            let mut entries = self.entries.borrow_mut();
            let found = entries.iter().position(|e| e.id == id);
            found.map(|index| entries.remove(index))
        };
        // Dropped with no borrow held: the trigger's captures may run code on drop.
        removed.is_some()
    }

    /// The ids of the triggers of `phase` of `event`, in registration order.
    pub fn ids(&self, phase: Phase, event: &str) -> Vec<TriggerId> {
        self.entries
            .borrow()
            .iter()
            .filter(|e| e.phase == phase && e.event == event)
            .map(|e| e.id)
            .collect()
    }

    /// How many triggers are registered.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Takes out the first trigger of `phase` of `event` registered after
    /// `after`.
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
    fn run_phase(&self, event: &str, phase: Phase) -> Vec<Deferred<()>> {
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

    /// Fires `event`: `Before` triggers, then (once every Deferred they
    /// returned has fired, failures included) `During` and `After`.
    /// Returns the Deferred of the whole event.
    pub fn fire(self: &Rc<Self>, event: &str) -> Deferred<()> {
        let held = self.run_phase(event, Phase::Before);
        let (triggers, name) = (self.clone(), event.to_string());
        DeferredList::new(held)
            .consume_errors(true)
            .into_deferred()
            .add_callback(move |_| {
                triggers.run_phase(&name, Phase::During);
                triggers.run_phase(&name, Phase::After);
                Ok(())
            })
    }
}

impl fmt::Debug for SystemTriggers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemTriggers")
            .field("registered", &self.entries.borrow().len())
            .finish()
    }
}
