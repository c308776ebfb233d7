//! The process errors of Twisted's `twisted.internet.error`
//! (`ProcessDone`, `ProcessTerminated`, `ProcessExitedAlready`) and the
//! typed errors of spawning and signalling; re-exported from [`crate::error`].

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// The child exited with code 0 (Twisted's `error.ProcessDone`): the
/// reason `process_exited` and `process_ended` get for a clean exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessDone;

impl ProcessDone {
    /// The exit code: always 0.
    pub fn exit_code(&self) -> i32 {
        0
    }
}

impl fmt::Display for ProcessDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a process has ended without apparent errors: process finished with exit code 0",
        )
    }
}

impl Error for ProcessDone {}

/// The child exited with a non-zero code or was killed by a signal
/// (Twisted's `error.ProcessTerminated`).
///
/// # Twisted
///
/// Twisted also keeps the raw wait `status`; here [`exit_code`] and
/// [`signal`] say it all (exactly one of them is `Some`).
///
/// [`exit_code`]: ProcessTerminated::exit_code
/// [`signal`]: ProcessTerminated::signal
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessTerminated {
    exit_code: Option<i32>,
    signal: Option<i32>,
}

impl ProcessTerminated {
    /// A child that exited with `code` (non-zero).
    pub fn exited(code: i32) -> ProcessTerminated {
        ProcessTerminated {
            exit_code: Some(code),
            signal: None,
        }
    }

    /// A child killed by signal number `signal`.
    pub fn signalled(signal: i32) -> ProcessTerminated {
        ProcessTerminated {
            exit_code: None,
            signal: Some(signal),
        }
    }

    /// The exit code, if it exited.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }
}

impl fmt::Display for ProcessTerminated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a process has ended with a probable error condition: ")?;
        match (self.exit_code, self.signal) {
            (_, Some(signal)) => write!(f, "process ended by signal {signal}"),
            (Some(code), None) => write!(f, "process ended with exit code {code}"),
            (None, None) => f.write_str("process ended"),
        }
    }
}

impl Error for ProcessTerminated {}

/// A process could not be spawned.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program does not exist (or is not on `PATH`).
    NotFound {
        /// The program asked for.
        program: PathBuf,
    },
    /// The program exists but may not be run.
    PermissionDenied {
        /// The program asked for.
        program: PathBuf,
    },
    /// A child fd mapping that cannot be honoured.
    UnsupportedChildFd {
        /// The child's descriptor number.
        fd: i32,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The pipe for the child's descriptor `fd` could not be made (out of
    /// descriptors, usually).
    ChildFdPipe {
        /// The child's descriptor number.
        fd: i32,
        /// The OS error.
        error: io::Error,
    },
    /// A pseudo-terminal was asked for together with a descriptor mapping:
    /// a terminal is the child's stdin, stdout and stderr (Twisted's
    /// `ValueError`).
    PtyWithChildFds,
    /// No pseudo-terminal could be opened (none left, or no `/dev/ptmx`).
    Pty {
        /// The OS error.
        error: io::Error,
    },
    /// Any other OS failure while spawning.
    Io {
        /// The program asked for.
        program: PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

impl SpawnError {
    pub(crate) fn from_io(program: PathBuf, error: io::Error) -> SpawnError {
        match error.kind() {
            io::ErrorKind::NotFound => SpawnError::NotFound { program },
            io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied { program },
            _ => SpawnError::Io { program, error },
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NotFound { program } => {
                write!(f, "cannot spawn {}: no such program", program.display())
            }
            SpawnError::PermissionDenied { program } => {
                write!(f, "cannot spawn {}: permission denied", program.display())
            }
            SpawnError::UnsupportedChildFd { fd, reason } => {
                write!(f, "cannot map child fd {fd}: {reason}")
            }
            SpawnError::ChildFdPipe { fd, error } => {
                write!(f, "cannot make the pipe for child fd {fd}: {error}")
            }
            SpawnError::PtyWithChildFds => f.write_str(
                "cannot map child descriptors on a pseudo-terminal: \
                 the terminal is the child's stdin, stdout and stderr",
            ),
            SpawnError::Pty { error } => write!(f, "cannot open a pseudo-terminal: {error}"),
            SpawnError::Io { program, error } => {
                write!(f, "cannot spawn {}: {error}", program.display())
            }
        }
    }
}

impl Error for SpawnError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SpawnError::Io { error, .. }
            | SpawnError::ChildFdPipe { error, .. }
            | SpawnError::Pty { error } => Some(error),
            _ => None,
        }
    }
}

/// [`write_to_child`](crate::ProcessTransport::write_to_child) was given a
/// descriptor it cannot write to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildFdError {
    /// The child's descriptor `fd` has no open pipe the parent writes: it
    /// was not mapped to [`ChildFd::Write`](crate::ChildFd::Write), or that
    /// pipe was closed.
    NotWritable {
        /// The child's descriptor number.
        fd: i32,
    },
}

impl fmt::Display for ChildFdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildFdError::NotWritable { fd } => write!(
                f,
                "child fd {fd} has no open pipe to write to (map it with ChildFd::Write)"
            ),
        }
    }
}

impl Error for ChildFdError {}

/// `signal_process` could not send its signal.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignalError {
    /// The name is not a signal this platform has (expected e.g. `"TERM"`,
    /// `"KILL"`, `"INT"`, `"HUP"`, or a number).
    UnknownSignal {
        /// The name given.
        name: String,
    },
    /// The process was reaped already (Twisted's `error.ProcessExitedAlready`).
    ProcessExitedAlready,
    /// The OS refused.
    Io(io::Error),
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::UnknownSignal { name } => write!(
                f,
                "unknown signal {name:?}: expected a name such as \"TERM\", \"KILL\", \"INT\", \"HUP\" or a number"
            ),
            SignalError::ProcessExitedAlready => {
                f.write_str("the process has already exited")
            }
            SignalError::Io(e) => write!(f, "cannot signal the process: {e}"),
        }
    }
}

impl Error for SignalError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SignalError::Io(e) => Some(e),
            _ => None,
        }
    }
}
