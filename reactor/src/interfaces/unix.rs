//! [`ReactorUnix`]: Twisted's `IReactorUNIX`.

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use crate::error::CannotListenError;
use crate::interfaces::{Connector, DynProtocolFactory, ListeningPort};

/// Twisted's default mode for a listening UNIX socket file.
pub const DEFAULT_UNIX_MODE: u32 = 0o666;

/// UNIX stream sockets: Twisted's `IReactorUNIX`.
///
/// # Examples
///
/// ```
/// use std::{path::Path, rc::Rc};
/// use torsion_reactor::{Factory, Protocol, ReactorUnix, DEFAULT_CONNECT_TIMEOUT};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// fn dial(reactor: &dyn ReactorUnix) {
///     let factory = Rc::new(Factory::for_protocol(|| Quiet));
///     reactor.connect_unix(Path::new("/run/app.sock"), factory, DEFAULT_CONNECT_TIMEOUT);
/// }
/// # let _ = dial;
/// ```
pub trait ReactorUnix {
    /// Listens on the socket file `path`, created with `mode`; a stale socket
    /// file (no one listening) is replaced (Twisted's `listenUNIX`).
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] naming the path, with the OS error.
    fn listen_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError>;

    /// Connects to the socket file `path` (Twisted's `connectUNIX`).
    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<dyn Connector>;
}

impl<R: ReactorUnix + ?Sized> ReactorUnix for Rc<R> {
    fn listen_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        (**self).listen_unix(path, factory, backlog, mode)
    }

    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<dyn Connector> {
        (**self).connect_unix(path, factory, timeout)
    }
}
