//! Child processes: Twisted's `IReactorProcess`, `IProcessProtocol` and
//! `IProcessTransport` (the options of `spawnProcess` are in
//! `process_options.rs`).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;

use crate::error::{ChildFdError, SignalError, SpawnError};
use crate::interfaces::{ProcessOptions, PtySize, Transport};
use crate::Failure;

/// A shared, mutable process protocol, as the reactor holds it.
pub type ProcessProtocolRef = Rc<RefCell<dyn ProcessProtocol>>;

/// A handle to a child process's transport.
pub type ProcessTransportRef = Rc<dyn ProcessTransport>;

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
    /// usePTY, childFDs=...)`.
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
    /// to [`ChildFd::Write`](crate::ChildFd::Write), with the same buffering as `write` (which is
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

    /// Resizes the child's pseudo-terminal (the child gets SIGWINCH).
    ///
    /// # Errors
    ///
    /// `io::ErrorKind::Unsupported` if the child was not spawned with
    /// [`ProcessOptions::use_pty`], `io::ErrorKind::NotConnected` once the
    /// terminal closed, or the OS's error.
    ///
    /// # Twisted
    ///
    /// Not in `IProcessTransport`: Twisted's terminal servers call
    /// `ioctl(TIOCSWINSZ)` on the transport's `fileno()`.
    fn set_pty_size(&self, size: PtySize) -> io::Result<()> {
        let _ = size;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the process does not run on a pseudo-terminal",
        ))
    }

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
/// `"SIGTERM"` and `"15"` all give 15. Every named Linux signal is known,
/// with Python's aliases (`"IOT"`, `"CLD"`, `"POLL"`); real-time signals
/// (`SIGRTMIN` and up) are not, because they cannot be sent without
/// `unsafe` code.
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
/// assert_eq!(parse_signal("SIGUSR2")?, parse_signal("12")?);
/// assert_eq!(parse_signal("PROF")?, 27);
/// assert!(parse_signal("FOO").is_err());
/// assert!(parse_signal("34").is_err()); // SIGRTMIN
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
        ("URG", libc::SIGURG),
        ("XCPU", libc::SIGXCPU),
        ("XFSZ", libc::SIGXFSZ),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("IO", libc::SIGIO),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
        ("STKFLT", libc::SIGSTKFLT),
        // Python's aliases (Twisted looks names up in its signal module).
        ("IOT", libc::SIGABRT),
        ("CLD", libc::SIGCHLD),
        ("POLL", libc::SIGIO),
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
