//! UNIX socket endpoints (Twisted's `UNIXClientEndpoint`, `UNIXServerEndpoint`).

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{CannotListenError, ConnectingCancelledError};
use torsion_reactor::{
    Address, Connector, Deferred, DynProtocolFactory, ListeningPort, ProtocolRef, ReactorUnix,
    StreamClientEndpoint, StreamServerEndpoint, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_UNIX_MODE,
};

use crate::wrapping::wrapping_factory;

/// Connects to a UNIX socket file (Twisted's `UNIXClientEndpoint`).
///
/// # Examples
///
/// ```
/// use torsion_endpoints::UnixClientEndpoint;
/// use torsion_reactor::{Factory, Reactor, StreamClientEndpointExt};
/// use torsion_testing::AccumulatingProtocol;
///
/// let reactor = Reactor::new()?;
/// let endpoint = UnixClientEndpoint::new(reactor, "/run/app.sock");
/// let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
/// connected.cancel();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixClientEndpoint<R> {
    reactor: R,
    path: PathBuf,
    timeout: Duration,
    check_lockfile: bool,
}

/// The server's lock file is not held by a live process (Twisted's
/// `BadFileError` from `connectUNIX(checkPID=True)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockNotHeld {
    /// The lock file checked.
    pub lock: PathBuf,
}

impl fmt::Display for LockNotHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no live server holds {}", self.lock.display())
    }
}

impl std::error::Error for LockNotHeld {}

impl<R: ReactorUnix + 'static> UnixClientEndpoint<R> {
    /// Connects to `path` with Twisted's default 30 s timeout.
    pub fn new(reactor: R, path: impl AsRef<Path>) -> Self {
        UnixClientEndpoint {
            reactor,
            path: path.as_ref().to_path_buf(),
            timeout: DEFAULT_CONNECT_TIMEOUT,
            check_lockfile: false,
        }
    }

    /// Connect only if a live server holds `<path>.lock` (Twisted's `checkPID`).
    pub fn check_lockfile(mut self, check: bool) -> Self {
        self.check_lockfile = check;
        self
    }

    /// The connect timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<R: ReactorUnix + 'static> StreamClientEndpoint for UnixClientEndpoint<R> {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        if self.check_lockfile {
            let lock = crate::lockfile::lock_path(&self.path);
            if crate::lockfile::lock_owner(&lock).is_none() {
                return Deferred::failed(LockNotHeld { lock });
            }
        }
        let connector: Rc<RefCell<Option<Rc<dyn Connector>>>> = Rc::default();
        let (for_cancel, destination) = (connector.clone(), Address::Unix(Some(self.path.clone())));
        let connected = Deferred::with_canceller(move |d: &Deferred<ProtocolRef>| {
            let connector = for_cancel.borrow().clone();
            d.errback(ConnectingCancelledError {
                address: destination,
            });
            if let Some(connector) = connector {
                let _ = connector.stop_connecting();
            }
        });
        let wrapping = Rc::new(wrapping_factory(factory, connected.clone()));
        *connector.borrow_mut() = Some(self.reactor.connect_unix(
            &self.path,
            wrapping,
            self.timeout,
        ));
        connected
    }

    fn describe(&self) -> String {
        format!(
            "unix:path={}",
            crate::quote(&self.path.to_string_lossy(), false)
        )
    }
}

impl<R> fmt::Debug for UnixClientEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixClientEndpoint")
            .field("path", &self.path)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Listens on a UNIX socket file (Twisted's `UNIXServerEndpoint`).
///
/// # Examples
///
/// ```
/// use torsion_endpoints::UnixServerEndpoint;
/// use torsion_reactor::Reactor;
///
/// let reactor = Reactor::new()?;
/// let endpoint = UnixServerEndpoint::new(reactor, "/run/app.sock").mode(0o660).backlog(128);
/// # let _ = endpoint;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixServerEndpoint<R> {
    reactor: R,
    path: PathBuf,
    backlog: u32,
    mode: u32,
    lockfile: bool,
}

impl<R: ReactorUnix + 'static> UnixServerEndpoint<R> {
    /// Listens on `path`, mode 0o666, backlog 50.
    pub fn new(reactor: R, path: impl AsRef<Path>) -> Self {
        UnixServerEndpoint {
            reactor,
            path: path.as_ref().to_path_buf(),
            backlog: DEFAULT_BACKLOG,
            mode: DEFAULT_UNIX_MODE,
            lockfile: false,
        }
    }

    /// Hold `<path>.lock` while listening, so a second server on the same
    /// path is refused even before it touches the socket file (Twisted's
    /// `wantPID`).
    pub fn lockfile(mut self, lockfile: bool) -> Self {
        self.lockfile = lockfile;
        self
    }

    /// The socket file's permissions.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The listen backlog.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }
}

impl<R: ReactorUnix + 'static> StreamServerEndpoint for UnixServerEndpoint<R> {
    fn listen_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
        let lock = if self.lockfile {
            match crate::lockfile::LockFile::acquire(&crate::lockfile::lock_path(&self.path)) {
                Ok(lock) => Some(lock),
                Err(source) => {
                    return Deferred::failed(CannotListenError {
                        interface: self.path.display().to_string(),
                        port: 0,
                        source,
                    })
                }
            }
        } else {
            None
        };
        match self
            .reactor
            .listen_unix(&self.path, factory, self.backlog, self.mode)
        {
            Ok(port) if lock.is_some() => Deferred::succeeded(Rc::new(LockedPort {
                port,
                lock: RefCell::new(lock),
            })
                as Rc<dyn ListeningPort>),
            Ok(port) => Deferred::succeeded(port),
            Err(error) => Deferred::failed(error),
        }
    }

    fn describe(&self) -> String {
        format!(
            "unix:{}:mode={:o}:backlog={}",
            crate::quote(&self.path.to_string_lossy(), true),
            self.mode,
            self.backlog
        )
    }
}

impl<R> fmt::Debug for UnixServerEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixServerEndpoint")
            .field("path", &self.path)
            .field("backlog", &self.backlog)
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// A UNIX port holding its lock file until it stops listening.
struct LockedPort {
    port: Rc<dyn ListeningPort>,
    lock: RefCell<Option<crate::lockfile::LockFile>>,
}

impl ListeningPort for LockedPort {
    fn start_listening(&self) -> Result<(), CannotListenError> {
        self.port.start_listening()
    }

    fn stop_listening(&self) -> Deferred<()> {
        let stopped = self.port.stop_listening();
        self.lock.borrow_mut().take();
        stopped
    }

    fn host(&self) -> Address {
        self.port.host()
    }
}
