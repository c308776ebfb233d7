//! [`Stream`]: a connected TCP or UNIX socket, as the connection code sees it.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};

use mio::event::Source;
use mio::{Interest, Registry, Token};

use crate::Address;

/// Descriptors accepted in one read: the most one message can carry on
/// Linux (`SCM_MAX_FD`), so the kernel never has to close any for lack of
/// room (it would, silently, past the room given).
const MAX_FDS_PER_READ: usize = 253;

/// A connected stream socket of either family.
pub(crate) enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

fn unix_address(addr: io::Result<std::os::unix::net::SocketAddr>) -> Address {
    Address::Unix(
        addr.ok()
            .and_then(|a| a.as_pathname().map(|p| p.to_path_buf())),
    )
}

impl Stream {
    pub(crate) fn peer(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Address::Tcp),
            Stream::Unix(s) => Ok(unix_address(s.peer_addr())),
        }
    }

    pub(crate) fn host(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.local_addr().map(Address::Tcp),
            Stream::Unix(s) => Ok(unix_address(s.local_addr())),
        }
    }

    pub(crate) fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buffer),
            Stream::Unix(s) => (&*s).read(buffer),
        }
    }

    /// Reads, collecting descriptors passed with the bytes (UNIX only;
    /// `fds` stays empty for TCP).
    pub(crate) fn read_with_fds(
        &self,
        buffer: &mut [u8],
        fds: &mut Vec<OwnedFd>,
    ) -> io::Result<usize> {
        let Stream::Unix(s) = self else {
            return self.read(buffer);
        };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_READ))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            s.as_fd(),
            &mut [IoSliceMut::new(buffer)],
            &mut control,
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )?;
        for message in control.drain() {
            match message {
                rustix::net::RecvAncillaryMessage::ScmRights(received) => fds.extend(received),
                // Twisted logs and skips what it cannot use (credentials a
                // peer's SO_PASSCRED brings, say); the bytes still arrive.
                _ => log::warn!(
                    "received unsupported ancillary data (not SCM_RIGHTS) on a UNIX \
                     connection; ignored it"
                ),
            }
        }
        Ok(received.bytes)
    }

    /// Writes `data`, passing `fds` along with its first byte (UNIX only).
    pub(crate) fn write_with_fds(
        &self,
        data: &[IoSlice<'_>],
        fds: &[OwnedFd],
    ) -> io::Result<usize> {
        let Stream::Unix(s) = self else {
            return self.write_vectored(data);
        };
        let borrowed: Vec<_> = fds.iter().map(|fd| fd.as_fd()).collect();
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(borrowed.len()))];
        let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
        if !control.push(rustix::net::SendAncillaryMessage::ScmRights(&borrowed)) {
            return Err(io::Error::other(
                "too many file descriptors for one message",
            ));
        }
        Ok(rustix::net::sendmsg(
            s.as_fd(),
            data,
            &mut control,
            rustix::net::SendFlags::empty(),
        )?)
    }

    pub(crate) fn is_unix(&self) -> bool {
        matches!(self, Stream::Unix(_))
    }

    /// Writes `data`; one slice goes through `write` (`send`), which is
    /// cheaper than `writev` for the common case.
    pub(crate) fn write_vectored(&self, data: &[IoSlice<'_>]) -> io::Result<usize> {
        let data = match data {
            [one, rest @ ..] if rest.iter().all(|s| s.is_empty()) => return self.write_one(one),
            data => data,
        };
        match self {
            Stream::Tcp(s) => (&*s).write_vectored(data),
            Stream::Unix(s) => (&*s).write_vectored(data),
        }
    }

    fn write_one(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write(data),
            Stream::Unix(s) => (&*s).write(data),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// Makes closing send a reset (TCP only; UNIX sockets have none).
    pub(crate) fn reset_on_close(&self) {
        if let Stream::Tcp(s) = self {
            let _ = socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    pub(crate) fn tcp(&self) -> Option<&mio::net::TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
        }
    }

    /// `Ok` once a non-blocking connect has completed.
    pub(crate) fn connected(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(drop),
            Stream::Unix(s) => s.peer_addr().map(drop),
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    fn write_vectored(&mut self, data: &[IoSlice<'_>]) -> io::Result<usize> {
        Stream::write_vectored(self, data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
