//! [`ReactorFromThreads`]: Twisted's `IReactorFromThreads`.

use crate::ThreadHandle;

/// The one way into the reactor from other threads: Twisted's
/// `IReactorFromThreads`.
///
/// The reactor and everything it owns are `!Send`. The [`ThreadHandle`] it
/// hands out is `Send + Sync + Clone`; its
/// [`call_from_thread`](ThreadHandle::call_from_thread) queues a closure
/// that the reactor runs on its own thread, in order.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{ReactorFromThreads, ThreadHandle};
///
/// fn report_from_worker(reactor: &dyn ReactorFromThreads) {
///     let handle: ThreadHandle = reactor.thread_handle();
///     std::thread::spawn(move || {
///         let answer = 6 * 7; // slow work
///         let _ = handle.call_from_thread(move || log::info!("answer: {answer}"));
///     });
/// }
/// # let _ = report_from_worker;
/// ```
pub trait ReactorFromThreads {
    /// A handle other threads use to queue calls into this reactor.
    fn thread_handle(&self) -> ThreadHandle;
}
