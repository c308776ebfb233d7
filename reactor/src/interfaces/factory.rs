//! [`ProtocolFactory`]: Twisted's `IProtocolFactory` plus the
//! `ClientFactory` hooks, typed for users and erased for the reactor.

use std::cell::RefCell;
use std::rc::Rc;

use crate::interfaces::{Connector, Protocol, ProtocolRef};
use crate::{Address, Failure, ProtocolWrapper, WrapperHooks};

/// Builds a protocol for each connection: Twisted's `IProtocolFactory`, with
/// `ClientFactory`'s hooks as default methods.
///
/// The associated [`Protocol`](ProtocolFactory::Protocol) type is what lets
/// endpoints and `ClientService` hand the user back their own protocol type
/// (`Rc<RefCell<MyProtocol>>`), never a `dyn Any` to downcast. The reactor
/// and endpoints see factories through [`DynProtocolFactory`], which every
/// `ProtocolFactory` implements.
///
/// Most factories are a [`Factory`](crate::Factory); implement the trait for
/// factories with state of their own.
///
/// # Implementing
///
/// ```
/// use std::cell::Cell;
/// use torsion_reactor::{Address, PortCounter, Protocol, ProtocolFactory};
///
/// struct Discard;
/// impl Protocol for Discard {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// /// Refuses connections past a limit.
/// struct Limited {
///     built: Cell<u32>,
///     limit: u32,
///     ports: PortCounter,
/// }
///
/// impl ProtocolFactory for Limited {
///     type Protocol = Discard;
///
///     fn build_protocol(&self, _addr: &Address) -> Option<Discard> {
///         if self.built.get() == self.limit {
///             return None; // the connection is closed
///         }
///         self.built.set(self.built.get() + 1);
///         Some(Discard)
///     }
///
///     fn do_start(&self) {
///         self.ports.do_start(|| log::info!("first port up"));
///     }
///
///     fn do_stop(&self) {
///         self.ports.do_stop(|| log::info!("last port down"));
///     }
/// }
/// # let _ = Limited { built: Cell::new(0), limit: 1, ports: PortCounter::new() };
/// ```
pub trait ProtocolFactory: 'static {
    /// The protocol type it builds.
    type Protocol: Protocol;

    /// Builds the protocol for a new connection to or from `addr`, or refuses
    /// it with `None` (the connection is closed; a client endpoint's connect
    /// fails with [`NoProtocol`](crate::error::NoProtocol)).
    fn build_protocol(&self, addr: &Address) -> Option<Self::Protocol>;

    /// Called right after [`build_protocol`](ProtocolFactory::build_protocol)
    /// with the shared handle the connection will use: keep a clone (or a
    /// `Weak`) to reach the protocol later, e.g. to broadcast to every
    /// client, as Twisted factories keep their protocols.
    fn protocol_built(&self, protocol: &Rc<RefCell<Self::Protocol>>) {
        let _ = protocol;
    }

    /// A port or connector starts using this factory (Twisted's `doStart`).
    /// Twisted counts ports and runs `startFactory` on the first; embed a
    /// [`PortCounter`](crate::PortCounter) to do the same.
    fn do_start(&self) {}

    /// A port or connector stops using it (Twisted's `doStop`).
    fn do_stop(&self) {}

    /// A connection attempt started (`ClientFactory.startedConnecting`).
    fn started_connecting(&self, connector: &dyn Connector) {
        let _ = connector;
    }

    /// A connection attempt failed (`ClientFactory.clientConnectionFailed`);
    /// `connector.connect()` retries.
    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        let _ = (connector, reason);
    }

    /// An established client connection was lost
    /// (`ClientFactory.clientConnectionLost`); `connector.connect()` reconnects.
    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        let _ = (connector, reason);
    }

    /// A name for log lines and `Debug` output.
    fn describe(&self) -> String {
        std::any::type_name::<Self>().to_string()
    }
}

