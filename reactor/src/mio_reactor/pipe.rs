//! [`PipeReader`], the reading end of a pipe (or a terminal, or a regular
//! file) on the reactor, and what pipe ends share, for child processes and
//! standard I/O; the writing end is [`PipeWriter`](super::pipe_writer::PipeWriter).
//!
//! A descriptor epoll refuses (a regular file, `/dev/null`) is not
//! registered: it is read or written in turns instead (`next_turn`), as
//! Twisted's `StandardIO` falls back for files.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::{Rc, Weak};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::reactor::{IoSource, ReactorState};
use crate::error::{ConnectionDone, ConnectionLost};
use crate::Failure;

/// Reads handled per readiness event before other sources get a turn.
const READS_PER_TURN: usize = 16;

/// Whoever a pipe reports to: a child process, standard I/O.
pub(crate) trait PipeOwner {
    /// `data` was read from the pipe of descriptor `fd`.
    fn pipe_data(&self, fd: i32, data: &[u8]);
    /// The pipe of `fd` closed (end-of-file, an error, or our own close).
    fn pipe_closed(&self, fd: i32, reason: Failure);
}

/// Sets `file` non-blocking and registers it; `None` (poll in turns) if
/// epoll refuses it.
fn register(
    reactor: &Rc<ReactorState>,
    file: &File,
    interest: Interest,
    make: impl FnOnce(Token) -> Rc<dyn IoSource>,
) -> io::Result<Option<Token>> {
    rustix::io::ioctl_fionbio(file, true)?;
    let raw = file.as_raw_fd();
    match reactor.register(&mut SourceFd(&raw), interest, make) {
        Ok(token) => Ok(Some(token)),
        // epoll_ctl gives EPERM for regular files and the like.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What becomes of a pipe end's blocking mode when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnClose {
    /// Put back in blocking mode: standard I/O shares its mode with the
    /// terminal or shell it came from (and with the process's own later
    /// writes).
    RestoreBlocking,
    /// Left as it is: a child's pipe is ours alone, and a terminal's
    /// master is shared by its reading and writing ends, one of which may
    /// still be reading.
    Leave,
}

/// Deregisters and closes `file`, first putting it back in blocking mode
/// if `on_close` says so.
fn unregister(reactor: &Weak<ReactorState>, token: Option<Token>, file: File, on_close: OnClose) {
    if let (Some(reactor), Some(token)) = (reactor.upgrade(), token) {
        let raw = file.as_raw_fd();
        reactor.deregister(token, &mut SourceFd(&raw));
    }
    if on_close == OnClose::RestoreBlocking {
        let _ = rustix::io::ioctl_fionbio(&file, false);
    }
}

/// What both ends of a pipe hold: the descriptor number its owner knows
/// it by, the file, its registration (none: polled in turns), and whom to
/// tell.
pub(super) struct PipeEnd {
    pub(super) fd: i32,
    file: RefCell<Option<File>>,
    token: Cell<Option<Token>>,
    pub(super) reactor: Weak<ReactorState>,
    owner: RefCell<Option<Rc<dyn PipeOwner>>>,
    on_close: OnClose,
}

impl PipeEnd {
    pub(super) fn new(
        reactor: &Rc<ReactorState>,
        fd: i32,
        owner: Rc<dyn PipeOwner>,
        on_close: OnClose,
    ) -> PipeEnd {
        PipeEnd {
            fd,
            file: RefCell::new(None),
            token: Cell::new(None),
            reactor: Rc::downgrade(reactor),
            owner: RefCell::new(Some(owner)),
            on_close,
        }
    }

    /// Sets `file` non-blocking and registers it for `interest`, with
    /// `source` to call when ready (unless epoll refuses it: then it is
    /// polled in turns).
    pub(super) fn open(
        &self,
        reactor: &Rc<ReactorState>,
        file: OwnedFd,
        interest: Interest,
        source: Rc<dyn IoSource>,
    ) -> io::Result<()> {
        let file = File::from(file);
        let token = register(reactor, &file, interest, move |_| source)?;
        self.token.set(token);
        *self.file.borrow_mut() = Some(file);
        Ok(())
    }

    /// Whether it is read or written in turns rather than on readiness.
    pub(super) fn is_polled(&self) -> bool {
        self.token.get().is_none()
    }

    /// Whether it is still open.
    pub(super) fn is_open(&self) -> bool {
        self.file.borrow().is_some()
    }

    /// Calls `f` with the open file; `None` once closed.
    pub(super) fn with_file<T>(&self, f: impl FnOnce(&mut File) -> T) -> Option<T> {
        self.file.borrow_mut().as_mut().map(f)
    }

    /// Whom it reports to, while open.
    pub(super) fn owner(&self) -> Option<Rc<dyn PipeOwner>> {
        self.owner.borrow().clone()
    }

    /// Deregisters and closes the file; returns the owner if it was open.
    pub(super) fn close(&self) -> Option<Rc<dyn PipeOwner>> {
        if let Some(file) = self.file.borrow_mut().take() {
            unregister(&self.reactor, self.token.get(), file, self.on_close);
        }
        self.owner.borrow_mut().take()
    }
}

/// The reading end of a pipe.
pub(crate) struct PipeReader {
    me: Weak<PipeReader>,
    end: PipeEnd,
    paused: Cell<bool>,
    /// A read is queued for the next turn (fairness, or polling a file).
    continues: Cell<bool>,
}

impl PipeReader {
    /// Starts reading `file` (reported as descriptor `fd`) for `owner`.
    pub(crate) fn start(
        reactor: &Rc<ReactorState>,
        fd: i32,
        file: OwnedFd,
        owner: Rc<dyn PipeOwner>,
        on_close: OnClose,
    ) -> io::Result<Rc<PipeReader>> {
        let reader = Rc::new_cyclic(|me| PipeReader {
            me: me.clone(),
            end: PipeEnd::new(reactor, fd, owner, on_close),
            paused: Cell::new(false),
            continues: Cell::new(false),
        });
        reader
            .end
            .open(reactor, file, Interest::READABLE, reader.clone())?;
        if reader.end.is_polled() {
            reader.read_next_turn();
        }
        Ok(reader)
    }

    fn read_next_turn(&self) {
        if self.continues.replace(true) {
            return;
        }
        if let (Some(reactor), Some(me)) = (self.end.reactor.upgrade(), self.me.upgrade()) {
            reactor.next_turn(move || {
                me.continues.set(false);
                me.read();
            });
        }
    }

    /// Reads and delivers until the pipe is empty (a registered one), a
    /// turn's share is used, or it is paused.
    fn read(&self) {
        let Some(reactor) = self.end.reactor.upgrade() else {
            return;
        };
        let polled = self.end.is_polled();
        let mut buffer = reactor.take_read_buffer();
        let mut reads = 0;
        let outcome = loop {
            if self.paused.get() {
                break None;
            }
            if reads == READS_PER_TURN {
                self.read_next_turn();
                break None;
            }
            let Some(read) = self.end.with_file(|file| file.read(&mut buffer)) else {
                break None;
            };
            match read {
                Ok(0) => break Some(Failure::new(ConnectionDone)),
                Ok(n) => {
                    reads += 1;
                    if let Some(owner) = self.end.owner() {
                        owner.pipe_data(self.end.fd, &buffer[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if polled {
                        self.read_next_turn();
                    }
                    break None;
                }
                Err(e) => break Some(Failure::new(ConnectionLost::from_io(e))),
            }
        };
        reactor.return_read_buffer(buffer);
        if let Some(reason) = outcome {
            self.finish(reason);
        }
    }

    /// Stops reading until [`resume`](PipeReader::resume).
    pub(crate) fn pause(&self) {
        self.paused.set(true);
    }

    /// Reads again (after the caller returns: readiness seen while paused
    /// is not reported again).
    pub(crate) fn resume(&self) {
        if self.paused.replace(false) {
            self.read_next_turn();
        }
    }

    /// Calls `f` with the open file; `None` once closed.
    pub(crate) fn with_file<T>(&self, f: impl FnOnce(&File) -> T) -> Option<T> {
        self.end.with_file(|file| f(file))
    }

    /// Whether it is still open.
    pub(crate) fn is_open(&self) -> bool {
        self.end.is_open()
    }

    /// Closes it and tells the owner, after the current callback.
    pub(crate) fn close_soon(&self) {
        if let (Some(reactor), Some(me)) = (self.end.reactor.upgrade(), self.me.upgrade()) {
            reactor.soon(move || me.finish(Failure::new(ConnectionDone)));
        }
    }

    /// Closes it without telling the owner; returns the owner if it was open.
    pub(crate) fn close_quietly(&self) -> Option<Rc<dyn PipeOwner>> {
        self.end.close()
    }

    fn finish(&self, reason: Failure) {
        if let Some(owner) = self.close_quietly() {
            owner.pipe_closed(self.end.fd, reason);
        }
    }
}

impl IoSource for PipeReader {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        if !self.continues.get() {
            self.read();
        }
    }

    fn shutdown(self: Rc<Self>) {
        self.finish(Failure::new(ConnectionLost::new()));
    }
}

impl fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeReader")
            .field("fd", &self.end.fd)
            .field("open", &self.is_open())
            .field("paused", &self.paused.get())
            .finish()
    }
}
