//! Pieces the example programs share: an echo protocol that a factory can
//! disconnect, and logging set-up. See the examples' own headers for how
//! to run each one.
//!
//! # Example
//!
//! ```
//! use torsion_examples::EchoFactory;
//! use torsion::{Address, ProtocolFactory};
//!
//! let factory = EchoFactory::new();
//! let echo = factory.build_protocol(&Address::Unix(None));
//! assert!(echo.is_some());
//! assert_eq!(factory.open_connections(), 0); // counted once connected
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod backpressure;
mod chat;
mod chat_limits;
#[path = "soak/mod.rs"]
pub mod soak;
mod tls_support;
mod udp;

pub use backpressure::{write_within, PauseReading};
pub use chat::{ChatFactory, Chatter, Room, SLOW_MEMBER_LIMIT};
pub use chat_limits::ChatLimits;
pub use tls_support::{
    clean_close, port_argument, serve_until_stopped, SelfSigned, StartTlsClient, StartTlsServer,
};
pub use udp::UdpEcho;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use torsion::{Address, Failure, HalfCloseableProtocol, Protocol, ProtocolFactory, TransportRef};

/// Logs to stderr at `info` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
}

/// Echoes every byte back, reading no faster than the peer reads: while
/// more than the transport's high-water mark waits to be sent, it stops
/// reading ([`PauseReading`]), so a peer that sends and never reads costs
/// the server about one high-water mark, not everything it sent.
#[derive(Debug, Default)]
pub struct Echo {
    transport: Option<TransportRef>,
}

impl Echo {
    /// Closes the connection (after flushing).
    pub fn hang_up(&self) {
        if let Some(transport) = &self.transport {
            // A registered producer would hold the close.
            PauseReading::unregister(transport);
            transport.lose_connection();
        }
    }
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        log::info!("server: connection from {}", transport.peer());
        PauseReading::register(&transport);
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        log::info!("server: connection closed: {reason}");
        self.transport = None;
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }
}

/// The peer's end of file: send what is left, then close (what the
/// transport does for a protocol that is not half-closeable; here the
/// producer must go first, or it would hold the close).
impl HalfCloseableProtocol for Echo {
    fn read_connection_lost(&mut self) {
        self.hang_up();
    }
}

/// Builds [`Echo`] protocols and remembers them, so a server going down can
/// hang up on its clients.
#[derive(Debug, Default)]
pub struct EchoFactory {
    connections: RefCell<Vec<Weak<RefCell<Echo>>>>,
}

impl EchoFactory {
    /// No connections yet.
    pub fn new() -> EchoFactory {
        EchoFactory::default()
    }

    /// How many of its connections are still open.
    pub fn open_connections(&self) -> usize {
        self.connections
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|echo| echo.borrow().transport.is_some())
            .count()
    }

    /// Hangs up on every client.
    pub fn hang_up_all(&self) {
        let all: Vec<Rc<RefCell<Echo>>> = self
            .connections
            .borrow_mut()
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        for echo in all {
            echo.borrow().hang_up();
        }
    }
}

impl ProtocolFactory for EchoFactory {
    type Protocol = Echo;

    fn build_protocol(&self, _addr: &Address) -> Option<Echo> {
        Some(Echo::default())
    }

    fn protocol_built(&self, protocol: &Rc<RefCell<Echo>>) {
        let mut connections = self.connections.borrow_mut();
        connections.retain(|w| w.strong_count() > 0);
        connections.push(Rc::downgrade(protocol));
    }
}
