//! Torsion's core: Twisted's programming model for Rust.
//!
//! This crate holds what everything else stands on (Twisted's
//! `twisted.internet`):
//!
//! * the **interface traits**, one per Twisted interface: [`ReactorTime`],
//!   [`ReactorCore`], [`ReactorTcp`], [`ReactorUnix`], [`ReactorUdp`],
//!   [`ReactorFromThreads`], [`DatagramProtocol`], [`UdpTransport`],
//!   [`MulticastTransport`],
//!   [`Protocol`], [`ProtocolFactory`], [`Transport`], [`TcpTransport`],
//!   [`Producer`]/[`PushProducer`]/[`Consumer`], [`StreamClientEndpoint`],
//!   [`StreamServerEndpoint`], [`ListeningPort`], [`Connector`];
//! * [`Deferred`], [`Failure`] and the error types of [`error`];
//! * [`DeferredLock`], [`DeferredSemaphore`] and [`DeferredQueue`], and in
//!   [`task`] the [`Cooperator`](task::Cooperator) that runs long jobs a
//!   step at a time;
//! * the one timer queue ([`TimerQueue`], [`Timers`], [`DelayedCall`]) used by
//!   both the mio reactor and `torsion_testing::Clock`;
//! * the way in from other threads ([`ThreadHandle`]) and the seam to `async`
//!   ([`LocalExecutor`], [`LocalSpawn`], `impl Future for Deferred`);
//! * the real reactor, [`Reactor`]: one thread, mio underneath, TCP and UNIX
//!   transports with flow control and half-close, UDP and multicast ports,
//!   system event triggers,
//!   signals; and [`run_per_core`], which runs one reactor per core on a
//!   shared `SO_REUSEPORT` port;
//! * [`prelude`]: every trait a program calls methods through, in one
//!   `use torsion_reactor::prelude::*;`.
//!
//! # Example
//!
//! A protocol, a Deferred chain and a timer, without any socket:
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//! use torsion_reactor::{Deferred, Failure, ReactorTimeExt, Timers};
//!
//! // Something that answers later: a Deferred fired by a timer.
//! fn answer_later(clock: &Timers) -> Deferred<u32> {
//!     let d = Deferred::new();
//!     let fire = d.clone();
//!     clock.call_later(Duration::from_secs(1), move || fire.callback(41));
//!     d
//! }
//!
//! let clock = Timers::manual();
//! let seen = Rc::new(RefCell::new(None));
//! let sink = seen.clone();
//! answer_later(&clock)
//!     .add_callback(|n| Ok(n + 1))
//!     .add_callback(move |n| {
//!         *sink.borrow_mut() = Some(n);
//!         Ok(())
//!     })
//!     .add_errback(|failure: Failure| {
//!         log::error!("no answer: {failure}");
//!         Ok(())
//!     });
//! assert_eq!(*seen.borrow(), None);
//! clock.set_now(Duration::from_secs(1));
//! clock.run_until_idle();
//! assert_eq!(*seen.borrow(), Some(42));
//! ```
//!
//! # Rules every part follows
//!
//! * Everything here is `!Send` and lives on the reactor thread; handles are
//!   cheap `Rc` clones. [`ThreadHandle`] is the one `Send` door in.
//! * No `RefCell` borrow is held across a call into user code, and the
//!   reactor never calls into an object already being called.
//! * A panic in user code (a callback, a timed call, a protocol method) is
//!   caught at the boundary, logged, and contained.
//!
//! # Twisted
//!
//! Where Twisted's behaviour and Rust idiom pull apart, the behaviour is kept
//! and the difference is written under a `# Twisted` heading on the item.
//! The main ones: `Deferred<T>` is typed, so a callback's return type is the
//! next callback's argument type and a result handed on leaves its Deferred
//! *consumed* rather than holding `None`; interface markers such as
//! `IHalfCloseableProtocol` are methods returning `Option`; times are
//! [`Duration`](std::time::Duration)s, not float seconds.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod address;
mod borrowed;
pub use borrowed::{borrow_protocol, deliver_connection_lost};
mod connector_base;
pub use connector_base::ConnectorBase;
mod default_factory;
mod defer;
pub mod error;
mod executor;
mod failure;
mod interfaces;
mod mio_reactor;
pub mod prelude;
mod process_error;
mod system_triggers;
pub mod task;
mod threads;
mod time;
mod transport_core;
mod wrappers;

pub use address::Address;
pub use default_factory::{Factory, PortCounter};
pub use defer::{
    fail, gather_results, maybe_deferred, race, succeed, Deferred, DeferredList,
    DeferredListResult, IntoOutcome, Outcome,
};
pub use defer::{DeferredLock, DeferredQueue, DeferredSemaphore, LockGuard, SemaphoreToken};
pub use executor::{LocalExecutor, LocalFuture, LocalSpawn};
pub use failure::{log_failure, Failure};
pub use interfaces::*;
pub use mio_reactor::{run_per_core, CoreFailure, CoreSetup, PerCore, PerCoreError, SetupError};
pub use mio_reactor::{Reactor, StandardIO, ThreadError};
pub use system_triggers::SystemTriggers;
pub use threads::{thread_channel, ThreadCalls, ThreadHandle};
pub use time::{DelayedCall, TimerId, TimerQueue, Timers};
pub use transport_core::{
    CloseReason, Closing, Effects, ProducerCall, TransportCore, WriteSide, DEFAULT_HIGH_WATER,
    DEFAULT_LOW_WATER,
};
pub use wrappers::{FactoryHooks, FactoryWrapper, ProtocolWrapper, WrappedFactory, WrapperHooks};
