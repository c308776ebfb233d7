//! [`run_per_core`]: one reactor per thread, each with its own listening
//! socket on the same port (`SO_REUSEPORT`), so a server scales across
//! cores without sharing state between threads.
//!
//! Over 500 lines because the start-up handshake, the supervision and the
//! shutdown of the per-core threads are one protocol between the threads,
//! kept in one place.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::error::{CannotListenError, PanicError, ReactorError};
use crate::interfaces::{DynProtocolFactory, ListeningPort, ReactorCore, ReactorFromThreads};
use crate::{Address, Reactor, ThreadHandle};

/// What a `setup` closure may fail with: any error that can cross threads.
pub type SetupError = Box<dyn Error + Send + Sync>;

thread_local! {
    /// The reactor of this per-core thread, for calls queued from other
    /// threads (a `Reactor` is `!Send`, so they cannot carry it).
    static CURRENT: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

/// Starts `n` reactors on `n` threads (named `torsion-core-<index>`), runs
/// `setup` on each thread with that thread's reactor, then runs every
/// reactor until it is stopped.
///
/// `setup` is shared by the threads (hence `Send + Sync`), and builds on
/// its thread whatever that thread serves: factories, protocols and other
/// `Rc`-based state are made there and never cross threads. A server
/// listens through [`CoreSetup::listen_tcp`], which sets `SO_REUSEPORT`, so
/// the `n` reactors each own a listening socket on the same port and the
/// kernel spreads incoming connections over them (on Linux, by a hash of
/// the client's address and port: each connection stays on the reactor
/// that accepted it).
///
/// Reactor 0's `setup` runs first, alone; the others run theirs at once
/// after it, in parallel. This is what makes port 0 work: when reactor 0
/// asks for port 0 it gets a free port from the kernel, and the matching
/// call on every other reactor (matched by order: the *k*-th
/// `listen_tcp` call of each `setup`) listens on that same port.
/// [`PerCore::ports`] tells which ports reactor 0 got.
///
/// Returns once every `setup` has finished, so the ports already listen.
/// If any `setup` fails or panics, the reactors already set up are stopped,
/// every thread is joined, and the error names each failed reactor (when
/// reactor 0 fails, the others do not run `setup` at all).
///
/// Each reactor runs with its defaults unless `setup` changes them: in
/// particular `run()` installs SIGINT/SIGTERM handlers in every reactor, so
/// Ctrl-C stops them all gracefully (turn it off with
/// [`Reactor::set_install_signal_handlers`] inside `setup`).
///
/// # Twisted
///
/// Twisted has no such call: its reactor is one per process, and a server
/// goes beyond one core with several processes, each adopting a shared
/// listening socket (`adoptStreamPort`). Here the reactors are threads of
/// one process, each with a socket of its own on the port, which lets the
/// kernel balance connections rather than waking every process on each
/// one; as with processes, they share no state unless the user shares it
/// through `Send` types.
///
/// # Cost
///
/// The reactors share nothing, so the split adds no per-operation work of
/// Torsion's own: in `torsion-bench`'s per-core scenarios two reactors
/// stay within 3% of one reactor's operations per CPU-second, both on the
/// same CPU budget and when streaming (see `BENCHMARKS.md`). What the split
/// can cost is the kernel's and the scheduler's: with small messages, each
/// reactor wakes for fewer events at a time, and on a machine with fewer
/// cores than reactors plus everything else that runs, the threads preempt
/// each other. Give each reactor a core of its own (`n` at most the cores left
/// to the server).
///
/// # Errors
///
/// [`PerCoreError`], naming each reactor whose thread could not start, or
/// whose `setup` failed or panicked.
///
/// # Panics
///
/// If `n` is 0.
///
/// # Examples
///
/// An echo server on two reactors, each counting its own connections:
///
/// ```
/// use std::cell::Cell;
/// use std::io::{Read, Write};
/// use std::rc::Rc;
/// use torsion_reactor::{run_per_core, Factory, Protocol, TransportRef, DEFAULT_BACKLOG};
///
/// struct Echo(Option<TransportRef>);
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: TransportRef) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data);
///     }
/// }
///
/// let server = run_per_core(2, |core| {
///     // Runs on each reactor's thread: `Rc` state stays on that thread.
///     let served = Rc::new(Cell::new(0u64));
///     let factory = Factory::for_protocol(move || {
///         served.set(served.get() + 1);
///         Echo(None)
///     });
///     // Port 0: reactor 0 gets a free port, reactor 1 joins it.
///     core.listen_tcp(0, Rc::new(factory), DEFAULT_BACKLOG, "127.0.0.1")?;
///     Ok(())
/// })?;
///
/// let mut client = std::net::TcpStream::connect(("127.0.0.1", server.ports()[0]))?;
/// client.write_all(b"hello")?;
/// let mut echo = [0; 5];
/// client.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"hello");
///
/// server.stop_and_join()?; // each reactor's stop(), then every thread joined
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_per_core<S>(n: usize, setup: S) -> Result<PerCore, PerCoreError>
where
    S: Fn(&CoreSetup<'_>) -> Result<(), SetupError> + Send + Sync + 'static,
{
    assert!(n > 0, "run_per_core needs at least one reactor");
    let setup = Arc::new(setup);
    let plan = Arc::new(Plan::default());
    let (started, reports) = mpsc::channel();
    let mut threads = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for index in 0..n {
        let (setup, shared_plan, started) = (setup.clone(), plan.clone(), started.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("torsion-core-{index}"))
            .spawn(move || core_main(index, n, &*setup, &shared_plan, started));
        match spawned {
            Ok(thread) => threads.push((index, thread)),
            Err(e) => {
                if index == 0 {
                    plan.publish(None);
                }
                failures.push((index, CoreFailure::Start(e)));
            }
        }
    }
    // Every thread sends one report, then drops its sender: when all are
    // gone, `recv` fails instead of waiting for a thread that died silently.
    drop(started);
    let mut handles = Vec::with_capacity(n);
    while let Ok(report) = reports.recv() {
        match report {
            Report::Ready(index, handle) => handles.push((index, handle)),
            Report::Failed(index, failure) => failures.push((index, failure)),
            Report::Skipped => {}
        }
    }
    handles.sort_by_key(|(index, _)| *index);
    let server = PerCore {
        handles: handles.into_iter().map(|(_, handle)| handle).collect(),
        threads,
        ports: plan.ports().unwrap_or_default(),
    };
    if failures.is_empty() {
        return Ok(server);
    }
    if let Err(more) = server.stop_and_join() {
        failures.extend(more.failures);
    }
    failures.sort_by_key(|(index, _)| *index);
    Err(PerCoreError { failures })
}

/// What a per-core thread tells `run_per_core` once its setup is over.
enum Report {
    /// Set up; about to run.
    Ready(usize, ThreadHandle),
    Failed(usize, CoreFailure),
    /// Reactor 0 failed, so this one did not set up.
    Skipped,
}

/// The body of per-core thread `index`; returns what its `run()` returned.
fn core_main<S>(
    index: usize,
    count: usize,
    setup: &S,
    plan: &Plan,
    started: mpsc::Sender<Report>,
) -> Result<(), ReactorError>
where
    S: Fn(&CoreSetup<'_>) -> Result<(), SetupError>,
{
    // Reactor 0 publishes its ports whatever happens below (an unpublished
    // plan would leave the other threads waiting for ever).
    let _publish_on_exit = (index == 0).then(|| PlanGuard(plan));
    let reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => {
            let _ = started.send(Report::Failed(index, CoreFailure::Start(e)));
            return Ok(());
        }
    };
    let shared_ports = if index == 0 {
        Vec::new()
    } else {
        match plan.wait() {
            Some(ports) => ports,
            None => {
                let _ = started.send(Report::Skipped);
                return Ok(());
            }
        }
    };
    let core = CoreSetup {
        reactor: &reactor,
        index,
        count,
        ports: RefCell::new(shared_ports),
        listens: Cell::new(0),
    };
    let outcome = match catch_unwind(AssertUnwindSafe(|| setup(&core))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CoreFailure::Setup(e)),
        Err(payload) => Err(CoreFailure::Panicked(PanicError::from_payload(
            payload.as_ref(),
        ))),
    };
    if index == 0 {
        plan.publish(outcome.is_ok().then(|| core.ports.take()));
    }
    if let Err(failure) = outcome {
        let _ = started.send(Report::Failed(index, failure));
        return Ok(());
    }
    CURRENT.with(|current| *current.borrow_mut() = Some(reactor.clone()));
    let _ = started.send(Report::Ready(index, reactor.thread_handle()));
    drop(started);
    let ran = reactor.run();
    let _ = CURRENT.with(|current| current.borrow_mut().take());
    ran
}

