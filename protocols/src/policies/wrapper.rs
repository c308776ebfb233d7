//! The wrapping every policy is built on (Twisted's `policies.WrappingFactory`
//! and `ProtocolWrapper`): a factory that wraps another factory's protocols
//! and their transport, so a policy sees traffic without the user's
//! protocol knowing.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use torsion_reactor::error::ProducerError;
use torsion_reactor::{
    Address, Connector, Consumer, DynProtocolFactory, Failure, FileDescriptorReceiver,
    HalfCloseableProtocol, Producer, ProducerRef, Protocol, ProtocolFactory, ProtocolRef,
    ProtocolWrapper, PushProducer, TcpTransport, Transport, TransportRef, UnixTransport,
    WrapperHooks,
};

/// What a policy does on one connection, besides forwarding: called by
/// [`PolicyProtocol`] and by the transport it hands the wrapped protocol.
///
/// Every method has an empty default; each runs *before* the call is
/// forwarded, except [`connection_lost`](PolicyHooks::connection_lost),
/// which runs after the wrapped protocol's. The methods take `&self`: keep
/// state in `Cell`s or `RefCell`s, and never hold a borrow across a call
/// that may reach user code.
///
/// # Implementing
///
/// Counting the bytes each way:
///
/// ```
/// use std::cell::Cell;
/// use torsion_protocols::policies::PolicyHooks;
///
/// #[derive(Default)]
/// struct Meter {
///     read: Cell<usize>,
///     written: Cell<usize>,
/// }
///
/// impl PolicyHooks for Meter {
///     fn data_received(&self, data: &[u8]) {
///         self.read.set(self.read.get() + data.len());
///     }
///     fn write(&self, data: &[u8]) {
///         self.written.set(self.written.get() + data.len());
///     }
/// }
/// # let _ = Meter::default();
/// ```
pub trait PolicyHooks: 'static {
    /// The connection is up; `transport` is the real one (keep a `Weak`
    /// of it: the transport owns the protocol that owns these hooks).
    fn connection_made(&self, transport: &TransportRef) {
        let _ = transport;
    }

    /// Bytes arrived for the wrapped protocol.
    fn data_received(&self, data: &[u8]) {
        let _ = data;
    }

    /// The wrapped protocol writes `data`.
    fn write(&self, data: &[u8]) {
        let _ = data;
    }

    /// The wrapped protocol writes `data` in one go; the default calls
    /// [`write`](PolicyHooks::write) for each piece.
    fn write_sequence(&self, data: &[&[u8]]) {
        for chunk in data {
            self.write(chunk);
        }
    }

    /// The wrapped protocol asks to close the connection.
    fn lose_connection(&self) {}

    /// The wrapped protocol registers `producer` on its transport.
    fn register_producer(&self, producer: &ProducerRef) {
        let _ = producer;
    }

    /// The wrapped protocol unregisters its producer.
    fn unregister_producer(&self) {}

    /// The connection is gone (after the wrapped protocol heard of it).
    fn connection_lost(&self, reason: &Failure) {
        let _ = reason;
    }
}

/// No policy: forwarding only.
impl PolicyHooks for () {}

/// What a [`Policy`] decides for a new connection.
#[non_exhaustive]
pub enum Admission<H> {
    /// Refuse it: the factory builds no protocol and the connection closes.
    Refuse,
    /// Accept it, wrapping the wrapped factory's protocol with these hooks.
    Wrap(H),
    /// Accept it with these hooks, but speak this protocol instead of the
    /// wrapped factory's (`LimitTotalConnectionsFactory.overflowProtocol`).
    Replace(H, ProtocolRef),
}

impl<H: fmt::Debug> fmt::Debug for Admission<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admission::Refuse => f.write_str("Refuse"),
            Admission::Wrap(hooks) => f.debug_tuple("Wrap").field(hooks).finish(),
            Admission::Replace(hooks, _) => f.debug_tuple("Replace").field(hooks).finish(),
        }
    }
}

/// A rule applied to every connection of a [`WrappingFactory`].
pub trait Policy: 'static {
    /// The per-connection part.
    type Hooks: PolicyHooks;

    /// Decides about a connection from `addr`.
    fn admit(&self, addr: &Address) -> Admission<Self::Hooks>;

    /// The policy's name, for `describe` (Twisted's wrapper class name).
    fn name(&self) -> &'static str;
}

/// The policy of a plain [`WrappingFactory`]: accept everything, add nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Forward;

impl Policy for Forward {
    type Hooks = ();

    fn admit(&self, _addr: &Address) -> Admission<()> {
        Admission::Wrap(())
    }

    fn name(&self) -> &'static str {
        "WrappingFactory"
    }
}

