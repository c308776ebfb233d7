//! Wrappers that forward to a protocol or a factory and add hooks:
//! [`ProtocolWrapper`] and [`FactoryWrapper`] (the building blocks of
//! Twisted's wrapping protocols and factories).

use std::cell::RefCell;
use std::fmt;
use std::os::fd::OwnedFd;
use std::panic::resume_unwind;
use std::rc::Rc;

use crate::interfaces::{
    Connector, DynProtocolFactory, FileDescriptorReceiver, HalfCloseableProtocol, HookedProtocol,
    Protocol, ProtocolFactory, ProtocolRef, TransportRef,
};
use crate::{borrowed, Address, Failure};

/// What a [`ProtocolWrapper`] does besides forwarding.
pub trait WrapperHooks: 'static {
    /// After the wrapped protocol's `make_connection` returned.
    fn connection_made(&mut self, inner: &ProtocolRef, transport: &TransportRef) {
        let _ = (inner, transport);
    }

    /// After the wrapped protocol's `connection_lost` returned, even if it
    /// panicked (the panic goes on afterwards), as Twisted's `try/finally`.
    fn connection_lost(&mut self, reason: &Failure) {
        let _ = reason;
    }
}

impl WrapperHooks for Box<dyn WrapperHooks> {
    fn connection_made(&mut self, inner: &ProtocolRef, transport: &TransportRef) {
        (**self).connection_made(inner, transport);
    }

    fn connection_lost(&mut self, reason: &Failure) {
        (**self).connection_lost(reason);
    }
}

/// The hooks of `Some`, none for `None`.
impl<H: WrapperHooks> WrapperHooks for Option<H> {
    fn connection_made(&mut self, inner: &ProtocolRef, transport: &TransportRef) {
        if let Some(hooks) = self {
            hooks.connection_made(inner, transport);
        }
    }

    fn connection_lost(&mut self, reason: &Failure) {
        if let Some(hooks) = self {
            hooks.connection_lost(reason);
        }
    }
}

/// Both, the first one's first: what one wrapper runs for two wrapping
/// layers (the inner layer's hooks first, as the inner wrapper ran them).
impl<A: WrapperHooks, B: WrapperHooks> WrapperHooks for (A, B) {
    fn connection_made(&mut self, inner: &ProtocolRef, transport: &TransportRef) {
        self.0.connection_made(inner, transport);
        self.1.connection_made(inner, transport);
    }

    fn connection_lost(&mut self, reason: &Failure) {
        self.0.connection_lost(reason);
        self.1.connection_lost(reason);
    }
}

/// A protocol that forwards everything to another and adds hooks: the
/// building block of Twisted's wrapping protocols (an endpoint's
/// `_WrappingProtocol`, `ClientService`'s `_ReconnectingProtocolProxy`).
///
/// It exposes exactly the optional capabilities of the protocol it wraps:
/// [`as_half_closeable`](Protocol::as_half_closeable) and
/// [`as_file_descriptor_receiver`](Protocol::as_file_descriptor_receiver)
/// answer as the inner protocol does, and forward the calls.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{Failure, Protocol, ProtocolRef, ProtocolWrapper, WrapperHooks};
///
/// struct Inner;
/// impl Protocol for Inner {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// /// Counts connections that ended.
/// struct Counting(Rc<RefCell<u32>>);
/// impl WrapperHooks for Counting {
///     fn connection_lost(&mut self, _reason: &Failure) {
///         *self.0.borrow_mut() += 1;
///     }
/// }
///
/// let ended = Rc::new(RefCell::new(0));
/// let inner: ProtocolRef = Rc::new(RefCell::new(Inner));
/// let mut wrapper = ProtocolWrapper::new(inner, Counting(ended.clone()));
/// wrapper.connection_lost(Failure::msg("bye"));
/// assert_eq!(*ended.borrow(), 1);
/// assert!(wrapper.as_half_closeable().is_none()); // Inner is not half-closeable
/// ```
pub struct ProtocolWrapper<H> {
    inner: ProtocolRef,
    hooks: H,
}

impl<H: WrapperHooks> ProtocolWrapper<H> {
    /// Wraps `inner`.
    pub fn new(inner: ProtocolRef, hooks: H) -> ProtocolWrapper<H> {
        ProtocolWrapper { inner, hooks }
    }

    /// The wrapped protocol.
    pub fn inner(&self) -> &ProtocolRef {
        &self.inner
    }
}

