//! [`Process`]: a child process on the mio reactor (Twisted's
//! `twisted.internet.process.Process`), and `Reactor`'s `spawn_process`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;

use command_fds::{CommandFdExt, FdMapping};

use super::pipe::{PipeOwner, PipeReader};
use super::pipe_writer::{register_producer_on, unregister_producer_on, PipeWriter};
use super::reactor::ReactorState;
use super::reap::{hand_to_reaper, ExitWatch, ProcessTable};
use crate::error::{
    ChildFdError, PanicError, ProcessDone, ProcessTerminated, ProducerError, SignalError,
    SpawnError,
};
use crate::interfaces::{
    parse_signal, ChildFd, Consumer, ProcessOptions, ProcessProtocol, ProcessProtocolRef,
    ProcessTransport, ProcessTransportRef, Producer, ProducerRef, PushProducer, ReactorProcess,
    Transport,
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

/// Our end of a pipe to the child, or nothing for us to hold.
enum ParentEnd {
    Writes(OwnedFd),
    Reads(OwnedFd),
    None,
}

/// What the child gets on descriptor `fd`, and what the parent keeps.
fn plan_fd(fd: i32, what: ChildFd) -> Result<(Option<OwnedFd>, ParentEnd, bool), SpawnError> {
    // (the child's descriptor, our end, whether the child inherits ours)
    Ok(match what {
        ChildFd::Write => {
            let (child, parent) = pipe().map_err(pipe_error(fd))?;
            (Some(child), ParentEnd::Writes(parent), false)
        }
        ChildFd::Read => {
            let (parent, child) = pipe().map_err(pipe_error(fd))?;
            (Some(child), ParentEnd::Reads(parent), false)
        }
        ChildFd::Inherit if (0..=2).contains(&fd) => (None, ParentEnd::None, true),
        ChildFd::Inherit => {
            return Err(SpawnError::UnsupportedChildFd {
                fd,
                reason: "only 0, 1 and 2 can be inherited by number; \
                         pass the descriptor itself as ChildFd::Fd",
            })
        }
        ChildFd::Fd(owned) => (Some(owned), ParentEnd::None, false),
        ChildFd::Close => (None, ParentEnd::None, false),
    })
}

/// A pipe, both ends close-on-exec: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

fn pipe_error(fd: i32) -> impl FnOnce(io::Error) -> SpawnError {
    move |error| SpawnError::ChildFdPipe { fd, error }
}

/// Builds the command: program, arguments, environment, ids, and every
/// child descriptor; returns our ends of the pipes.
fn command_for(options: ProcessOptions) -> Result<(Command, Vec<(i32, ParentEnd)>), SpawnError> {
    let mut command = Command::new(&options.program);
    command.args(&options.args);
    if options.env_clear {
        command.env_clear();
    }
    command.envs(options.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &options.current_dir {
        command.current_dir(dir);
    }
    if let Some(uid) = options.uid {
        command.uid(uid);
    }
    if let Some(gid) = options.gid {
        command.gid(gid);
    }
    let mut ends = Vec::new();
    let mut mappings = Vec::new();
    let mut child_fds = options.child_fds;
    for fd in [0, 1, 2] {
        child_fds.entry(fd).or_insert(ChildFd::Close);
    }
    for (fd, what) in child_fds {
        if fd < 0 {
            return Err(SpawnError::UnsupportedChildFd {
                fd,
                reason: "a descriptor number cannot be negative",
            });
        }
        let (child, parent, inherit) = plan_fd(fd, what)?;
        ends.push((fd, parent));
        if fd > 2 {
            if let Some(parent_fd) = child {
                mappings.push(FdMapping {
                    parent_fd,
                    child_fd: fd,
                });
            }
            continue;
        }
        let stdio = match (child, inherit) {
            (Some(child), _) => Stdio::from(child),
            (None, true) => Stdio::inherit(),
            (None, false) => Stdio::null(),
        };
        match fd {
            0 => command.stdin(stdio),
            1 => command.stdout(stdio),
            _ => command.stderr(stdio),
        };
    }
    if !mappings.is_empty() {
        // The map's keys are distinct, so no two mappings share a child fd.
        command
            .fd_mappings(mappings)
            .map_err(|_| SpawnError::UnsupportedChildFd {
                fd: -1,
                reason: "two mappings for one child descriptor",
            })?;
    }
    Ok((command, ends))
}

impl Process {
    fn spawn(
        reactor: &Rc<ReactorState>,
        protocol: ProcessProtocolRef,
        options: ProcessOptions,
    ) -> Result<Rc<Process>, SpawnError> {
        let program = options.program.clone();
        let (mut command, ends) = command_for(options)?;
        let spawned = command.spawn();
        // The child's ends of the pipes live in the command: closing them
        // here is what lets us see end-of-file when the child closes its.
        drop(command);
        let child = spawned.map_err(|e| SpawnError::from_io(program.clone(), e))?;
        let pid = child.id();
        let process = Rc::new(Process {
            protocol: RefCell::new(Some(protocol.clone())),
            child: RefCell::new(Some(child)),
            pid: Cell::new(Some(pid)),
            writers: RefCell::new(BTreeMap::new()),
            readers: RefCell::new(BTreeMap::new()),
            exit: RefCell::new(None),
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
                    let writer = PipeWriter::start(reactor, fd, pipe, owner)
                        .map_err(|e| fail(&process, e))?;
                    process.writers.borrow_mut().insert(fd, writer);
                }
                ParentEnd::Reads(pipe) => {
                    let reader = PipeReader::start(reactor, fd, pipe, owner)
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

    fn with_protocol(&self, method: &str, call: impl FnOnce(&mut dyn ProcessProtocol)) {
        let Some(protocol) = self.protocol.borrow().clone() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| match protocol.try_borrow_mut() {
            Ok(mut protocol) => call(&mut *protocol),
            Err(_) => log::error!("process protocol busy in {method}: re-entrant call skipped"),
        }));
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
        let reason = exit_reason(status);
        *self.exit.borrow_mut() = Some(reason.clone());
        self.with_protocol("process_exited", |p| p.process_exited(reason));
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
        self.with_protocol("process_ended", |p| p.process_ended(reason));
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
        self.with_protocol("child_connection_lost", |p| p.child_connection_lost(fd));
        self.maybe_ended();
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
        for fd in [0, 1, 2] {
            self.close_child_fd(fd);
        }
    }

    fn abort_connection(&self) {
        self.disconnecting.set(true);
        if let Some(stdin) = self.writer(0) {
            stdin.abort();
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