/// Wraps a factory and its protocols (Twisted's `policies.WrappingFactory`):
/// each connection gets the wrapped factory's protocol inside a
/// [`PolicyProtocol`] that applies the [`Policy`] `P`.
///
/// Every factory call (`do_start`, `do_stop`, the client hooks) is
/// forwarded to the wrapped factory; `describe` names both, as Twisted's
/// `logPrefix` does: `"Echo (WrappingFactory)"`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::policies::WrappingFactory;
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let factory = WrappingFactory::forwarding(Rc::new(Factory::for_protocol(|| Echo)));
/// assert!(factory.build_protocol(&Address::Unix(None)).is_some());
/// assert!(factory.describe().ends_with("(WrappingFactory)"));
/// ```
///
/// # Twisted
///
/// Twisted subclasses `WrappingFactory` and `ProtocolWrapper` for each
/// policy; here one factory takes a [`Policy`] and one wrapper calls its
/// [`PolicyHooks`]; each policy's factory is this type with its policy
/// (`TimeoutFactory` is `WrappingFactory<TimeoutPolicy>`) and its own
/// `new`, so the plain one is [`forwarding`](WrappingFactory::forwarding).
/// The wrapper's `log_prefix` is the wrapped protocol's
/// (a `&'static str` cannot name both).
pub struct WrappingFactory<P: Policy = Forward> {
    wrapped: Rc<dyn DynProtocolFactory>,
    policy: P,
}

impl WrappingFactory<Forward> {
    /// Wraps `wrapped`, adding nothing (Twisted's `WrappingFactory(f)`).
    pub fn forwarding(wrapped: Rc<dyn DynProtocolFactory>) -> WrappingFactory<Forward> {
        WrappingFactory::with_policy(wrapped, Forward)
    }
}

impl<P: Policy> WrappingFactory<P> {
    /// Wraps `wrapped`, applying `policy`.
    pub fn with_policy(wrapped: Rc<dyn DynProtocolFactory>, policy: P) -> WrappingFactory<P> {
        WrappingFactory { wrapped, policy }
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The wrapped factory.
    pub fn wrapped(&self) -> &Rc<dyn DynProtocolFactory> {
        &self.wrapped
    }

    /// The policy, giving up the factory.
    pub fn into_policy(self) -> P {
        self.policy
    }
}

impl<P: Policy> ProtocolFactory for WrappingFactory<P> {
    type Protocol = PolicyProtocol<P::Hooks>;

    fn build_protocol(&self, addr: &Address) -> Option<PolicyProtocol<P::Hooks>> {
        let (hooks, inner) = match self.policy.admit(addr) {
            Admission::Refuse => return None,
            // If the wrapped factory refuses, the hooks are dropped unused.
            Admission::Wrap(hooks) => (hooks, self.wrapped.build_protocol(addr)?),
            Admission::Replace(hooks, inner) => (hooks, inner),
        };
        Some(PolicyProtocol::new(inner, hooks))
    }

    fn do_start(&self) {
        self.wrapped.do_start();
    }

    fn do_stop(&self) {
        self.wrapped.do_stop();
    }

    fn started_connecting(&self, connector: &dyn Connector) {
        self.wrapped.started_connecting(connector);
    }

    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.wrapped.client_connection_failed(connector, reason);
    }

    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.wrapped.client_connection_lost(connector, reason);
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.wrapped.describe(), self.policy.name())
    }
}

impl<P: Policy> fmt::Debug for WrappingFactory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappingFactory")
            .field("wrapped", &self.wrapped.describe())
            .field("policy", &self.policy.name())
            .finish()
    }
}

/// Calls the hooks' `connection_lost` after the wrapped protocol's, through
/// [`ProtocolWrapper`] (which does so even if that one panicked).
struct LostHook<H>(Rc<H>);

impl<H: PolicyHooks> WrapperHooks for LostHook<H> {
    fn connection_lost(&mut self, reason: &Failure) {
        self.0.connection_lost(reason);
    }
}

/// The protocol a [`WrappingFactory`] builds: the wrapped protocol inside
/// a [`ProtocolWrapper`], plus a transport wrapper that shows the policy's
/// [`PolicyHooks`] every write.
///
/// It exposes exactly the optional capabilities (half-close, descriptor
/// passing) of the protocol it wraps.
///
/// # Twisted
///
/// Twisted's `ProtocolWrapper` is both the protocol and the wrapped
/// protocol's transport; here the transport side is a separate object.
/// Its [`as_tcp`](Transport::as_tcp) and [`as_unix`](Transport::as_unix)
/// are the real transport's, so socket options work, but writes made
/// through them bypass the policy: write through the transport itself.
pub struct PolicyProtocol<H: PolicyHooks> {
    wrapper: ProtocolWrapper<LostHook<H>>,
    hooks: Rc<H>,
    /// The transport handed to the wrapped protocol, kept while connected:
    /// the hooks hold the transport under it weakly, and when policies nest
    /// that one is another policy's wrapper, which nothing else may hold
    /// (a wrapped protocol need not keep its transport).
    transport: Option<TransportRef>,
}

