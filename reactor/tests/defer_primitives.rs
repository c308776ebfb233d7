//! `DeferredLock`, `DeferredSemaphore` and `DeferredQueue`: Twisted's
//! `OtherPrimitivesTests` (`twisted/test/test_defer.py`), plus the
//! Rust-specific contracts (guards, bounded stack, `async`).

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::error::{
    CancelledError, InvalidTokens, PanicError, QueueOverflow, QueueUnderflow,
};
use torsion_reactor::{
    Deferred, DeferredLock, DeferredQueue, DeferredSemaphore, Failure, LocalExecutor,
};
use util::{assert_no_result, failure_result_of, on_2mib_stack, success_result_of};

/// Twisted's `_incr`: a callback counting how often it ran.
fn incr<G>(counter: &Rc<Cell<u32>>) -> impl FnOnce(G) -> Result<G, Failure> {
    let counter = counter.clone();
    move |guard| {
        counter.set(counter.get() + 1);
        Ok(guard)
    }
}

/// Keeps what a Deferred fires with, so the guard it holds is not dropped.
struct Held<G>(Rc<RefCell<Vec<G>>>);

impl<G: 'static> Held<G> {
    fn new() -> Held<G> {
        Held(Rc::new(RefCell::new(Vec::new())))
    }

    fn keep(&self, d: Deferred<G>) {
        let held = self.0.clone();
        d.add_callback(move |guard| held.borrow_mut().push(guard));
    }

    fn release_first(&self) {
        let guard = self.0.borrow_mut().remove(0);
        drop(guard);
    }
}

/// Twisted's `testLock`: acquire, queue, release in order; `run` holds the
/// lock until the Deferred its function returned fires; a waiting acquire
/// cancels with `CancelledError`.
#[test]
fn lock() {
    let counter = Rc::new(Cell::new(0));
    let held = Held::new();
    let lock = DeferredLock::new();
    held.keep(lock.acquire().add_callback(incr(&counter)));
    assert!(lock.is_locked());
    assert_eq!(counter.get(), 1);

    held.keep(lock.acquire().add_callback(incr(&counter)));
    assert!(lock.is_locked());
    assert_eq!(counter.get(), 1);

    held.release_first();
    assert!(lock.is_locked());
    assert_eq!(counter.get(), 2);

    held.release_first();
    assert!(!lock.is_locked());
    assert_eq!(counter.get(), 2);

    let result = Rc::new(RefCell::new(None::<&str>));
    let control = Deferred::<&str>::new();
    let (seen, returned) = (result.clone(), control.clone());
    let result_deferred = lock.run(move || {
        *seen.borrow_mut() = Some("first");
        returned
    });
    assert!(lock.is_locked());
    assert_eq!(*result.borrow(), Some("first"));
    let seen = result.clone();
    result_deferred.add_callback(move |value| *seen.borrow_mut() = Some(value));

    held.keep(lock.acquire().add_callback(incr(&counter)));
    assert!(lock.is_locked());
    assert_eq!(counter.get(), 2);

    control.callback("second");
    assert_eq!(*result.borrow(), Some("second"));
    assert!(lock.is_locked());
    assert_eq!(counter.get(), 3);

    let cancelled = Rc::new(RefCell::new(None));
    let seen = cancelled.clone();
    let d = lock.acquire().add_both(move |outcome| {
        *seen.borrow_mut() = Some(outcome.map(drop));
    });
    d.cancel();
    let outcome = cancelled.borrow_mut().take().expect("the errback ran");
    assert!(outcome.unwrap_err().check::<CancelledError>());

    held.release_first();
    assert!(!lock.is_locked());
    assert_eq!(lock.waiting(), 0);
}

/// Twisted's `test_cancelLockAfterAcquired`: when canceling a Deferred from
/// a `DeferredLock` that already has the lock, the cancel should have no
/// effect.
#[test]
fn cancel_lock_after_acquired() {
    let lock = DeferredLock::new();
    let d = lock.acquire();
    d.cancel();
    let _guard = success_result_of(&d);
    assert!(lock.is_locked());
}

/// Twisted's `test_cancelLockBeforeAcquired`: when canceling a Deferred from
/// a `DeferredLock` that does not yet have the lock (i.e., the Deferred has
/// not fired), the cancel should cause a `CancelledError` failure.
#[test]
fn cancel_lock_before_acquired() {
    let lock = DeferredLock::new();
    let first = lock.acquire();
    let d = lock.acquire();
    d.cancel();
    assert!(failure_result_of(&d).check::<CancelledError>());
    // The cancelled waiter is gone: releasing leaves the lock free.
    assert_eq!(lock.waiting(), 0);
    drop(success_result_of(&first));
    assert!(!lock.is_locked());
}

