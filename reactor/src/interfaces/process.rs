//! Child processes: Twisted's `IReactorProcess`, `IProcessProtocol` and
//! `IProcessTransport`, with the options of `spawnProcess`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{ChildFdError, SignalError, SpawnError};
use crate::interfaces::Transport;
use crate::Failure;

/// A shared, mutable process protocol, as the reactor holds it.
pub type ProcessProtocolRef = Rc<RefCell<dyn ProcessProtocol>>;

/// A handle to a child process's transport.
pub type ProcessTransportRef = Rc<dyn ProcessTransport>;

/// What a child's descriptor is connected to (one value of Twisted's
/// `childFDs`).
///
/// Any descriptor number can be mapped: 0, 1 and 2 through
/// `std::process::Command`'s standard I/O, the others with the
/// [`command-fds`](https://docs.rs/command-fds) crate (a `dup2` between
/// fork and exec, written once there so that no `unsafe` is in ours).
///
/// # Twisted
///
/// Twisted's `"w"` is [`ChildFd::Write`] (the parent writes, the child
/// reads, through [`ProcessTransport::write_to_child`]), `"r"` is
/// [`ChildFd::Read`] (the child writes, the parent reads, through
/// [`ProcessProtocol::child_data_received`]), an integer is
/// [`ChildFd::Fd`] (give the descriptor itself, `try_clone` it to keep
/// it) or [`ChildFd::Inherit`] (0, 1 and 2 only: a raw descriptor number
/// cannot be borrowed in safe Rust). Closing 0, 1 or 2 gives the child
/// `/dev/null` there instead (a closed standard descriptor would be
/// reused by the child's first `open`).
///
/// Descriptors not mentioned are not passed. Twisted closes every other
/// descriptor in the child; Torsion, like `std` and tokio, relies on
/// close-on-exec, which every descriptor Rust's `std`, mio, rustix and
/// Torsion open has: a descriptor made inheritable on purpose elsewhere
/// (by C code, or inherited by this process without close-on-exec) is
/// inherited by the child too, because closing it in the child would need
/// code between fork and exec.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChildFd {
    /// A pipe the parent writes and the child reads (Twisted's `"w"`).
    Write,
    /// A pipe the child writes and the parent reads (Twisted's `"r"`).
    Read,
    /// The parent's descriptor of the same number (0, 1 and 2 only; pass
    /// any other as [`ChildFd::Fd`]).
    Inherit,
    /// This descriptor of the parent (a file, a socket, a pipe end).
    Fd(OwnedFd),
    /// Nothing (see the type's docs for 0, 1 and 2).
    Close,
}

/// What to run and how: the arguments of Twisted's `spawnProcess`.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{ChildFd, ProcessOptions};
///
/// let options = ProcessOptions::new("sh")
///     .args(["-c", "echo $GREETING; pwd"])
///     .env("GREETING", "hello")
///     .current_dir("/tmp")
///     .child_fd(2, ChildFd::Inherit);
/// assert_eq!(options.program().to_str(), Some("sh"));
/// ```
///
/// # Twisted
///
/// `args` excludes the program name (Twisted passes `argv[0]` in `args`);
/// the environment is inherited unless [`env_clear`](Self::env_clear) is
/// called (Twisted's `env={}` default clears it, `env=None` inherits):
/// Rust's `Command` default, which is what most callers want.
#[derive(Debug)]
pub struct ProcessOptions {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) env_clear: bool,
    pub(crate) current_dir: Option<PathBuf>,
    pub(crate) child_fds: BTreeMap<i32, ChildFd>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

