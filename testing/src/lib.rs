//! Torsion's test doubles, mirroring Twisted's `twisted.internet.testing`,
//! `task.Clock`, `twisted.test.iosim` and trial's Deferred assertions.
//!
//! The promise: a protocol or a service is tested without sockets, without
//! sleeping, deterministically. Every fake implements the very trait its
//! real twin implements, so the code under test cannot tell it is not on
//! the mio reactor.
//!
//! | here | Twisted |
//! |---|---|
//! | [`Clock`] | `task.Clock` |
//! | [`StringTransport`], [`AccumulatingProtocol`] | `testing.StringTransport`, `testing.AccumulatingProtocol` |
//! | `MemoryReactor`, `MemoryReactorClock`, `RaisingMemoryReactor` | the same names in `twisted.internet.testing` |
//! | [`FakeDatagramTransport`], [`pump_datagrams`] | `testing.FakeDatagramTransport`, `iosim` for datagrams |
//! | `IoPump`, `connect`, `connected_server_and_client` | `twisted.test.iosim` |
//! | [`FakeClientEndpoint`], [`ConnectInformation`] | `endpointForTesting` in the application tests |
//! | [`success_result_of`], [`failure_result_of`], [`assert_no_result`] | trial's `successResultOf`, ... |
//! | [`LogCapture`] | trial's log observers, `flushLoggedErrors` |
//! | [`sim::Simulation`], [`sim::SimHost`] | `iosim` grown into a network: many hosts, links, faults, one seed (the module shows a two-host test) |
//!
//! # Example
//!
//! A protocol tested over a [`StringTransport`], and a timed behaviour
//! tested with a [`Clock`]: an idle timeout that closes a quiet connection.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//! use torsion_reactor::{DelayedCall, Protocol, ReactorTime, ReactorTimeExt, Transport, TransportRef};
//! use torsion_testing::{Clock, StringTransport};
//!
//! /// Echoes lines; hangs up after 30 s without data.
//! struct Echo {
//!     clock: Rc<dyn ReactorTime>,
//!     transport: Option<TransportRef>,
//!     idle: Option<DelayedCall>,
//! }
//!
//! impl Echo {
//!     fn arm(&mut self) {
//!         if let Some(call) = self.idle.take() {
//!             let _ = call.cancel();
//!         }
//!         let transport = self.transport.clone().expect("connected");
//!         self.idle = Some(self.clock.call_later(Duration::from_secs(30), move || transport.lose_connection()));
//!     }
//! }
//!
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, transport: TransportRef) {
//!         self.transport = Some(transport);
//!         self.arm();
//!     }
//!     fn data_received(&mut self, data: &[u8]) {
//!         self.transport.as_ref().expect("connected").write(data);
//!         self.arm();
//!     }
//! }
//!
//! let clock = Clock::new();
//! let transport = Rc::new(StringTransport::new());
//! let echo = Rc::new(RefCell::new(Echo { clock: Rc::new(clock.clone()), transport: None, idle: None }));
//! echo.borrow_mut().make_connection(transport.clone());
//!
//! echo.borrow_mut().data_received(b"ping\r\n");
//! assert_eq!(transport.value(), b"ping\r\n");
//!
//! clock.advance(Duration::from_secs(29));
//! echo.borrow_mut().data_received(b"again\r\n"); // resets the timer
//! clock.advance(Duration::from_secs(29));
//! assert!(!transport.is_disconnecting());
//! clock.advance(Duration::from_secs(1));
//! assert!(transport.is_disconnecting());
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod assertions;
#[macro_use]
mod multicast;
mod clock;
mod datagram_transport;
mod endpoint;
mod iosim;
mod log_capture;
mod memory_reactor;
mod process_transport;
mod protocols;
pub mod sim;
mod string_transport;

pub use assertions::*;
pub use clock::Clock;
pub use datagram_transport::{pump_datagrams, FakeDatagramTransport};
pub use endpoint::*;
pub use iosim::*;
pub use log_capture::*;
pub use memory_reactor::*;
pub use process_transport::{FakeProcessTransport, ProcessSpawn, FAKE_PID};
pub use protocols::*;
pub use string_transport::*;
