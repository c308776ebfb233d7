//! [`TlsFactory`]: wraps any protocol factory in TLS (Twisted's
//! `TLSMemoryBIOFactory`), and [`start_tls`].

use std::cell::RefCell;
use std::fmt;
use std::rc::{Rc, Weak};

use torsion_reactor::{
    Address, Connector, DynProtocolFactory, Failure, ProtocolRef, StartTlsError, TransportRef,
};

use crate::{TlsContext, TlsProtocol};

/// A user's protocol, held weakly.
type WeakProtocol = Weak<RefCell<dyn torsion_reactor::Protocol>>;

/// Wraps every protocol another factory builds in a [`TlsProtocol`]: the
/// wrapped protocols see plaintext, the wire carries TLS (Twisted's
/// `TLSMemoryBIOFactory`). Hand it to anything that takes a factory: a
/// listening port, an endpoint, the in-memory pump.
///
/// Built [`for_start_tls`](TlsFactory::for_start_tls), it wraps in
/// plaintext instead, and the protocol upgrades with [`start_tls`].
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Factory, Protocol};
/// use torsion_tls::{ServerTlsOptions, TlsFactory};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
/// let context = ServerTlsOptions::new(
///     vec![cert.cert.der().clone()],
///     rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
/// )
/// .context()?;
/// let factory = Rc::new(TlsFactory::new(Factory::for_protocol(|| Echo), context));
/// // reactor.listen_tcp(0, factory, ...) or endpoint.listen_dyn(factory)
/// # let _ = factory;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsFactory {
    inner: Rc<dyn DynProtocolFactory>,
    context: Option<TlsContext>,
    /// Each layer built, with the user's protocol inside: how an endpoint
    /// hands the user back their own protocol rather than the layer.
    built: RefCell<Vec<(Weak<RefCell<TlsProtocol>>, WeakProtocol)>>,
}

impl TlsFactory {
    /// Wraps `factory`'s protocols in TLS playing `context`'s side.
    pub fn new(factory: impl DynProtocolFactory + 'static, context: TlsContext) -> TlsFactory {
        TlsFactory::wrap(Rc::new(factory), Some(context))
    }

    /// Wraps `factory`'s protocols in plaintext that [`start_tls`] upgrades.
    pub fn for_start_tls(factory: impl DynProtocolFactory + 'static) -> TlsFactory {
        TlsFactory::wrap(Rc::new(factory), None)
    }

    /// Wraps an already shared factory (`None`: for STARTTLS).
    pub fn wrap(factory: Rc<dyn DynProtocolFactory>, context: Option<TlsContext>) -> TlsFactory {
        TlsFactory {
            inner: factory,
            context,
            built: RefCell::new(Vec::new()),
        }
    }

    /// The user's protocol inside a layer this factory built.
    pub fn inner_protocol(&self, layer: &ProtocolRef) -> Option<ProtocolRef> {
        let built = self.built.borrow();
        built
            .iter()
            .find(|(weak, _)| std::ptr::addr_eq(weak.as_ptr(), Rc::as_ptr(layer)))
            .and_then(|(_, app)| app.upgrade())
    }
}

impl DynProtocolFactory for TlsFactory {
    fn build_protocol(&self, addr: &Address) -> Option<ProtocolRef> {
        let app = self.inner.build_protocol(addr)?;
        let layer = match &self.context {
            Some(context) => match TlsProtocol::new(app.clone(), context) {
                Ok(layer) => layer,
                Err(e) => {
                    log::error!("TLS: cannot start a session for {addr}: {e}");
                    return None;
                }
            },
            None => TlsProtocol::plaintext(app.clone()),
        };
        let layer = Rc::new(RefCell::new(layer));
        let mut built = self.built.borrow_mut();
        built.retain(|(weak, _)| weak.strong_count() > 0);
        built.push((Rc::downgrade(&layer), Rc::downgrade(&app)));
        Some(layer)
    }
    fn do_start(&self) {
        self.inner.do_start()
    }
    fn do_stop(&self) {
        self.inner.do_stop()
    }
    fn started_connecting(&self, connector: &dyn Connector) {
        self.inner.started_connecting(connector)
    }
    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.inner.client_connection_failed(connector, reason)
    }
    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.inner.client_connection_lost(connector, reason)
    }
    fn describe(&self) -> String {
        format!("TlsFactory({})", self.inner.describe())
    }
}

impl fmt::Debug for TlsFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFactory")
            .field("inner", &self.inner.describe())
            .field("start_tls", &self.context.is_none())
            .finish()
    }
}

/// Switches a plaintext connection to TLS in place (Twisted's
/// `transport.startTLS(contextFactory)`): what was written before goes out
/// in plaintext, what is written after, encrypted. The connection must have
/// been wrapped by [`TlsFactory::for_start_tls`] (or
/// [`TlsProtocol::plaintext`]).
///
/// Bytes the peer sent after its last plaintext message and before TLS
/// must not have been consumed by the caller: start TLS when the
/// conversation says the next byte is TLS (e.g. after answering
/// `STARTTLS`), as with Twisted.
///
/// # Errors
///
/// [`StartTlsError::NotSupported`] for a transport not wrapped for it,
/// [`StartTlsError::AlreadyStarted`], [`StartTlsError::NotConnected`].
///
/// # Examples
///
/// ```
/// use torsion_reactor::TransportRef;
/// use torsion_tls::{start_tls, TlsContext};
///
/// fn upgrade(transport: &TransportRef, context: TlsContext) {
///     transport.write(b"220 go ahead\r\n"); // plaintext
///     if let Err(e) = start_tls(transport, context) {
///         log::error!("{e}");
///     }
///     transport.write(b"hello"); // encrypted
/// }
/// # let _ = upgrade;
/// ```
pub fn start_tls(transport: &TransportRef, context: TlsContext) -> Result<(), StartTlsError> {
    transport
        .as_start_tls()
        .ok_or(StartTlsError::NotSupported)?
        .start_tls(&context)
}