impl ProcessOptions {
    /// Runs `program` (looked up on `PATH` if it has no `/`), with pipes
    /// on 0, 1 and 2 (Twisted's default `childFDs`).
    pub fn new(program: impl AsRef<OsStr>) -> ProcessOptions {
        ProcessOptions {
            program: PathBuf::from(program.as_ref()),
            args: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            current_dir: None,
            child_fds: BTreeMap::from([
                (0, ChildFd::Write),
                (1, ChildFd::Read),
                (2, ChildFd::Read),
            ]),
            uid: None,
            gid: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets one environment variable of the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Starts the child with an empty environment (plus what
    /// [`env`](Self::env) adds): Twisted's `env={}`.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    /// The child's working directory (Twisted's `path`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Connects the child's descriptor `fd` (Twisted's `childFDs[fd]`).
    pub fn child_fd(mut self, fd: i32, what: ChildFd) -> Self {
        self.child_fds.insert(fd, what);
        self
    }

    /// Runs the child as user `uid` (Twisted's `uid`; changing it needs
    /// the privilege to, or [`SpawnError::PermissionDenied`] comes back).
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with group `gid` (Twisted's `gid`).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The arguments (without the program name).
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// The variables set for the child.
    pub fn get_env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// Whether the environment starts empty.
    pub fn is_env_cleared(&self) -> bool {
        self.env_clear
    }

    /// The working directory, if set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.current_dir.as_deref()
    }

    /// The child descriptor mapping.
    pub fn child_fds(&self) -> &BTreeMap<i32, ChildFd> {
        &self.child_fds
    }

    /// The user id the child runs as, if set.
    pub fn get_uid(&self) -> Option<u32> {
        self.uid
    }

    /// The group id the child runs with, if set.
    pub fn get_gid(&self) -> Option<u32> {
        self.gid
    }
}

/// A reactor that runs child processes (Twisted's `IReactorProcess`).
///
/// The mio [`Reactor`](crate::Reactor) sees a child exit through a pidfd
/// registered with the poller (Linux 5.3+), or else through SIGCHLD (each
/// signal checks every live child with a non-blocking `waitpid`, so
/// coalesced signals lose no exit): no busy loop, no thread. Children
/// still running when the reactor shuts down (or whose transport and
/// protocol are dropped first) are handed to a thread that waits for
/// them, so none is left a zombie; they are not killed (as in Twisted).
pub trait ReactorProcess {
    /// Starts the child `options` describe, connected to `protocol`
    /// (its `make_connection` is called before this returns).
    ///
    /// # Errors
    ///
    /// [`SpawnError::NotFound`] for a program that does not exist, and the
    /// other variants of [`SpawnError`]: the protocol is not called.
    ///
    /// # Twisted
    ///
    /// `spawnProcess(protocol, executable, args, env, path, uid, gid,
    /// childFDs=...)`; `usePTY` is not supported (making a terminal the
    /// child's controlling terminal needs `setsid` between fork and exec).
    fn spawn_process(
        &self,
        protocol: ProcessProtocolRef,
        options: ProcessOptions,
    ) -> Result<ProcessTransportRef, SpawnError>;
}

/// What a child process does to its parent's code (Twisted's
/// `IProcessProtocol`, with `ProcessProtocol`'s defaults).
///
/// Output arrives through [`child_data_received`] in the order it was read
/// (whose default hands descriptor 1 to [`out_received`] and 2 to
/// [`err_received`]); each descriptor's end is told once through
/// [`child_connection_lost`]; the exit through [`process_exited`] when the
/// child is reaped; and [`process_ended`] comes last, once the exit was
/// seen and every descriptor closed.
///
/// The reason is a [`Failure`] holding [`ProcessDone`] for an exit code 0,
/// [`ProcessTerminated`] otherwise.
///
/// [`child_data_received`]: ProcessProtocol::child_data_received
/// [`out_received`]: ProcessProtocol::out_received
/// [`err_received`]: ProcessProtocol::err_received
/// [`child_connection_lost`]: ProcessProtocol::child_connection_lost
/// [`process_exited`]: ProcessProtocol::process_exited
/// [`process_ended`]: ProcessProtocol::process_ended
/// [`ProcessDone`]: crate::error::ProcessDone
/// [`ProcessTerminated`]: crate::error::ProcessTerminated
///
/// # Implementing
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use torsion_reactor::error::ProcessTerminated;
/// use torsion_reactor::{Failure, ProcessOptions, ProcessProtocol, Reactor, ReactorProcess};
///
/// #[derive(Default)]
/// struct Collect {
///     out: Vec<u8>,
///     code: Option<i32>,
/// }
///
/// impl ProcessProtocol for Collect {
///     fn out_received(&mut self, data: &[u8]) {
///         self.out.extend_from_slice(data);
///     }
///
///     fn process_ended(&mut self, reason: Failure) {
///         self.code = Some(match reason.downcast_ref::<ProcessTerminated>() {
///             Some(terminated) => terminated.exit_code().unwrap_or(-1),
///             None => 0, // ProcessDone
///         });
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// let collect = Rc::new(RefCell::new(Collect::default()));
/// reactor.spawn_process(collect.clone(), ProcessOptions::new("echo").arg("hi"))?;
/// for _ in 0..100 {
///     if collect.borrow().code.is_some() {
///         break;
///     }
///     reactor.iterate(Some(Duration::from_millis(100)))?;
/// }
/// assert_eq!(collect.borrow().out, b"hi\n");
/// assert_eq!(collect.borrow().code, Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ProcessProtocol: 'static {
    /// The process started; the default calls
    /// [`connection_made`](ProcessProtocol::connection_made).
    fn make_connection(&mut self, transport: ProcessTransportRef) {
        self.connection_made(transport);
    }

    /// The process started; `transport` writes to its stdin and signals it.
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        let _ = transport;
    }

    /// The child wrote `data` on its descriptor `fd`.
    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        match fd {
            1 => self.out_received(data),
            2 => self.err_received(data),
            _ => {}
        }
    }

