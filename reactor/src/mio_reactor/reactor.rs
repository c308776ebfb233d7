//! [`Reactor`]: the mio event loop.
//!
//! Over 500 lines because one turn of the loop (poll, dispatch, the `soon`
//! and next-turn queues, timers, shutdown) is one algorithm, explained on the
//! type and read in one place.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use super::pool::{self, Pool, ThreadError};
use crate::error::{PanicError, ReactorError};
use crate::interfaces::{
    events, Phase, ReactorCore, ReactorFromThreads, ReactorTime, Trigger, TriggerId,
};
use crate::system_triggers::SystemTriggers;
use crate::{
    thread_channel, DelayedCall, LocalExecutor, LocalFuture, LocalSpawn, ThreadCalls, ThreadHandle,
    Timers,
};

const WAKER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);

/// Threads of the `defer_to_thread` pool, started as work arrives.
const WORKER_THREADS: usize = 4;

/// Size of the one read buffer every connection reads into.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// Something registered with the poller: a connection, a listening port,
/// a connector.
pub(crate) trait IoSource {
    /// The poller reported readiness.
    fn ready(self: Rc<Self>, event: &mio::event::Event);
    /// The reactor is shutting down (Twisted's `disconnectAll`).
    fn shutdown(self: Rc<Self>);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Idle,
    /// `run` fired "startup" and its "before" triggers run (or wait):
    /// not running yet (Twisted sets `running` in the "during" phase), but
    /// `run` is refused and `stop` is taken.
    Starting,
    Running,
    Stopping,
    Stopped,
}

pub(crate) struct ReactorState {
    poll: RefCell<Poll>,
    registry: Registry,
    pub(crate) timers: Timers,
    sources: RefCell<Slab<Rc<dyn IoSource>>>,
    lifecycle: Cell<Lifecycle>,
    shutdown_pending: Cell<bool>,
    /// `stop()` was called before `run()`: `run` stops after its first
    /// iteration (issue 20: an errback must be able to stop a reactor that
    /// has not started yet).
    stop_before_run: Cell<bool>,
    exit: Cell<bool>,
    /// `crash` ended the loop (not a stop): `run` may be called again.
    crashed: Cell<bool>,
    system_events: Rc<SystemTriggers>,
    thread_handle: ThreadHandle,
    thread_calls: ThreadCalls,
    executor: LocalExecutor,
    /// Work to run after the current callback, in this iteration: closes
    /// requested from inside a protocol, reads resumed, and the like.
    soon: RefCell<VecDeque<Box<dyn FnOnce()>>>,
    /// Work for the next iteration, after the next poll: a connection that
    /// used its share of reads goes on here, so events that arrived
    /// meanwhile and timers get their turn first.
    next_turn: RefCell<Vec<Box<dyn FnOnce()>>>,
    read_buffer: RefCell<Vec<u8>>,
    /// The event list [`Reactor::iterate`] polls into, kept between calls
    /// so an iteration allocates nothing (`None` while lent out).
    iterate_events: RefCell<Option<Events>>,
    /// One descriptor held back for descriptor exhaustion: freed to accept
    /// (and close) the connections a listening port could not accept, so
    /// they do not hang in the backlog; taken again afterwards.
    reserve_fd: RefCell<Option<std::fs::File>>,
    install_signal_handlers: Cell<bool>,
    pub(crate) pool: Pool,
    /// Children waiting for their exit to be seen (`process.rs`, `reap.rs`).
    pub(crate) processes: super::reap::ProcessTable,
}

