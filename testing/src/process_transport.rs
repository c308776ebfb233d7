//! [`FakeProcessTransport`]: a child process that is not there, for
//! driving a [`ProcessProtocol`] from a test, and [`ProcessSpawn`], what
//! [`MemoryReactor`](crate::MemoryReactor) records of a `spawn_process`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};

use torsion_reactor::error::{
    ChildFdError, ProcessDone, ProcessTerminated, ProducerError, SignalError,
};
use torsion_reactor::{
    parse_signal, Address, ChildFd, Consumer, Failure, ProcessOptions, ProcessProtocolRef,
    ProcessTransport, ProcessTransportRef, Producer, ProducerRef, PtySize, PushProducer, Transport,
    TransportCore,
};

/// A process transport with no process behind it: what the protocol
/// writes to stdin is kept ([`written`](Self::written)), signals and
/// closes are recorded, and the test plays the child: its output
/// ([`child_data`](Self::child_data)), its pipes closing
/// ([`child_fd_closed`](Self::child_fd_closed)), its exit
/// ([`exit`](Self::exit), [`killed_by`](Self::killed_by)). The protocol is
/// called exactly as the real reactor calls it: `process_ended` only once
/// the exit was seen and every pipe closed.
///
/// # Examples
///
/// Drive a protocol on the fake clock: the child answers after a second,
/// then exits.
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use torsion_reactor::{Consumer, Failure, ProcessOptions, ProcessProtocol, ReactorTimeExt};
/// use torsion_testing::{Clock, FakeProcessTransport};
///
/// #[derive(Default)]
/// struct Seen(Vec<u8>, bool);
/// impl ProcessProtocol for Seen {
///     fn out_received(&mut self, data: &[u8]) {
///         self.0.extend_from_slice(data);
///     }
///     fn process_ended(&mut self, _reason: Failure) {
///         self.1 = true;
///     }
/// }
///
/// let clock = Clock::new();
/// let seen = Rc::new(RefCell::new(Seen::default()));
/// let child = FakeProcessTransport::connect(seen.clone(), &ProcessOptions::new("cat"));
/// child.write(b"ping");
/// assert_eq!(child.written(), b"ping");
/// let later = child.clone();
/// clock.call_later(Duration::from_secs(1), move || {
///     later.child_data(1, b"pong");
///     later.exit(0);
/// });
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(seen.borrow().0, b"pong");
/// assert!(seen.borrow().1);
/// ```
///
/// # Twisted
///
/// Twisted's `twisted.internet.testing` has no fake process; its process
/// tests use a real child or `MockOS`. This is the process counterpart of
/// `StringTransport`.
pub struct FakeProcessTransport {
    me: Weak<FakeProcessTransport>,
    protocol: RefCell<Option<ProcessProtocolRef>>,
    pid: Cell<Option<u32>>,
    stdin: RefCell<TransportCore>,
    open_fds: RefCell<BTreeSet<i32>>,
    /// The descriptors mapped to `ChildFd::Write`.
    write_fds: BTreeSet<i32>,
    /// The terminal's sizes, first to last (empty without a terminal).
    pty_sizes: RefCell<Vec<PtySize>>,
    /// What `write_to_child` wrote to descriptors other than 0.
    other_writes: RefCell<BTreeMap<i32, Vec<u8>>>,
    closed_by_us: RefCell<Vec<i32>>,
    signals: RefCell<Vec<String>>,
    exit: RefCell<Option<Failure>>,
    ended: Cell<bool>,
    paused: Cell<bool>,
    disconnecting: Cell<bool>,
}

/// The pid fakes get: no real process has it.
pub const FAKE_PID: u32 = 4_000_000;

impl FakeProcessTransport {
    /// A fake child with the pipes `options` asks for, connected to
    /// `protocol` (its `make_connection` is called).
    pub fn connect(
        protocol: ProcessProtocolRef,
        options: &ProcessOptions,
    ) -> Rc<FakeProcessTransport> {
        let pty = options.get_pty().is_some();
        // On a terminal: one master, written as 0 and read as 1.
        let open_fds = if pty {
            BTreeSet::from([0, 1])
        } else {
            options
                .child_fds()
                .iter()
                .filter(|(_, what)| matches!(what, ChildFd::Read | ChildFd::Write))
                .map(|(&fd, _)| fd)
                .collect()
        };
        let write_fds = if pty {
            BTreeSet::from([0])
        } else {
            options
                .child_fds()
                .iter()
                .filter(|(_, what)| matches!(what, ChildFd::Write))
                .map(|(&fd, _)| fd)
                .collect()
        };
        let fake = Rc::new_cyclic(|me| FakeProcessTransport {
            me: me.clone(),
            protocol: RefCell::new(Some(protocol.clone())),
            pid: Cell::new(Some(FAKE_PID)),
            stdin: RefCell::new(TransportCore::new()),
            open_fds: RefCell::new(open_fds),
            write_fds,
            pty_sizes: RefCell::new(options.get_pty().into_iter().collect()),
            other_writes: RefCell::default(),
            closed_by_us: RefCell::default(),
            signals: RefCell::default(),
            exit: RefCell::default(),
            ended: Cell::new(false),
            paused: Cell::new(false),
            disconnecting: Cell::new(false),
        });
        let transport: ProcessTransportRef = fake.clone();
        protocol.borrow_mut().make_connection(transport);
        fake
    }

