//! Starting a child: `std::process::Command` with pipes (or our
//! descriptors) on any child descriptor, or on a pseudo-terminal; the
//! [`Process`](super::process::Process) transport takes it from there.
//!
//! The code that must run between fork and exec (a `dup2` onto descriptor
//! 3 and up; `setsid` and `TIOCSCTTY` for a terminal) is the
//! `command-fds` and `pty-process` crates', so none of ours is `unsafe`.
//!
//! Twisted's child closes every descriptor it was not given. We get the
//! same child by marking every descriptor of ours from 3 up close-on-exec
//! before each spawn ([`no_inheritable_descriptors`]); the mapped ones are
//! duplicated onto their child numbers, which clears the flag there.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use command_fds::{CommandFdExt, FdMapping};

use crate::error::SpawnError;
use crate::interfaces::{ChildFd, ProcessOptions, PtySize};

/// A child just started: the process, our ends of its pipes, and, for a
/// terminal (one master, as descriptors 0 and 1), a third copy of the
/// master to hold while the child runs.
pub(super) struct Started {
    pub(super) child: Child,
    pub(super) ends: Vec<(i32, ParentEnd)>,
    pub(super) pty: Option<OwnedFd>,
}

/// Starts the child `options` describe.
pub(super) fn start(options: ProcessOptions) -> Result<Started, SpawnError> {
    if let Some(size) = options.pty {
        return start_on_pty(options, size);
    }
    let program = options.program.clone();
    let (mut command, ends) = command_for(options)?;
    no_inheritable_descriptors();
    let spawned = command.spawn();
    // The child's ends of the pipes live in the command: closing them
    // here is what lets us see end-of-file when the child closes its.
    drop(command);
    let child = spawned.map_err(|e| SpawnError::from_io(program, e))?;
    Ok(Started {
        child,
        ends,
        pty: None,
    })
}

/// Starts the child on a new pseudo-terminal, its controlling terminal in
/// a new session (Twisted's `PTYProcess`).
fn start_on_pty(options: ProcessOptions, size: PtySize) -> Result<Started, SpawnError> {
    if options.child_fds_given {
        return Err(SpawnError::PtyWithChildFds);
    }
    let pty_error = |e: pty_process::Error| SpawnError::Pty {
        error: pty_io_error(e),
    };
    let (pty, pts) = pty_process::blocking::open().map_err(pty_error)?;
    pty.resize(pty_process::Size::new(size.rows, size.cols))
        .map_err(pty_error)?;
    let program: PathBuf = options.program.clone();
    let mut command = pty_process::blocking::Command::new(&options.program).args(&options.args);
    if options.env_clear {
        command = command.env_clear();
    }
    command = command.envs(options.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &options.current_dir {
        command = command.current_dir(dir);
    }
    if let Some(uid) = options.uid {
        command = command.uid(uid);
    }
    if let Some(gid) = options.gid {
        command = command.gid(gid);
    }
    // `spawn` consumes the command and the slave end: only the child
    // holds the terminal afterwards.
    no_inheritable_descriptors();
    let child = command
        .spawn(pts)
        .map_err(|e| SpawnError::from_io(program, pty_io_error(e)))?;
    let master = OwnedFd::from(pty);
    let copy = || {
        master
            .try_clone()
            .map_err(|error| SpawnError::Pty { error })
    };
    let (writes, hold) = (copy()?, copy()?);
    Ok(Started {
        child,
        ends: vec![
            (0, ParentEnd::Writes(writes)),
            (1, ParentEnd::Reads(master)),
        ],
        pty: Some(hold),
    })
}

/// Marks every descriptor of this process from 3 up close-on-exec, so a
/// child gets only what its [`ChildFd`] map names (Twisted closes the rest
/// in the child). The descriptors Rust's `std`, mio, rustix and Torsion
/// open have the flag already; this catches the ones that do not: inherited
/// by this process (a supervisor's, systemd's sockets) or opened by C code.
/// They stay open here, only no longer inherited by any child started
/// after (as Python makes every descriptor since PEP 446). One
/// `close_range(CLOSE_RANGE_CLOEXEC)` call on Linux 5.11 and later.
fn no_inheritable_descriptors() {
    close_fds::set_fds_cloexec_threadsafe(3, &[]);
}

fn pty_io_error(error: pty_process::Error) -> io::Error {
    match error {
        pty_process::Error::Io(e) => e,
        pty_process::Error::Rustix(errno) => errno.into(),
        // Variants behind the crate's `async` feature, should another
        // crate turn it on.
        #[allow(unreachable_patterns)]
        other => io::Error::other(other.to_string()),
    }
}

/// Our end of a pipe to the child, or nothing for us to hold.
pub(super) enum ParentEnd {
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

/// `fd`, or a copy of it numbered 3 or more: in a process started with a
/// standard descriptor closed, a pipe may land on 0, 1 or 2, which the
/// child's own standard I/O is set up over before the other descriptors
/// are placed.
fn above_standard(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
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
        let child = child
            .map(above_standard)
            .transpose()
            .map_err(pipe_error(fd))?;
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
