//! The untyped engine behind [`Deferred`](super::Deferred).
//!
//! Values travel down a chain type-erased as a [`Slot`]: a `Box<dyn Any>`
//! holding an `Option<T>`. A typed callback takes its `T` out of the slot and,
//! when it returns the same type, puts the result back into the same box, so a
//! chain of same-typed callbacks allocates nothing per step.
//!
//! [`run`] is Twisted's `_runCallbacks`: it keeps an explicit stack of cores
//! so that a Deferred returned from a callback, and the outer Deferred it
//! resumes when it fires, are handled iteratively. Chains of any depth use a
//! bounded amount of native stack.

use std::any::{type_name, Any};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::task::Waker;

use crate::error::{
    AlreadyCalledError, CancelledError, CircularChainError, DeferredTypeError, PanicError,
};
use crate::Failure;

/// A type-erased result value: a `Box<dyn Any>` holding `Option<T>`.
pub(crate) struct Slot {
    value: Box<dyn Any>,
    type_name: &'static str,
}

impl Slot {
    pub(crate) fn new<T: 'static>(value: T) -> Slot {
        Slot {
            value: Box::new(Some(value)),
            type_name: type_name::<T>(),
        }
    }

    /// Takes the `T` out, leaving the box in place for [`Slot::put`].
    pub(crate) fn take<T: 'static>(&mut self) -> Result<T, Failure> {
        match self
            .value
            .downcast_mut::<Option<T>>()
            .and_then(Option::take)
        {
            Some(value) => Ok(value),
            None => Err(Failure::new(DeferredTypeError {
                expected: type_name::<T>(),
                found: self.type_name,
            })),
        }
    }

    /// Stores `value`, reusing this slot's allocation when the type is unchanged.
    pub(crate) fn put<U: 'static>(mut self, value: U) -> Slot {
        if let Some(slot) = self.value.downcast_mut::<Option<U>>() {
            *slot = Some(value);
            self.type_name = type_name::<U>();
            self
        } else {
            Slot::new(value)
        }
    }

    /// This slot, if it holds a `T`; a [`DeferredTypeError`] if not.
    pub(crate) fn checked<T: 'static>(self) -> Result<Slot, Failure> {
        match self.value.downcast_ref::<Option<T>>() {
            Some(Some(_)) => Ok(self),
            _ => Err(Failure::new(DeferredTypeError {
                expected: type_name::<T>(),
                found: self.type_name,
            })),
        }
    }

    pub(crate) fn into_inner<T: 'static>(mut self) -> Result<T, Failure> {
        self.take()
    }

    pub(crate) fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// What travels down the chain.
pub(crate) type RawOutcome = Result<Slot, Failure>;

/// What a chain entry produced.
pub(crate) enum Step {
    /// A plain result (value or failure) for the next entry.
    Done(RawOutcome),
    /// The callback returned a Deferred: the chain waits for it.
    Chain(CoreRef),
    /// Fire this other Deferred with this outcome, run its chain, then go
    /// on with `()` (`chain_deferred`). Done by [`run`]'s loop rather than
    /// by a nested [`fire`], so a million chained Deferreds use bounded
    /// stack.
    Hand(CoreRef, RawOutcome),
}

pub(crate) type Handler = Box<dyn FnOnce(RawOutcome) -> Step>;

pub(crate) enum Entry {
    /// A (callback, errback) pair folded into one closure.
    Run(Handler),
    /// Twisted's `_CONTINUE`: hand the current result to this waiting Deferred.
    Continue(CoreRef),
}

pub(crate) type CoreRef = Rc<Core>;
pub(crate) type Canceller = Box<dyn FnOnce(&CoreRef)>;

/// One Deferred's state. `Rc`-shared by every handle; the `RefCell` is never
/// borrowed across a call into user code.
pub(crate) struct Core {
    pub(crate) state: RefCell<State>,
    /// A callback of this Deferred is executing (Twisted's `_runningCallbacks`).
    running: Cell<bool>,
}

