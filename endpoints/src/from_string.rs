//! [`client_from_string`], [`server_from_string`] and the
//! [`EndpointRegistry`] that lets an application add endpoint types.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use torsion_reactor::{ReactorTcp, ReactorUnix, StreamClientEndpoint, StreamServerEndpoint};

use crate::arguments::{quote, Arguments, EndpointParseError};
use crate::description::{ClientDescription, ServerDescription};
use crate::{
    Tcp4ClientEndpoint, Tcp4ServerEndpoint, Tcp6ClientEndpoint, Tcp6ServerEndpoint,
    UnixClientEndpoint, UnixServerEndpoint,
};

type ClientParser<R> =
    Box<dyn Fn(&R, &Arguments) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError>>;
type ServerParser<R> =
    Box<dyn Fn(&R, &Arguments) -> Result<Rc<dyn StreamServerEndpoint>, EndpointParseError>>;

/// Endpoint types by name (Twisted's endpoint plugins): `tcp`, `tcp6` and
/// `unix` built in, more registered by the application. Type names are
/// case-insensitive for clients and servers alike.
///
/// # Twisted
///
/// Twisted's `clientFromString` upper-cases the type and matches plugins
/// case-insensitively, but `serverFromString` looks its built-in types up
/// case-sensitively before falling back to the (case-insensitive) plugins,
/// so `TCP6:80` listens and `TCP:80` fails. We match every type
/// case-insensitively, as Twisted does for everything but that lookup.
/// Values may also be bracketed (`host=[::1]`) besides Twisted's `\:`
/// escapes, and an argument given both positionally and as a keyword is
/// [`EndpointParseError::Conflicting`] (Twisted lets the positional win).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_endpoints::{EndpointParseError, EndpointRegistry, Tcp4ClientEndpoint};
/// use torsion_reactor::Reactor;
///
/// let reactor = Reactor::new()?;
/// let mut registry = EndpointRegistry::new(reactor);
/// // `local:PORT` means 127.0.0.1.
/// registry.register_client("local", |reactor, args| {
///     let port = args.positional.get(1).ok_or(EndpointParseError::Missing { kind: "local".into(), argument: "port" })?;
///     let port = port.parse().map_err(|_| EndpointParseError::Invalid {
///         argument: "port".into(),
///         value: port.clone(),
///         expected: "a port number",
///     })?;
///     Ok(Rc::new(Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port)))
/// });
/// let endpoint = registry.client_from_string("local:8000")?;
/// assert_eq!(endpoint.describe(), "tcp:host=127.0.0.1:port=8000");
/// assert!(registry.client_from_string("nope:1").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EndpointRegistry<R> {
    reactor: R,
    clients: HashMap<String, ClientParser<R>>,
    servers: HashMap<String, ServerParser<R>>,
}

impl<R: ReactorTcp + ReactorUnix + Clone + 'static> EndpointRegistry<R> {
    /// A registry with the built-in types, building endpoints on `reactor`.
    pub fn new(reactor: R) -> Self {
        let mut registry = EndpointRegistry {
            reactor,
            clients: HashMap::new(),
            servers: HashMap::new(),
        };
        for kind in ["tcp", "tcp6", "unix"] {
            registry.register_client(kind, builtin_client);
            registry.register_server(kind, builtin_server);
        }
        registry
    }

    /// Adds (or replaces) a client type; names are case-insensitive.
    pub fn register_client(
        &mut self,
        kind: &str,
        parser: impl Fn(&R, &Arguments) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError>
            + 'static,
    ) {
        self.clients
            .insert(kind.to_ascii_lowercase(), Box::new(parser));
    }

    /// Adds (or replaces) a server type; names are case-insensitive.
    pub fn register_server(
        &mut self,
        kind: &str,
        parser: impl Fn(&R, &Arguments) -> Result<Rc<dyn StreamServerEndpoint>, EndpointParseError>
            + 'static,
    ) {
        self.servers
            .insert(kind.to_ascii_lowercase(), Box::new(parser));
    }

    /// A client endpoint from a description (Twisted's `clientFromString`).
    ///
    /// # Errors
    ///
    /// An [`EndpointParseError`] naming the bad part and what was expected.
    pub fn client_from_string(
        &self,
        description: &str,
    ) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError> {
        let args = Arguments::parse(description)?;
        let kind = args.positional[0].to_ascii_lowercase();
        let parser = self
            .clients
            .get(&kind)
            .ok_or(EndpointParseError::UnknownType { kind })?;
        parser(&self.reactor, &args)
    }

    /// A server endpoint from a description (Twisted's `serverFromString`).
    ///
    /// # Errors
    ///
    /// An [`EndpointParseError`] naming the bad part and what was expected.
    pub fn server_from_string(
        &self,
        description: &str,
    ) -> Result<Rc<dyn StreamServerEndpoint>, EndpointParseError> {
        let args = Arguments::parse(description)?;
        let kind = args.positional[0].to_ascii_lowercase();
        let parser = self
            .servers
            .get(&kind)
            .ok_or(EndpointParseError::UnknownType { kind })?;
        parser(&self.reactor, &args)
    }
}

