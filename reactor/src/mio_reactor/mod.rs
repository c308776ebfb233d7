//! The mio reactor and its TCP and UNIX transports.

mod connection;
mod connector;
mod per_core;
mod pipe;
mod pipe_writer;
mod pool;
mod port;
mod process;
mod reactor;
mod reap;
mod spawn;
mod stdio;
mod stream;
mod tcp;
mod udp;
mod udp_multicast;
mod unix;

pub use per_core::{run_per_core, CoreFailure, CoreSetup, PerCore, PerCoreError, SetupError};
pub use pool::ThreadError;
pub use reactor::Reactor;
pub use stdio::StandardIO;
