//! [`DeferredQueue`]: Twisted's `twisted.internet.defer.DeferredQueue`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::deferred::Deferred;
use crate::error::{QueueOverflow, QueueUnderflow};

struct State<T> {
    /// Gets waiting for an item, oldest first, with the id their canceller
    /// finds them by.
    waiting: VecDeque<(u64, Deferred<T>)>,
    /// Items waiting for a get, oldest first.
    pending: VecDeque<T>,
    size: Option<usize>,
    backlog: Option<usize>,
    next_id: u64,
}

/// A queue between producers and consumers in event-driven code:
/// [`get`](DeferredQueue::get) returns a [`Deferred`] firing with the next
/// item, at once if one is queued, else when one is [`put`](DeferredQueue::put).
///
/// `size` bounds the items waiting for a get, `backlog` the gets waiting
/// for an item; both are unlimited by default. Handles are cheap clones of
/// one queue.
///
/// # Examples
///
/// ```
/// use torsion_reactor::DeferredQueue;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = DeferredQueue::with_limits(Some(1), Some(1));
/// let next = queue.get()?; // nothing queued: it waits
/// assert!(queue.get().is_err()); // QueueUnderflow: the backlog is 1
/// queue.put("a")?; // goes straight to the waiting get
/// assert!(matches!(next.take_result(), Some(Ok("a"))));
///
/// queue.put("b")?;
/// let overflow = queue.put("c").unwrap_err(); // QueueOverflow: the size is 1
/// assert_eq!(overflow.into_item(), "c"); // handed back, not lost
/// # Ok(())
/// # }
/// ```
///
/// In `async` code: `let item = queue.get()?.await?;`.
///
/// # Errors
///
/// [`put`](DeferredQueue::put) returns [`QueueOverflow`] holding the item
/// when the queue is full; [`get`](DeferredQueue::get) returns
/// [`QueueUnderflow`] when it is empty and the backlog is full.
///
/// # Twisted
///
/// * `DeferredQueue(size, backlog)` is [`with_limits`](DeferredQueue::with_limits);
///   `None` is unlimited, as in Twisted.
/// * The errors are returned rather than raised; a refused `put` hands its
///   item back inside the error instead of dropping it.
/// * A cancelled get leaves the queue: a later `put` goes to the next get
///   (or is queued), never to the cancelled one.
pub struct DeferredQueue<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Clone for DeferredQueue<T> {
    fn clone(&self) -> Self {
        DeferredQueue {
            state: self.state.clone(),
        }
    }
}

impl<T: 'static> Default for DeferredQueue<T> {
    fn default() -> Self {
        DeferredQueue::new()
    }
}

impl<T: 'static> DeferredQueue<T> {
    /// A queue without limits.
    pub fn new() -> DeferredQueue<T> {
        DeferredQueue::with_limits(None, None)
    }

    /// A queue holding at most `size` items and `backlog` waiting gets
    /// (`None`: no limit).
    pub fn with_limits(size: Option<usize>, backlog: Option<usize>) -> DeferredQueue<T> {
        DeferredQueue {
            state: Rc::new(RefCell::new(State {
                waiting: VecDeque::new(),
                pending: VecDeque::new(),
                size,
                backlog,
                next_id: 0,
            })),
        }
    }

    /// Hands `item` to the oldest waiting get, or queues it.
    ///
    /// # Errors
    ///
    /// [`QueueOverflow`], holding `item`, if nobody waits and the queue
    /// already holds `size` items.
    pub fn put(&self, item: T) -> Result<(), QueueOverflow<T>> {
        let waiter = {
            let mut state = self.state.borrow_mut();
            // A waiter fired through a clone by someone else cannot take it.
            while state.waiting.front().is_some_and(|(_, d)| d.is_called()) {
                state.waiting.pop_front();
            }
            match state.waiting.pop_front() {
                Some((_, waiter)) => waiter,
                None => {
                    if state.size.is_some_and(|size| state.pending.len() >= size) {
                        return Err(QueueOverflow::new(item));
                    }
                    state.pending.push_back(item);
                    return Ok(());
                }
            }
        };
        // Checked unfired above, and nothing ran since.
        let _ = waiter.try_callback(item);
        Ok(())
    }

    /// A Deferred firing with the oldest item: already fired if one is
    /// queued, else fired by a later [`put`](DeferredQueue::put).
    /// Cancelling it while it waits removes it from the queue.
    ///
    /// # Errors
    ///
    /// [`QueueUnderflow`] if no item is queued and `backlog` gets already wait.
    pub fn get(&self) -> Result<Deferred<T>, QueueUnderflow> {
        let mut state = self.state.borrow_mut();
        if let Some(item) = state.pending.pop_front() {
            drop(state);
            return Ok(Deferred::succeeded(item));
        }
        if state
            .backlog
            .is_some_and(|backlog| state.waiting.len() >= backlog)
        {
            return Err(QueueUnderflow);
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
        Ok(waiter)
    }

    /// How many items are queued.
    pub fn len(&self) -> usize {
        self.state.borrow().pending.len()
    }

    /// Whether no item is queued.
    pub fn is_empty(&self) -> bool {
        self.state.borrow().pending.is_empty()
    }

    /// How many gets are waiting for an item.
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting.len()
    }

    /// The item limit (`None`: unlimited).
    pub fn size(&self) -> Option<usize> {
        self.state.borrow().size
    }

    /// The waiting-get limit (`None`: unlimited).
    pub fn backlog(&self) -> Option<usize> {
        self.state.borrow().backlog
    }
}

impl<T> fmt::Debug for DeferredQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("DeferredQueue")
            .field("pending", &state.pending.len())
            .field("waiting", &state.waiting.len())
            .field("size", &state.size)
            .field("backlog", &state.backlog)
            .finish()
    }
}
