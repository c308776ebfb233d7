//! [`Address`]: Twisted's `IPv4Address`, `IPv6Address`, `UNIXAddress` and
//! `HostnameAddress` as one enum.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The address of one end of a connection, or of a listening port.
///
/// # Examples
///
/// ```
/// use torsion_reactor::Address;
///
/// let a = Address::Tcp("127.0.0.1:8000".parse()?);
/// assert_eq!(a.to_string(), "127.0.0.1:8000");
/// assert_eq!(a.port(), Some(8000));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A TCP address, IPv4 or IPv6 (Twisted's `IPv4Address("TCP", ...)` /
    /// `IPv6Address("TCP", ...)`).
    Tcp(SocketAddr),
    /// A UNIX socket path; `None` for an unnamed socket (Twisted's `UNIXAddress`).
    Unix(Option<PathBuf>),
    /// A host name not yet resolved (Twisted's `HostnameAddress`).
    Hostname {
        /// The name.
        host: String,
        /// The port.
        port: u16,
    },
    /// A pipe: the far end of a standard I/O or child process transport
    /// (Twisted's `PipeAddress`, and its `_ProcessAddress`).
    Pipe,
}

impl Address {
    /// The port, for TCP and host name addresses.
    pub fn port(&self) -> Option<u16> {
        match self {
            Address::Tcp(addr) => Some(addr.port()),
            Address::Hostname { port, .. } => Some(*port),
            Address::Unix(_) | Address::Pipe => None,
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr)
    }
}

impl fmt::Display for Address {
    /// `127.0.0.1:80`, `[::1]:80`, `unix:/run/app.sock`, `example.org:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Address::Unix(None) => f.write_str("unix:<unnamed>"),
            Address::Hostname { host, port } => write!(f, "{host}:{port}"),
            Address::Pipe => f.write_str("pipe"),
        }
    }
}