impl<H: WrapperHooks> Protocol for ProtocolWrapper<H> {
    // `borrowed::borrow_protocol` names the cause if the inner protocol is borrowed
    // (held across `.await`?) instead of "RefCell already borrowed".
    fn make_connection(&mut self, transport: TransportRef) {
        borrowed::borrow_protocol(&self.inner, "make_connection")
            .make_connection(transport.clone());
        self.hooks.connection_made(&self.inner, &transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        borrowed::borrow_protocol(&self.inner, "data_received").data_received(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        // Postponed until the borrow ends if the inner protocol is
        // borrowed, never lost; the hooks run now.
        let outcome = borrowed::deliver_connection_lost(&self.inner, reason.clone());
        self.hooks.connection_lost(&reason);
        if let Err(payload) = outcome {
            resume_unwind(payload);
        }
    }

    // Asked outside the reactor's panic boundary (on end of file), so a
    // borrowed inner protocol answers "no" instead of panicking: the
    // transport then closes, and `connection_lost` waits for the borrow.
    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        let provided = self
            .inner
            .try_borrow_mut()
            .is_ok_and(|mut inner| inner.as_half_closeable().is_some());
        if provided {
            Some(self)
        } else {
            None
        }
    }

    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        let provided = borrowed::borrow_protocol(&self.inner, "as_file_descriptor_receiver")
            .as_file_descriptor_receiver()
            .is_some();
        if provided {
            Some(self)
        } else {
            None
        }
    }

    fn log_prefix(&self) -> &'static str {
        self.inner
            .try_borrow()
            .map_or("ProtocolWrapper", |inner| inner.log_prefix())
    }
}

impl<H: WrapperHooks> HalfCloseableProtocol for ProtocolWrapper<H> {
    fn read_connection_lost(&mut self) {
        if let Some(inner) =
            borrowed::borrow_protocol(&self.inner, "read_connection_lost").as_half_closeable()
        {
            inner.read_connection_lost();
        }
    }

    fn write_connection_lost(&mut self) {
        if let Some(inner) =
            borrowed::borrow_protocol(&self.inner, "write_connection_lost").as_half_closeable()
        {
            inner.write_connection_lost();
        }
    }
}

impl<H: WrapperHooks> FileDescriptorReceiver for ProtocolWrapper<H> {
    fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
        if let Some(inner) = borrowed::borrow_protocol(&self.inner, "file_descriptor_received")
            .as_file_descriptor_receiver()
        {
            inner.file_descriptor_received(descriptor);
        }
    }
}

impl<H> fmt::Debug for ProtocolWrapper<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtocolWrapper").finish_non_exhaustive()
    }
}

/// A factory a [`FactoryWrapper`] can wrap: a typed [`ProtocolFactory`]
/// shared as `Rc<F>` (its protocols come back as `Rc<RefCell<F::Protocol>>`)
/// or an erased `Rc<dyn DynProtocolFactory>` (as [`ProtocolRef`]).
pub trait WrappedFactory: 'static {
    /// The protocol type it builds (`dyn Protocol` when erased).
    type Protocol: ?Sized + Protocol;

    /// Builds a protocol: the typed handle, and the protocol with the hooks
    /// its wrapper is to run (see [`DynProtocolFactory::build_with_hooks`]).
    fn build_typed(&self, addr: &Address) -> Option<(Rc<RefCell<Self::Protocol>>, HookedProtocol)>;

    /// The factory, erased, for forwarding.
    fn as_dyn(&self) -> &dyn DynProtocolFactory;
}

impl<F: ProtocolFactory> WrappedFactory for Rc<F> {
    type Protocol = F::Protocol;

    fn build_typed(&self, addr: &Address) -> Option<(Rc<RefCell<F::Protocol>>, HookedProtocol)> {
        let protocol = Rc::new(RefCell::new(self.build_protocol(addr)?));
        self.protocol_built(&protocol);
        let erased: ProtocolRef = protocol.clone();
        Some((protocol, HookedProtocol::new(erased)))
    }

    fn as_dyn(&self) -> &dyn DynProtocolFactory {
        &**self
    }
}

impl WrappedFactory for Rc<dyn DynProtocolFactory> {
    type Protocol = dyn Protocol;

    fn build_typed(&self, addr: &Address) -> Option<(ProtocolRef, HookedProtocol)> {
        let hooked = self.build_with_hooks(addr)?;
        Some((hooked.protocol.clone(), hooked))
    }

    fn as_dyn(&self) -> &dyn DynProtocolFactory {
        &**self
    }
}

