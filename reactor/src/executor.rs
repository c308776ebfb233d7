//! [`LocalExecutor`] and the [`LocalSpawn`] seam: where `Deferred` and
//! `async` code meet.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use slab::Slab;

use crate::error::PanicError;
use crate::{Deferred, Failure};

/// A spawned future, boxed.
pub type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Something that runs `!Send` futures on the reactor thread: the seam
/// between `Deferred` and `async`. The mio reactor implements it with its
/// [`LocalExecutor`]; so can a test.
pub trait LocalSpawn {
    /// Runs `future` to completion on this thread.
    fn spawn_local_boxed(&self, future: LocalFuture);
}

impl<T: 'static> Deferred<T> {
    /// Runs `future` on `spawner` and fires with its output (Twisted's
    /// `Deferred.fromCoroutine` / `ensureDeferred`). Cancelling the
    /// Deferred drops the future.
    ///
    /// # Examples
    ///
    /// ```
    /// use torsion_reactor::{Deferred, Failure, LocalExecutor};
    ///
    /// let executor = LocalExecutor::new();
    /// let input = Deferred::<u32>::new();
    /// let waiting = input.clone();
    /// let doubled = Deferred::from_future(&executor, async move { Ok::<_, Failure>(waiting.await? * 2) });
    /// executor.run_until_stalled();
    /// assert!(!doubled.has_result());
    /// input.callback(21);
    /// executor.run_until_stalled();
    /// assert_eq!(doubled.take_result().unwrap().unwrap(), 42);
    /// ```
    pub fn from_future<F>(spawner: &(impl LocalSpawn + ?Sized), future: F) -> Deferred<T>
    where
        F: Future<Output = Result<T, Failure>> + 'static,
    {
        let slot: Rc<RefCell<Option<Pin<Box<F>>>>> = Rc::new(RefCell::new(Some(Box::pin(future))));
        // The task's latest waker: cancelling wakes it so the executor
        // drops the task now rather than whenever something else wakes it.
        let waker: Rc<RefCell<Option<std::task::Waker>>> = Rc::default();
        let (for_cancel, wake_on_cancel) = (Rc::downgrade(&slot), waker.clone());
        let deferred = Deferred::with_canceller(move |_| {
            // If the future is polling right now (it cancelled its own
            // Deferred), the poll below notices the fired Deferred instead.
            if let Some(slot) = for_cancel.upgrade() {
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    slot.take();
                }
            }
            if let Some(waker) = wake_on_cancel.borrow_mut().take() {
                waker.wake();
            }
        });
        let result = deferred.clone();
        spawner.spawn_local_boxed(Box::pin(std::future::poll_fn(move |cx| {
            if result.is_called() {
                slot.borrow_mut().take();
                return Poll::Ready(());
            }
            let mut guard = slot.borrow_mut();
            let Some(future) = guard.as_mut() else {
                return Poll::Ready(());
            };
            match future.as_mut().poll(cx) {
                Poll::Pending => {
                    *waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
                Poll::Ready(output) => {
                    guard.take();
                    drop(guard);
                    let _ = result.try_resolve(output);
                    Poll::Ready(())
                }
            }
        })));
        deferred
    }
}

struct TaskWaker {
    id: usize,
    scheduled: AtomicBool,
    ready: Arc<ReadyQueue>,
}

struct ReadyQueue {
    ids: Mutex<Vec<usize>>,
    /// Set after an id is pushed (before the notify): clear means no lock
    /// needs taking to find the queue empty.
    any: AtomicBool,
    notify: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.ready
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.id);
        self.ready.any.store(true, Ordering::Release);
        let notify = self
            .ready
            .notify
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(notify) = notify {
            notify();
        }
    }
}

struct Task {
    future: Option<LocalFuture>,
    waker: Arc<TaskWaker>,
}

