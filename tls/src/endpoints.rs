//! [`TlsClientEndpoint`] and [`TlsServerEndpoint`]: TLS over any stream
//! endpoint (Twisted's `wrapClientTLS`, `SSL4ServerEndpoint`).

use std::fmt;
use std::rc::Rc;

use torsion_reactor::error::NoProtocol;
use torsion_reactor::{
    Deferred, DynProtocolFactory, Failure, ListeningPort, ProtocolRef, StreamClientEndpoint,
    StreamServerEndpoint,
};

use crate::{TlsContext, TlsFactory};

/// Connects through another client endpoint and runs TLS over the
/// connection: Twisted's `wrapClientTLS`. The `Deferred` fires with the
/// user's protocol once the inner connection is up (its writes wait for
/// the handshake, whose failure reaches its `connection_lost`).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_endpoints::Tcp4ClientEndpoint;
/// use torsion_reactor::Reactor;
/// use torsion_tls::{ClientTlsOptions, TlsClientEndpoint};
///
/// let reactor = Reactor::new()?;
/// let tcp = Tcp4ClientEndpoint::new(reactor.clone(), "example.com", 443);
/// let endpoint = TlsClientEndpoint::new(
///     Rc::new(tcp),
///     ClientTlsOptions::new().context("example.com")?,
/// );
/// assert_eq!(torsion_reactor::StreamClientEndpoint::describe(&endpoint), "tls:tcp:host=example.com:port=443");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsClientEndpoint {
    inner: Rc<dyn StreamClientEndpoint>,
    context: TlsContext,
}

impl TlsClientEndpoint {
    /// TLS with `context` (a client one) over `inner`'s connections.
    pub fn new(inner: Rc<dyn StreamClientEndpoint>, context: TlsContext) -> TlsClientEndpoint {
        TlsClientEndpoint { inner, context }
    }
}

impl StreamClientEndpoint for TlsClientEndpoint {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        let wrapper = Rc::new(TlsFactory::wrap(factory, Some(self.context.clone())));
        self.inner
            .connect_dyn(wrapper.clone())
            .add_callback(move |layer: ProtocolRef| {
                wrapper
                    .inner_protocol(&layer)
                    .ok_or_else(|| Failure::new(NoProtocol))
            })
    }

    fn describe(&self) -> String {
        format!("tls:{}", self.inner.describe())
    }
}

impl fmt::Debug for TlsClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClientEndpoint")
            .field("inner", &self.inner.describe())
            .finish_non_exhaustive()
    }
}

/// Listens on another server endpoint and runs TLS over every accepted
/// connection: Twisted's `SSL4ServerEndpoint`, for any stream endpoint.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_endpoints::Tcp4ServerEndpoint;
/// use torsion_reactor::{Reactor, StreamServerEndpoint};
/// use torsion_tls::{ServerTlsOptions, TlsServerEndpoint};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
/// let context = ServerTlsOptions::new(
///     vec![cert.cert.der().clone()],
///     rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
/// )
/// .context()?;
/// let reactor = Reactor::new()?;
/// let tcp = Tcp4ServerEndpoint::new(reactor, 0).interface("127.0.0.1");
/// let endpoint = TlsServerEndpoint::new(Rc::new(tcp), context);
/// assert!(endpoint.describe().starts_with("ssl:"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsServerEndpoint {
    inner: Rc<dyn StreamServerEndpoint>,
    context: TlsContext,
}

impl TlsServerEndpoint {
    /// TLS with `context` (a server one) over `inner`'s connections.
    pub fn new(inner: Rc<dyn StreamServerEndpoint>, context: TlsContext) -> TlsServerEndpoint {
        TlsServerEndpoint { inner, context }
    }
}

impl StreamServerEndpoint for TlsServerEndpoint {
    fn listen_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
        self.inner.listen_dyn(Rc::new(TlsFactory::wrap(
            factory,
            Some(self.context.clone()),
        )))
    }

    fn describe(&self) -> String {
        format!("ssl:{}", self.inner.describe())
    }
}

impl fmt::Debug for TlsServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerEndpoint")
            .field("inner", &self.inner.describe())
            .finish_non_exhaustive()
    }
}