/// The reactor: one thread, one `mio::Poll`, the shared timer queue,
/// connections in a `slab` (Twisted's reactor).
///
/// Each loop iteration runs, in order: calls queued from other threads
/// ([`ThreadHandle`]), the timed calls due when the turn began (a call
/// scheduled for "now" during the turn waits for the next one), ready
/// `async` tasks, then one poll whose timeout is the next timer's deadline
/// (rounded up, so nothing fires early), and dispatches its events.
///
/// Handles are cheap clones; everything is `!Send` and stays on the thread
/// that made it. [`thread_handle`](ReactorFromThreads::thread_handle) is the
/// `Send` door in.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_reactor::{Reactor, ReactorCore, ReactorTimeExt};
///
/// let reactor = Reactor::new()?;
/// let stopper = reactor.clone();
/// reactor.call_later(Duration::from_millis(10), move || {
///     stopper.stop().expect("running");
/// });
/// reactor.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// `run()` installs SIGINT/SIGTERM handlers that stop the reactor gracefully
/// (through signal-hook, no hand-written handler); opt out with
/// [`set_install_signal_handlers`](Reactor::set_install_signal_handlers).
/// A stopped reactor cannot run again ([`ReactorError::NotRestartable`]),
/// as in Twisted. `stop()` before `run()` is remembered: `run` fires
/// `startup`, runs one iteration, fires `shutdown` and returns (Twisted
/// raises `ReactorNotRunning`, which leaves an errback that runs before the
/// reactor no way to stop it).
#[derive(Clone)]
pub struct Reactor {
    pub(crate) shared: Rc<ReactorState>,
}

impl Reactor {
    /// A reactor ready to [`run`](ReactorCore::run).
    ///
    /// # Errors
    ///
    /// If the OS refuses a poller or a waker.
    pub fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let executor = LocalExecutor::new();
        let for_executor = waker.clone();
        executor.set_notify(move || {
            let _ = for_executor.wake();
        });
        let (thread_handle, thread_calls) = thread_channel(move || {
            // A failed wake means the poller is gone: the reactor too.
            let _ = waker.wake();
        });
        let shared = Rc::new(ReactorState {
            poll: RefCell::new(poll),
            registry,
            timers: Timers::monotonic(),
            sources: RefCell::new(Slab::new()),
            lifecycle: Cell::new(Lifecycle::Idle),
            shutdown_pending: Cell::new(false),
            stop_before_run: Cell::new(false),
            exit: Cell::new(false),
            crashed: Cell::new(false),
            system_events: Rc::default(),
            thread_handle,
            thread_calls,
            executor,
            soon: RefCell::new(VecDeque::new()),
            next_turn: RefCell::new(Vec::new()),
            read_buffer: RefCell::new(vec![0; READ_BUFFER]),
            iterate_events: RefCell::new(None),
            reserve_fd: RefCell::new(reserve_descriptor()),
            install_signal_handlers: Cell::new(true),
            pool: Pool::new(WORKER_THREADS),
            processes: Default::default(),
        });
        let weak = Rc::downgrade(&shared);
        shared.system_events.add(
            Phase::During,
            events::SHUTDOWN,
            Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.disconnect_all();
                    shared.exit.set(true);
                    // Twisted's "during shutdown" crash: from the "after"
                    // phase on the reactor is not running and cannot run.
                    shared.lifecycle.set(Lifecycle::Stopped);
                }
                None
            }),
        );
        // Twisted's `_reallyStartRunning`: running from "during startup".
        let weak = Rc::downgrade(&shared);
        shared.system_events.add(
            Phase::During,
            events::STARTUP,
            Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    if shared.lifecycle.get() == Lifecycle::Starting {
                        shared.lifecycle.set(Lifecycle::Running);
                    }
                }
                None
            }),
        );
        Ok(Reactor { shared })
    }

    /// How many I/O sources (connections, listening ports, connection
    /// attempts, pipes) are registered with the poller: what Twisted's
    /// `getReaders()`/`getWriters()` let a test count, and what
    /// `removeAll()` would return. A reactor that let everything go has 0.
    ///
    /// ```
    /// let reactor = torsion_reactor::Reactor::new()?;
    /// assert_eq!(reactor.registered_sources(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn registered_sources(&self) -> usize {
        self.shared.sources.borrow().len()
    }

    /// Whether `run()` installs SIGINT/SIGTERM handlers (default: yes).
    pub fn set_install_signal_handlers(&self, install: bool) {
        self.shared.install_signal_handlers.set(install);
    }

    /// Runs `future` on the reactor thread; it is polled when woken, never
    /// busily.
    pub fn spawn_local(&self, future: impl std::future::Future<Output = ()> + 'static) {
        self.shared.executor.spawn_local(future);
    }

    /// Runs blocking `work` on a small pool of worker threads and fires the
    /// returned Deferred with its result on the reactor thread (Twisted's
    /// `deferToThread`). A panic in `work` becomes a failure; cancelling the
    /// Deferred cannot stop the thread, and its late result is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use torsion_reactor::Reactor;
    ///
    /// let reactor = Reactor::new()?;
    /// let sum = reactor.defer_to_thread(|| Ok((1..=100u64).sum::<u64>()));
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while !sum.has_result() && Instant::now() < deadline {
    ///     reactor.iterate(Some(Duration::from_millis(10)))?;
    /// }
    /// assert_eq!(sum.take_result().unwrap().unwrap(), 5050);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn defer_to_thread<T, F>(&self, work: F) -> crate::Deferred<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, ThreadError> + Send + 'static,
    {
        pool::defer_to_thread(&self.shared.pool, self.shared.thread_handle.clone(), work)
    }

    /// Runs one loop iteration, waiting at most `timeout` for events
    /// (Twisted's `iterate`). For tests and embedding; `run` is the norm.
    ///
    /// # Errors
    ///
    /// The poller's OS error.
    pub fn iterate(&self, timeout: Option<Duration>) -> io::Result<()> {
        // Reused: a fresh list per call would be a heap allocation per
        // iteration (one per message for a test driving a connection).
        let lent = self.shared.iterate_events.borrow_mut().take();
        let mut events = lent.unwrap_or_else(|| Events::with_capacity(256));
        let outcome = self.shared.iterate(&mut events, timeout, None);
        *self.shared.iterate_events.borrow_mut() = Some(events);
        outcome
    }

    pub(crate) fn downgrade(&self) -> Weak<ReactorState> {
        Rc::downgrade(&self.shared)
    }
}