pub(crate) struct State {
    /// `None` before firing, while waiting on a chained Deferred, and once the
    /// result has been handed on (`consumed`).
    pub(crate) result: Option<RawOutcome>,
    pub(crate) called: bool,
    pub(crate) paused: u32,
    pub(crate) consumed: bool,
    pub(crate) chain: VecDeque<Entry>,
    pub(crate) canceller: Option<Canceller>,
    pub(crate) suppress_already_called: bool,
    /// The Deferred this one waits on. Held strongly, as Twisted holds it
    /// in `result`: a callback may return a Deferred nobody else keeps, and
    /// cancelling this one must still reach it. The inner one holds this one
    /// through its `Continue` entry; the cycle ends when the inner one fires
    /// (the entry is consumed and this field cleared).
    pub(crate) chained_to: Option<CoreRef>,
    /// The Deferred that [`chain_deferred`](super::Deferred::chain_deferred)
    /// will hand its result to this one: Twisted records it in `_chainedTo`
    /// too. Only for `is_waiting_on` and `Debug`; weak because that one
    /// already holds this one through its callback.
    pub(crate) explicit_chain: Option<Weak<Core>>,
    pub(crate) waker: Option<Waker>,
}

impl Core {
    pub(crate) fn new(canceller: Option<Canceller>) -> CoreRef {
        Rc::new(Core {
            state: RefCell::new(State {
                result: None,
                called: false,
                paused: 0,
                consumed: false,
                chain: VecDeque::new(),
                canceller,
                suppress_already_called: false,
                chained_to: None,
                explicit_chain: None,
                waker: None,
            }),
            running: Cell::new(false),
        })
    }

    pub(crate) fn fired(outcome: RawOutcome) -> CoreRef {
        let core = Core::new(None);
        {
            let mut state = core.state.borrow_mut();
            state.called = true;
            state.result = Some(outcome);
        }
        core
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }
}

/// Fires `core` with `outcome` (Twisted's `callback`/`errback`).
pub(crate) fn fire(core: &CoreRef, outcome: RawOutcome) -> Result<(), AlreadyCalledError> {
    if settle(core, outcome)? {
        run(core);
    }
    Ok(())
}

/// Stores `outcome` as `core`'s result without running its chain; returns
/// whether the chain should now run (not after a swallowed late fire).
fn settle(core: &CoreRef, outcome: RawOutcome) -> Result<bool, AlreadyCalledError> {
    let canceller = {
        let mut state = core.state.borrow_mut();
        if state.called {
            if state.suppress_already_called {
                // Cancelled without a canceller: swallow the producer's one
                // late result (Twisted's `_suppressAlreadyCalled`).
                state.suppress_already_called = false;
                return Ok(false);
            }
            return Err(AlreadyCalledError);
        }
        state.called = true;
        state.result = Some(outcome);
        state.canceller.take()
    };
    drop(canceller);
    Ok(true)
}

/// Appends `entry`, running the chain now if the result is already there.
pub(crate) fn push(core: &CoreRef, entry: Entry) {
    let run_now = {
        let mut state = core.state.borrow_mut();
        state.chain.push_back(entry);
        if state.consumed {
            log::warn!(
                "a callback was added to a Deferred whose result was already handed on; it will never run"
            );
        }
        state.called && state.paused == 0 && state.result.is_some()
    };
    if run_now && !core.is_running() {
        run(core);
    }
}

pub(crate) fn pause(core: &CoreRef) {
    core.state.borrow_mut().paused += 1;
}

pub(crate) fn unpause(core: &CoreRef) {
    let run_now = {
        let mut state = core.state.borrow_mut();
        state.paused = state.paused.saturating_sub(1);
        state.paused == 0 && state.called
    };
    if run_now {
        run(core);
    }
}

/// Twisted's `Deferred.cancel`.
pub(crate) fn cancel(core: &CoreRef) {
    // Waiting on another Deferred: cancel that one instead. Twisted recurses
    // here; a loop keeps 100 000 nested Deferreds within a bounded stack.
    let mut core = core.clone();
    let canceller = loop {
        let next = {
            let mut state = core.state.borrow_mut();
            if !state.called {
                break state.canceller.take();
            }
            match &state.chained_to {
                Some(inner) => inner.clone(),
                None => return,
            }
        };
        core = next;
    };
    let core = &core;
    match canceller {
        Some(canceller) => canceller(core),
        None => core.state.borrow_mut().suppress_already_called = true,
    }
    if !core.state.borrow().called {
        // No canceller, or it did not fire the Deferred itself.
        let _ = fire(core, Err(Failure::new(CancelledError)));
    }
}

