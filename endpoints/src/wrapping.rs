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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::net::{Ipv4Addr, SocketAddr};

    use torsion_reactor::{Address, Factory, Failure, WrapperHooks};
    use torsion_testing::{success_result_of, AccumulatingProtocol, StringTransport};

    use super::*;

    /// Records the typed protocol and the order its hooks run in.
    struct Recording {
        built: Rc<RefCell<Option<Rc<RefCell<AccumulatingProtocol>>>>>,
        events: Rc<RefCell<Vec<&'static str>>>,
    }

    struct RecordingHooks(Rc<RefCell<Vec<&'static str>>>);

    impl WrapperHooks for RecordingHooks {
        fn connection_made(&mut self, _inner: &ProtocolRef, _transport: &TransportRef) {
            self.0.borrow_mut().push("inner hooks: made");
        }

        fn connection_lost(&mut self, _reason: &Failure) {
            self.0.borrow_mut().push("inner hooks: lost");
        }
    }

    impl FactoryHooks<AccumulatingProtocol> for Recording {
        fn built(
            &self,
            protocol: &Rc<RefCell<AccumulatingProtocol>>,
            built: HookedProtocol,
        ) -> HookedProtocol {
            *self.built.borrow_mut() = Some(protocol.clone());
            built.with_hooks(RecordingHooks(self.events.clone()))
        }
    }

    /// An endpoint's factory over a factory that adds hooks of its own (as
    /// ClientService's does) wraps the user's protocol once, running both
    /// sets of hooks, inner first, and fires with the user's protocol.
    #[test]
    fn stacked_wrapping_factories_wrap_once() {
        let built = Rc::new(RefCell::new(None));
        let events = Rc::new(RefCell::new(Vec::new()));
        let inner = FactoryWrapper::new(
            Rc::new(Factory::for_protocol(AccumulatingProtocol::new)),
            Recording {
                built: built.clone(),
                events: events.clone(),
            },
        );
        let connected = Deferred::new();
        let outer = wrapping_factory(Rc::new(inner), connected.clone());
        let addr = Address::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)));

        let hooked = outer.build_with_hooks(&addr).expect("built");
        let typed = built.borrow_mut().take().expect("the hook saw it");
        assert!(
            std::ptr::addr_eq(Rc::as_ptr(&hooked.protocol), Rc::as_ptr(&typed)),
            "no wrapper below the outermost one"
        );

        let protocol = hooked.into_protocol();
        let for_events = events.clone();
        let fired = connected.add_callback(move |p: ProtocolRef| {
            for_events.borrow_mut().push("connect fired");
            Ok(p)
        });
        protocol
            .borrow_mut()
            .make_connection(Rc::new(StringTransport::new()));
        protocol.borrow_mut().data_received(b"hi");
        protocol.borrow_mut().connection_lost(Failure::msg("bye"));

        let fired = success_result_of(&fired);
        assert!(std::ptr::addr_eq(Rc::as_ptr(&fired), Rc::as_ptr(&typed)));
        assert_eq!(typed.borrow().data, b"hi");
        assert!(typed.borrow().closed);
        assert_eq!(
            *events.borrow(),
            ["inner hooks: made", "connect fired", "inner hooks: lost"]
        );
    }
}
