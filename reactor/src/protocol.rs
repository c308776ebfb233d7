//! Default behaviour behind the factory interface: [`Factory`] and
//! [`PortCounter`] (Twisted's `twisted.internet.protocol.Factory`).

use std::cell::Cell;
use std::fmt;
use std::os::fd::OwnedFd;
use std::panic::resume_unwind;

use crate::interfaces::{
    short_type_name, FileDescriptorReceiver, HalfCloseableProtocol, Protocol, ProtocolFactory,
    ProtocolRef, TransportRef,
};
use crate::{borrowed, Address, Failure};

/// Twisted's `Factory.numPorts` rule: `do_start` runs the start hook only
/// when the count goes from 0 to 1, `do_stop` runs the stop hook only when
/// it returns to 0 (and does nothing at 0).
///
/// # Examples
///
/// ```
/// use torsion_reactor::PortCounter;
///
/// let ports = PortCounter::new();
/// let mut started = 0;
/// ports.do_start(|| started += 1);
/// ports.do_start(|| started += 1);
/// assert_eq!((ports.num_ports(), started), (2, 1));
/// ```
#[derive(Debug, Default)]
pub struct PortCounter {
    count: Cell<u32>,
}

impl PortCounter {
    /// At zero.
    pub fn new() -> PortCounter {
        PortCounter::default()
    }

    /// How many ports or connectors use the factory.
    pub fn num_ports(&self) -> u32 {
        self.count.get()
    }

    /// Counts one more user, calling `start_factory` for the first.
    pub fn do_start(&self, start_factory: impl FnOnce()) {
        if self.count.get() == 0 {
            start_factory();
        }
        self.count.set(self.count.get() + 1);
    }

    /// Counts one user fewer, calling `stop_factory` for the last.
    pub fn do_stop(&self, stop_factory: impl FnOnce()) {
        match self.count.get() {
            0 => {}
            1 => {
                self.count.set(0);
                stop_factory();
            }
            n => self.count.set(n - 1),
        }
    }
}

type Builder<P> = Box<dyn Fn(&Address) -> Option<P>>;

/// The everyday [`ProtocolFactory`]: builds a protocol with a closure and
/// counts ports (Twisted's `Factory.forProtocol`).
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory};
///
/// #[derive(Default)]
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// let factory = Factory::for_protocol(Echo::default);
/// assert!(factory.build_protocol(&Address::Unix(None)).is_some());
/// factory.do_start();
/// assert_eq!(factory.num_ports(), 1);
/// ```
pub struct Factory<P> {
    build: Builder<P>,
    ports: PortCounter,
    on_start: Option<Box<dyn Fn()>>,
    on_stop: Option<Box<dyn Fn()>>,
}

impl<P: Protocol> Factory<P> {
    /// A factory calling `new` for each connection.
    pub fn for_protocol(new: impl Fn() -> P + 'static) -> Factory<P> {
        Factory::new(move |_| Some(new()))
    }

    /// A factory calling `build` with the peer's address; `None` refuses.
    pub fn new(build: impl Fn(&Address) -> Option<P> + 'static) -> Factory<P> {
        Factory {
            build: Box::new(build),
            ports: PortCounter::new(),
            on_start: None,
            on_stop: None,
        }
    }

    /// Runs `hook` when the first port starts using the factory (Twisted's
    /// `startFactory`).
    pub fn on_start(mut self, hook: impl Fn() + 'static) -> Self {
        self.on_start = Some(Box::new(hook));
        self
    }

    /// Runs `hook` when the last port stops using it (`stopFactory`).
    pub fn on_stop(mut self, hook: impl Fn() + 'static) -> Self {
        self.on_stop = Some(Box::new(hook));
        self
    }

    /// How many ports or connectors use it (Twisted's `numPorts`).
    pub fn num_ports(&self) -> u32 {
        self.ports.num_ports()
    }
}

/// A factory building each protocol with `P::default()`:
/// `Factory::<Echo>::default()` is `Factory::for_protocol(Echo::default)`.
impl<P: Protocol + Default> Default for Factory<P> {
    fn default() -> Factory<P> {
        Factory::for_protocol(P::default)
    }
}

impl<P: Protocol> ProtocolFactory for Factory<P> {
    type Protocol = P;

    fn build_protocol(&self, addr: &Address) -> Option<P> {
        (self.build)(addr)
    }

    fn do_start(&self) {
        self.ports.do_start(|| {
            log::debug!("Starting factory {}", self.describe());
            if let Some(hook) = &self.on_start {
                hook();
            }
        });
    }

    fn do_stop(&self) {
        self.ports.do_stop(|| {
            log::debug!("Stopping factory {}", self.describe());
            if let Some(hook) = &self.on_stop {
                hook();
            }
        });
    }

    fn describe(&self) -> String {
        format!("Factory<{}>", short_type_name::<P>())
    }
}

impl<P> fmt::Debug for Factory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factory")
            .field("protocol", &short_type_name::<P>())
            .field("num_ports", &self.ports.num_ports())
            .finish()
    }
}

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
    // Issue 20: `borrowed::borrow` names the cause if the inner protocol is
    // borrowed (held across `.await`?) instead of "RefCell already borrowed".
    fn make_connection(&mut self, transport: TransportRef) {
        borrowed::borrow(&self.inner, "make_connection").make_connection(transport.clone());
        self.hooks.connection_made(&self.inner, &transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        borrowed::borrow(&self.inner, "data_received").data_received(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        // Issue 20: postponed until the borrow ends if the inner protocol is
        // borrowed, never lost; the hooks run now.
        let outcome = borrowed::connection_lost(&self.inner, reason.clone());
        self.hooks.connection_lost(&reason);
        if let Err(payload) = outcome {
            resume_unwind(payload);
        }
    }

    // Issue 20: asked outside the reactor's panic boundary (on end of
    // file), so a borrowed inner protocol answers "no" instead of panicking:
    // the transport then closes, and `connection_lost` waits for the borrow.
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
        let provided = borrowed::borrow(&self.inner, "as_file_descriptor_receiver")
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
            borrowed::borrow(&self.inner, "read_connection_lost").as_half_closeable()
        {
            inner.read_connection_lost();
        }
    }

    fn write_connection_lost(&mut self) {
        if let Some(inner) =
            borrowed::borrow(&self.inner, "write_connection_lost").as_half_closeable()
        {
            inner.write_connection_lost();
        }
    }
}

impl<H: WrapperHooks> FileDescriptorReceiver for ProtocolWrapper<H> {
    fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
        if let Some(inner) =
            borrowed::borrow(&self.inner, "file_descriptor_received").as_file_descriptor_receiver()
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
