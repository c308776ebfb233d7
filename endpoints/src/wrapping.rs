//! Twisted's `_WrappingFactory` and `_WrappingProtocol`: how a client
//! endpoint turns a connector's callbacks into a connect Deferred.

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::error::NoProtocol;
use torsion_reactor::{
    Address, Connector, Deferred, DynProtocolFactory, Failure, ProtocolRef, ProtocolWrapper,
    TransportRef, WrapperHooks,
};

/// Fires the connect Deferred with the user's protocol once its
/// `make_connection` ran (the rest is `ProtocolWrapper`'s forwarding).
struct FireWhenConnected {
    connected: Option<Deferred<ProtocolRef>>,
}

impl WrapperHooks for FireWhenConnected {
    fn connection_made(&mut self, inner: &ProtocolRef, _transport: &TransportRef) {
        if let Some(connected) = self.connected.take() {
            // Cancelled meanwhile: the late success is ignored.
            let _ = connected.try_callback(inner.clone());
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
            Some(inner) => Some(Rc::new(RefCell::new(ProtocolWrapper::new(
                inner,
                FireWhenConnected {
                    connected: Some(self.connected.clone()),
                },
            )))),
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