/// A [`ProtocolFactory`] with its protocol type erased: what the reactor and
/// endpoints take (`Rc<dyn DynProtocolFactory>`), so that their traits stay
/// object safe. Implemented for every `ProtocolFactory`; wrappers that only
/// forward (an endpoint's, a test's) implement it directly.
///
/// # Examples
///
/// A wrapper that forwards to another factory and counts builds:
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use torsion_reactor::{Address, DynProtocolFactory, ProtocolRef};
///
/// struct Counting {
///     inner: Rc<dyn DynProtocolFactory>,
///     built: Cell<u32>,
/// }
///
/// impl DynProtocolFactory for Counting {
///     fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
///         self.built.set(self.built.get() + 1);
///         self.inner.build_protocol(addr)
///     }
///     fn describe(&self) -> String {
///         format!("Counting({})", self.inner.describe())
///     }
/// }
/// # let _ = |inner| Counting { inner, built: Cell::new(0) };
/// ```
pub trait DynProtocolFactory {
    /// [`ProtocolFactory::build_protocol`], with the protocol shared and erased.
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef>;
    /// Builds the protocol together with the hooks a wrapper around it is
    /// to run, for a factory that wraps this one and wraps the protocol
    /// anyway (a client endpoint's): it then wraps once, running both
    /// sets of hooks, instead of wrapping a wrapper. The default is
    /// [`build_protocol`](DynProtocolFactory::build_protocol) with no hooks;
    /// a [`FactoryWrapper`](crate::FactoryWrapper) passes its hooks on.
    fn build_with_hooks(&self, addr: &Address) -> Option<HookedProtocol> {
        self.build_protocol(addr).map(HookedProtocol::new)
    }
    /// [`ProtocolFactory::do_start`].
    fn do_start(&self) {}
    /// [`ProtocolFactory::do_stop`].
    fn do_stop(&self) {}
    /// [`ProtocolFactory::started_connecting`].
    fn started_connecting(&self, connector: &dyn Connector) {
        let _ = connector;
    }
    /// [`ProtocolFactory::client_connection_failed`].
    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        let _ = (connector, reason);
    }
    /// [`ProtocolFactory::client_connection_lost`].
    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        let _ = (connector, reason);
    }
    /// [`ProtocolFactory::describe`].
    fn describe(&self) -> String;
}

impl<F: ProtocolFactory> DynProtocolFactory for F {
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
        let protocol = Rc::new(RefCell::new(ProtocolFactory::build_protocol(self, addr)?));
        self.protocol_built(&protocol);
        Some(protocol)
    }
    fn do_start(&self) {
        ProtocolFactory::do_start(self)
    }
    fn do_stop(&self) {
        ProtocolFactory::do_stop(self)
    }
    fn started_connecting(&self, connector: &dyn Connector) {
        ProtocolFactory::started_connecting(self, connector)
    }
    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        ProtocolFactory::client_connection_failed(self, connector, reason)
    }
    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        ProtocolFactory::client_connection_lost(self, connector, reason)
    }
    fn describe(&self) -> String {
        ProtocolFactory::describe(self)
    }
}

/// A protocol just built, with the hooks a [`ProtocolWrapper`] around it
/// is to run: what [`DynProtocolFactory::build_with_hooks`] returns.
pub struct HookedProtocol {
    /// The protocol.
    pub protocol: ProtocolRef,
    /// The hooks its wrapper runs, if any.
    pub hooks: Option<Box<dyn WrapperHooks>>,
}

impl HookedProtocol {
    /// `protocol` with no hooks.
    pub fn new(protocol: ProtocolRef) -> HookedProtocol {
        HookedProtocol {
            protocol,
            hooks: None,
        }
    }

    /// Adds `hooks`, run after those it has.
    pub fn with_hooks(self, hooks: impl WrapperHooks) -> HookedProtocol {
        let hooks: Box<dyn WrapperHooks> = match self.hooks {
            Some(before) => Box::new((before, hooks)),
            None => Box::new(hooks),
        };
        HookedProtocol {
            protocol: self.protocol,
            hooks: Some(hooks),
        }
    }

    /// The protocol to hand the reactor: wrapped in one
    /// [`ProtocolWrapper`] running the hooks, or as it is if it has none.
    pub fn into_protocol(self) -> ProtocolRef {
        match self.hooks {
            Some(hooks) => Rc::new(RefCell::new(ProtocolWrapper::new(self.protocol, hooks))),
            None => self.protocol,
        }
    }
}

impl std::fmt::Debug for HookedProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookedProtocol")
            .field("hooks", &self.hooks.is_some())
            .finish_non_exhaustive()
    }
}