    fn protocol(&self) -> Option<ProcessProtocolRef> {
        self.protocol.borrow().clone()
    }

    /// What the protocol wrote to the child's stdin.
    pub fn written(&self) -> Vec<u8> {
        self.stdin.borrow().buffer_to_vec()
    }

    /// What the protocol wrote to the child's descriptor `fd` (one mapped
    /// to `ChildFd::Write`) with `write_to_child`; for 0, what
    /// [`written`](Self::written) gives.
    pub fn written_to(&self, fd: i32) -> Vec<u8> {
        if fd == 0 {
            return self.written();
        }
        self.other_writes
            .borrow()
            .get(&fd)
            .cloned()
            .unwrap_or_default()
    }

    /// The sizes of the child's pseudo-terminal: the one it was spawned
    /// with, then each `set_pty_size`; empty if it has no terminal.
    pub fn pty_sizes(&self) -> Vec<PtySize> {
        self.pty_sizes.borrow().clone()
    }

    /// Takes what the protocol wrote to stdin (the child read it).
    pub fn take_written(&self) -> Vec<u8> {
        self.stdin.borrow_mut().take_buffer()
    }

    /// The signal names `signal_process` was asked to send, in order.
    pub fn signals(&self) -> Vec<String> {
        self.signals.borrow().clone()
    }

    /// The descriptors the protocol closed (`close_child_fd`), in order.
    pub fn closed_by_protocol(&self) -> Vec<i32> {
        self.closed_by_us.borrow().clone()
    }

    /// Whether reading the child's output is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.get()
    }

    /// Whether the pipe of `fd` is open.
    pub fn is_open(&self, fd: i32) -> bool {
        self.open_fds.borrow().contains(&fd)
    }

    /// The child writes `data` on `fd`; nothing if that pipe is closed.
    pub fn child_data(&self, fd: i32, data: &[u8]) {
        if !self.is_open(fd) {
            return;
        }
        if let Some(protocol) = self.protocol() {
            protocol.borrow_mut().child_data_received(fd, data);
        }
    }

    /// The pipe of `fd` closes (the child closed it, or exited and no
    /// grandchild holds it): `child_connection_lost(fd)`, once.
    pub fn child_fd_closed(&self, fd: i32) {
        if !self.open_fds.borrow_mut().remove(&fd) {
            return;
        }
        if let Some(protocol) = self.protocol() {
            protocol.borrow_mut().child_connection_lost(fd);
        }
        self.maybe_ended();
    }

    /// The child exits with `code` and its pipes close (the usual end).
    pub fn exit(&self, code: i32) {
        let reason = if code == 0 {
            Failure::new(ProcessDone)
        } else {
            Failure::new(ProcessTerminated::exited(code))
        };
        self.exited_with(reason);
    }

    /// The child dies of signal `signal` and its pipes close.
    pub fn killed_by(&self, signal: i32) {
        self.exited_with(Failure::new(ProcessTerminated::signalled(signal)));
    }

    /// The child is reaped with `reason` (`process_exited`) but its pipes
    /// stay open until [`child_fd_closed`](Self::child_fd_closed).
    pub fn reaped(&self, reason: Failure) {
        if self.exit.borrow().is_some() {
            return;
        }
        self.pid.set(None);
        *self.exit.borrow_mut() = Some(reason.clone());
        if let Some(protocol) = self.protocol() {
            protocol.borrow_mut().process_exited(reason);
        }
        self.maybe_ended();
    }

    fn exited_with(&self, reason: Failure) {
        self.reaped(reason);
        let fds: Vec<i32> = self.open_fds.borrow().iter().copied().collect();
        for fd in fds {
            self.child_fd_closed(fd);
        }
    }

    fn maybe_ended(&self) {
        if self.ended.get() || !self.open_fds.borrow().is_empty() {
            return;
        }
        let Some(reason) = self.exit.borrow().clone() else {
            return;
        };
        self.ended.set(true);
        let protocol = self.protocol.borrow_mut().take();
        if let Some(protocol) = protocol {
            protocol.borrow_mut().process_ended(reason);
        }
    }

    /// Closing from inside the protocol: reported after it returns would
    /// need a loop; the fake reports at once unless the protocol is busy,
    /// in which case the test calls [`child_fd_closed`](Self::child_fd_closed).
    fn close_from_protocol(&self, fd: i32) {
        if !self.is_open(fd) {
            return;
        }
        self.closed_by_us.borrow_mut().push(fd);
        let busy = self
            .protocol()
            .is_some_and(|protocol| protocol.try_borrow_mut().is_err());
        if !busy {
            self.child_fd_closed(fd);
        }
    }
}

