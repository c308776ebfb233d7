//! The per-attempt factory wrapper and the protocol proxy (Twisted's
//! `_DisconnectFactory` and `_ReconnectingProtocolProxy`).

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::{
    DynProtocolFactory, FactoryHooks, FactoryWrapper, Failure, HookedProtocol, Protocol,
    ProtocolRef, TransportRef, WrapperHooks,
};

use super::machine::AttemptId;

/// Tells the service that connection `id` was lost.
pub(crate) type LostNotify = Rc<dyn Fn(AttemptId, Failure)>;

/// One connection made by one attempt: the user's protocol and the
/// transport it was given.
pub(crate) struct Connection<P> {
    pub(crate) id: AttemptId,
    pub(crate) protocol: Rc<RefCell<P>>,
    transport: RefCell<Option<TransportRef>>,
}

impl<P> Connection<P> {
    /// Connection `id`, to `protocol`, with no transport yet.
    pub(crate) fn new(id: AttemptId, protocol: Rc<RefCell<P>>) -> Connection<P> {
        Connection {
            id,
            protocol,
            transport: RefCell::new(None),
        }
    }

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
/// Forwarding, capabilities included, is `ProtocolWrapper`'s: the one
/// wrapper the connection goes through, the endpoint's hooks included.
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

/// What the factory handed to the endpoint for one attempt adds to the
/// user's (Twisted's `_DisconnectFactory`): each protocol built gets
/// [`ServiceHooks`], and the connection is kept, typed, for the service to
/// take once the endpoint fires. Every other call is forwarded.
pub(crate) struct AttemptHooks<P> {
    attempt: AttemptId,
    on_lost: LostNotify,
    connection: RefCell<Option<Rc<Connection<P>>>>,
}

/// The factory handed to the endpoint for one attempt.
pub(crate) type DisconnectFactory<F> =
    FactoryWrapper<Rc<F>, AttemptHooks<<F as torsion_reactor::ProtocolFactory>::Protocol>>;

/// The factory for attempt `attempt` of `factory`.
pub(crate) fn disconnect_factory<F: torsion_reactor::ProtocolFactory>(
    factory: Rc<F>,
    attempt: AttemptId,
    on_lost: LostNotify,
) -> DisconnectFactory<F> {
    FactoryWrapper::new(
        factory,
        AttemptHooks {
            attempt,
            on_lost,
            connection: RefCell::new(None),
        },
    )
}

impl<P> AttemptHooks<P> {
    /// The connection the attempt made (an endpoint builds one protocol
    /// per connect).
    pub(crate) fn take_connection(&self) -> Option<Rc<Connection<P>>> {
        self.connection.borrow_mut().take()
    }
}

impl<P: Protocol> FactoryHooks<P> for AttemptHooks<P> {
    fn built(&self, protocol: &Rc<RefCell<P>>, built: HookedProtocol) -> HookedProtocol {
        let connection = Rc::new(Connection::new(self.attempt, protocol.clone()));
        *self.connection.borrow_mut() = Some(connection.clone());
        built.with_hooks(ServiceHooks {
            connection,
            on_lost: self.on_lost.clone(),
        })
    }

    fn describe(&self, inner: &dyn DynProtocolFactory) -> String {
        format!("DisconnectFactory wrapping {}", inner.describe())
    }
}
