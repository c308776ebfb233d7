//! Seeing children exit without a busy loop and without losing one.
//!
//! * **pidfd** (Linux 5.3 and later): each child's `pidfd_open`
//!   descriptor is registered with the poller and becomes readable when
//!   the child exits; [`ExitWatch`] then reaps it.
//! * **SIGCHLD** (older kernels, or by choice with
//!   [`Reactor::set_reap_with_sigchld`](crate::Reactor::set_reap_with_sigchld)):
//!   one signal-hook source per reactor; as signals coalesce, each one
//!   makes every live child be checked with a non-blocking `waitpid`, so
//!   none is lost.
//! * **After the reactor**: children still running when the reactor shuts
//!   down, or whose process handle is dropped unreaped, are handed to a
//!   reaper thread that waits for them, so none is left a zombie.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Child;
use std::rc::Rc;

use mio::unix::SourceFd;
use mio::{Interest, Token};
use signal_hook_mio::v1_0::Signals;

use super::process::Process;
use super::reactor::{IoSource, ReactorState};

/// Waits for `child` on a thread of its own (after the reactor let go of it).
pub(crate) fn hand_to_reaper(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("torsion-reaper".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread to reap a child process: {e}");
    }
}

/// The reactor's children waiting for an exit on the SIGCHLD path, and the
/// SIGCHLD source itself once needed.
#[derive(Default)]
pub(crate) struct ProcessTable {
    sigchld_only: Cell<bool>,
    live: RefCell<Vec<Rc<Process>>>,
    sigchld: RefCell<Option<Rc<SigchldWatch>>>,
}

impl fmt::Debug for ProcessTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTable")
            .field("sigchld_only", &self.sigchld_only.get())
            .field("live", &self.live.borrow().len())
            .finish()
    }
}

impl ProcessTable {
    pub(crate) fn set_sigchld_only(&self, on: bool) {
        self.sigchld_only.set(on);
    }

    /// Opens a pidfd for `pid` unless the SIGCHLD path is forced.
    pub(crate) fn pidfd(&self, pid: u32) -> Option<OwnedFd> {
        if self.sigchld_only.get() {
            return None;
        }
        let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()
    }

    /// Makes sure the SIGCHLD source is registered (before a child is
    /// spawned, so its signal cannot come first).
    pub(crate) fn ensure_sigchld(reactor: &Rc<ReactorState>) -> io::Result<()> {
        if reactor.processes.sigchld.borrow().is_some() {
            return Ok(());
        }
        let mut signals = Signals::new([signal_hook::consts::SIGCHLD])?;
        let watch = Rc::new(SigchldWatch {
            signals: RefCell::new(None),
            token: Cell::new(Token(usize::MAX)),
            reactor: Rc::downgrade(reactor),
        });
        let source = watch.clone();
        let token = reactor.register(&mut signals, Interest::READABLE, move |_| source)?;
        watch.token.set(token);
        *watch.signals.borrow_mut() = Some(signals);
        *reactor.processes.sigchld.borrow_mut() = Some(watch);
        Ok(())
    }

    /// Watches `process` through SIGCHLD; checks it at once too.
    pub(crate) fn watch(reactor: &Rc<ReactorState>, process: Rc<Process>) {
        reactor.processes.live.borrow_mut().push(process);
        reactor.soon({
            let reactor = Rc::downgrade(reactor);
            move || {
                if let Some(reactor) = reactor.upgrade() {
                    reactor.processes.check_all();
                }
            }
        });
    }

    /// Reaps every live child that exited.
    fn check_all(&self) {
        let live = self.live.borrow().clone();
        let exited: Vec<Rc<Process>> = live.into_iter().filter(|p| p.try_reap()).collect();
        if !exited.is_empty() {
            self.live
                .borrow_mut()
                .retain(|p| !exited.iter().any(|e| Rc::ptr_eq(e, p)));
        }
    }
}

/// The SIGCHLD source of one reactor.
struct SigchldWatch {
    signals: RefCell<Option<Signals>>,
    token: Cell<Token>,
    reactor: std::rc::Weak<ReactorState>,
}

impl IoSource for SigchldWatch {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        if let Some(signals) = self.signals.borrow_mut().as_mut() {
            for _ in signals.pending() {}
        }
        if let Some(reactor) = self.reactor.upgrade() {
            reactor.processes.check_all();
        }
    }

    fn shutdown(self: Rc<Self>) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        let live = std::mem::take(&mut *reactor.processes.live.borrow_mut());
        for process in live {
            process.abandon();
        }
        if let Some(mut signals) = self.signals.borrow_mut().take() {
            reactor.deregister(self.token.get(), &mut signals);
        }
        reactor.processes.sigchld.borrow_mut().take();
    }
}

/// A child's pidfd, registered: readable once the child exits.
pub(crate) struct ExitWatch {
    pidfd: OwnedFd,
    token: Cell<Token>,
    process: RefCell<Option<Rc<Process>>>,
    reactor: std::rc::Weak<ReactorState>,
}

impl ExitWatch {
    /// Registers `pidfd` to reap `process` when it exits.
    pub(crate) fn start(
        reactor: &Rc<ReactorState>,
        pidfd: OwnedFd,
        process: Rc<Process>,
    ) -> io::Result<()> {
        let raw = pidfd.as_raw_fd();
        let watch = Rc::new(ExitWatch {
            pidfd,
            token: Cell::new(Token(usize::MAX)),
            process: RefCell::new(Some(process)),
            reactor: Rc::downgrade(reactor),
        });
        let source = watch.clone();
        let token = reactor.register(&mut SourceFd(&raw), Interest::READABLE, move |_| source)?;
        watch.token.set(token);
        Ok(())
    }

    fn stop(&self) -> Option<Rc<Process>> {
        let process = self.process.borrow_mut().take()?;
        if let Some(reactor) = self.reactor.upgrade() {
            let raw = self.pidfd.as_raw_fd();
            reactor.deregister(self.token.get(), &mut SourceFd(&raw));
        }
        Some(process)
    }
}

impl IoSource for ExitWatch {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        let process = self.process.borrow().clone();
        if let Some(process) = process {
            if process.try_reap() {
                self.stop();
            }
        }
    }

    fn shutdown(self: Rc<Self>) {
        if let Some(process) = self.stop() {
            process.abandon();
        }
    }
}