/// Twisted's `testSemaphore`: `run` passes its result on; N acquires succeed
/// at once, the next waits; a cancelled waiter errbacks; releases hand
/// tokens to waiters first.
#[test]
fn semaphore() {
    const N: u32 = 13;
    let sem = DeferredSemaphore::new(N as usize).expect("13 tokens");
    let counter = Rc::new(Cell::new(0));

    let control = Deferred::<()>::new();
    let helper_arg = Rc::new(Cell::new(0));
    let (arg, returned) = (helper_arg.clone(), control.clone());
    let results = Rc::new(RefCell::new(Vec::new()));
    let log = results.clone();
    sem.run(move || {
        arg.set(42);
        returned
    })
    .add_callback(move |value| log.borrow_mut().push(value))
    .add_callback(incr(&counter));
    assert!(results.borrow().is_empty());
    assert_eq!(helper_arg.get(), 42);
    control.callback(());
    assert_eq!(results.borrow_mut().pop(), Some(()));
    assert_eq!(counter.get(), 1);

    counter.set(0);
    let held = Held::new();
    for i in 1..=N {
        held.keep(sem.acquire().add_callback(incr(&counter)));
        assert_eq!(counter.get(), i);
    }

    let success = Rc::new(RefCell::new(Vec::new()));
    let (on_ok, on_err) = (success.clone(), success.clone());
    let d = sem.acquire().add_callbacks(
        move |_token| on_ok.borrow_mut().push(false),
        move |_failure| on_err.borrow_mut().push(true),
    );
    d.cancel();
    assert_eq!(*success.borrow(), [true]);

    held.keep(sem.acquire().add_callback(incr(&counter)));
    assert_eq!(counter.get(), N);

    held.release_first();
    assert_eq!(counter.get(), N + 1);

    for _ in 1..=N {
        held.release_first();
        assert_eq!(counter.get(), N + 1);
    }
    assert_eq!(sem.tokens(), N as usize);
}

/// Twisted's `test_semaphoreInvalidTokens`: if the token count passed to
/// `DeferredSemaphore` is less than one then an error is returned.
#[test]
fn semaphore_invalid_tokens() {
    let error = DeferredSemaphore::new(0).unwrap_err();
    assert_eq!(error, InvalidTokens { tokens: 0 });
    assert_eq!(
        error.to_string(),
        "a DeferredSemaphore needs at least 1 token, not 0"
    );
}

/// Twisted's `test_cancelSemaphoreAfterAcquired`: when canceling a Deferred
/// from a `DeferredSemaphore` that already has the semaphore, the cancel
/// should have no effect.
#[test]
fn cancel_semaphore_after_acquired() {
    let sem = DeferredSemaphore::new(1).expect("1 token");
    let d = sem.acquire();
    d.cancel();
    let _token = success_result_of(&d);
    assert_eq!(sem.tokens(), 0);
}

/// Twisted's `test_cancelSemaphoreBeforeAcquired`: when canceling a Deferred
/// from a `DeferredSemaphore` that does not yet have the semaphore (i.e.,
/// the Deferred has not fired), the cancel should cause a `CancelledError`
/// failure.
#[test]
fn cancel_semaphore_before_acquired() {
    let sem = DeferredSemaphore::new(1).expect("1 token");
    let _first = sem.acquire();
    let d = sem.acquire();
    d.cancel();
    assert!(failure_result_of(&d).check::<CancelledError>());
    assert_eq!(sem.waiting(), 0);
}

fn collect(queue: &DeferredQueue<i32>, gotten: &Rc<RefCell<Vec<i32>>>) {
    let gotten = gotten.clone();
    queue
        .get()
        .expect("within the backlog")
        .add_callback(move |item| gotten.borrow_mut().push(item));
}

/// Twisted's `testQueue`: gets beyond the backlog underflow, puts go to
/// waiting gets first, puts beyond the size overflow; unlimited queues;
/// a size or backlog of 0.
#[test]
fn queue() {
    const N: i32 = 2;
    const M: usize = 2;
    let queue = DeferredQueue::with_limits(Some(N as usize), Some(M));
    let gotten = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..M {
        collect(&queue, &gotten);
    }
    assert!(matches!(queue.get(), Err(QueueUnderflow)));

    for i in 0..M as i32 {
        queue.put(i).expect("a get is waiting");
        assert_eq!(*gotten.borrow(), (0..=i).collect::<Vec<_>>());
    }
    for i in 0..N {
        queue.put(N + i).expect("room in the queue");
        assert_eq!(*gotten.borrow(), (0..M as i32).collect::<Vec<_>>());
    }
    let overflow = queue.put(99).unwrap_err();
    assert_eq!(overflow.into_item(), 99);

    gotten.borrow_mut().clear();
    for i in 0..N {
        collect(&queue, &gotten);
        assert_eq!(*gotten.borrow(), (N..=N + i).collect::<Vec<_>>());
    }

    let queue = DeferredQueue::new();
    let gotten = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..N {
        collect(&queue, &gotten);
    }
    for i in 0..N {
        queue.put(i).expect("unlimited");
    }
    assert_eq!(*gotten.borrow(), (0..N).collect::<Vec<_>>());

    let queue = DeferredQueue::with_limits(Some(0), None);
    let overflow: QueueOverflow<Option<()>> = queue.put(None).unwrap_err();
    assert_eq!(overflow.into_item(), None);

    let queue = DeferredQueue::<()>::with_limits(None, Some(0));
    assert!(matches!(queue.get(), Err(QueueUnderflow)));
}