/// What a [`FactoryWrapper`] does besides forwarding. Every method has a
/// default that forwards to the wrapped factory (`inner`), so a hook set
/// overrides only what it changes.
pub trait FactoryHooks<P: ?Sized + Protocol>: 'static {
    /// Whether to build at all; `false` refuses the connection without
    /// asking the wrapped factory.
    fn may_build(&self, addr: &Address) -> bool {
        let _ = addr;
        true
    }

    /// The wrapped factory built `protocol`, handed over typed; returns
    /// what the reactor gets (`built` as it is, or with hooks added).
    fn built(&self, protocol: &Rc<RefCell<P>>, built: HookedProtocol) -> HookedProtocol {
        let _ = protocol;
        built
    }

    /// The wrapped factory refused the connection.
    fn refused(&self) {}

    /// [`DynProtocolFactory::do_start`].
    fn do_start(&self, inner: &dyn DynProtocolFactory) {
        inner.do_start();
    }

    /// [`DynProtocolFactory::do_stop`].
    fn do_stop(&self, inner: &dyn DynProtocolFactory) {
        inner.do_stop();
    }

    /// [`DynProtocolFactory::started_connecting`].
    fn started_connecting(&self, inner: &dyn DynProtocolFactory, connector: &dyn Connector) {
        inner.started_connecting(connector);
    }

    /// [`DynProtocolFactory::client_connection_failed`].
    fn client_connection_failed(
        &self,
        inner: &dyn DynProtocolFactory,
        connector: &dyn Connector,
        reason: Failure,
    ) {
        inner.client_connection_failed(connector, reason);
    }

    /// [`DynProtocolFactory::client_connection_lost`].
    fn client_connection_lost(
        &self,
        inner: &dyn DynProtocolFactory,
        connector: &dyn Connector,
        reason: Failure,
    ) {
        inner.client_connection_lost(connector, reason);
    }

    /// [`DynProtocolFactory::describe`].
    fn describe(&self, inner: &dyn DynProtocolFactory) -> String {
        inner.describe()
    }
}

/// A factory that forwards everything to another and adds hooks, the
/// factory side of [`ProtocolWrapper`]: Twisted's wrapping factories (an
/// endpoint's `_WrappingFactory`, `ClientService`'s `_DisconnectFactory`).
///
/// Its [`built`](FactoryHooks::built) hook gets each protocol the wrapped
/// factory builds as the user's own type, `Rc<RefCell<P>>`, so a caller
/// needs no pointer search to find it again. Hooks a wrapper adds to a
/// protocol travel with it ([`HookedProtocol`]) until the outermost
/// factory wraps it, once: a protocol goes through one
/// [`ProtocolWrapper`] however many factories wrap its factory.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{
///     Address, DynProtocolFactory, Factory, FactoryHooks, FactoryWrapper, HookedProtocol, Protocol,
/// };
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// /// Keeps the last protocol built, typed.
/// #[derive(Default)]
/// struct Keep(RefCell<Option<Rc<RefCell<Echo>>>>);
/// impl FactoryHooks<Echo> for Keep {
///     fn built(&self, protocol: &Rc<RefCell<Echo>>, built: HookedProtocol) -> HookedProtocol {
///         *self.0.borrow_mut() = Some(protocol.clone());
///         built
///     }
/// }
///
/// let wrapper = FactoryWrapper::new(Rc::new(Factory::for_protocol(|| Echo)), Keep::default());
/// let erased = wrapper.build_protocol(&Address::Unix(None)).expect("built");
/// let typed = wrapper.hooks().0.borrow_mut().take().expect("kept");
/// assert!(std::ptr::addr_eq(Rc::as_ptr(&typed), Rc::as_ptr(&erased)));
/// ```
pub struct FactoryWrapper<F, H> {
    inner: F,
    hooks: H,
}

impl<F: WrappedFactory, H: FactoryHooks<F::Protocol>> FactoryWrapper<F, H> {
    /// Wraps `inner`.
    pub fn new(inner: F, hooks: H) -> FactoryWrapper<F, H> {
        FactoryWrapper { inner, hooks }
    }

    /// The wrapped factory.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The hooks.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }
}

impl<F: WrappedFactory, H: FactoryHooks<F::Protocol>> DynProtocolFactory for FactoryWrapper<F, H> {
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
        self.build_with_hooks(addr)
            .map(HookedProtocol::into_protocol)
    }

    fn build_with_hooks(&self, addr: &Address) -> Option<HookedProtocol> {
        if !self.hooks.may_build(addr) {
            return None;
        }
        match self.inner.build_typed(addr) {
            Some((protocol, built)) => Some(self.hooks.built(&protocol, built)),
            None => {
                self.hooks.refused();
                None
            }
        }
    }

    fn do_start(&self) {
        self.hooks.do_start(self.inner.as_dyn());
    }

    fn do_stop(&self) {
        self.hooks.do_stop(self.inner.as_dyn());
    }

    fn started_connecting(&self, connector: &dyn Connector) {
        self.hooks
            .started_connecting(self.inner.as_dyn(), connector);
    }

    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.hooks
            .client_connection_failed(self.inner.as_dyn(), connector, reason);
    }

    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.hooks
            .client_connection_lost(self.inner.as_dyn(), connector, reason);
    }

    fn describe(&self) -> String {
        self.hooks.describe(self.inner.as_dyn())
    }
}

impl<F, H> fmt::Debug for FactoryWrapper<F, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FactoryWrapper").finish_non_exhaustive()
    }
}
