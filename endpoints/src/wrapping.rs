//! Twisted's `_WrappingFactory` and `_WrappingProtocol`: how a client
//! endpoint turns a connector's callbacks into a connect Deferred.

use std::rc::Rc;

use torsion_reactor::error::NoProtocol;
use torsion_reactor::{
    Connector, Deferred, DynProtocolFactory, FactoryHooks, FactoryWrapper, Failure, HookedProtocol,
    Protocol, ProtocolRef, TransportRef, WrapperHooks,
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

/// What a client endpoint's factory adds to the user's: the protocol gets
/// [`FireWhenConnected`] (in the one wrapper it goes through, with any
/// hooks the user's factory added); a refusal or a failed attempt fails
/// the connect. `ClientFactory`'s hooks are not passed on (Twisted's
/// `_WrappingFactory` does not either).
pub(crate) struct WrappingHooks {
    connected: Deferred<ProtocolRef>,
}

/// The factory a client endpoint hands the reactor for one `connect`.
pub(crate) type WrappingFactory = FactoryWrapper<Rc<dyn DynProtocolFactory>, WrappingHooks>;

/// Wraps `inner` for one `connect` firing `connected`.
pub(crate) fn wrapping_factory(
    inner: Rc<dyn DynProtocolFactory>,
    connected: Deferred<ProtocolRef>,
) -> WrappingFactory {
    FactoryWrapper::new(inner, WrappingHooks { connected })
}

impl FactoryHooks<dyn Protocol> for WrappingHooks {
    fn built(&self, _protocol: &ProtocolRef, built: HookedProtocol) -> HookedProtocol {
        built.with_hooks(FireWhenConnected {
            connected: Some(self.connected.clone()),
        })
    }

    fn refused(&self) {
        let _ = self.connected.try_errback(NoProtocol);
    }

    fn started_connecting(&self, _inner: &dyn DynProtocolFactory, _connector: &dyn Connector) {}

    fn client_connection_failed(
        &self,
        _inner: &dyn DynProtocolFactory,
        _connector: &dyn Connector,
        reason: Failure,
    ) {
        // Ignored if already failed (a refusal, or a cancel).
        let _ = self.connected.try_errback(reason);
    }

    fn client_connection_lost(
        &self,
        _inner: &dyn DynProtocolFactory,
        _connector: &dyn Connector,
        _reason: Failure,
    ) {
    }

    fn describe(&self, inner: &dyn DynProtocolFactory) -> String {
        format!("WrappingFactory wrapping {}", inner.describe())
    }
}