/// Opens the descriptor a reactor holds in reserve (`/dev/null`, read-only).
fn reserve_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

impl ReactorState {
    pub(crate) fn thread_handle(&self) -> ThreadHandle {
        self.thread_handle.clone()
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Adds `source` to the poller with `interest`; returns its token.
    pub(crate) fn register(
        &self,
        io: &mut impl mio::event::Source,
        interest: Interest,
        make: impl FnOnce(Token) -> Rc<dyn IoSource>,
    ) -> io::Result<Token> {
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let token = Token(entry.key());
        self.registry.register(io, token, interest)?;
        entry.insert(make(token));
        Ok(token)
    }

    /// Removes `token`'s source from the poller and the table.
    pub(crate) fn deregister(&self, token: Token, io: &mut impl mio::event::Source) {
        let _ = self.registry.deregister(io);
        let removed = self.sources.borrow_mut().try_remove(token.0);
        // Dropped outside the borrow: it may hold the last handle to things.
        drop(removed);
    }

    /// Runs `work` after the current callback, in this iteration.
    pub(crate) fn soon(&self, work: impl FnOnce() + 'static) {
        self.soon.borrow_mut().push_back(Box::new(work));
    }

    /// Runs `work` in the next iteration, after other ready sources and
    /// due timers have had their turn (fairness for whoever always has more
    /// to do).
    pub(crate) fn next_turn(&self, work: impl FnOnce() + 'static) {
        self.next_turn.borrow_mut().push(Box::new(work));
    }

    fn run_soon(&self) {
        loop {
            let next = self.soon.borrow_mut().pop_front();
            let Some(work) = next else { return };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(work)) {
                log::error!(
                    "reactor work panicked: {}",
                    PanicError::from_payload(payload.as_ref())
                );
            }
        }
    }

