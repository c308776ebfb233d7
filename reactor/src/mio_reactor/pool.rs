//! The worker pool behind [`Reactor::defer_to_thread`](super::Reactor::defer_to_thread).

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::error::{Message, PanicError};
use crate::{Deferred, Failure, ThreadHandle};

type Job = Box<dyn FnOnce() + Send>;

/// What a worker's function may fail with.
pub type ThreadError = Box<dyn Error + Send + Sync>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
    idle: usize,
    threads: usize,
}

/// A few threads running blocking work for one reactor.
pub(crate) struct Pool {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    max_threads: usize,
}

impl Pool {
    pub(crate) fn new(max_threads: usize) -> Pool {
        Pool {
            shared: Arc::default(),
            max_threads,
        }
    }

    fn submit(&self, job: Job) {
        let (lock, ready) = &*self.shared;
        let mut queue = lock.lock().unwrap_or_else(|p| p.into_inner());
        queue.jobs.push_back(job);
        if queue.idle == 0 && queue.threads < self.max_threads {
            queue.threads += 1;
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("torsion-worker".to_string())
                .spawn(move || work(&shared));
            if spawned.is_err() {
                queue.threads -= 1;
                log::error!("could not start a worker thread; the job waits for a running one");
            }
        } else {
            ready.notify_one();
        }
    }
}

fn work(shared: &(Mutex<Queue>, Condvar)) {
    let (lock, ready) = shared;
    let mut queue = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            drop(queue);
            job();
            queue = lock.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        if queue.closed {
            queue.threads -= 1;
            return;
        }
        queue.idle += 1;
        queue = ready.wait(queue).unwrap_or_else(|p| p.into_inner());
        queue.idle -= 1;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let (lock, ready) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        ready.notify_all();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = self.shared.0.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Pool")
            .field("threads", &queue.threads)
            .field("queued", &queue.jobs.len())
            .finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Deferreds waiting for a worker's result, on the reactor thread. The
    /// result comes back through `call_from_thread` as `Send` data and finds
    /// its Deferred here by id.
    static WAITING: RefCell<HashMap<u64, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// Runs `f` on `pool`; its result fires the returned Deferred on the
/// reactor thread that `handle` leads to.
pub(crate) fn defer_to_thread<T, F>(pool: &Pool, handle: ThreadHandle, f: F) -> Deferred<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ThreadError> + Send + 'static,
{
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let deferred = Deferred::<T>::new();
    WAITING.with(|w| w.borrow_mut().insert(id, Box::new(deferred.clone())));
    pool.submit(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            Err(Box::new(Message::new(
                PanicError::from_payload(payload.as_ref()).to_string(),
            )) as ThreadError)
        });
        let delivered = handle.call_from_thread(move || {
            let waiting = WAITING.with(|w| w.borrow_mut().remove(&id));
            let Some(deferred) = waiting.and_then(|d| d.downcast::<Deferred<T>>().ok()) else {
                return;
            };
            // A cancelled Deferred ignores the late result.
            let _ = match result {
                Ok(value) => deferred.try_callback(value),
                Err(error) => deferred.try_errback(Failure::from_boxed(error)),
            };
        });
        if delivered.is_err() {
            log::debug!("a worker finished after its reactor was gone");
        }
    }));
    deferred
}
