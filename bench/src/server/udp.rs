//! The UDP echo servers of the datagram ping-pong scenarios: every
//! datagram goes back to its sender.
//!
//! * Torsion: a `DatagramProtocol` whose `datagram_received` calls
//!   `transport.write`, on `Reactor` via `listen_udp`, as a user would;
//! * mio: a hand-written loop, edge-triggered, `recv_from` until
//!   `WouldBlock` into one buffer and `send_to` straight back;
//! * tokio: the current-thread runtime, `recv_from` then `send_to`.

use std::cell::RefCell;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use mio::{Events, Interest, Poll, Token};
use torsion_reactor::{
    DatagramProtocol, Reactor, ReactorCore, ReactorUdp, UdpTransportRef, DEFAULT_MAX_PACKET_SIZE,
};

use super::ServerKind;

/// The receive buffer of the mio and tokio loops, as large as Torsion's.
const BUFFER: usize = 64 * 1024;

/// Runs `kind`'s UDP echo server on `127.0.0.1:port` until killed.
pub(super) fn serve(kind: ServerKind, port: u16) -> io::Result<()> {
    match kind {
        ServerKind::Torsion => torsion(port),
        ServerKind::Mio => mio_loop(port),
        ServerKind::Tokio => tokio_rt(port),
        other => Err(io::Error::other(format!(
            "no UDP echo server for {}",
            other.name()
        ))),
    }
}

#[derive(Default)]
struct Echo {
    transport: Option<UdpTransportRef>,
}

impl DatagramProtocol for Echo {
    fn set_transport(&mut self, transport: Option<UdpTransportRef>) {
        self.transport = transport;
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        if let Some(transport) = &self.transport {
            if let Err(e) = transport.write(data, Some(addr)) {
                eprintln!("torsion udp echo: {e}");
            }
        }
    }
}

fn torsion(port: u16) -> io::Result<()> {
    let reactor = Reactor::new()?;
    let port = reactor
        .listen_udp(
            port,
            Rc::new(RefCell::new(Echo::default())),
            "127.0.0.1",
            DEFAULT_MAX_PACKET_SIZE,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
    super::announce(port.host().port())?;
    reactor.run().map_err(|e| io::Error::other(e.to_string()))
}

fn mio_loop(port: u16) -> io::Result<()> {
    let mut socket = mio::net::UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    super::announce(socket.local_addr()?.port())?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; BUFFER];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        loop {
            match socket.recv_from(&mut buffer) {
                Ok((n, from)) => {
                    if let Err(e) = socket.send_to(&buffer[..n], from) {
                        eprintln!("mio udp echo: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => eprintln!("mio udp echo: {e}"),
            }
        }
    }
}

fn tokio_rt(port: u16) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).await?;
        super::announce(socket.local_addr()?.port())?;
        let mut buffer = vec![0; BUFFER];
        loop {
            let (n, from) = socket.recv_from(&mut buffer).await?;
            if let Err(e) = socket.send_to(&buffer[..n], from).await {
                eprintln!("tokio udp echo: {e}");
            }
        }
    })
}
