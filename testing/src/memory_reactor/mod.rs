//! `MemoryReactor`, `MemoryReactorClock` and `RaisingMemoryReactor`: fake
//! reactors that record what code asks of them (Twisted's
//! `twisted.internet.testing`).

mod process;
mod raising;
mod reactor;
mod reactor_clock;
mod records;
mod udp;

pub use raising::RaisingMemoryReactor;
pub use reactor::MemoryReactor;
pub use reactor_clock::MemoryReactorClock;
pub use records::{FakeConnector, FakePort, TcpClient, TcpServer, UnixClient, UnixServer};
pub use udp::UdpServer;