/// Runs as much of the chain as can run now (Twisted's `_runCallbacks`).
pub(crate) fn run(start: &CoreRef) {
    if start.is_running() {
        return;
    }
    // The explicit stack of Deferreds being resumed; most runs never push.
    // A Deferred that handed its result on (`Step::Hand`) waits here, marked
    // running, for the one it fired to run as far as it can.
    let mut stack: Vec<CoreRef> = Vec::new();
    let mut current = start.clone();
    loop {
        let mut finished = true;
        {
            let mut state = current.state.borrow_mut();
            if state.paused > 0 {
                drop(state);
                // This one waits; go on with whoever handed it a result.
                match stack.pop() {
                    Some(below) => {
                        below.running.set(false);
                        current = below;
                        continue;
                    }
                    None => return,
                }
            }
            state.chained_to = None;
            state.explicit_chain = None;
        }
        loop {
            let (handler, outcome) = {
                let mut state = current.state.borrow_mut();
                if state.result.is_none() {
                    break;
                }
                match state.chain.pop_front() {
                    None => break,
                    Some(Entry::Continue(waiting)) => {
                        let result = state.result.take();
                        state.consumed = true;
                        drop(state);
                        {
                            let mut waiting_state = waiting.state.borrow_mut();
                            waiting_state.result = result;
                            waiting_state.paused = waiting_state.paused.saturating_sub(1);
                        }
                        stack.push(current);
                        current = waiting;
                        finished = false;
                        break;
                    }
                    Some(Entry::Run(handler)) => {
                        (handler, state.result.take().expect("checked above"))
                    }
                }
            };
            current.running.set(true);
            let step =
                catch_unwind(AssertUnwindSafe(|| handler(outcome))).unwrap_or_else(|payload| {
                    let error = PanicError::from_payload(payload.as_ref());
                    log::error!("a Deferred callback panicked: {}", error.message);
                    Step::Done(Err(Failure::new(error)))
                });
            current.running.set(false);
            match step {
                Step::Done(outcome) => current.state.borrow_mut().result = Some(outcome),
                Step::Hand(target, outcome) => match settle(&target, outcome) {
                    Ok(fired) => {
                        current.state.borrow_mut().result = Some(Ok(Slot::new(())));
                        if fired {
                            // As if still inside this callback while the
                            // target's chain runs (as a nested fire would).
                            current.running.set(true);
                            stack.push(current);
                            current = target;
                            finished = false;
                            break;
                        }
                    }
                    Err(error) => {
                        current.state.borrow_mut().result = Some(Err(Failure::new(error)))
                    }
                },
                Step::Chain(inner) => {
                    if Rc::ptr_eq(&inner, &current) {
                        current.state.borrow_mut().result =
                            Some(Err(Failure::new(CircularChainError)));
                        continue;
                    }
                    let mut inner_state = inner.state.borrow_mut();
                    if inner_state.result.is_some()
                        && inner_state.paused == 0
                        && !inner.is_running()
                    {
                        // The inner Deferred already has its result: steal it.
                        let result = inner_state.result.take();
                        inner_state.consumed = true;
                        drop(inner_state);
                        current.state.borrow_mut().result = result;
                    } else {
                        inner_state
                            .chain
                            .push_back(Entry::Continue(current.clone()));
                        drop(inner_state);
                        let mut state = current.state.borrow_mut();
                        state.paused += 1;
                        state.chained_to = Some(inner.clone());
                        break;
                    }
                }
            }
        }
        if finished {
            let waker = {
                let mut state = current.state.borrow_mut();
                if state.result.is_some() && state.chain.is_empty() {
                    state.waker.take()
                } else {
                    None
                }
            };
            if let Some(waker) = waker {
                waker.wake();
            }
            match stack.pop() {
                Some(below) => {
                    below.running.set(false);
                    current = below;
                }
                None => return,
            }
        }
    }
}

thread_local! {
    /// Entries waiting to be dropped: see `Drop for Core`.
    static GRAVEYARD: RefCell<Vec<VecDeque<Entry>>> = const { RefCell::new(Vec::new()) };
    static BURYING: Cell<bool> = const { Cell::new(false) };
}

impl Drop for Core {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Some(Err(failure)) = &state.result {
            crate::failure::log_failure("Unhandled error in Deferred", failure);
        }
        // Dropping a chain can drop the last handle of another Deferred
        // (e.g. a `Continue` entry), whose chain can do the same: 100 000
        // nested Deferreds would recurse 100 000 deep. Queue chains instead
        // and drop them in a loop at the outermost level.
        let chain = std::mem::take(&mut state.chain);
        if chain.is_empty() {
            return;
        }
        let buried = GRAVEYARD.try_with(|graveyard| {
            if BURYING.get() {
                graveyard.borrow_mut().push(chain);
                return None;
            }
            BURYING.set(true);
            Some(chain)
        });
        if let Ok(Some(chain)) = buried {
            drop(chain);
            while let Some(next) = GRAVEYARD.with(|g| g.borrow_mut().pop()) {
                drop(next);
            }
            BURYING.set(false);
        }
    }
}
