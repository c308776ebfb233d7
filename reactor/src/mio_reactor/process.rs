//! [`Process`]: a child process on the mio reactor (Twisted's
//! `twisted.internet.process.Process`), and `Reactor`'s `spawn_process`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, ExitStatus};
use std::rc::Rc;

use super::pipe::{OnClose, PipeOwner, PipeReader};
use super::pipe_writer::{register_producer_on, unregister_producer_on, PipeWriter};
use super::reactor::ReactorState;
use super::reap::{hand_to_reaper, ExitWatch, ProcessTable};
use super::spawn::{start, ParentEnd, Started};
use crate::borrowed::{call_or_postpone, BORROWED};
use crate::error::{
    ChildFdError, ConnectionDone, PanicError, ProcessDone, ProcessTerminated, ProducerError,
    SignalError, SpawnError,
};
use crate::interfaces::{
    parse_signal, Consumer, ProcessOptions, ProcessProtocol, ProcessProtocolRef, ProcessTransport,
    ProcessTransportRef, Producer, ProducerRef, PtySize, PushProducer, ReactorProcess, Transport,
};
use crate::{Address, Failure, Reactor};

/// The reason `process_exited`/`process_ended` get for `status`.
pub(crate) fn exit_reason(status: ExitStatus) -> Failure {
    match (status.code(), status.signal()) {
        (Some(0), _) => Failure::new(ProcessDone),
        (Some(code), _) => Failure::new(ProcessTerminated::exited(code)),
        (None, Some(signal)) => Failure::new(ProcessTerminated::signalled(signal)),
        (None, None) => Failure::new(ProcessTerminated::exited(-1)),
    }
}

/// One child process: its pipes, its protocol, its exit.
pub(crate) struct Process {
    protocol: RefCell<Option<ProcessProtocolRef>>,
    /// `None` once reaped (or handed to the reaper thread).
    child: RefCell<Option<Child>>,
    pid: Cell<Option<u32>>,
    writers: RefCell<BTreeMap<i32, Rc<PipeWriter>>>,
    readers: RefCell<BTreeMap<i32, Rc<PipeReader>>>,
    exit: RefCell<Option<Failure>>,
    /// The child runs on a pseudo-terminal: descriptors 0 and 1 are one
    /// master, opened and closed together.
    pty: bool,
    /// A copy of the terminal's master, held until the child is reaped
    /// (or we close the terminal): closing the last copy hangs the
    /// terminal up, and a SIGHUP that lands while the child is still
    /// exiting (after it let go of the terminal, which is when our read
    /// sees end-of-file) would replace its exit status with that signal.
    pty_hold: RefCell<Option<OwnedFd>>,
    ended: Cell<bool>,
    disconnecting: Cell<bool>,
}

impl Reactor {
    /// Sees children exit through SIGCHLD instead of a pidfd per child
    /// (the path taken where the kernel has no `pidfd_open`); for children
    /// spawned from now on. For tests of that path and odd platforms.
    pub fn set_reap_with_sigchld(&self, on: bool) {
        self.shared.processes.set_sigchld_only(on);
    }
}

impl ReactorProcess for Reactor {
    fn spawn_process(
        &self,
        protocol: ProcessProtocolRef,
        options: ProcessOptions,
    ) -> Result<ProcessTransportRef, SpawnError> {
        Process::spawn(&self.shared, protocol, options).map(|p| p as ProcessTransportRef)
    }
}

impl Process {
    fn spawn(
        reactor: &Rc<ReactorState>,
        protocol: ProcessProtocolRef,
        options: ProcessOptions,
    ) -> Result<Rc<Process>, SpawnError> {
        let program = options.program.clone();
        let Started {
            child,
            ends,
            pty: pty_hold,
        } = start(options)?;
        let pid = child.id();
        let process = Rc::new(Process {
            protocol: RefCell::new(Some(protocol.clone())),
            child: RefCell::new(Some(child)),
            pid: Cell::new(Some(pid)),
            writers: RefCell::new(BTreeMap::new()),
            readers: RefCell::new(BTreeMap::new()),
            exit: RefCell::new(None),
            pty: pty_hold.is_some(),
            pty_hold: RefCell::new(pty_hold),
            ended: Cell::new(false),
            disconnecting: Cell::new(false),
        });
        let fail = |process: &Rc<Process>, e| {
            process.abandon();
            SpawnError::from_io(program.clone(), e)
        };
        for (fd, end) in ends {
            let owner: Rc<dyn PipeOwner> = process.clone();
            match end {
                ParentEnd::Writes(pipe) => {
                    let writer = PipeWriter::start(reactor, fd, pipe, owner, OnClose::Leave)
                        .map_err(|e| fail(&process, e))?;
                    process.writers.borrow_mut().insert(fd, writer);
                }
                ParentEnd::Reads(pipe) => {
                    let reader = PipeReader::start(reactor, fd, pipe, owner, OnClose::Leave)
                        .map_err(|e| fail(&process, e))?;
                    process.readers.borrow_mut().insert(fd, reader);
                }
                ParentEnd::None => {}
            }
        }
        match reactor.processes.pidfd(pid) {
            Some(pidfd) => {
                ExitWatch::start(reactor, pidfd, process.clone()).map_err(|e| fail(&process, e))?;
            }
            None => {
                // An exit before the source is registered is not lost:
                // `watch` checks the child once right away.
                ProcessTable::ensure_sigchld(reactor).map_err(|e| fail(&process, e))?;
                ProcessTable::watch(reactor, process.clone());
            }
        }
        let transport: ProcessTransportRef = process.clone();
        process.with_protocol("connection_made", |p| p.make_connection(transport));
        Ok(process)
    }

