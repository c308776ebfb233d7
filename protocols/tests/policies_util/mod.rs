//! Helpers shared by the policy tests: Twisted's `SimpleProtocol`,
//! `EchoProtocol`, and a factory that keeps a typed handle to each protocol
//! it builds.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::{Address, Failure, Protocol, ProtocolFactory, TransportRef};
use torsion_testing::StringTransport;

/// Twisted's `SimpleProtocol`: records connects and disconnects.
#[derive(Default)]
pub struct SimpleProtocol {
    pub connected: bool,
    pub disconnected: bool,
    pub buffer: Vec<u8>,
    pub transport: Option<TransportRef>,
}

impl Protocol for SimpleProtocol {
    fn connection_made(&mut self, transport: TransportRef) {
        self.connected = true;
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    fn connection_lost(&mut self, _reason: Failure) {
        self.disconnected = true;
        self.transport = None;
    }
}

/// Twisted's `EchoProtocol` (and `WriteSequenceEchoProtocol`: data with
/// `vector!` in it goes back through `write_sequence`).
#[derive(Default)]
pub struct EchoProtocol {
    pub transport: Option<TransportRef>,
    pub paused: bool,
}

impl Protocol for EchoProtocol {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            if data.windows(7).any(|w| w == b"vector!") {
                transport.write_sequence(&[data]);
            } else {
                transport.write(data);
            }
        }
    }
}

/// A factory keeping a typed handle to each protocol it builds.
pub struct Recording<P> {
    new: fn() -> P,
    pub built: RefCell<Vec<Rc<RefCell<P>>>>,
}

impl<P: Protocol> Recording<P> {
    pub fn new(new: fn() -> P) -> Rc<Recording<P>> {
        Rc::new(Recording {
            new,
            built: RefCell::new(Vec::new()),
        })
    }

    /// The `n`th protocol built.
    pub fn nth(&self, n: usize) -> Rc<RefCell<P>> {
        self.built.borrow()[n].clone()
    }
}

impl<P: Protocol> ProtocolFactory for Recording<P> {
    type Protocol = P;

    fn build_protocol(&self, _addr: &Address) -> Option<P> {
        Some((self.new)())
    }

    fn protocol_built(&self, protocol: &Rc<RefCell<P>>) {
        self.built.borrow_mut().push(protocol.clone());
    }

    fn describe(&self) -> String {
        "Server".to_string()
    }
}

/// Builds a protocol with `factory` for a TCP peer and connects it to a
/// `StringTransport::with_disconnection()` (Twisted's
/// `StringTransportWithDisconnection` with `transport.protocol = proto`).
pub fn connect<F: ProtocolFactory>(factory: &F) -> (Rc<RefCell<F::Protocol>>, Rc<StringTransport>) {
    let protocol = Rc::new(RefCell::new(
        factory
            .build_protocol(&peer(12345))
            .expect("the factory builds a protocol"),
    ));
    let transport = Rc::new(StringTransport::with_disconnection());
    transport.set_protocol(&protocol);
    protocol.borrow_mut().make_connection(transport.clone());
    (protocol, transport)
}

pub fn peer(port: u16) -> Address {
    Address::Tcp(([127, 0, 0, 1], port).into())
}

/// Twisted's float seconds, as a `Duration`.
pub fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

pub fn timings(seconds: &[f64]) -> Vec<Duration> {
    seconds.iter().copied().map(secs).collect()
}
