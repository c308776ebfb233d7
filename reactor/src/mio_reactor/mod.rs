//! The mio reactor and its TCP and UNIX transports.

mod connection;
mod events;
mod reactor;
mod tcp;

pub use connection::{DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER};
pub use reactor::Reactor;