    /// Lends the shared read buffer (taken out, so no borrow is held while
    /// a protocol reads from it).
    pub(crate) fn take_read_buffer(&self) -> Vec<u8> {
        let mut buffer = std::mem::take(&mut *self.read_buffer.borrow_mut());
        if buffer.len() < READ_BUFFER {
            // Lent out further up the stack: a nested read gets its own.
            buffer = vec![0; READ_BUFFER];
        }
        buffer
    }

    /// Frees the reserve descriptor (see `reserve_fd`); true if one was held.
    pub(crate) fn release_reserve_fd(&self) -> bool {
        self.reserve_fd.borrow_mut().take().is_some()
    }

    /// Takes the reserve descriptor again; false if none is free yet.
    pub(crate) fn restore_reserve_fd(&self) -> bool {
        let mut reserve = self.reserve_fd.borrow_mut();
        if reserve.is_none() {
            *reserve = reserve_descriptor();
        }
        reserve.is_some()
    }

    pub(crate) fn return_read_buffer(&self, buffer: Vec<u8>) {
        *self.read_buffer.borrow_mut() = buffer;
    }

    fn disconnect_all(&self) {
        let all: Vec<Rc<dyn IoSource>> = self
            .sources
            .borrow()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        for source in all {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| source.shutdown())) {
                log::error!(
                    "shutting down a connection panicked: {}",
                    PanicError::from_payload(payload.as_ref())
                );
            }
        }
        self.run_soon();
    }

    fn dispatch(&self, event: &mio::event::Event) {
        let source = self.sources.borrow().get(event.token().0).cloned();
        if let Some(source) = source {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| source.ready(event))) {
                log::error!(
                    "an I/O handler panicked: {}",
                    PanicError::from_payload(payload.as_ref())
                );
            }
        }
        self.run_soon();
    }

    fn poll_timeout(&self, cap: Option<Duration>) -> Option<Duration> {
        if !self.soon.borrow().is_empty()
            || !self.next_turn.borrow().is_empty()
            || self.executor.has_ready()
            || self.shutdown_pending.get()
            || self.exit.get()
        {
            return Some(Duration::ZERO);
        }
        let timer = self
            .timers
            .next_deadline()
            .map(|deadline| deadline.saturating_sub(self.timers.now()));
        match (timer, cap) {
            (Some(t), Some(c)) => Some(t.min(c)),
            (t, c) => t.or(c),
        }
    }

    fn iterate(
        &self,
        events: &mut Events,
        cap: Option<Duration>,
        mut signals: Option<&mut signal_hook_mio::v1_0::Signals>,
    ) -> io::Result<()> {
        self.thread_calls.run_pending();
        self.timers.run_turn();
        if !self.next_turn.borrow().is_empty() {
            let carried = std::mem::take(&mut *self.next_turn.borrow_mut());
            self.soon.borrow_mut().extend(carried);
        }
        self.run_soon();
        self.executor.run_until_stalled();
        self.run_soon();
        if self.shutdown_pending.replace(false) {
            // Twisted fires "shutdown" at the end of the iteration in which
            // stop() was called; "before" Deferreds hold it while we loop.
            drop(self.system_events.fire(events::SHUTDOWN));
            self.run_soon();
        }
        if self.exit.get() {
            return Ok(());
        }
        let timeout = self.poll_timeout(cap);
        match self.poll.borrow_mut().poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            match event.token() {
                WAKER => {}
                SIGNALS => {
                    if let Some(signals) = signals.as_deref_mut() {
                        for signal in signals.pending() {
                            log::info!("received signal {signal}, stopping the reactor");
                            if matches!(
                                self.lifecycle.get(),
                                Lifecycle::Starting | Lifecycle::Running
                            ) {
                                self.request_stop();
                            }
                        }
                    }
                }
                _ => self.dispatch(event),
            }
        }
        Ok(())
    }

    fn request_stop(&self) {
        self.lifecycle.set(Lifecycle::Stopping);
        self.shutdown_pending.set(true);
    }
}

impl ReactorCore for Reactor {
    fn is_running(&self) -> bool {
        matches!(
            self.shared.lifecycle.get(),
            Lifecycle::Running | Lifecycle::Stopping
        )
    }

