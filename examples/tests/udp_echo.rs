//! The `udp_echo` example's protocol end to end over loopback: a plain std
//! socket (as a client in any other language would be) sends 10 000
//! datagrams of 1 to 1400 bytes, a window of them in flight, and gets each
//! back byte for byte, in order.

use std::cell::RefCell;
use std::net::UdpSocket;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use torsion::{Reactor, ReactorUdp, DEFAULT_MAX_PACKET_SIZE};
use torsion_examples::UdpEcho;

const DATAGRAMS: usize = 10_000;
/// In flight at once: far below what the sockets' buffers hold, so
/// loopback drops nothing.
const WINDOW: usize = 16;

fn datagram(i: usize) -> Vec<u8> {
    let len = 1 + (i * 7919) % 1400;
    (0..len).map(|k| (i * 31 + k) as u8).collect()
}

#[test]
fn ten_thousand_datagrams_echoed_byte_for_byte() {
    let done = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = mpsc::channel();
    let stop = done.clone();
    let server = std::thread::spawn(move || {
        let reactor = Reactor::new().unwrap();
        let port = reactor
            .listen_udp(
                0,
                Rc::new(RefCell::new(UdpEcho::default())),
                "127.0.0.1",
                DEFAULT_MAX_PACKET_SIZE,
            )
            .unwrap();
        port_tx.send(port.host()).unwrap();
        while !stop.load(Ordering::Relaxed) {
            reactor.iterate(Some(Duration::from_millis(20))).unwrap();
        }
    });
    let server_addr = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(server_addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = vec![0; 2048];
    let mut sent = 0;
    for received in 0..DATAGRAMS {
        while sent < DATAGRAMS && sent < received + WINDOW {
            client.send(&datagram(sent)).unwrap();
            sent += 1;
        }
        let n = client
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("datagram {received} never came back: {e}"));
        assert_eq!(buffer[..n], datagram(received), "datagram {received}");
    }
    done.store(true, Ordering::Relaxed);
    server.join().unwrap();
}
