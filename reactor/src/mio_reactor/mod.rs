//! The mio reactor and its TCP and UNIX transports.

mod connection;
mod connector;
mod events;
mod pool;
mod port;
mod reactor;
mod stream;
mod tcp;
mod udp;
mod udp_multicast;
mod unix;

pub use connection::{DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER};
pub use pool::ThreadError;
pub use reactor::Reactor;
