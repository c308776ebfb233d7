//! The mio reactor and its TCP and UNIX transports.

mod connection;
mod connector;
mod pool;
mod port;
mod reactor;
mod stream;
mod tcp;
mod unix;

pub use pool::ThreadError;
pub use reactor::Reactor;