/// Re-joins tokenized arguments so the typed parser sees the original.
fn rejoin(args: &Arguments) -> String {
    let mut out: Vec<String> = args.positional.iter().map(|p| quote(p, true)).collect();
    out.extend(
        args.keywords
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k, true), quote(v, false))),
    );
    out.join(":")
}

fn builtin_client<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: &R,
    args: &Arguments,
) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError> {
    Ok(match rejoin(args).parse::<ClientDescription>()? {
        ClientDescription::Tcp {
            host,
            port,
            timeout,
            bind_address,
            ipv6,
        } => {
            let bind = bind_address.map(|ip| SocketAddr::new(ip, 0));
            if ipv6 {
                let mut endpoint = Tcp6ClientEndpoint::new(reactor.clone(), host, port);
                if let Some(timeout) = timeout {
                    endpoint = endpoint.timeout(timeout);
                }
                if let Some(bind) = bind {
                    endpoint = endpoint.bind_address(bind);
                }
                Rc::new(endpoint)
            } else {
                let mut endpoint = Tcp4ClientEndpoint::new(reactor.clone(), host, port);
                if let Some(timeout) = timeout {
                    endpoint = endpoint.timeout(timeout);
                }
                if let Some(bind) = bind {
                    endpoint = endpoint.bind_address(bind);
                }
                Rc::new(endpoint)
            }
        }
        ClientDescription::Unix {
            path,
            timeout,
            lockfile,
        } => {
            let mut endpoint =
                UnixClientEndpoint::new(reactor.clone(), path).check_lockfile(lockfile);
            if let Some(timeout) = timeout {
                endpoint = endpoint.timeout(timeout);
            }
            Rc::new(endpoint)
        }
    })
}

fn builtin_server<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: &R,
    args: &Arguments,
) -> Result<Rc<dyn StreamServerEndpoint>, EndpointParseError> {
    Ok(match rejoin(args).parse::<ServerDescription>()? {
        ServerDescription::Tcp {
            port,
            interface,
            backlog,
            ipv6: false,
        } => Rc::new(
            Tcp4ServerEndpoint::new(reactor.clone(), port)
                .interface(interface)
                .backlog(backlog),
        ),
        ServerDescription::Tcp {
            port,
            interface,
            backlog,
            ..
        } => Rc::new(
            Tcp6ServerEndpoint::new(reactor.clone(), port)
                .interface(interface)
                .backlog(backlog),
        ),
        ServerDescription::Unix {
            path,
            mode,
            backlog,
            lockfile,
        } => Rc::new(
            UnixServerEndpoint::new(reactor.clone(), path)
                .mode(mode)
                .backlog(backlog)
                .lockfile(lockfile),
        ),
    })
}

/// A client endpoint from a description with the built-in types (Twisted's
/// `clientFromString`): `tcp:host=example.org:port=6667:timeout=30`,
/// `tcp:127.0.0.1:8000`, `tcp6:host=::1:port=80`, `unix:/run/app.sock`,
/// `unix:path=/tmp/s:timeout=2`.
///
/// # Errors
///
/// An [`EndpointParseError`] naming the bad part and what was expected.
///
/// # Examples
///
/// ```
/// use torsion_endpoints::client_from_string;
/// use torsion_reactor::Reactor;
///
/// let reactor = Reactor::new()?;
/// let endpoint = client_from_string(reactor.clone(), "tcp:host=127.0.0.1:port=6667:timeout=30")?;
/// assert_eq!(endpoint.describe(), "tcp:host=127.0.0.1:port=6667");
/// let error = client_from_string(reactor, "tcp:host=127.0.0.1:port=http").unwrap_err();
/// assert_eq!(error.to_string(), "invalid port \"http\": expected a port number 0-65535");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn client_from_string<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: R,
    description: &str,
) -> Result<Rc<dyn StreamClientEndpoint>, EndpointParseError> {
    EndpointRegistry::new(reactor).client_from_string(description)
}

/// A server endpoint from a description with the built-in types (Twisted's
/// `serverFromString`): `tcp:8080:interface=127.0.0.1:backlog=50`,
/// `tcp6:8080`, `unix:/var/run/app.sock:mode=660`.
///
/// # Errors
///
/// An [`EndpointParseError`] naming the bad part and what was expected.
pub fn server_from_string<R: ReactorTcp + ReactorUnix + Clone + 'static>(
    reactor: R,
    description: &str,
) -> Result<Rc<dyn StreamServerEndpoint>, EndpointParseError> {
    EndpointRegistry::new(reactor).server_from_string(description)
}

impl<R> fmt::Debug for EndpointRegistry<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clients: Vec<&String> = self.clients.keys().collect();
        let mut servers: Vec<&String> = self.servers.keys().collect();
        clients.sort();
        servers.sort();
        f.debug_struct("EndpointRegistry")
            .field("clients", &clients)
            .field("servers", &servers)
            .finish()
    }
}
