//! The mio reactor and its TCP and UNIX transports.

mod connection;
mod connector;
mod pipe;
mod pipe_writer;
mod pool;
mod port;
mod process;
mod reactor;
mod reap;
mod stdio;
mod stream;
mod tcp;
mod unix;

pub use pool::ThreadError;
pub use reactor::Reactor;
pub use stdio::StandardIO;