    /// The child wrote `data` on its stdout.
    fn out_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The child wrote `data` on its stderr.
    fn err_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The pipe of the child's descriptor `fd` closed (either end).
    fn child_connection_lost(&mut self, fd: i32) {
        match fd {
            0 => self.in_connection_lost(),
            1 => self.out_connection_lost(),
            2 => self.err_connection_lost(),
            _ => {}
        }
    }

    /// The child's stdin closed.
    fn in_connection_lost(&mut self) {}

    /// The child's stdout closed.
    fn out_connection_lost(&mut self) {}

    /// The child's stderr closed.
    fn err_connection_lost(&mut self) {}

    /// The child exited and was reaped (its pipes may still be open).
    fn process_exited(&mut self, reason: Failure) {
        let _ = reason;
    }

    /// The child exited and all its pipes closed: the last call.
    fn process_ended(&mut self, reason: Failure) {
        let _ = reason;
    }
}

/// A running child process (Twisted's `IProcessTransport`).
///
/// As a [`Transport`], `write` goes to the child's stdin with flow control
/// (a producer registered on it is paused past the high-water mark),
/// `pause_producing` stops reading its output, `lose_write_connection`
/// closes stdin after what was written went out, and `lose_connection`
/// closes stdin (after the flush), stdout and stderr.
pub trait ProcessTransport: Transport {
    /// The child's process id; `None` once it was reaped (Twisted sets
    /// `pid` to `None`).
    fn pid(&self) -> Option<u32>;

    /// Closes the child's stdin once what was written went out.
    fn close_stdin(&self) {
        self.close_child_fd(0);
    }

    /// Closes our end of the child's stdout.
    fn close_stdout(&self) {
        self.close_child_fd(1);
    }

    /// Closes our end of the child's stderr.
    fn close_stderr(&self) {
        self.close_child_fd(2);
    }

    /// Closes our end of the pipe of the child's descriptor `fd` (a write
    /// pipe after its buffer went out); nothing for an unknown or closed one.
    fn close_child_fd(&self, fd: i32);

    /// Writes `data` to the pipe of the child's descriptor `fd`, one set
    /// to [`ChildFd::Write`], with the same buffering as `write` (which is
    /// `write_to_child(0, ..)`).
    ///
    /// # Errors
    ///
    /// [`ChildFdError::NotWritable`] if `fd` has no open pipe the parent
    /// writes (never mapped, mapped to something else, or closed): the data
    /// is not taken.
    ///
    /// # Twisted
    ///
    /// `writeToChild`, which raises `KeyError` in that case.
    fn write_to_child(&self, fd: i32, data: &[u8]) -> Result<(), ChildFdError>;

    /// Sends the signal named `signal` (`"TERM"`, `"KILL"`, `"INT"`,
    /// `"HUP"`, ... with or without `SIG`, or a number).
    ///
    /// # Errors
    ///
    /// [`SignalError::UnknownSignal`] for a name this platform lacks,
    /// [`SignalError::ProcessExitedAlready`] once the child was reaped.
    fn signal_process(&self, signal: &str) -> Result<(), SignalError>;
}

impl fmt::Debug for dyn ProcessTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTransport")
            .field("pid", &self.pid())
            .finish()
    }
}

/// Parses a signal name or number for
/// [`signal_process`](ProcessTransport::signal_process): `"TERM"`,
/// `"SIGTERM"` and `"15"` all give 15.
///
/// # Errors
///
/// [`SignalError::UnknownSignal`] naming what was given.
///
/// # Examples
///
/// ```
/// use torsion_reactor::parse_signal;
///
/// assert_eq!(parse_signal("KILL")?, 9);
/// assert_eq!(parse_signal("SIGINT")?, 2);
/// assert!(parse_signal("FOO").is_err());
/// # Ok::<(), torsion_reactor::error::SignalError>(())
/// ```
pub fn parse_signal(signal: &str) -> Result<i32, SignalError> {
    const NAMES: &[(&str, i32)] = &[
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("WINCH", libc::SIGWINCH),
    ];
    let unknown = || SignalError::UnknownSignal {
        name: signal.to_owned(),
    };
    if let Ok(number) = signal.parse::<i32>() {
        return if NAMES.iter().any(|&(_, n)| n == number) {
            Ok(number)
        } else {
            Err(unknown())
        };
    }
    let name = signal.strip_prefix("SIG").unwrap_or(signal);
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
        .ok_or_else(unknown)
}