/// Stops this thread's per-core reactor (queued through its
/// [`ThreadHandle`], so it runs on the reactor's thread).
fn stop_current() {
    let reactor = CURRENT.with(|current| current.borrow().clone());
    if let Some(reactor) = reactor {
        // NotRunning: already stopping, by a signal or by user code.
        let _ = reactor.stop();
    }
}

/// The ports reactor 0 got, handed to the others once its setup is over.
#[derive(Default)]
struct Plan {
    /// `None` until published; then `Some(None)` if reactor 0 failed.
    ports: Mutex<Option<Option<Vec<u16>>>>,
    published: Condvar,
}

impl Plan {
    /// Publishes reactor 0's ports (`None`: it failed); the first call wins.
    fn publish(&self, ports: Option<Vec<u16>>) {
        let mut slot = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(ports);
            self.published.notify_all();
        }
    }

    /// Waits for reactor 0's ports; `None` if it failed.
    fn wait(&self) -> Option<Vec<u16>> {
        let slot = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        let slot = self
            .published
            .wait_while(slot, |slot| slot.is_none())
            .unwrap_or_else(|p| p.into_inner());
        slot.clone().flatten()
    }

    /// Reactor 0's ports, if it published them.
    fn ports(&self) -> Option<Vec<u16>> {
        self.ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .flatten()
    }
}

