//! Endpoints (Twisted's `twisted.internet.endpoints`): where to connect or
//! listen, as values a service can be handed, generic over the reactor so
//! they run on the mio reactor and on `testing::MemoryReactor` alike.
//!
//! # Example
//!
//! An echo server and a client on loopback, through endpoints:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use torsion_endpoints::{Tcp4ClientEndpoint, Tcp4ServerEndpoint};
//! use torsion_reactor::{Factory, Protocol, Reactor, StreamClientEndpointExt, StreamServerEndpointExt, TransportRef};
//! use torsion_testing::{success_result_of, AccumulatingProtocol};
//!
//! #[derive(Default)]
//! struct Echo(Option<TransportRef>);
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, t: TransportRef) {
//!         self.0 = Some(t);
//!     }
//!     fn data_received(&mut self, data: &[u8]) {
//!         self.0.as_ref().unwrap().write(data);
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! let server = Tcp4ServerEndpoint::new(reactor.clone(), 0).interface("127.0.0.1");
//! let port = success_result_of(&server.listen(Factory::for_protocol(Echo::default)));
//! let client = Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port.host().port().unwrap());
//! let connected = client.connect(Factory::for_protocol(AccumulatingProtocol::new));
//! let deadline = Instant::now() + Duration::from_secs(5);
//! while !connected.has_result() && Instant::now() < deadline {
//!     reactor.iterate(Some(Duration::from_millis(10)))?;
//! }
//! let protocol = success_result_of(&connected); // Rc<RefCell<AccumulatingProtocol>>
//! protocol.borrow().transport.as_ref().unwrap().write(b"ping");
//! while protocol.borrow().data.len() < 4 && Instant::now() < deadline {
//!     reactor.iterate(Some(Duration::from_millis(10)))?;
//! }
//! assert_eq!(protocol.borrow().data, b"ping");
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod arguments;
mod connect_protocol;
mod description;
mod from_string;
mod hostname;
mod lockfile;
mod process;
mod stdio;
mod tcp;
mod unix;
mod wrapping;

pub use arguments::{quote, Arguments, EndpointParseError};
pub use connect_protocol::connect_protocol;
pub use description::{ClientDescription, ServerDescription};
pub use from_string::{client_from_string, server_from_string, EndpointRegistry};
pub use hostname::{
    HostnameConnectError, HostnameEndpoint, NameResolver, StaticResolver, SystemResolver,
};
pub use lockfile::{lock_owner, lock_path, LockFile};
pub use process::{ProcessEndpoint, StandardErrorBehavior};
pub use stdio::StandardIOEndpoint;
pub use tcp::{
    Tcp4ClientEndpoint, Tcp4ServerEndpoint, Tcp6ClientEndpoint, Tcp6ServerEndpoint,
    TcpClientEndpoint, TcpServerEndpoint, V4, V6,
};
pub use unix::{LockNotHeld, UnixClientEndpoint, UnixServerEndpoint};
