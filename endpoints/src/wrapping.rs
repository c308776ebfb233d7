//! Twisted's `_WrappingFactory` and `_WrappingProtocol`: how a client
//! endpoint turns a connector's callbacks into a connect Deferred.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use torsion_reactor::error::NoProtocol;
use torsion_reactor::{
    Address, Connector, Deferred, DynProtocolFactory, Failure, FileDescriptorReceiver,
    HalfCloseableProtocol, Protocol, ProtocolRef, TransportRef,
};

/// Fires the connect Deferred with the user's protocol once its
/// `make_connection` ran; forwards everything else, capabilities included.
struct WrappingProtocol {
    inner: ProtocolRef,
    connected: Option<Deferred<ProtocolRef>>,
}

impl Protocol for WrappingProtocol {
    fn make_connection(&mut self, transport: TransportRef) {
        self.inner.borrow_mut().make_connection(transport);
        if let Some(connected) = self.connected.take() {
            // Cancelled meanwhile: the late success is ignored.
            let _ = connected.try_callback(self.inner.clone());
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.inner.borrow_mut().data_received(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.inner.borrow_mut().connection_lost(reason);
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        let provided = self.inner.borrow_mut().as_half_closeable().is_some();
        if provided {
            Some(self)
        } else {
            None
        }
    }

    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        let provided = self
            .inner
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
        self.inner.borrow().log_prefix()
    }
}

impl HalfCloseableProtocol for WrappingProtocol {
    fn read_connection_lost(&mut self) {
        if let Some(inner) = self.inner.borrow_mut().as_half_closeable() {
            inner.read_connection_lost();
        }
    }

    fn write_connection_lost(&mut self) {
        if let Some(inner) = self.inner.borrow_mut().as_half_closeable() {
            inner.write_connection_lost();
        }
    }
}

impl FileDescriptorReceiver for WrappingProtocol {
    fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
        if let Some(inner) = self.inner.borrow_mut().as_file_descriptor_receiver() {
            inner.file_descriptor_received(descriptor);
        }
    }
}

/// The factory a client endpoint hands the reactor for one `connect`.
pub(crate) struct WrappingFactory {
    inner: Rc<dyn DynProtocolFactory>,
    connected: Deferred<ProtocolRef>,
}

impl WrappingFactory {
    pub(crate) fn new(
        inner: Rc<dyn DynProtocolFactory>,
        connected: Deferred<ProtocolRef>,
    ) -> WrappingFactory {
        WrappingFactory { inner, connected }
    }
}

impl DynProtocolFactory for WrappingFactory {
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
        match self.inner.build_protocol(addr) {
            Some(inner) => Some(Rc::new(RefCell::new(WrappingProtocol {
                inner,
                connected: Some(self.connected.clone()),
            }))),
            None => {
                let _ = self.connected.try_errback(NoProtocol);
                None
            }
        }
    }

    fn do_start(&self) {
        self.inner.do_start();
    }

    fn do_stop(&self) {
        self.inner.do_stop();
    }

    fn client_connection_failed(&self, _connector: &dyn Connector, reason: Failure) {
        // Ignored if already failed (a refusal, or a cancel).
        let _ = self.connected.try_errback(reason);
    }

    fn describe(&self) -> String {
        format!("WrappingFactory wrapping {}", self.inner.describe())
    }
}
