//! The per-attempt factory wrapper and the protocol proxy (Twisted's
//! `_DisconnectFactory` and `_ReconnectingProtocolProxy`).

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use torsion_reactor::{
    Address, Connector, DynProtocolFactory, Failure, FileDescriptorReceiver, HalfCloseableProtocol,
    Protocol, ProtocolFactory, ProtocolRef, TransportRef,
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

/// Wraps the user's protocol: remembers the transport, reports the
/// connection's loss to the service, forwards everything else, and exposes
/// exactly the optional capabilities of the protocol it wraps.
pub(crate) struct ProtocolProxy<P: Protocol> {
    connection: Rc<Connection<P>>,
    on_lost: LostNotify,
}

impl<P: Protocol> Protocol for ProtocolProxy<P> {
    fn make_connection(&mut self, transport: TransportRef) {
        *self.connection.transport.borrow_mut() = Some(transport.clone());
        self.connection
            .protocol
            .borrow_mut()
            .make_connection(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.connection.protocol.borrow_mut().data_received(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        // Twisted's try/finally: the service hears of the loss even if the
        // user's connection_lost panics.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.connection
                .protocol
                .borrow_mut()
                .connection_lost(reason.clone())
        }));
        (self.on_lost)(self.connection.id, reason);
        if let Err(payload) = outcome {
            resume_unwind(payload);
        }
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        let provided = self
            .connection
            .protocol
            .borrow_mut()
            .as_half_closeable()
            .is_some();
        if provided {
            Some(self)
        } else {
            None
        }
    }

    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        let provided = self
            .connection
            .protocol
            .borrow_mut()
            .as_file_descriptor_receiver()
            .is_some();
        if provided {
            Some(self)
        } else {
            None
        }
    }

    fn log_prefix(&self) -> &'static str {
        self.connection.protocol.borrow().log_prefix()
    }
}

impl<P: Protocol> HalfCloseableProtocol for ProtocolProxy<P> {
    fn read_connection_lost(&mut self) {
        if let Some(inner) = self.connection.protocol.borrow_mut().as_half_closeable() {
            inner.read_connection_lost();
        }
    }

    fn write_connection_lost(&mut self) {
        if let Some(inner) = self.connection.protocol.borrow_mut().as_half_closeable() {
            inner.write_connection_lost();
        }
    }
}

impl<P: Protocol> FileDescriptorReceiver for ProtocolProxy<P> {
    fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
        if let Some(inner) = self
            .connection
            .protocol
            .borrow_mut()
            .as_file_descriptor_receiver()
        {
            inner.file_descriptor_received(descriptor);
        }
    }
}

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
        let proxy = Rc::new(RefCell::new(ProtocolProxy {
            connection: connection.clone(),
            on_lost: self.on_lost.clone(),
        }));
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
