//! [`StreamClientEndpoint`] and [`StreamServerEndpoint`]: Twisted's
//! `IStreamClientEndpoint` and `IStreamServerEndpoint`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::error::NoProtocol;
use crate::interfaces::{
    Connector, DynProtocolFactory, ListeningPort, ProtocolFactory, ProtocolRef,
};
use crate::{Address, Deferred, Failure};

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
        let capture = Rc::new(Capturing {
            factory,
            built: RefCell::new(Vec::new()),
        });
        self.connect_dyn(capture.clone())
            .add_callback(move |protocol: ProtocolRef| {
                capture
                    .typed(&protocol)
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

/// Forwards to the user's factory and remembers, weakly, each protocol it
/// built with its type, so the erased protocol an endpoint fires with can be
/// matched back to the user's type by identity: no downcast.
struct Capturing<F: ProtocolFactory> {
    factory: F,
    built: RefCell<Vec<Weak<RefCell<F::Protocol>>>>,
}

impl<F: ProtocolFactory> Capturing<F> {
    fn typed(&self, erased: &ProtocolRef) -> Option<Rc<RefCell<F::Protocol>>> {
        let mut built = self.built.borrow_mut();
        let index = built
            .iter()
            .position(|weak| std::ptr::addr_eq(weak.as_ptr(), Rc::as_ptr(erased)))?;
        built.swap_remove(index).upgrade()
    }
}

impl<F: ProtocolFactory> DynProtocolFactory for Capturing<F> {
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
        let protocol = Rc::new(RefCell::new(self.factory.build_protocol(addr)?));
        self.factory.protocol_built(&protocol);
        let mut built = self.built.borrow_mut();
        built.retain(|weak| weak.strong_count() > 0);
        built.push(Rc::downgrade(&protocol));
        Some(protocol)
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
        self.factory.describe()
    }
}
