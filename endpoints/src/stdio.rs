//! [`StandardIOEndpoint`]: standard input and output as a server endpoint
//! (Twisted's `StandardIOEndpoint` and its `stdio:` string).

use std::fmt;
use std::rc::Rc;

use torsion_reactor::error::{CannotListenError, NoProtocol};
use torsion_reactor::{
    Address, Deferred, DynProtocolFactory, ListeningPort, Reactor, StandardIO, StreamServerEndpoint,
};

use crate::arguments::{Arguments, EndpointParseError};
use crate::EndpointRegistry;

/// "Listens" on standard I/O: `listen` connects one protocol from the
/// factory to this process's stdin and stdout ([`StandardIO`]) at once.
///
/// # Examples
///
/// ```
/// use torsion_endpoints::EndpointRegistry;
/// use torsion_reactor::Reactor;
///
/// let mut registry = EndpointRegistry::new(Reactor::new()?);
/// registry.register_stdio();
/// let endpoint = registry.server_from_string("stdio:")?;
/// assert_eq!(endpoint.describe(), "stdio:");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// Twisted's `listen` returns the `StandardIO` itself; here it is a
/// [`ListeningPort`] whose `stop_listening` closes standard I/O (after
/// what was written went out). `stdio:` takes no arguments, as in Twisted.
#[derive(Debug, Clone)]
pub struct StandardIOEndpoint {
    reactor: Reactor,
}

impl StandardIOEndpoint {
    /// Standard I/O of this process, on `reactor`.
    pub fn new(reactor: Reactor) -> Self {
        StandardIOEndpoint { reactor }
    }
}

impl StreamServerEndpoint for StandardIOEndpoint {
    fn listen_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
        let Some(protocol) = factory.build_protocol(&Address::Pipe) else {
            return Deferred::failed(NoProtocol);
        };
        match StandardIO::new(&self.reactor, protocol) {
            Ok(stdio) => Deferred::succeeded(Rc::new(StdioPort(stdio)) as Rc<dyn ListeningPort>),
            Err(error) => Deferred::failed(CannotListenError {
                interface: "stdio".to_string(),
                port: 0,
                source: error,
            }),
        }
    }

    fn describe(&self) -> String {
        "stdio:".to_string()
    }
}

/// Standard I/O as a "port".
struct StdioPort(StandardIO);

impl ListeningPort for StdioPort {
    fn start_listening(&self) -> Result<(), CannotListenError> {
        Ok(())
    }

    fn stop_listening(&self) -> Deferred<()> {
        self.0.transport().lose_connection();
        Deferred::succeeded(())
    }

    fn host(&self) -> Address {
        Address::Pipe
    }
}

impl fmt::Debug for StdioPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StdioPort").field(&self.0).finish()
    }
}

impl EndpointRegistry<Reactor> {
    /// Adds the `stdio:` server type (Twisted's `StandardIOEndpoint`
    /// plugin); it takes no arguments.
    pub fn register_stdio(&mut self) {
        self.register_server("stdio", |reactor: &Reactor, args: &Arguments| {
            let keyword = args.keywords.first().map(|(key, _)| key);
            let positional = args.positional.iter().skip(1).find(|a| !a.is_empty());
            if let Some(extra) = positional.or(keyword) {
                return Err(EndpointParseError::Invalid {
                    argument: "stdio".into(),
                    value: extra.clone(),
                    expected: "no arguments",
                });
            }
            Ok(Rc::new(StandardIOEndpoint::new(reactor.clone())))
        });
    }
}
