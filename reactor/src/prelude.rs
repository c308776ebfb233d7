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

pub use crate::{
    Connector, Consumer, DynProtocolFactory, HalfCloseableProtocol, ListeningPort, Producer,
    Protocol, ProtocolFactory, PullProducer, PushProducer, ReactorCore, ReactorFromThreads,
    ReactorTcp, ReactorTime, ReactorTimeExt, ReactorUnix, StreamClientEndpoint,
    StreamClientEndpointExt, StreamServerEndpoint, StreamServerEndpointExt, TcpTransport,
    Transport, UnixTransport,
};
