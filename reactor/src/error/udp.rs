//! Errors of the datagram transports (Twisted's `MessageLengthError`,
//! `InvalidAddressError`, `MulticastJoinError`, and the `RuntimeError` and
//! assertions of `twisted.internet.udp.Port`).

use std::error::Error;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use super::CannotListenError;

/// What went wrong with a UDP port: listening, connecting or writing.
///
/// # Twisted
///
/// Twisted raises `CannotListenError`, `InvalidAddressError`,
/// `MessageLengthError`, a `RuntimeError("already connected...")` and bare
/// `assert`s; here they are the variants of one enum, so a `write` has one
/// error type to match on.
#[derive(Debug)]
#[non_exhaustive]
pub enum UdpError {
    /// The address could not be bound (`error.CannotListenError`).
    CannotListen(CannotListenError),
    /// An address Twisted would reject with `error.InvalidAddressError`: an
    /// interface that is not an IP address, or an address of the other
    /// family than the port's.
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The datagram is larger than the network allows (`EMSGSIZE`;
    /// Twisted's `error.MessageLengthError`).
    MessageLength {
        /// The size of the datagram refused.
        size: usize,
    },
    /// `connect` on a port that is already connected (Twisted: "already
    /// connected, reconnecting is not currently supported").
    AlreadyConnected {
        /// Where it is connected to.
        connected: SocketAddr,
    },
    /// `write` without a destination on a port that is not connected.
    NotConnected,
    /// `write` to another destination than the one a connected port is
    /// connected to (Twisted asserts `addr in (None, connectedAddr)`).
    WrongDestination {
        /// Where the port is connected to.
        connected: SocketAddr,
        /// Where the write asked to go.
        requested: SocketAddr,
    },
    /// The port has stopped listening: its socket is closed.
    NotListening,
    /// Any other OS error, `WouldBlock` included: the socket's send buffer
    /// is full and the datagram was *not* sent (Twisted raises the
    /// `socket.error` to the caller in the same case).
    Io(io::Error),
}

impl UdpError {
    /// Whether this is `WouldBlock`: the datagram was not sent because the
    /// socket's send buffer is full; the caller may retry later or drop it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use torsion_reactor::error::UdpError;
    ///
    /// let full = UdpError::Io(io::ErrorKind::WouldBlock.into());
    /// assert!(full.is_would_block());
    /// assert!(!UdpError::NotConnected.is_would_block());
    /// ```
    pub fn is_would_block(&self) -> bool {
        matches!(self, UdpError::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpError::CannotListen(e) => write!(f, "{e}"),
            UdpError::InvalidAddress { address, reason } => {
                write!(f, "invalid address {address:?}: {reason}")
            }
            UdpError::MessageLength { size } => {
                write!(f, "message too long: a datagram of {size} bytes")
            }
            UdpError::AlreadyConnected { connected } => write!(
                f,
                "already connected to {connected}, reconnecting is not supported"
            ),
            UdpError::NotConnected => {
                f.write_str("the port is not connected: write needs a destination address")
            }
            UdpError::WrongDestination {
                connected,
                requested,
            } => write!(
                f,
                "the port is connected to {connected}; it cannot write to {requested}"
            ),
            UdpError::NotListening => f.write_str("the port is not listening"),
            UdpError::Io(e) => write!(f, "datagram I/O failed: {e}"),
        }
    }
}

impl Error for UdpError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            UdpError::CannotListen(e) => Some(e),
            UdpError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CannotListenError> for UdpError {
    fn from(e: CannotListenError) -> UdpError {
        UdpError::CannotListen(e)
    }
}

/// Joining or leaving a multicast group failed (`error.MulticastJoinError`).
#[derive(Debug)]
pub struct MulticastJoinError {
    /// The group asked for.
    pub group: IpAddr,
    /// The interface asked for, as text (`"any"` for the default).
    pub interface: String,
    /// Why: the OS error, or a message naming a family mismatch.
    pub source: io::Error,
}

impl fmt::Display for MulticastJoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not join or leave multicast group {} on interface {}: {}",
            self.group, self.interface, self.source
        )
    }
}

impl Error for MulticastJoinError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}
