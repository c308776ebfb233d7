//! What to run and how: the arguments of Twisted's `spawnProcess`
//! ([`ProcessOptions`]), its `childFDs` values ([`ChildFd`]) and the size
//! of a child's pseudo-terminal ([`PtySize`]).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

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
/// reads, through [`ProcessTransport::write_to_child`](crate::ProcessTransport::write_to_child)), `"r"` is
/// [`ChildFd::Read`] (the child writes, the parent reads, through
/// [`ProcessProtocol::child_data_received`](crate::ProcessProtocol::child_data_received)), an integer is
/// [`ChildFd::Fd`] (give the descriptor itself, `try_clone` it to keep
/// it) or [`ChildFd::Inherit`] (0, 1 and 2 only: a raw descriptor number
/// cannot be borrowed in safe Rust). Closing 0, 1 or 2 gives the child
/// `/dev/null` there instead (a closed standard descriptor would be
/// reused by the child's first `open`).
///
/// Descriptors not mentioned are not passed, as in Twisted, which closes
/// every other descriptor in the child. Closing them there would need code
/// of ours between fork and exec, so the mio reactor marks every
/// descriptor of this process from 3 up close-on-exec before each spawn
/// instead: the descriptors Rust's `std`, mio, rustix and Torsion open have
/// the flag already; the ones that did not (inherited by this process
/// from a supervisor, or opened by C code) stay open here but are no
/// longer inherited by any child started after, by `spawn_process` or
/// otherwise (as Python makes every descriptor since PEP 446). Pass a
/// descriptor a child should have as [`ChildFd::Fd`].
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
///
/// Twisted resets every signal the parent ignores to its default in the
/// child. `std` resets SIGPIPE, the one the Rust runtime ignores; a signal
/// this process ignores on purpose (SIGHUP under `nohup`, say) stays
/// ignored in the child, because resetting it would need code of ours
/// between fork and exec (a shell cannot undo it either: POSIX `sh`
/// keeps a signal ignored at entry ignored); the child has to reset it.
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
    pub(crate) pty: Option<PtySize>,
    pub(crate) child_fds_given: bool,
}

/// The size of a pseudo-terminal, in characters (and pixels, which most
/// programs ignore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl Default for PtySize {
    /// 24 rows of 80 columns, the classic terminal.
    fn default() -> Self {
        PtySize { rows: 24, cols: 80 }
    }
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
            pty: None,
            child_fds_given: false,
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
        self.child_fds_given = true;
        self
    }

    /// Runs the child on a new pseudo-terminal of `size` (Twisted's
    /// `usePTY`): its stdin, stdout and stderr are the terminal, which is
    /// its controlling terminal in a session of its own, so it sees a
    /// terminal (`isatty`, line editing, echo, `/dev/tty`) and gets
    /// SIGHUP when the parent closes it.
    ///
    /// What the child writes arrives as descriptor 1; writes go to the
    /// terminal. A terminal has one way in and one way out, so closing one
    /// descriptor means nothing: `close_child_fd` does nothing (as
    /// Twisted's `closeStdin`), `lose_connection` closes the terminal once
    /// what was written went out, and it closes as a whole when the child
    /// and everything it started have let go of it. Resize it with
    /// [`ProcessTransport::set_pty_size`](crate::ProcessTransport::set_pty_size).
    ///
    /// Spawning fails with [`SpawnError::PtyWithChildFds`](crate::error::SpawnError::PtyWithChildFds) if
    /// [`child_fd`](Self::child_fd) was also called (Twisted's
    /// `ValueError`).
    pub fn use_pty(mut self, size: PtySize) -> Self {
        self.pty = Some(size);
        self
    }

    /// Runs the child as user `uid` (Twisted's `uid`; changing it needs
    /// the privilege to, or [`SpawnError::PermissionDenied`](crate::error::SpawnError::PermissionDenied) comes back).
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with group `gid` (Twisted's `gid`).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// A copy to spawn the same child again (each [`ChildFd::Fd`] is
    /// duplicated): what a process endpoint does per connection.
    ///
    /// # Errors
    ///
    /// The OS's error if a descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<ProcessOptions> {
        let mut child_fds = BTreeMap::new();
        for (&fd, what) in &self.child_fds {
            let copy = match what {
                ChildFd::Write => ChildFd::Write,
                ChildFd::Read => ChildFd::Read,
                ChildFd::Inherit => ChildFd::Inherit,
                ChildFd::Fd(owned) => ChildFd::Fd(owned.try_clone()?),
                ChildFd::Close => ChildFd::Close,
            };
            child_fds.insert(fd, copy);
        }
        Ok(ProcessOptions {
            program: self.program.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            env_clear: self.env_clear,
            current_dir: self.current_dir.clone(),
            child_fds,
            uid: self.uid,
            gid: self.gid,
            pty: self.pty,
            child_fds_given: self.child_fds_given,
        })
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

    /// The terminal's size if the child runs on a pseudo-terminal.
    pub fn get_pty(&self) -> Option<PtySize> {
        self.pty
    }

    /// Whether [`child_fd`](Self::child_fd) was called (the mapping is not
    /// Twisted's default).
    pub fn has_child_fds(&self) -> bool {
        self.child_fds_given
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
