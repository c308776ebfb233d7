//! [`MulticastTransport`] and [`MulticastInterface`]: Twisted's
//! `IMulticastTransport` (a UDP port that joins groups; the reactor side,
//! `IReactorMulticast`, is [`ReactorUdp::listen_multicast`](super::ReactorUdp::listen_multicast)).

use std::net::{IpAddr, Ipv4Addr};

use super::UdpTransport;
use crate::error::{MulticastJoinError, UdpError};

/// Which interface multicast uses: by address (IPv4) or by index (IPv6).
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use torsion_reactor::MulticastInterface;
///
/// let lo = MulticastInterface::Address(Ipv4Addr::LOCALHOST);
/// assert_eq!(lo.to_string(), "127.0.0.1");
/// assert_eq!(MulticastInterface::Index(0).to_string(), "interface #0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MulticastInterface {
    /// The IPv4 interface with this address (`0.0.0.0`: the default).
    Address(Ipv4Addr),
    /// The IPv6 interface with this index (`0`: the default).
    Index(u32),
}

impl MulticastInterface {
    /// The default interface of `group`'s family.
    pub fn any_for(group: IpAddr) -> MulticastInterface {
        match group {
            IpAddr::V4(_) => MulticastInterface::Address(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => MulticastInterface::Index(0),
        }
    }
}

impl std::fmt::Display for MulticastInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MulticastInterface::Address(a) => write!(f, "{a}"),
            MulticastInterface::Index(i) => write!(f, "interface #{i}"),
        }
    }
}

/// A UDP port that takes part in multicast: Twisted's `IMulticastTransport`.
///
/// # Examples
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use torsion_reactor::{error::MulticastJoinError, MulticastInterface, MulticastTransport};
///
/// /// Joins 225.0.0.250 on the loopback interface.
/// fn join(port: &dyn MulticastTransport) -> Result<(), MulticastJoinError> {
///     let group = IpAddr::V4(Ipv4Addr::new(225, 0, 0, 250));
///     port.join_group(group, Some(MulticastInterface::Address(Ipv4Addr::LOCALHOST)))
/// }
/// # let _ = join;
/// ```
///
/// # Twisted
///
/// Twisted's `joinGroup`, `leaveGroup` and `setOutgoingInterface` return
/// Deferreds because they may resolve host names; these take IP addresses
/// and interface indexes, so they answer at once with a `Result`.
pub trait MulticastTransport: UdpTransport {
    /// Joins `group` on `interface` (`None`: the default interface)
    /// (Twisted's `joinGroup`).
    ///
    /// # Errors
    ///
    /// [`MulticastJoinError`] for a group or interface of the other family,
    /// an address that is not a multicast group, or the OS's refusal.
    fn join_group(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
    ) -> Result<(), MulticastJoinError>;

    /// Leaves `group` on `interface` (Twisted's `leaveGroup`).
    ///
    /// # Errors
    ///
    /// As [`join_group`](MulticastTransport::join_group).
    fn leave_group(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
    ) -> Result<(), MulticastJoinError>;

    /// The time-to-live of outgoing multicast datagrams (IPv6: the hop
    /// limit) (Twisted's `getTTL`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn ttl(&self) -> Result<u32, UdpError>;

    /// Sets the time-to-live (IPv6: the hop limit) (Twisted's `setTTL`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn set_ttl(&self, ttl: u32) -> Result<(), UdpError>;

    /// Whether multicast datagrams come back to this host's own sockets
    /// (Twisted's `getLoopbackMode`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn loopback_mode(&self) -> Result<bool, UdpError>;

    /// Sets the loopback mode (Twisted's `setLoopbackMode`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn set_loopback_mode(&self, enabled: bool) -> Result<(), UdpError>;

    /// The interface outgoing multicast leaves by (Twisted's
    /// `getOutgoingInterface`).
    ///
    /// # Errors
    ///
    /// The OS error, or [`UdpError::NotListening`].
    fn outgoing_interface(&self) -> Result<MulticastInterface, UdpError>;

    /// Sets the outgoing interface (Twisted's `setOutgoingInterface`).
    ///
    /// # Errors
    ///
    /// [`UdpError::InvalidAddress`] for an interface of the other family;
    /// the OS error.
    fn set_outgoing_interface(&self, interface: MulticastInterface) -> Result<(), UdpError>;
}

impl std::fmt::Debug for dyn MulticastTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MulticastTransport({})", self.host())
    }
}
