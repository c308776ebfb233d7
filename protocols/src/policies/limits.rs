//! Connection limits: [`LimitConnectionsByPeer`] and
//! [`LimitTotalConnectionsFactory`] (Twisted's policies of the same names).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use torsion_reactor::{Address, DynProtocolFactory, Failure};

use super::wrapper::{Admission, Policy, PolicyHooks, Slot, WrappingFactory};

/// The host part of a peer address: connections from one host share a count.
fn peer_host(addr: &Address) -> Address {
    match addr {
        Address::Tcp(socket) => Address::Tcp(SocketAddr::new(socket.ip(), 0)),
        Address::Hostname { host, .. } => Address::Hostname {
            host: host.clone(),
            port: 0,
        },
        other => other.clone(),
    }
}

/// The policy of [`LimitConnectionsByPeer`].
pub struct PeerLimit {
    max_per_peer: usize,
    counts: Rc<RefCell<HashMap<Address, usize>>>,
}

impl PeerLimit {
    /// How many connections `peer`'s host has open.
    pub fn connections_from(&self, peer: &Address) -> usize {
        let counts = self.counts.borrow();
        counts.get(&peer_host(peer)).copied().unwrap_or(0)
    }

    /// The limit per host.
    pub fn max_per_peer(&self) -> usize {
        self.max_per_peer
    }
}

impl Policy for PeerLimit {
    type Hooks = PeerLimitHooks;

    fn admit(&self, addr: &Address) -> Admission<PeerLimitHooks> {
        let host = peer_host(addr);
        {
            let mut counts = self.counts.borrow_mut();
            let count = counts.entry(host.clone()).or_insert(0);
            if *count >= self.max_per_peer {
                log::info!("refusing a connection from {addr}: {count} already open from its host");
                return Admission::Refuse;
            }
            *count += 1;
        }
        let counts = self.counts.clone();
        Admission::Wrap(PeerLimitHooks {
            slot: Slot::new(
                host,
                Rc::new(move |host: &Address| {
                    let mut counts = counts.borrow_mut();
                    if let Some(count) = counts.get_mut(host) {
                        *count -= 1;
                        if *count == 0 {
                            counts.remove(host);
                        }
                    }
                }),
            ),
        })
    }

    fn name(&self) -> &'static str {
        "LimitConnectionsByPeer"
    }
}

impl fmt::Debug for PeerLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerLimit")
            .field("max_per_peer", &self.max_per_peer)
            .field("peers", &self.counts.borrow().len())
            .finish()
    }
}

/// One connection's place in its host's count.
pub struct PeerLimitHooks {
    slot: Slot<Address>,
}

impl PolicyHooks for PeerLimitHooks {
    fn connection_lost(&self, _reason: &Failure) {
        self.slot.release();
    }
}

impl fmt::Debug for PeerLimitHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerLimitHooks")
    }
}

/// Refuses a connection when its peer's host already has `max_per_peer`
/// open through this factory (Twisted's `policies.LimitConnectionsByPeer`).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::policies::LimitConnectionsByPeer;
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory};
///
/// struct Chat;
/// impl Protocol for Chat {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let factory = LimitConnectionsByPeer::new(Rc::new(Factory::for_protocol(|| Chat)), 1);
/// let peer = Address::Tcp("127.0.0.1:40000".parse()?);
/// let first = factory.build_protocol(&peer);
/// assert!(first.is_some());
/// let other_port = Address::Tcp("127.0.0.1:40001".parse()?);
/// assert!(factory.build_protocol(&other_port).is_none()); // same host
/// drop(first); // never connected: its place is given back
/// assert!(factory.build_protocol(&other_port).is_some());
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
///
/// # Twisted
///
/// Twisted counts by `addr[0]` when building and un-counts by
/// `getPeer()[1]` when a connection is lost; here both use the peer's host
/// (IP address, hostname, or UNIX path), and a protocol built but never
/// connected gives its place back when dropped. The default of 5 per peer
/// is [`DEFAULT_MAX_PER_PEER`](LimitConnectionsByPeer::DEFAULT_MAX_PER_PEER).
pub type LimitConnectionsByPeer = WrappingFactory<PeerLimit>;

impl WrappingFactory<PeerLimit> {
    /// Twisted's `maxConnectionsPerPeer` default.
    pub const DEFAULT_MAX_PER_PEER: usize = 5;

