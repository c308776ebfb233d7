//! [`UdpEcho`]: the datagram protocol of the `udp_echo` example.

use std::net::SocketAddr;

use torsion::{DatagramProtocol, UdpTransportRef};

/// Writes every datagram back to where it came from (Twisted's
/// `docs/core/examples/udpEcho.py`).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_examples::UdpEcho;
/// use torsion_testing::FakeDatagramTransport;
///
/// let transport = FakeDatagramTransport::new("127.0.0.1:8002".parse()?);
/// transport.start(Rc::new(RefCell::new(UdpEcho::default())));
/// let peer = "127.0.0.1:5000".parse()?;
/// transport.receive(b"hello", peer);
/// assert_eq!(transport.written(), vec![(b"hello".to_vec(), Some(peer))]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct UdpEcho {
    transport: Option<UdpTransportRef>,
}

impl DatagramProtocol for UdpEcho {
    fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
        self.transport = transport;
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        if let Some(transport) = &self.transport {
            // UDP has no back-pressure: when the socket's send buffer is
            // full the datagram is not sent, and we say so.
            if let Err(e) = transport.write(data, Some(addr)) {
                log::warn!("could not echo {} bytes to {addr}: {e}", data.len());
            }
        }
    }
}
