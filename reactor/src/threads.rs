//! [`ThreadHandle`]: the queue other threads use to call into the reactor.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{PanicError, ReactorGone};

type Call = Box<dyn FnOnce() + Send>;

struct ThreadQueue {
    calls: Mutex<VecDeque<Call>>,
    /// Set by the first call queued since the last drain: wakes coalesce.
    wake_pending: AtomicBool,
    closed: AtomicBool,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl ThreadQueue {
    fn calls(&self) -> MutexGuard<'_, VecDeque<Call>> {
        // A panic while holding the lock cannot corrupt a VecDeque push/take.
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A `Send + Sync` handle that queues calls into a reactor from any thread
/// (Twisted's `callFromThread`).
///
/// Calls run on the reactor thread in the order they were queued. Queuing
/// wakes the reactor once per batch: however many threads queue however many
/// calls before the reactor gets to them, it is woken once.
///
/// # Examples
///
/// ```
/// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
/// use torsion_reactor::thread_channel;
///
/// let wakes = Arc::new(AtomicUsize::new(0));
/// let counter = wakes.clone();
/// let (handle, calls) = thread_channel(move || {
///     counter.fetch_add(1, Ordering::SeqCst);
/// });
/// let workers: Vec<_> = (0..4)
///     .map(|i| {
///         let handle = handle.clone();
///         std::thread::spawn(move || handle.call_from_thread(move || log::info!("from {i}")))
///     })
///     .collect();
/// for worker in workers {
///     worker.join().unwrap()?;
/// }
/// assert_eq!(calls.run_pending(), 4);
/// assert_eq!(wakes.load(Ordering::SeqCst), 1);
/// # Ok::<(), torsion_reactor::error::ReactorGone>(())
/// ```
#[derive(Clone)]
pub struct ThreadHandle {
    shared: Arc<ThreadQueue>,
}

/// The reactor's end of a [`ThreadHandle`]: runs what other threads queued.
pub struct ThreadCalls {
    shared: Arc<ThreadQueue>,
}

/// A connected [`ThreadHandle`] and [`ThreadCalls`]; `wake` is called (from
/// the queuing thread) when the reactor should look at the queue.
pub fn thread_channel(wake: impl Fn() + Send + Sync + 'static) -> (ThreadHandle, ThreadCalls) {
    let shared = Arc::new(ThreadQueue {
        calls: Mutex::new(VecDeque::new()),
        wake_pending: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        wake: Box::new(wake),
    });
    (
        ThreadHandle {
            shared: shared.clone(),
        },
        ThreadCalls { shared },
    )
}

impl ThreadHandle {
    /// Queues `call` to run on the reactor thread.
    ///
    /// # Errors
    ///
    /// [`ReactorGone`] once the reactor has shut down (the call is dropped).
    pub fn call_from_thread(
        &self,
        call: impl FnOnce() + Send + 'static,
    ) -> Result<(), ReactorGone> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(ReactorGone);
        }
        self.shared.calls().push_back(Box::new(call));
        if !self.shared.wake_pending.swap(true, Ordering::AcqRel) {
            (self.shared.wake)();
        }
        Ok(())
    }
}

impl ThreadCalls {
    /// Runs every call queued so far, in order; a panic is logged and the
    /// rest still run. Returns how many ran.
    pub fn run_pending(&self) -> usize {
        // Every call pushed and not yet taken has the flag set (or is about
        // to set it and wake us), so a clear flag means no lock is needed.
        if !self.shared.wake_pending.load(Ordering::Acquire) {
            return 0;
        }
        self.shared.wake_pending.store(false, Ordering::Release);
        let batch = std::mem::take(&mut *self.shared.calls());
        let ran = batch.len();
        for call in batch {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(call)) {
                log::error!(
                    "a call from another thread panicked: {}",
                    PanicError::from_payload(payload.as_ref())
                );
            }
        }
        ran
    }

    /// Refuses further calls and drops those not yet run.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        drop(std::mem::take(&mut *self.shared.calls()));
    }
}

impl Drop for ThreadCalls {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for ThreadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHandle")
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl fmt::Debug for ThreadCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadCalls")
            .field("queued", &self.shared.calls().len())
            .finish()
    }
}
