//! [`MulticastTransport`] for [`UdpPort`] (Twisted's `_multicast.MulticastMixin`).

use std::io;
use std::net::IpAddr;

use socket2::SockRef;

use super::udp::UdpPort;
use crate::error::{MulticastJoinError, UdpError};
use crate::interfaces::{MulticastInterface, MulticastTransport, UdpTransport};

impl UdpPort {
    /// Joins (`join`) or leaves `group` on `interface`.
    fn join_leave(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
        join: bool,
    ) -> Result<(), MulticastJoinError> {
        let interface = interface.unwrap_or(MulticastInterface::any_for(group));
        let fail = |source| MulticastJoinError {
            group,
            interface: interface.to_string(),
            source,
        };
        let family = |message: &str| fail(io::Error::new(io::ErrorKind::InvalidInput, message));
        if group.is_ipv4() != self.host().is_ipv4() {
            return Err(family(if group.is_ipv4() {
                "an IPv4 group on an IPv6 port"
            } else {
                "an IPv6 group on an IPv4 port"
            }));
        }
        let outcome = self.with_socket(|socket| match (group, interface) {
            (IpAddr::V4(group), MulticastInterface::Address(interface)) if join => {
                socket.join_multicast_v4(&group, &interface)
            }
            (IpAddr::V4(group), MulticastInterface::Address(interface)) => {
                socket.leave_multicast_v4(&group, &interface)
            }
            (IpAddr::V6(group), MulticastInterface::Index(index)) if join => {
                socket.join_multicast_v6(&group, index)
            }
            (IpAddr::V6(group), MulticastInterface::Index(index)) => {
                socket.leave_multicast_v6(&group, index)
            }
            (IpAddr::V4(_), _) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an IPv4 group needs an IPv4 interface address",
            )),
            (IpAddr::V6(_), _) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an IPv6 group needs an interface index",
            )),
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(UdpError::Io(e)) => Err(fail(e)),
            Err(other) => Err(fail(io::Error::other(other.to_string()))),
        }
    }
}

impl MulticastTransport for UdpPort {
    fn join_group(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
    ) -> Result<(), MulticastJoinError> {
        self.join_leave(group, interface, true)
    }

    fn leave_group(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
    ) -> Result<(), MulticastJoinError> {
        self.join_leave(group, interface, false)
    }

    fn ttl(&self) -> Result<u32, UdpError> {
        if self.host().is_ipv4() {
            self.with_socket(|socket| socket.multicast_ttl_v4())
        } else {
            self.with_socket(|socket| SockRef::from(socket).multicast_hops_v6())
        }
    }

    fn set_ttl(&self, ttl: u32) -> Result<(), UdpError> {
        if self.host().is_ipv4() {
            self.with_socket(|socket| socket.set_multicast_ttl_v4(ttl))
        } else {
            self.with_socket(|socket| SockRef::from(socket).set_multicast_hops_v6(ttl))
        }
    }

    fn loopback_mode(&self) -> Result<bool, UdpError> {
        if self.host().is_ipv4() {
            self.with_socket(|socket| socket.multicast_loop_v4())
        } else {
            self.with_socket(|socket| socket.multicast_loop_v6())
        }
    }

    fn set_loopback_mode(&self, enabled: bool) -> Result<(), UdpError> {
        if self.host().is_ipv4() {
            self.with_socket(|socket| socket.set_multicast_loop_v4(enabled))
        } else {
            self.with_socket(|socket| socket.set_multicast_loop_v6(enabled))
        }
    }

    fn outgoing_interface(&self) -> Result<MulticastInterface, UdpError> {
        if self.host().is_ipv4() {
            self.with_socket(|socket| SockRef::from(socket).multicast_if_v4())
                .map(MulticastInterface::Address)
        } else {
            self.with_socket(|socket| SockRef::from(socket).multicast_if_v6())
                .map(MulticastInterface::Index)
        }
    }

    fn set_outgoing_interface(&self, interface: MulticastInterface) -> Result<(), UdpError> {
        match (self.host().is_ipv4(), interface) {
            (true, MulticastInterface::Address(address)) => {
                self.with_socket(|socket| SockRef::from(socket).set_multicast_if_v4(&address))
            }
            (false, MulticastInterface::Index(index)) => {
                self.with_socket(|socket| SockRef::from(socket).set_multicast_if_v6(index))
            }
            (true, _) => Err(UdpError::InvalidAddress {
                address: interface.to_string(),
                reason: "an IPv4 port's interface is given by its address",
            }),
            (false, _) => Err(UdpError::InvalidAddress {
                address: interface.to_string(),
                reason: "an IPv6 port's interface is given by its index",
            }),
        }
    }
}