impl<H: PolicyHooks> PolicyProtocol<H> {
    /// Wraps `inner` with `hooks`.
    pub fn new(inner: ProtocolRef, hooks: H) -> PolicyProtocol<H> {
        let hooks = Rc::new(hooks);
        PolicyProtocol {
            wrapper: ProtocolWrapper::new(inner, LostHook(hooks.clone())),
            hooks,
            transport: None,
        }
    }

    /// The wrapped protocol.
    pub fn inner(&self) -> &ProtocolRef {
        self.wrapper.inner()
    }

    /// The policy's per-connection hooks.
    pub fn hooks(&self) -> &Rc<H> {
        &self.hooks
    }
}

impl<H: PolicyHooks> Protocol for PolicyProtocol<H> {
    fn make_connection(&mut self, transport: TransportRef) {
        self.hooks.connection_made(&transport);
        let wrapped: TransportRef = Rc::new(PolicyTransport {
            inner: transport,
            hooks: self.hooks.clone(),
        });
        self.transport = Some(wrapped.clone());
        self.wrapper.make_connection(wrapped);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.hooks.data_received(data);
        self.wrapper.data_received(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        // Dropped even if the wrapped protocol panics: no cycle is left
        // through the real transport (Twisted breaks its cycle here too).
        let _transport = self.transport.take();
        self.wrapper.connection_lost(reason);
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        self.wrapper.as_half_closeable()
    }

    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        self.wrapper.as_file_descriptor_receiver()
    }

    fn log_prefix(&self) -> &'static str {
        self.wrapper.log_prefix()
    }
}

impl<H: PolicyHooks> fmt::Debug for PolicyProtocol<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyProtocol")
            .field("inner", &self.log_prefix())
            .finish_non_exhaustive()
    }
}

/// The transport the wrapped protocol sees: shows the hooks each call,
/// then forwards it to the real transport.
struct PolicyTransport<H> {
    inner: TransportRef,
    hooks: Rc<H>,
}

impl<H: PolicyHooks> Consumer for PolicyTransport<H> {
    fn write(&self, data: &[u8]) {
        self.hooks.write(data);
        self.inner.write(data);
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        self.hooks.register_producer(&producer);
        self.inner.register_producer(producer)
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        self.hooks.unregister_producer();
        self.inner.unregister_producer()
    }
}

impl<H: PolicyHooks> Producer for PolicyTransport<H> {
    fn stop_producing(&self) {
        self.inner.stop_producing();
    }
}

impl<H: PolicyHooks> PushProducer for PolicyTransport<H> {
    fn pause_producing(&self) {
        self.inner.pause_producing();
    }

    fn resume_producing(&self) {
        self.inner.resume_producing();
    }
}

impl<H: PolicyHooks> Transport for PolicyTransport<H> {
    fn write_sequence(&self, data: &[&[u8]]) {
        self.hooks.write_sequence(data);
        self.inner.write_sequence(data);
    }

    fn lose_connection(&self) {
        self.hooks.lose_connection();
        self.inner.lose_connection();
    }

    fn abort_connection(&self) {
        self.inner.abort_connection();
    }

    fn lose_write_connection(&self) {
        self.inner.lose_write_connection();
    }

    fn is_disconnecting(&self) -> bool {
        self.inner.is_disconnecting()
    }

    fn peer(&self) -> Address {
        self.inner.peer()
    }

    fn host(&self) -> Address {
        self.inner.host()
    }

    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        self.inner.as_tcp()
    }

    fn as_unix(&self) -> Option<&dyn UnixTransport> {
        self.inner.as_unix()
    }
}

/// A count shared by a policy and its connections, released once per
/// connection: at `connection_lost`, or when the protocol is dropped
/// without ever connecting (Twisted leaks the count then).
pub(crate) struct Slot<K: Clone + 'static> {
    release: RefCell<Option<(K, Release<K>)>>,
}

/// Gives a [`Slot`]'s place back.
pub(crate) type Release<K> = Rc<dyn Fn(&K)>;

impl<K: Clone + 'static> Slot<K> {
    pub(crate) fn new(key: K, release: Release<K>) -> Slot<K> {
        Slot {
            release: RefCell::new(Some((key, release))),
        }
    }

    pub(crate) fn release(&self) {
        let taken = self.release.borrow_mut().take();
        if let Some((key, release)) = taken {
            release(&key);
        }
    }
}

impl<K: Clone + 'static> Drop for Slot<K> {
    fn drop(&mut self) {
        self.release();
    }
}