    /// Wraps `wrapped`, allowing `max_per_peer` connections per host.
    pub fn new(wrapped: Rc<dyn DynProtocolFactory>, max_per_peer: usize) -> LimitConnectionsByPeer {
        WrappingFactory::with_policy(
            wrapped,
            PeerLimit {
                max_per_peer,
                counts: Rc::default(),
            },
        )
    }
}

/// The policy of [`LimitTotalConnectionsFactory`].
pub struct TotalLimit {
    limit: Option<usize>,
    count: Rc<Cell<usize>>,
    overflow: Option<Rc<dyn DynProtocolFactory>>,
}

impl TotalLimit {
    /// How many connections are open (Twisted's `connectionCount`),
    /// overflow connections included.
    pub fn connection_count(&self) -> usize {
        self.count.get()
    }

    /// The limit (`None`: unlimited).
    pub fn connection_limit(&self) -> Option<usize> {
        self.limit
    }
}

impl Policy for TotalLimit {
    type Hooks = TotalLimitHooks;

    fn admit(&self, addr: &Address) -> Admission<TotalLimitHooks> {
        let over = self.limit.is_some_and(|limit| self.count.get() >= limit);
        let replacement = match (&self.overflow, over) {
            (_, false) => None,
            (None, true) => return Admission::Refuse,
            (Some(overflow), true) => match overflow.build_protocol(addr) {
                Some(protocol) => Some(protocol),
                None => return Admission::Refuse,
            },
        };
        self.count.set(self.count.get() + 1);
        let hooks = TotalLimitHooks {
            slot: Slot::new((), {
                let count = self.count.clone();
                Rc::new(move |()| count.set(count.get() - 1))
            }),
        };
        match replacement {
            Some(protocol) => Admission::Replace(hooks, protocol),
            None => Admission::Wrap(hooks),
        }
    }

    fn name(&self) -> &'static str {
        "LimitTotalConnectionsFactory"
    }
}

impl fmt::Debug for TotalLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotalLimit")
            .field("limit", &self.limit)
            .field("count", &self.count.get())
            .field("overflow", &self.overflow.is_some())
            .finish()
    }
}

/// One connection's place in the total count.
pub struct TotalLimitHooks {
    slot: Slot<()>,
}

impl PolicyHooks for TotalLimitHooks {
    fn connection_lost(&self, _reason: &Failure) {
        self.slot.release();
    }
}

impl fmt::Debug for TotalLimitHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotalLimitHooks")
    }
}

/// Limits the connections open at once (Twisted's
/// `policies.LimitTotalConnectionsFactory`): past the limit, a connection
/// is refused, or speaks the overflow factory's protocol (say, one that
/// writes "busy, try later" and hangs up).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::policies::LimitTotalConnectionsFactory;
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory};
///
/// struct Work;
/// impl Protocol for Work {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let factory =
///     LimitTotalConnectionsFactory::new(Rc::new(Factory::for_protocol(|| Work)), Some(1));
/// let peer = Address::Unix(None);
/// let _first = factory.build_protocol(&peer).expect("under the limit");
/// assert!(factory.build_protocol(&peer).is_none());
/// assert_eq!(factory.policy().connection_count(), 1);
/// ```
///
/// # Twisted
///
/// Twisted's is a `ServerFactory` to subclass, with `protocol` and
/// `overflowProtocol` attributes; here it wraps any factory, and the
/// overflow protocol comes from a factory given to
/// [`overflow`](LimitTotalConnectionsFactory::overflow).
pub type LimitTotalConnectionsFactory = WrappingFactory<TotalLimit>;

impl WrappingFactory<TotalLimit> {
    /// Wraps `wrapped`, allowing `limit` connections at once (`None`:
    /// unlimited, but counted).
    pub fn new(
        wrapped: Rc<dyn DynProtocolFactory>,
        limit: Option<usize>,
    ) -> LimitTotalConnectionsFactory {
        WrappingFactory::with_policy(
            wrapped,
            TotalLimit {
                limit,
                count: Rc::default(),
                overflow: None,
            },
        )
    }

    /// Past the limit, speak `overflow`'s protocol instead of refusing
    /// (these connections count too).
    pub fn overflow(self, overflow: Rc<dyn DynProtocolFactory>) -> LimitTotalConnectionsFactory {
        let wrapped = self.wrapped().clone();
        let TotalLimit { limit, count, .. } = self.into_policy();
        WrappingFactory::with_policy(
            wrapped,
            TotalLimit {
                limit,
                count,
                overflow: Some(overflow),
            },
        )
    }
}