/// Publishes "reactor 0 failed" when dropped before reactor 0 published.
struct PlanGuard<'a>(&'a Plan);

impl Drop for PlanGuard<'_> {
    fn drop(&mut self) {
        self.0.publish(None);
    }
}

/// What [`run_per_core`]'s `setup` gets on each thread: that thread's
/// reactor, its index, and a way to listen on a port shared by all the
/// reactors.
pub struct CoreSetup<'a> {
    reactor: &'a Reactor,
    index: usize,
    count: usize,
    /// On reactor 0, the port each `listen_tcp` call got (0 if it failed);
    /// on the others, reactor 0's list.
    ports: RefCell<Vec<u16>>,
    /// `listen_tcp` calls so far.
    listens: Cell<usize>,
}

impl CoreSetup<'_> {
    /// This thread's reactor. Clone it to keep it (in a protocol, a
    /// timer...); it stays on this thread.
    pub fn reactor(&self) -> &Reactor {
        self.reactor
    }

    /// Which reactor this is, from 0 to [`count`](CoreSetup::count) - 1.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many reactors [`run_per_core`] starts.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Listens on `interface:port` with `SO_REUSEPORT`
    /// ([`Reactor::listen_tcp_reuse_port`]), so every reactor's socket
    /// listens on the same port; arguments as in
    /// [`ReactorTcp::listen_tcp`](crate::ReactorTcp::listen_tcp).
    ///
    /// Port 0 on reactor 0 gets a free port; port 0 on any other reactor
    /// means "the port reactor 0 got from its call in the same position":
    /// the *k*-th call here joins reactor 0's *k*-th call. A non-zero port
    /// is used as given on every reactor.
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] with the OS error; on a reactor other than 0,
    /// also when port 0 was asked for and reactor 0 made no such call, or
    /// its call failed (`io::ErrorKind::InvalidInput`).
    pub fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let call = self.listens.get();
        self.listens.set(call + 1);
        let port = match (self.index, port) {
            (0, _) | (_, 1..) => port,
            (_, 0) => match self.ports.borrow().get(call) {
                Some(&shared) if shared != 0 => shared,
                _ => {
                    return Err(CannotListenError {
                        interface: interface.to_string(),
                        port,
                        source: io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "port 0 on reactor {} means reactor 0's port from listen_tcp \
                                 call #{call}, and reactor 0 got none",
                                self.index
                            ),
                        ),
                    })
                }
            },
        };
        let listening = self
            .reactor
            .listen_tcp_reuse_port(port, factory, backlog, interface);
        if self.index == 0 {
            let got = match &listening {
                Ok(listening) => match listening.host() {
                    Address::Tcp(addr) => addr.port(),
                    _ => port,
                },
                Err(_) => 0,
            };
            self.ports.borrow_mut().push(got);
        }
        listening
    }
}

