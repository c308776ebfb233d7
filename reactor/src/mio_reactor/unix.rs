//! [`ReactorUnix`] for the reactor: UNIX socket files.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::connector::{StreamConnector, Target};
use super::port::{Bind, Listener, StreamPort};
use super::reactor::Reactor;
use crate::error::CannotListenError;
use crate::interfaces::{Connector, DynProtocolFactory, ListeningPort, ReactorUnix};
use crate::Address;

struct UnixBind {
    path: PathBuf,
    backlog: u32,
    mode: u32,
}

/// Removes a socket file nobody listens on; refuses to touch anything else.
fn remove_stale(path: &Path) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use by a listening process", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// Whether `path` names a socket in Linux's abstract namespace (a leading
/// NUL byte): no file, so nothing to remove, chmod or unlink (as Twisted).
fn is_abstract(path: &Path) -> bool {
    path.as_os_str().as_bytes().first() == Some(&0)
}

impl UnixBind {
    fn listen(&self) -> io::Result<mio::net::UnixListener> {
        let file = !is_abstract(&self.path);
        if file {
            remove_stale(&self.path)?;
        }
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(&self.path)?)?;
        if file {
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(self.mode))?;
        }
        socket.listen(i32::try_from(self.backlog).unwrap_or(i32::MAX))?;
        socket.set_nonblocking(true)?;
        Ok(mio::net::UnixListener::from_std(socket.into()))
    }
}

impl Bind for UnixBind {
    fn bind(&self) -> Result<(Listener, Address), CannotListenError> {
        let listener = self.listen().map_err(|source| CannotListenError {
            interface: self.path.display().to_string(),
            port: 0,
            source,
        })?;
        Ok((
            Listener::Unix(listener),
            Address::Unix(Some(self.path.clone())),
        ))
    }

    /// Twisted removes the socket file when the port stops listening.
    fn closed(&self) {
        if !is_abstract(&self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl ReactorUnix for Reactor {
    fn listen_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let bind = UnixBind {
            path: path.to_path_buf(),
            backlog,
            mode,
        };
        let address = Address::Unix(Some(path.to_path_buf()));
        let listening = StreamPort::listen(&self.shared, factory, Box::new(bind), address)?;
        Ok(listening)
    }

    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<dyn Connector> {
        StreamConnector::start(self, Target::Unix(path.to_path_buf()), factory, timeout)
    }
}