/// A single-threaded executor for `!Send` futures, polled by its owner (the
/// reactor, once per loop iteration; a test, by hand).
///
/// A task is polled only after its waker was called: no busy polling. Wakers
/// are `Send`, so a future may be woken from another thread; the executor
/// then calls its notify hook (the reactor's `mio::Waker`). A panicking
/// task is logged and dropped; the others go on.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Deferred, LocalExecutor};
///
/// let executor = LocalExecutor::new();
/// let d = Deferred::<&str>::new();
/// let awaited = d.clone();
/// executor.spawn_local(async move {
///     let value = awaited.await.unwrap();
///     assert_eq!(value, "hello");
/// });
/// assert_eq!(executor.run_until_stalled(), 1);
/// d.callback("hello");
/// executor.run_until_stalled();
/// assert_eq!(executor.len(), 0);
/// ```
#[derive(Clone)]
pub struct LocalExecutor {
    tasks: Rc<RefCell<Slab<Task>>>,
    ready: Arc<ReadyQueue>,
}

impl Default for LocalExecutor {
    fn default() -> Self {
        LocalExecutor::new()
    }
}

impl LocalExecutor {
    /// An executor with no tasks and no notify hook.
    pub fn new() -> LocalExecutor {
        LocalExecutor {
            tasks: Rc::new(RefCell::new(Slab::new())),
            ready: Arc::new(ReadyQueue {
                ids: Mutex::new(Vec::new()),
                any: AtomicBool::new(false),
                notify: Mutex::new(None),
            }),
        }
    }

    /// Sets the hook called whenever a task becomes ready, from any thread.
    pub fn set_notify(&self, notify: impl Fn() + Send + Sync + 'static) {
        *self.ready.notify.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(notify));
    }

    /// Spawns `future`; it is first polled by the next
    /// [`run_until_stalled`](LocalExecutor::run_until_stalled).
    pub fn spawn_local(&self, future: impl Future<Output = ()> + 'static) {
        self.spawn_local_boxed(Box::pin(future));
    }

    /// How many tasks are alive.
    pub fn len(&self) -> usize {
        self.tasks.borrow().len()
    }

    /// Whether no task is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether some task is ready to be polled.
    pub fn has_ready(&self) -> bool {
        self.ready.any.load(Ordering::Acquire)
            && !self
                .ready
                .ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// Polls ready tasks until none is ready; returns how many polls ran.
    pub fn run_until_stalled(&self) -> usize {
        // Issue 20: also each reactor turn, for a borrow that ended outside
        // a poll (a task dropped by cancelling its Deferred).
        crate::borrowed::deliver_postponed();
        let mut polls = 0;
        loop {
            if !self.ready.any.load(Ordering::Acquire) {
                return polls;
            }
            self.ready.any.store(false, Ordering::Release);
            let ids =
                std::mem::take(&mut *self.ready.ids.lock().unwrap_or_else(|p| p.into_inner()));
            if ids.is_empty() {
                return polls;
            }
            for id in ids {
                polls += 1;
                self.poll_task(id);
            }
        }
    }

    fn poll_task(&self, id: usize) {
        // Take the future out so no borrow is held while it runs: it may spawn.
        let (mut future, waker) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(task) = tasks.get_mut(id) else {
                return;
            };
            let Some(future) = task.future.take() else {
                return;
            };
            task.waker.scheduled.store(false, Ordering::Release);
            (future, task.waker.clone())
        };
        let waker = Waker::from(waker);
        let mut cx = Context::from_waker(&waker);
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => {
                if let Some(task) = self.tasks.borrow_mut().get_mut(id) {
                    task.future = Some(future);
                }
            }
            Ok(Poll::Ready(())) => {
                self.tasks.borrow_mut().remove(id);
            }
            Err(payload) => {
                log::error!(
                    "a spawned future panicked: {}",
                    PanicError::from_payload(payload.as_ref())
                );
                self.tasks.borrow_mut().remove(id);
            }
        }
        // Issue 20: a borrow held across `.await` ends in a poll.
        crate::borrowed::deliver_postponed();
    }
}

impl LocalSpawn for LocalExecutor {
    fn spawn_local_boxed(&self, future: LocalFuture) {
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let waker = Arc::new(TaskWaker {
            id: entry.key(),
            scheduled: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        entry.insert(Task {
            future: Some(future),
            waker: waker.clone(),
        });
        drop(tasks);
        waker.wake_by_ref();
    }
}

impl fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("tasks", &self.len())
            .finish()
    }
}
