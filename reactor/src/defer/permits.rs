//! The waiting room shared by [`DeferredLock`](super::DeferredLock) and
//! [`DeferredSemaphore`](super::DeferredSemaphore): a count of free
//! permits and a first-come queue of Deferreds waiting for one.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::deferred::{maybe_deferred, Deferred, IntoOutcome};

type Shared<G> = Rc<RefCell<State<G>>>;

struct State<G: 'static> {
    available: usize,
    limit: usize,
    /// Waiters in arrival order, each with an id its canceller finds it by.
    waiting: VecDeque<(u64, Deferred<G>)>,
    /// Makes the holder's guard (a `LockGuard`, a `SemaphoreToken`) from a
    /// permit: the waiters' Deferreds fire with it directly.
    wrap: fn(Permit<G>) -> G,
    next_id: u64,
    /// A release is handing permits to waiters right now: a release from
    /// inside a waiter's callback only counts its permit, and the outer
    /// loop hands it on (so a thousand back-to-back `run`s use bounded stack).
    handing: bool,
}

/// `limit` permits and the queue of those waiting for one; holders get a
/// `G` made from their permit.
pub(crate) struct Permits<G: 'static> {
    state: Shared<G>,
}

impl<G: 'static> Clone for Permits<G> {
    fn clone(&self) -> Self {
        Permits {
            state: self.state.clone(),
        }
    }
}

impl<G: 'static> Permits<G> {
    pub(crate) fn new(limit: usize, wrap: fn(Permit<G>) -> G) -> Permits<G> {
        Permits {
            state: Rc::new(RefCell::new(State {
                available: limit,
                limit,
                waiting: VecDeque::new(),
                wrap,
                next_id: 0,
                handing: false,
            })),
        }
    }

    /// A Deferred firing with a permit: at once if one is free and nobody
    /// waits, else when a holder releases one. Cancelling it while it waits
    /// takes it out of the queue.
    pub(crate) fn acquire(&self) -> Deferred<G> {
        let mut state = self.state.borrow_mut();
        // Free permits while others wait only exist while a release is
        // handing them on: do not jump that queue.
        if state.available > 0 && state.waiting.is_empty() {
            state.available -= 1;
            let wrap = state.wrap;
            drop(state);
            return Deferred::succeeded(wrap(Permit {
                state: Some(self.state.clone()),
            }));
        }
        let id = state.next_id;
        state.next_id += 1;
        let weak = Rc::downgrade(&self.state);
        let waiter = Deferred::with_canceller(move |_| {
            let Some(state) = weak.upgrade() else { return };
            let removed = {
                let mut state = state.borrow_mut();
                let at = state.waiting.iter().position(|(each, _)| *each == id);
                at.and_then(|at| state.waiting.remove(at))
            };
            drop(removed); // outside the borrow
        });
        state.waiting.push_back((id, waiter.clone()));
        waiter
    }

    /// How many permits are free.
    pub(crate) fn available(&self) -> usize {
        self.state.borrow().available
    }

    /// How many permits there are in all.
    pub(crate) fn limit(&self) -> usize {
        self.state.borrow().limit
    }

    /// How many acquires are waiting.
    pub(crate) fn waiting(&self) -> usize {
        self.state.borrow().waiting.len()
    }
}

/// Gives a permit back and hands free permits to waiters, first come first
/// served, with no borrow held while a waiter's callbacks run.
fn release<G: 'static>(shared: &Shared<G>) {
    {
        let mut state = shared.borrow_mut();
        state.available += 1;
        debug_assert!(
            state.available <= state.limit,
            "more releases than acquires"
        );
        if state.handing {
            return;
        }
        state.handing = true;
    }
    loop {
        let (waiter, wrap) = {
            let mut state = shared.borrow_mut();
            if state.available == 0 {
                state.handing = false;
                return;
            }
            match state.waiting.pop_front() {
                Some((_, waiter)) => {
                    state.available -= 1;
                    (waiter, state.wrap)
                }
                None => {
                    state.handing = false;
                    return;
                }
            }
        };
        let permit = Permit {
            state: Some(shared.clone()),
        };
        if waiter.is_called() {
            // Fired by someone else through a clone: its permit goes on.
            drop(permit);
        } else {
            // Cannot fail: checked above, and cancelled waiters are
            // removed by their canceller before they are fired.
            let _ = waiter.try_callback(wrap(permit));
        }
    }
}

/// One permit; dropping it gives it back.
pub(crate) struct Permit<G: 'static> {
    state: Option<Shared<G>>,
}

impl<G: 'static> Permit<G> {
    pub(crate) fn release(mut self) {
        if let Some(state) = self.state.take() {
            release(&state);
        }
    }
}

impl<G: 'static> Drop for Permit<G> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            release(&state);
        }
    }
}

/// Acquires from `acquired`, calls `f`, and gives the permit back when
/// what `f` returned has fired, whatever it fired with (Twisted's
/// `_ConcurrencyPrimitive.run`). A panic in `f` becomes a
/// [`PanicError`](crate::error::PanicError) failure and releases too.
pub(crate) fn run<G: 'static, R: IntoOutcome>(
    acquired: Deferred<G>,
    f: impl FnOnce() -> R + 'static,
) -> Deferred<R::Item> {
    acquired.add_callback(move |guard| {
        maybe_deferred(f).add_both(move |result| {
            drop(guard);
            result
        })
    })
}

impl<G: 'static> fmt::Debug for Permits<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Permits")
            .field("available", &state.available)
            .field("limit", &state.limit)
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

impl<G> fmt::Debug for Permit<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}