/// Twisted's `test_cancelQueueAfterSynchronousGet`: when canceling a
/// Deferred from a `DeferredQueue` that already has a result, the cancel
/// should have no effect.
#[test]
fn cancel_queue_after_synchronous_get() {
    let queue = DeferredQueue::new();
    let d = queue.get().expect("no backlog limit");
    queue.put(()).expect("a get waits");
    d.cancel();
    success_result_of(&d);
}

/// Twisted's `test_cancelQueueAfterGet`: when canceling a Deferred from a
/// `DeferredQueue` that does not have a result (i.e., the Deferred has not
/// fired), the cancel causes a `CancelledError` failure. If the queue has a
/// result later on, it doesn't try to fire the deferred.
#[test]
fn cancel_queue_after_get() {
    let queue = DeferredQueue::<Option<u8>>::new();
    let d = queue.get().expect("no backlog limit");
    d.cancel();
    let q = queue.clone();
    let done = d
        .add_errback(|failure| {
            assert!(failure.check::<CancelledError>());
            Ok(None)
        })
        .add_callback(move |_| {
            // Still linked to the queue, this put would fire the cancelled
            // Deferred again.
            q.put(None).expect("unlimited");
            q.get().expect("an item is queued")
        });
    assert_eq!(success_result_of(&done), None);
    assert!(queue.is_empty());
}

/// A guard whose Deferred is dropped unread releases the lock: Twisted's
/// lock stays locked forever in that case.
#[test]
fn dropped_holder_releases_the_lock() {
    let lock = DeferredLock::new();
    let first = lock.acquire();
    let second = lock.acquire();
    assert_no_result(&second);
    drop(first);
    let guard = success_result_of(&second);
    assert!(lock.is_locked());
    guard.release();
    assert!(!lock.is_locked());
}

/// A panic in `run`'s function fails its Deferred and releases the lock.
#[test]
fn run_releases_after_panic() {
    let lock = DeferredLock::new();
    let d = lock.run(|| -> Result<(), Failure> { panic!("boom") });
    assert!(failure_result_of(&d).check::<PanicError>());
    assert!(!lock.is_locked());
}

/// A failure from `run`'s function goes to the caller and releases too.
#[test]
fn run_releases_after_failure() {
    let sem = DeferredSemaphore::new(1).expect("1 token");
    let d = sem.run(|| Deferred::<()>::failed(Failure::msg("no")));
    assert!(failure_result_of(&d).to_string().ends_with("no"));
    assert_eq!(sem.tokens(), 1);
}

/// 100 000 `run`s queued behind one holder, each finishing at once, hand
/// the lock on in a loop: bounded stack (Twisted recurses here).
#[test]
fn long_queue_of_waiters_uses_bounded_stack() {
    on_2mib_stack(|| {
        let lock = DeferredLock::new();
        let first = lock.acquire();
        let ran = Rc::new(Cell::new(0u32));
        let results: Vec<_> = (0..100_000)
            .map(|_| {
                let ran = ran.clone();
                lock.run(move || {
                    ran.set(ran.get() + 1);
                    Ok(())
                })
            })
            .collect();
        drop(first);
        assert_eq!(ran.get(), 100_000);
        assert!(results.iter().all(Deferred::has_result));
        assert!(!lock.is_locked());
    });
}

/// A release from inside a waiter's callback hands the lock to the next
/// waiter in order, and an acquire made meanwhile queues behind them.
#[test]
fn release_inside_callback_keeps_order() {
    let lock = DeferredLock::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    let first = lock.acquire();
    let (l, o) = (lock.clone(), order.clone());
    lock.acquire().add_callback(move |guard| {
        o.borrow_mut().push("a");
        guard.release();
        // Queued behind "b", which was waiting before.
        let o2 = o.clone();
        l.acquire()
            .add_callback(move |_guard| o2.borrow_mut().push("c"));
    });
    let o = order.clone();
    lock.acquire()
        .add_callback(move |_guard| o.borrow_mut().push("b"));
    drop(first);
    assert_eq!(*order.borrow(), ["a", "b", "c"]);
    assert!(!lock.is_locked());
}

/// `.await` on what the primitives return, from a `LocalExecutor` task.
#[test]
fn usable_from_async_code() {
    let executor = LocalExecutor::new();
    let lock = DeferredLock::new();
    let queue = DeferredQueue::<u32>::new();
    let sum = Rc::new(Cell::new(0));
    for _ in 0..2 {
        let (lock, queue, sum) = (lock.clone(), queue.clone(), sum.clone());
        executor.spawn_local(async move {
            let item = queue.get().expect("unlimited").await.expect("an item");
            let _guard = lock.acquire().await.expect("the lock");
            sum.set(sum.get() + item);
        });
    }
    executor.run_until_stalled();
    assert_eq!(sum.get(), 0);
    queue.put(1).expect("unlimited");
    queue.put(2).expect("unlimited");
    executor.run_until_stalled();
    assert_eq!(sum.get(), 3);
    assert!(!lock.is_locked());
    assert!(executor.is_empty());
}
