//! [`FakeClientEndpoint`]: a client endpoint whose connection attempts the
//! test completes or fails (Twisted's `endpointForTesting` and
//! `ConnectInformation` from `twisted.application.test.test_internet`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use torsion_reactor::error::NoProtocol;
use torsion_reactor::{
    Address, Deferred, DynProtocolFactory, ProtocolRef, StreamClientEndpoint, Transport as _,
};

use crate::StringTransport;

/// What a [`FakeClientEndpoint`] saw (Twisted's `ConnectInformation`).
#[derive(Default)]
pub struct ConnectInformation {
    connect_queue: RefCell<Vec<Deferred<()>>>,
    passed_factories: RefCell<Vec<Rc<dyn DynProtocolFactory>>>,
    constructed_protocols: RefCell<Vec<Option<ProtocolRef>>>,
    transports: RefCell<Vec<Rc<StringTransport>>>,
}

impl ConnectInformation {
    /// One Deferred per `connect` call, in call order (Twisted's
    /// `connectQueue`): `callback(())` completes that attempt (the factory
    /// builds a protocol, which is connected to a fresh [`StringTransport`]);
    /// `errback(..)` fails it.
    pub fn connect_queue(&self) -> Vec<Deferred<()>> {
        self.connect_queue.borrow().clone()
    }

    /// Removes and returns the oldest attempt (Python's `connectQueue.pop(0)`).
    ///
    /// # Panics
    ///
    /// If no attempt is queued.
    pub fn pop_connect(&self) -> Deferred<()> {
        let mut queue = self.connect_queue.borrow_mut();
        assert!(!queue.is_empty(), "no connection attempt is queued");
        queue.remove(0)
    }

    /// How many attempts are queued.
    pub fn connect_count(&self) -> usize {
        self.connect_queue.borrow().len()
    }

    /// The factories `connect` was called with (Twisted's `passedFactories`).
    pub fn passed_factories(&self) -> Vec<Rc<dyn DynProtocolFactory>> {
        self.passed_factories.borrow().clone()
    }

    /// What each completed attempt's factory built, `None` where it refused
    /// (Twisted's `constructedProtocols`).
    pub fn constructed_protocols(&self) -> Vec<Option<ProtocolRef>> {
        self.constructed_protocols.borrow().clone()
    }

    /// The protocol built by the `index`th completed attempt.
    ///
    /// # Panics
    ///
    /// If there is no such attempt or its factory refused.
    pub fn protocol(&self, index: usize) -> ProtocolRef {
        self.constructed_protocols.borrow()[index]
            .clone()
            .unwrap_or_else(|| panic!("the factory refused attempt {index}"))
    }

    /// The transport each connected protocol was given, in order.
    pub fn transports(&self) -> Vec<Rc<StringTransport>> {
        self.transports.borrow().clone()
    }

    /// The transport of the `index`th connected protocol.
    pub fn transport(&self, index: usize) -> Rc<StringTransport> {
        self.transports.borrow()[index].clone()
    }
}

impl fmt::Debug for ConnectInformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectInformation")
            .field("connect_queue", &self.connect_queue.borrow().len())
            .field("passed_factories", &self.passed_factories.borrow().len())
            .field(
                "constructed_protocols",
                &self.constructed_protocols.borrow().len(),
            )
            .finish()
    }
}

/// A [`StreamClientEndpoint`] whose attempts wait for the test (Twisted's
/// `endpointForTesting`).
///
/// Each `connect` records the factory and queues a Deferred in
/// [`ConnectInformation::connect_queue`]; the Deferred returned to the caller
/// is that same Deferred, so firing it completes the attempt, failing it
/// fails the attempt, and the caller cancelling it makes it fail with
/// `CancelledError` (the test's later fire is then ignored, as there is no
/// canceller). On success the factory builds the protocol with the peer
/// address, the protocol is connected to a new [`StringTransport`], and the
/// attempt fires with it; a factory that refuses fails the attempt with
/// [`NoProtocol`].
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Factory, StreamClientEndpointExt};
/// use torsion_testing::{success_result_of, AccumulatingProtocol, FakeClientEndpoint};
///
/// let endpoint = FakeClientEndpoint::new(false);
/// let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
/// assert_eq!(endpoint.info().connect_count(), 1);
/// endpoint.info().connect_queue()[0].callback(());
/// let protocol = success_result_of(&connected);
/// assert!(protocol.borrow().made);
/// ```
pub struct FakeClientEndpoint {
    info: Rc<ConnectInformation>,
    fire_immediately: bool,
    peer: Address,
}

impl FakeClientEndpoint {
    /// An endpoint whose attempts succeed at once if `fire_immediately`, or
    /// wait for the test otherwise.
    pub fn new(fire_immediately: bool) -> FakeClientEndpoint {
        FakeClientEndpoint {
            info: Rc::default(),
            fire_immediately,
            peer: StringTransport::new().peer(),
        }
    }

    /// What it saw.
    pub fn info(&self) -> Rc<ConnectInformation> {
        self.info.clone()
    }
}

impl StreamClientEndpoint for FakeClientEndpoint {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        let attempt = Deferred::<()>::new();
        self.info
            .passed_factories
            .borrow_mut()
            .push(factory.clone());
        let (info, peer) = (self.info.clone(), self.peer.clone());
        let connected = attempt.clone().add_callback(move |()| {
            let built = factory.build_protocol(&peer);
            info.constructed_protocols.borrow_mut().push(built.clone());
            let protocol = built.ok_or(NoProtocol)?;
            let transport = Rc::new(StringTransport::new());
            info.transports.borrow_mut().push(transport.clone());
            protocol.borrow_mut().make_connection(transport);
            Ok(protocol)
        });
        self.info.connect_queue.borrow_mut().push(attempt.clone());
        if self.fire_immediately {
            attempt.callback(());
        }
        connected
    }
}

impl fmt::Debug for FakeClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeClientEndpoint")
            .field("info", &self.info)
            .field("fire_immediately", &self.fire_immediately)
            .finish()
    }
}
