//! Torsion's test doubles, mirroring Twisted's `twisted.internet.testing`,
//! `task.Clock`, `twisted.test.iosim` and trial's Deferred assertions.
//!
//! Every fake implements the very trait its real twin implements, so a
//! protocol or service under test cannot tell it is not on the mio reactor.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod clock;

pub use clock::Clock;
