//! `MemoryReactor`, `MemoryReactorClock` and `RaisingMemoryReactor`: fake
//! reactors that record what code asks of them (Twisted's
//! `twisted.internet.testing`).

mod clock;
mod process;
mod raising;
mod reactor;
mod records;

pub use clock::MemoryReactorClock;
pub use raising::RaisingMemoryReactor;
pub use reactor::MemoryReactor;
pub use records::{FakeConnector, FakePort, TcpClient, TcpServer, UnixClient, UnixServer};
