//! Torsion's echo server, written as a user would: a `Protocol` whose
//! `data_received` calls `transport.write`, on `Reactor` via `listen_tcp`,
//! or on several reactors via `run_per_core`.

use std::io;
use std::rc::Rc;

use torsion_reactor::{
    run_per_core, Address, Factory, Failure, Protocol, Reactor, ReactorCore, ReactorTcp,
    TransportRef,
};

/// The echo protocol (also under TLS in the tls-stream scenario).
#[derive(Default)]
pub(super) struct Echo {
    transport: Option<TransportRef>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        // All three servers turn Nagle off: 64-byte answers must not wait
        // for the previous answer's ACK.
        if let Some(tcp) = transport.as_tcp() {
            let _ = tcp.set_tcp_no_delay(true);
        }
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }

    fn connection_lost(&mut self, _reason: Failure) {
        self.transport = None;
    }
}

pub(super) fn serve(port: u16) -> io::Result<()> {
    let reactor = Reactor::new()?;
    let factory = Rc::new(Factory::for_protocol(Echo::default));
    let listening = reactor
        .listen_tcp(port, factory, super::BACKLOG, "127.0.0.1")
        .map_err(|e| io::Error::other(e.to_string()))?;
    let Address::Tcp(addr) = listening.host() else {
        return Err(io::Error::other("listen_tcp gave a non-TCP address"));
    };
    super::announce(addr.port())?;
    reactor.run().map_err(|e| io::Error::other(e.to_string()))
}

/// The same echo server on `reactors` reactors, one thread and one
/// `SO_REUSEPORT` listening socket each: `run_per_core`, as a user would
/// scale it. Port 0: reactor 0 picks the port, the others join it.
pub(super) fn serve_per_core(port: u16, reactors: usize) -> io::Result<()> {
    let server = run_per_core(reactors, move |core| {
        let factory = Rc::new(Factory::for_protocol(Echo::default));
        core.listen_tcp(port, factory, super::BACKLOG, "127.0.0.1")?;
        Ok(())
    })
    .map_err(|e| io::Error::other(e.to_string()))?;
    super::announce(server.ports()[0])?;
    server.join().map_err(|e| io::Error::other(e.to_string()))
}
