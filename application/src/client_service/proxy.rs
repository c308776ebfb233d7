//! The per-attempt factory wrapper and the protocol proxy (Twisted's
//! `_DisconnectFactory` and `_ReconnectingProtocolProxy`).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use torsion_reactor::{
    Address, Connector, DynProtocolFactory, Failure, ProtocolFactory, ProtocolRef, ProtocolWrapper,
    TransportRef, WrapperHooks,
};

/// Tells the service that connection `id` was lost.
pub(crate) type LostNotify = Rc<dyn Fn(u64, Failure)>;

/// One connection made by one attempt: the user's protocol and the
/// transport it was given.
pub(crate) struct Connection<P> {
    pub(crate) id: u64,
    pub(crate) protocol: Rc<RefCell<P>>,
    transport: RefCell<Option<TransportRef>>,
}

impl<P> Connection<P> {
    /// Closes it (after flushing), if it has a transport yet.
    pub(crate) fn lose(&self) {
        let transport = self.transport.borrow().clone();
        if let Some(transport) = transport {
            transport.lose_connection();
        }
    }
}

/// What the proxy adds to forwarding (Twisted's
/// `_ReconnectingProtocolProxy`): it remembers the transport, for `stop`'s
/// `lose_connection`, and reports the connection's loss to the service.
/// Forwarding, capabilities included, is `ProtocolWrapper`'s.
struct ServiceHooks<P> {
    connection: Rc<Connection<P>>,
    on_lost: LostNotify,
}

impl<P: 'static> WrapperHooks for ServiceHooks<P> {
    fn connection_made(&mut self, _inner: &ProtocolRef, transport: &TransportRef) {
        *self.connection.transport.borrow_mut() = Some(transport.clone());
    }

    fn connection_lost(&mut self, reason: &Failure) {
        (self.on_lost)(self.connection.id, reason.clone());
    }
}

type ProtocolProxy<P> = ProtocolWrapper<ServiceHooks<P>>;

type Built<P> = (Weak<RefCell<ProtocolProxy<P>>>, Rc<Connection<P>>);

/// The factory handed to the endpoint for one attempt: builds the user's
/// protocol, wraps it in a [`ProtocolProxy`], and forwards every other call
/// to the user's factory.
pub(crate) struct DisconnectFactory<F: ProtocolFactory> {
    factory: Rc<F>,
    attempt: u64,
    on_lost: LostNotify,
    built: RefCell<Vec<Built<F::Protocol>>>,
}

impl<F: ProtocolFactory> DisconnectFactory<F> {
    pub(crate) fn new(factory: Rc<F>, attempt: u64, on_lost: LostNotify) -> DisconnectFactory<F> {
        DisconnectFactory {
            factory,
            attempt,
            on_lost,
            built: RefCell::new(Vec::new()),
        }
    }

    /// The connection behind the (erased) proxy the endpoint fired with.
    pub(crate) fn connection_of(
        &self,
        protocol: &ProtocolRef,
    ) -> Option<Rc<Connection<F::Protocol>>> {
        let built = self.built.borrow();
        built
            .iter()
            .find(|(proxy, _)| std::ptr::addr_eq(proxy.as_ptr(), Rc::as_ptr(protocol)))
            .map(|(_, connection)| connection.clone())
    }
}

impl<F: ProtocolFactory> DynProtocolFactory for DisconnectFactory<F> {
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
        let protocol = Rc::new(RefCell::new(self.factory.build_protocol(addr)?));
        self.factory.protocol_built(&protocol);
        let connection = Rc::new(Connection {
            id: self.attempt,
            protocol,
            transport: RefCell::new(None),
        });
        let inner: ProtocolRef = connection.protocol.clone();
        let proxy = Rc::new(RefCell::new(ProtocolWrapper::new(
            inner,
            ServiceHooks {
                connection: connection.clone(),
                on_lost: self.on_lost.clone(),
            },
        )));
        self.built
            .borrow_mut()
            .push((Rc::downgrade(&proxy), connection));
        Some(proxy)
    }

    fn do_start(&self) {
        self.factory.do_start()
    }

    fn do_stop(&self) {
        self.factory.do_stop()
    }

    fn started_connecting(&self, connector: &dyn Connector) {
        self.factory.started_connecting(connector)
    }

    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.factory.client_connection_failed(connector, reason)
    }

    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.factory.client_connection_lost(connector, reason)
    }

    fn describe(&self) -> String {
        format!("DisconnectFactory wrapping {}", self.factory.describe())
    }
}
