//! [`StreamClientEndpoint`] and [`StreamServerEndpoint`]: Twisted's
//! `IStreamClientEndpoint` and `IStreamServerEndpoint`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::error::NoProtocol;
use crate::interfaces::{
    DynProtocolFactory, HookedProtocol, ListeningPort, ProtocolFactory, ProtocolRef,
};
use crate::{Deferred, FactoryHooks, FactoryWrapper, Failure};

/// Where to connect to: Twisted's `IStreamClientEndpoint`.
///
/// The trait is object safe (`Rc<dyn StreamClientEndpoint>`), so a service
/// can be handed any endpoint, a test's fake included.
/// [`StreamClientEndpointExt::connect`] is the typed front door that gives
/// back the user's own protocol type.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{Deferred, Factory, Protocol, StreamClientEndpoint, StreamClientEndpointExt};
///
/// #[derive(Default)]
/// struct Chat {
///     lines: Vec<Vec<u8>>,
/// }
/// impl Protocol for Chat {
///     fn data_received(&mut self, data: &[u8]) {
///         self.lines.push(data.to_vec());
///     }
/// }
///
/// fn dial(endpoint: &dyn StreamClientEndpoint) -> Deferred<Rc<RefCell<Chat>>> {
///     endpoint.connect(Factory::for_protocol(Chat::default))
/// }
/// # let _ = dial;
/// ```
///
/// # Implementing
///
/// Connect, build the protocol with the factory once the connection is up,
/// call its `make_connection`, and fire the Deferred with it. Fail with
/// [`NoProtocol`] if the factory refuses; make cancellation abort the attempt.
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{
///     error::NoProtocol, Address, Deferred, DynProtocolFactory, ProtocolRef, StreamClientEndpoint,
/// };
///
/// /// An endpoint whose every attempt is refused.
/// struct Refusing;
///
/// impl StreamClientEndpoint for Refusing {
///     fn connect_dyn(&self, _factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
///         Deferred::failed(torsion_reactor::error::ConnectionRefused::new())
///     }
/// }
/// # let _ = (Refusing, NoProtocol, Address::Unix(None));
/// ```
pub trait StreamClientEndpoint {
    /// Connects, building the protocol with `factory`; fires with it once its
    /// `connection_made` ran (Twisted's `connect`).
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef>;

    /// A description for log lines, e.g. `tcp:host=example.org:port=6667`.
    fn describe(&self) -> String {
        crate::interfaces::short_type_name::<Self>().to_string()
    }
}

/// The typed side of [`StreamClientEndpoint`], for endpoints and trait objects alike.
pub trait StreamClientEndpointExt: StreamClientEndpoint {
    /// Connects with `factory` and fires with the protocol it built, as the
    /// user's own type.
    fn connect<F: ProtocolFactory>(&self, factory: F) -> Deferred<Rc<RefCell<F::Protocol>>> {
        let built: Rc<LastBuilt<F::Protocol>> = Rc::default();
        let capture = FactoryWrapper::new(Rc::new(factory), built.clone());
        self.connect_dyn(Rc::new(capture))
            .add_callback(move |protocol: ProtocolRef| {
                built
                    .take_if_same(&protocol)
                    .ok_or_else(|| Failure::new(NoProtocol))
            })
    }
}

impl<E: StreamClientEndpoint + ?Sized> StreamClientEndpointExt for E {}

/// Where to listen: Twisted's `IStreamServerEndpoint`. Object safe, like
/// [`StreamClientEndpoint`].
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Deferred, Factory, ListeningPort, Protocol, StreamServerEndpoint, StreamServerEndpointExt};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// fn serve(endpoint: &dyn StreamServerEndpoint) -> Deferred<Rc<dyn ListeningPort>> {
///     endpoint.listen(Factory::for_protocol(|| Echo))
/// }
/// # let _ = serve;
/// ```
pub trait StreamServerEndpoint {
    /// Listens, building a protocol with `factory` for each connection;
    /// fires with the port (Twisted's `listen`).
    fn listen_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>>;

    /// A description for log lines, e.g. `tcp:8080:interface=127.0.0.1`.
    fn describe(&self) -> String {
        crate::interfaces::short_type_name::<Self>().to_string()
    }
}

impl std::fmt::Debug for dyn StreamClientEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamClientEndpoint({})", self.describe())
    }
}

impl std::fmt::Debug for dyn StreamServerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamServerEndpoint({})", self.describe())
    }
}

/// The typed side of [`StreamServerEndpoint`].
pub trait StreamServerEndpointExt: StreamServerEndpoint {
    /// Listens with `factory`.
    fn listen<F: ProtocolFactory>(&self, factory: F) -> Deferred<Rc<dyn ListeningPort>> {
        self.listen_dyn(Rc::new(factory))
    }
}

impl<E: StreamServerEndpoint + ?Sized> StreamServerEndpointExt for E {}

/// Remembers, weakly, the last protocol the user's factory built, with its
/// type: a client endpoint builds one protocol per connect, and fires with
/// it (checked by identity, so a foreign protocol is refused: no downcast).
struct LastBuilt<P> {
    last: RefCell<Weak<RefCell<P>>>,
}

impl<P> Default for LastBuilt<P> {
    fn default() -> Self {
        LastBuilt {
            last: RefCell::new(Weak::new()),
        }
    }
}

impl<P> LastBuilt<P> {
    fn take_if_same(&self, erased: &ProtocolRef) -> Option<Rc<RefCell<P>>> {
        let last = std::mem::take(&mut *self.last.borrow_mut());
        if std::ptr::addr_eq(last.as_ptr(), Rc::as_ptr(erased)) {
            last.upgrade()
        } else {
            None
        }
    }
}

impl<P: crate::Protocol> FactoryHooks<P> for Rc<LastBuilt<P>> {
    fn built(&self, protocol: &Rc<RefCell<P>>, built: HookedProtocol) -> HookedProtocol {
        *self.last.borrow_mut() = Rc::downgrade(protocol);
        built
    }
}
