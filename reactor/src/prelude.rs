//! The traits a program calls methods through, in one glob import, so
//! `reactor.run()`, `reactor.stop()`, `reactor.call_later(..)` or
//! `transport.write(..)` need no trait import found by compiler hint.
//!
//! ```
//! use torsion_reactor::prelude::*;
//!
//! let reactor = Reactor::new()?;
//! reactor.stop()?; // before run: run returns after one iteration
//! reactor.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A glob import never clashes with a program's own names (those win), so
//! the traits come by name, for `impl Protocol for ...` too, with the types
//! a program names all the time (`Reactor`, `Deferred`, `Failure`,
//! `Factory`, `TransportRef`, `ProtocolRef`).
//!
//! # Twisted
//!
//! Python finds methods on the object; Rust needs the trait in scope. This
//! module is the `from twisted.internet import reactor` of Torsion.

pub use crate::{Deferred, Factory, Failure, ProtocolRef, Reactor, TransportRef};

// Left out on purpose: `DynProtocolFactory` (every `ProtocolFactory` is
// one, so `factory.build_protocol(..)` would be ambiguous) and
// `PullProducer` (its `resume_producing` would clash with
// `PushProducer`'s on a type that is both).
pub use crate::{
    Connector, Consumer, HalfCloseableProtocol, ListeningPort, Producer, Protocol, ProtocolFactory,
    PushProducer, ReactorCore, ReactorFromThreads, ReactorTcp, ReactorTime, ReactorTimeExt,
    ReactorUnix, StreamClientEndpoint, StreamClientEndpointExt, StreamServerEndpoint,
    StreamServerEndpointExt, TcpTransport, Transport, UnixTransport,
};
