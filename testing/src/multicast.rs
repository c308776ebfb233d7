//! [`MulticastState`]: the multicast settings of a port that is not a
//! kernel socket (the fake datagram transport, the simulated network's
//! ports), with the kernel's rules for them.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;

use torsion_reactor::error::{MulticastJoinError, UdpError};
use torsion_reactor::MulticastInterface;

/// `impl MulticastTransport for $port` forwarding every method to its
/// [`MulticastState`] field `$state`.
macro_rules! forward_multicast {
    ($port:ty, $state:ident) => {
        impl torsion_reactor::MulticastTransport for $port {
            fn join_group(
                &self,
                group: std::net::IpAddr,
                interface: Option<torsion_reactor::MulticastInterface>,
            ) -> Result<(), torsion_reactor::error::MulticastJoinError> {
                self.$state.join_group(group, interface)
            }

            fn leave_group(
                &self,
                group: std::net::IpAddr,
                interface: Option<torsion_reactor::MulticastInterface>,
            ) -> Result<(), torsion_reactor::error::MulticastJoinError> {
                self.$state.leave_group(group, interface)
            }

            fn ttl(&self) -> Result<u32, torsion_reactor::error::UdpError> {
                Ok(self.$state.ttl())
            }

            fn set_ttl(&self, ttl: u32) -> Result<(), torsion_reactor::error::UdpError> {
                self.$state.set_ttl(ttl);
                Ok(())
            }

            fn loopback_mode(&self) -> Result<bool, torsion_reactor::error::UdpError> {
                Ok(self.$state.loopback_mode())
            }

            fn set_loopback_mode(
                &self,
                enabled: bool,
            ) -> Result<(), torsion_reactor::error::UdpError> {
                self.$state.set_loopback_mode(enabled);
                Ok(())
            }

            fn outgoing_interface(
                &self,
            ) -> Result<torsion_reactor::MulticastInterface, torsion_reactor::error::UdpError> {
                Ok(self.$state.outgoing_interface())
            }

            fn set_outgoing_interface(
                &self,
                interface: torsion_reactor::MulticastInterface,
            ) -> Result<(), torsion_reactor::error::UdpError> {
                self.$state.set_outgoing_interface(interface)
            }
        }
    };
}

/// Groups joined, TTL, loopback and outgoing interface of one port of the
/// given family; the methods are `MulticastTransport`'s, which both
/// owners forward to.
#[derive(Debug)]
pub(crate) struct MulticastState {
    ipv4: bool,
    groups: RefCell<Vec<(IpAddr, MulticastInterface)>>,
    ttl: Cell<u32>,
    loopback: Cell<bool>,
    outgoing: Cell<Option<MulticastInterface>>,
}

fn join_error(
    group: IpAddr,
    interface: MulticastInterface,
    kind: std::io::ErrorKind,
    why: &str,
) -> MulticastJoinError {
    MulticastJoinError {
        group,
        interface: interface.to_string(),
        source: std::io::Error::new(kind, why.to_string()),
    }
}

impl MulticastState {
    /// Nothing joined, TTL 1, loopback on (the kernel's defaults).
    pub(crate) fn new(ipv4: bool) -> MulticastState {
        MulticastState {
            ipv4,
            groups: RefCell::default(),
            ttl: Cell::new(1),
            loopback: Cell::new(true),
            outgoing: Cell::new(None),
        }
    }

    /// The groups joined, with their interfaces.
    pub(crate) fn groups(&self) -> Vec<(IpAddr, MulticastInterface)> {
        self.groups.borrow().clone()
    }

    /// Whether `group` was joined (on any interface).
    pub(crate) fn joined(&self, group: IpAddr) -> bool {
        self.groups.borrow().iter().any(|(g, _)| *g == group)
    }

    pub(crate) fn join_group(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
    ) -> Result<(), MulticastJoinError> {
        let interface = interface.unwrap_or(MulticastInterface::any_for(group));
        if !group.is_multicast() || group.is_ipv4() != self.ipv4 {
            return Err(join_error(
                group,
                interface,
                std::io::ErrorKind::InvalidInput,
                "not a multicast group of the port's family",
            ));
        }
        if self.groups.borrow().contains(&(group, interface)) {
            return Err(join_error(
                group,
                interface,
                std::io::ErrorKind::AddrInUse,
                "already a member of this group on this interface",
            ));
        }
        self.groups.borrow_mut().push((group, interface));
        Ok(())
    }

    pub(crate) fn leave_group(
        &self,
        group: IpAddr,
        interface: Option<MulticastInterface>,
    ) -> Result<(), MulticastJoinError> {
        let interface = interface.unwrap_or(MulticastInterface::any_for(group));
        let mut groups = self.groups.borrow_mut();
        match groups.iter().position(|g| *g == (group, interface)) {
            Some(index) => {
                groups.remove(index);
                Ok(())
            }
            None => Err(join_error(
                group,
                interface,
                std::io::ErrorKind::AddrNotAvailable,
                "not a member of this group",
            )),
        }
    }

    pub(crate) fn ttl(&self) -> u32 {
        self.ttl.get()
    }

    pub(crate) fn set_ttl(&self, ttl: u32) {
        self.ttl.set(ttl);
    }

    pub(crate) fn loopback_mode(&self) -> bool {
        self.loopback.get()
    }

    pub(crate) fn set_loopback_mode(&self, enabled: bool) {
        self.loopback.set(enabled);
    }

    pub(crate) fn outgoing_interface(&self) -> MulticastInterface {
        self.outgoing.get().unwrap_or(if self.ipv4 {
            MulticastInterface::Address(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            MulticastInterface::Index(0)
        })
    }

    pub(crate) fn set_outgoing_interface(
        &self,
        interface: MulticastInterface,
    ) -> Result<(), UdpError> {
        match (self.ipv4, interface) {
            (true, MulticastInterface::Address(_)) | (false, MulticastInterface::Index(_)) => {
                self.outgoing.set(Some(interface));
                Ok(())
            }
            _ => Err(UdpError::InvalidAddress {
                address: interface.to_string(),
                reason: "an interface of the other family than the port's",
            }),
        }
    }
}