    fn writer(&self, fd: i32) -> Option<Rc<PipeWriter>> {
        self.writers.borrow().get(&fd).cloned()
    }

    /// Calls the protocol for data (or its start): if user code holds it
    /// borrowed, the call panics naming the cause, and like any panic in
    /// the protocol that closes the pipes (no data is skipped unseen).
    fn with_protocol(&self, method: &str, call: impl FnOnce(&mut dyn ProcessProtocol)) {
        let Some(protocol) = self.protocol.borrow().clone() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| match protocol.try_borrow_mut() {
            Ok(mut protocol) => call(&mut *protocol),
            Err(_) => panic!("{BORROWED} cannot call {method}"),
        }));
        self.contain(method, outcome);
    }

    /// Tells the protocol of an end (a pipe's, the exit): never lost, even
    /// to a protocol held borrowed across `.await` (then it comes once the
    /// borrow ends).
    fn notify(&self, method: &'static str, call: impl FnOnce(&mut dyn ProcessProtocol) + 'static) {
        let Some(protocol) = self.protocol.borrow().clone() else {
            return;
        };
        let outcome = call_or_postpone(&protocol, method, call);
        self.contain(method, outcome);
    }

    fn contain(&self, method: &str, outcome: Result<(), Box<dyn Any + Send>>) {
        if let Err(payload) = outcome {
            log::error!(
                "process protocol panicked in {method} (pid {:?}): {}; closing its pipes",
                self.pid.get(),
                PanicError::from_payload(payload.as_ref()).message
            );
            self.lose_connection();
        }
    }

    /// Reaps the child if it exited; true if it did (or was gone already).
    pub(crate) fn try_reap(&self) -> bool {
        let status = {
            let mut child = self.child.borrow_mut();
            let Some(running) = child.as_mut() else {
                return true;
            };
            match running.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => return false,
                Err(e) => {
                    log::error!("waitpid on child {} failed: {e}", running.id());
                    return false;
                }
            }
        };
        self.child.borrow_mut().take();
        self.pid.set(None);
        // Gone: the terminal may hang up now.
        self.pty_hold.borrow_mut().take();
        let reason = exit_reason(status);
        *self.exit.borrow_mut() = Some(reason.clone());
        self.notify("process_exited", |p| p.process_exited(reason));
        self.maybe_ended();
        true
    }

    /// Lets go of the child: a thread reaps it (the reactor is going away).
    pub(crate) fn abandon(&self) {
        if let Some(child) = self.child.borrow_mut().take() {
            hand_to_reaper(child);
        }
    }

    /// `process_ended` once the exit was seen and every pipe closed.
    fn maybe_ended(&self) {
        if self.ended.get()
            || !self.writers.borrow().is_empty()
            || !self.readers.borrow().is_empty()
        {
            return;
        }
        let Some(reason) = self.exit.borrow().clone() else {
            return;
        };
        self.ended.set(true);
        self.notify("process_ended", |p| p.process_ended(reason));
        self.protocol.borrow_mut().take();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl PipeOwner for Process {
    fn pipe_data(&self, fd: i32, data: &[u8]) {
        self.with_protocol("child_data_received", |p| p.child_data_received(fd, data));
    }

    fn pipe_closed(&self, fd: i32, _reason: Failure) {
        let removed_writer = self.writers.borrow_mut().remove(&fd);
        let removed_reader = self.readers.borrow_mut().remove(&fd);
        drop((removed_writer, removed_reader));
        if self.pty && (fd == 1 || self.disconnecting.get()) {
            // One terminal: once it cannot be read (the child and all it
            // started let go of it) it cannot be written either; once we
            // close it, reading stops too (as Twisted's loseConnection).
            // When only writing failed (the terminal hung up), reading goes
            // on to the end of what the child wrote.
            self.close_pty_now(fd);
        }
        self.notify("child_connection_lost", move |p| {
            p.child_connection_lost(fd)
        });
        self.maybe_ended();
    }
}

impl Process {
    /// The terminal's other end (`fd` closed): closed at once, told to the
    /// protocol like any pipe.
    fn close_pty_now(&self, fd: i32) {
        if fd == 1 {
            if let Some(writer) = self.writer(0) {
                writer.close(Failure::new(ConnectionDone));
            }
        } else {
            let reader = self.readers.borrow().get(&1).cloned();
            if let Some(owner) = reader.and_then(|r| r.close_quietly()) {
                owner.pipe_closed(1, Failure::new(ConnectionDone));
            }
        }
    }
}

impl Consumer for Process {
    fn write(&self, data: &[u8]) {
        if let Some(stdin) = self.writer(0) {
            stdin.write(data);
        }
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        register_producer_on(self.writer(0), producer)
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        unregister_producer_on(self.writer(0))
    }
}

impl Producer for Process {
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl PushProducer for Process {
    fn pause_producing(&self) {
        for reader in self.readers.borrow().values() {
            reader.pause();
        }
    }

    fn resume_producing(&self) {
        let readers: Vec<Rc<PipeReader>> = self.readers.borrow().values().cloned().collect();
        for reader in readers {
            reader.resume();
        }
    }
}

impl Transport for Process {
    fn lose_connection(&self) {
        self.disconnecting.set(true);
        if self.pty {
            // Closing the terminal is meant to hang it up.
            self.pty_hold.borrow_mut().take();
            // The terminal closes once what was written went out; its
            // reading end goes with it.
            match self.writer(0) {
                Some(writer) => writer.lose_connection(),
                None => self.close_pty_now(0),
            }
            return;
        }
        for fd in [0, 1, 2] {
            self.close_child_fd(fd);
        }
    }

    fn abort_connection(&self) {
        self.disconnecting.set(true);
        if let Some(stdin) = self.writer(0) {
            stdin.abort();
        }
        if self.pty {
            self.pty_hold.borrow_mut().take();
            return;
        }
        for fd in [1, 2] {
            self.close_child_fd(fd);
        }
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

impl ProcessTransport for Process {
    fn pid(&self) -> Option<u32> {
        self.pid.get()
    }

    fn close_child_fd(&self, fd: i32) {
        if self.pty {
            // Half a terminal cannot be closed (Twisted's `PTYProcess`).
            return;
        }
        if let Some(writer) = self.writer(fd) {
            writer.lose_connection();
            return;
        }
        let reader = self.readers.borrow().get(&fd).cloned();
        if let Some(reader) = reader {
            reader.close_soon();
        }
    }

    fn write_to_child(&self, fd: i32, data: &[u8]) -> Result<(), ChildFdError> {
        match self.writer(fd) {
            Some(writer) if writer.accepting_writes() => {
                writer.write(data);
                Ok(())
            }
            _ => Err(ChildFdError::NotWritable { fd }),
        }
    }

    fn set_pty_size(&self, size: PtySize) -> io::Result<()> {
        if !self.pty {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the process does not run on a pseudo-terminal",
            ));
        }
        let winsize = rustix::termios::Winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let reader = self.readers.borrow().get(&1).cloned();
        reader
            .and_then(|r| r.with_file(|file| rustix::termios::tcsetwinsize(file, winsize)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the terminal is closed"))?
            .map_err(io::Error::from)
    }

    fn signal_process(&self, signal: &str) -> Result<(), SignalError> {
        let number = parse_signal(signal)?;
        // The pid cannot have been reused: the child is not reaped yet.
        let pid = self
            .pid
            .get()
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(rustix::process::Pid::from_raw)
            .ok_or(SignalError::ProcessExitedAlready)?;
        let signal = rustix::process::Signal::from_named_raw(number).ok_or_else(|| {
            SignalError::UnknownSignal {
                name: signal.to_owned(),
            }
        })?;
        rustix::process::kill_process(pid, signal).map_err(|e| SignalError::Io(e.into()))
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid.get())
            .field("writers", &self.writers.borrow().keys().collect::<Vec<_>>())
            .field("readers", &self.readers.borrow().keys().collect::<Vec<_>>())
            .field("exited", &self.exit.borrow().is_some())
            .finish()
    }
}