    fn run(&self) -> Result<(), ReactorError> {
        let shared = &self.shared;
        match shared.lifecycle.get() {
            Lifecycle::Starting | Lifecycle::Running | Lifecycle::Stopping => {
                return Err(ReactorError::AlreadyRunning)
            }
            Lifecycle::Stopped => return Err(ReactorError::NotRestartable),
            Lifecycle::Idle => {}
        }
        let mut signals = if shared.install_signal_handlers.get() {
            let mut signals = signal_hook_mio::v1_0::Signals::new([
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
            ])
            .map_err(ReactorError::Io)?;
            shared
                .registry
                .register(&mut signals, SIGNALS, Interest::READABLE)
                .map_err(ReactorError::Io)?;
            Some(signals)
        } else {
            None
        };
        shared.lifecycle.set(Lifecycle::Starting);
        drop(shared.system_events.fire(events::STARTUP));
        shared.run_soon();
        if shared.stop_before_run.replace(false)
            && matches!(
                shared.lifecycle.get(),
                Lifecycle::Starting | Lifecycle::Running
            )
        {
            shared.request_stop();
        }
        let mut events = Events::with_capacity(1024);
        let mut outcome = Ok(());
        while !shared.exit.get() {
            if let Err(e) = shared.iterate(&mut events, None, signals.as_mut()) {
                outcome = Err(ReactorError::Io(e));
                break;
            }
        }
        if let Some(signals) = signals.as_mut() {
            let _ = shared.registry.deregister(signals);
        }
        if shared.crashed.replace(false) && shared.lifecycle.get() != Lifecycle::Stopped {
            // Twisted's crash: the loop ends without shutdown, and `run`
            // may be called again (it fires "startup" again).
            shared.exit.set(false);
            shared.lifecycle.set(Lifecycle::Idle);
        } else {
            shared.lifecycle.set(Lifecycle::Stopped);
        }
        outcome
    }

    fn stop(&self) -> Result<(), ReactorError> {
        match self.shared.lifecycle.get() {
            Lifecycle::Starting | Lifecycle::Running => self.shared.request_stop(),
            Lifecycle::Idle => self.shared.stop_before_run.set(true),
            Lifecycle::Stopping | Lifecycle::Stopped => return Err(ReactorError::NotRunning),
        }
        Ok(())
    }

    fn crash(&self) {
        self.shared.crashed.set(true);
        self.shared.exit.set(true);
    }

    fn call_when_running(&self, call: Box<dyn FnOnce()>) -> Option<TriggerId> {
        if self.is_running() {
            call();
            return None;
        }
        let mut call = Some(call);
        Some(self.add_system_event_trigger(
            Phase::After,
            events::STARTUP,
            Box::new(move || {
                if let Some(call) = call.take() {
                    call();
                }
                None
            }),
        ))
    }

    fn add_system_event_trigger(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        self.shared.system_events.add(phase, event, trigger)
    }

    fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        self.shared.system_events.remove(id)
    }

    fn fire_system_event(&self, event: &str) {
        drop(self.shared.system_events.fire(event));
    }
}

impl ReactorTime for Reactor {
    fn now(&self) -> Duration {
        self.shared.timers.now()
    }

    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        self.shared.timers.call_later_boxed(delay, call)
    }

    fn delayed_calls(&self) -> Vec<DelayedCall> {
        self.shared.timers.delayed_calls()
    }
}

impl ReactorFromThreads for Reactor {
    fn thread_handle(&self) -> ThreadHandle {
        self.shared.thread_handle.clone()
    }
}

impl LocalSpawn for Reactor {
    fn spawn_local_boxed(&self, future: LocalFuture) {
        self.shared.executor.spawn_local_boxed(future);
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("lifecycle", &self.shared.lifecycle.get())
            .field("sources", &self.shared.sources.borrow().len())
            .field("timers", &self.shared.timers.len())
            .finish()
    }
}
