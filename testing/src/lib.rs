//! Torsion's test doubles, mirroring Twisted's `twisted.internet.testing`,
//! `task.Clock`, `twisted.test.iosim` and trial's Deferred assertions.
//!
//! Every fake implements the very trait its real twin implements, so a
//! protocol or service under test cannot tell it is not on the mio reactor.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod assertions;
mod clock;
mod endpoint;
mod iosim;
mod log_capture;
mod memory_reactor;
mod protocols;
mod string_transport;

#[allow(unused_imports)] // filled in module by module
pub use assertions::*;
pub use clock::Clock;
#[allow(unused_imports)]
pub use endpoint::*;
#[allow(unused_imports)]
pub use iosim::*;
#[allow(unused_imports)]
pub use log_capture::*;
#[allow(unused_imports)]
pub use memory_reactor::*;
#[allow(unused_imports)]
pub use protocols::*;
#[allow(unused_imports)]
pub use string_transport::*;