impl Consumer for FakeProcessTransport {
    fn write(&self, data: &[u8]) {
        if self.is_open(0) && self.stdin.borrow().accepting_writes() {
            self.stdin.borrow_mut().append(data);
        }
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        let call = self.stdin.borrow_mut().register_producer(producer)?;
        if let Some(call) = call {
            call.perform();
        }
        Ok(())
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        self.stdin.borrow_mut().unregister_producer().map(drop)
    }
}

impl Producer for FakeProcessTransport {
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl PushProducer for FakeProcessTransport {
    fn pause_producing(&self) {
        self.paused.set(true);
    }

    fn resume_producing(&self) {
        self.paused.set(false);
    }
}

impl Transport for FakeProcessTransport {
    fn lose_connection(&self) {
        self.disconnecting.set(true);
        let Some(me) = self.me.upgrade() else {
            return;
        };
        // A terminal closes as a whole (its 0 and 1); pipes one by one.
        for fd in [0, 1, 2] {
            me.close_from_protocol(fd);
        }
    }

    fn abort_connection(&self) {
        self.lose_connection();
    }

    fn lose_write_connection(&self) {
        self.close_stdin();
    }

    fn is_disconnecting(&self) -> bool {
        self.disconnecting.get()
    }

    fn peer(&self) -> Address {
        Address::Pipe
    }

    fn host(&self) -> Address {
        Address::Pipe
    }
}

impl ProcessTransport for FakeProcessTransport {
    fn pid(&self) -> Option<u32> {
        self.pid.get()
    }

    fn close_child_fd(&self, fd: i32) {
        if !self.pty_sizes.borrow().is_empty() {
            // Half a terminal cannot be closed, as on the real reactor.
            return;
        }
        if let Some(me) = self.me.upgrade() {
            me.close_from_protocol(fd);
        }
    }

    fn set_pty_size(&self, size: PtySize) -> io::Result<()> {
        if self.pty_sizes.borrow().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the process does not run on a pseudo-terminal",
            ));
        }
        if !self.is_open(1) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the terminal is closed",
            ));
        }
        self.pty_sizes.borrow_mut().push(size);
        Ok(())
    }

    fn write_to_child(&self, fd: i32, data: &[u8]) -> Result<(), ChildFdError> {
        if !self.write_fds.contains(&fd) || !self.is_open(fd) {
            return Err(ChildFdError::NotWritable { fd });
        }
        if fd == 0 {
            if !self.stdin.borrow().accepting_writes() {
                return Err(ChildFdError::NotWritable { fd });
            }
            self.write(data);
        } else {
            self.other_writes
                .borrow_mut()
                .entry(fd)
                .or_default()
                .extend_from_slice(data);
        }
        Ok(())
    }

    fn signal_process(&self, signal: &str) -> Result<(), SignalError> {
        parse_signal(signal)?;
        if self.pid.get().is_none() {
            return Err(SignalError::ProcessExitedAlready);
        }
        self.signals.borrow_mut().push(signal.to_owned());
        Ok(())
    }
}

impl fmt::Debug for FakeProcessTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeProcessTransport")
            .field("pid", &self.pid.get())
            .field("open_fds", &*self.open_fds.borrow())
            .field("signals", &*self.signals.borrow())
            .field("ended", &self.ended.get())
            .finish()
    }
}

/// One `spawn_process` call a [`MemoryReactor`](crate::MemoryReactor)
/// recorded: what was asked, and the fake child it got.
#[derive(Debug, Clone)]
pub struct ProcessSpawn {
    /// The options, as given.
    pub options: Rc<ProcessOptions>,
    /// The fake child the protocol was connected to.
    pub transport: Rc<FakeProcessTransport>,
}