impl fmt::Debug for CoreSetup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreSetup")
            .field("index", &self.index)
            .field("count", &self.count)
            .field("ports", &self.ports.borrow())
            .finish()
    }
}

/// The reactors [`run_per_core`] started: stop them, wait for them.
///
/// Dropping it stops every reactor and joins every thread (errors are
/// logged); call [`join`](PerCore::join) or
/// [`stop_and_join`](PerCore::stop_and_join) to get them instead.
#[derive(Debug)]
pub struct PerCore {
    /// The way into each reactor, in index order.
    handles: Vec<ThreadHandle>,
    /// (reactor index, its thread), in index order.
    threads: Vec<(usize, JoinHandle<Result<(), ReactorError>>)>,
    ports: Vec<u16>,
}

impl PerCore {
    /// How many reactors run.
    pub fn count(&self) -> usize {
        self.threads.len()
    }

    /// The port reactor 0 got from each of its
    /// [`CoreSetup::listen_tcp`] calls, in call order (0 where one failed):
    /// with port 0 asked, the port every reactor ended up sharing.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The way into each reactor from other threads
    /// ([`ThreadHandle::call_from_thread`]), in reactor order: element *i*
    /// reaches reactor *i*.
    pub fn thread_handles(&self) -> &[ThreadHandle] {
        &self.handles
    }

    /// Asks every reactor to stop (each one's [`ReactorCore::stop`], run on
    /// its own thread: shutdown triggers fire, connections close, ports
    /// stop listening) and returns at once. Reactors already stopped are
    /// skipped.
    pub fn stop(&self) {
        for handle in &self.handles {
            // ReactorGone: that reactor has already finished.
            let _ = handle.call_from_thread(stop_current);
        }
    }

    /// Waits until every reactor has stopped (by [`stop`](PerCore::stop),
    /// by a signal, or by its own code) and its thread ended.
    ///
    /// # Errors
    ///
    /// [`PerCoreError`] naming each reactor whose `run()` failed or whose
    /// thread panicked.
    pub fn join(mut self) -> Result<(), PerCoreError> {
        self.join_all()
    }

    /// [`stop`](PerCore::stop) then [`join`](PerCore::join).
    ///
    /// # Errors
    ///
    /// As [`join`](PerCore::join).
    pub fn stop_and_join(mut self) -> Result<(), PerCoreError> {
        self.stop();
        self.join_all()
    }

    fn join_all(&mut self) -> Result<(), PerCoreError> {
        let mut failures = Vec::new();
        for (index, thread) in self.threads.drain(..) {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push((index, CoreFailure::Run(e))),
                Err(payload) => failures.push((
                    index,
                    CoreFailure::Panicked(PanicError::from_payload(payload.as_ref())),
                )),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(PerCoreError { failures })
        }
    }
}

impl Drop for PerCore {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.stop();
        if let Err(e) = self.join_all() {
            log::error!("{e}");
        }
    }
}

/// Why one reactor of [`run_per_core`] failed.
#[derive(Debug)]
pub enum CoreFailure {
    /// Its thread or its reactor could not be created.
    Start(io::Error),
    /// Its `setup` returned an error.
    Setup(SetupError),
    /// Its `setup` panicked, or its thread did.
    Panicked(PanicError),
    /// Its reactor's `run()` failed.
    Run(ReactorError),
}

impl fmt::Display for CoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreFailure::Start(e) => write!(f, "could not start: {e}"),
            CoreFailure::Setup(e) => write!(f, "setup failed: {e}"),
            CoreFailure::Panicked(e) => write!(f, "{e}"),
            CoreFailure::Run(e) => write!(f, "{e}"),
        }
    }
}

impl Error for CoreFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CoreFailure::Start(e) => Some(e),
            CoreFailure::Setup(e) => Some(&**e),
            CoreFailure::Panicked(e) => Some(e),
            CoreFailure::Run(e) => Some(e),
        }
    }
}

/// One or more reactors of [`run_per_core`] failed.
#[derive(Debug)]
pub struct PerCoreError {
    /// (reactor index, what went wrong), in index order; never empty.
    pub failures: Vec<(usize, CoreFailure)>,
}

impl fmt::Display for PerCoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (index, failure)) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "reactor {index}: {failure}")?;
        }
        Ok(())
    }
}

impl Error for PerCoreError {
    /// The first failure.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.failures
            .first()
            .map(|(_, failure)| failure as &(dyn Error + 'static))
    }
}
