//! `FileSender` (Twisted's `basic.FileSender`, a pull producer) over real
//! transports rather than a `StringTransport`: a TCP connection on the mio
//! reactor and a stream of the simulated network. Each must ask it for the
//! next chunk until the file is sent (the mio transports asked once, so a
//! transfer stalled after its first chunk; pipes are tested with a pull
//! producer in the reactor's `pull_producers.rs`). 127.0.0.1 and ephemeral
//! ports; every wait is bounded.

use std::cell::RefCell;
use std::io::{Cursor, Read};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_protocols::FileSender;
use torsion_reactor::{
    Factory, Failure, Protocol, Reactor, ReactorTcp, TransportRef, DEFAULT_CONNECT_TIMEOUT,
};
use torsion_testing::sim::{Link, Simulation};

fn file() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
}

/// Sends `data` with a `FileSender` once connected, then closes.
struct SendFile(Option<Vec<u8>>);

impl Protocol for SendFile {
    fn connection_made(&mut self, transport: TransportRef) {
        let data = self.0.take().unwrap_or_default();
        let closing = transport.clone();
        FileSender::new()
            .begin_file_transfer(Cursor::new(data), transport)
            .expect("no producer yet")
            .add_callback(move |_| {
                closing.lose_connection();
                Ok(())
            });
    }
    fn data_received(&mut self, _: &[u8]) {}
}

fn sender_factory(data: Vec<u8>) -> Rc<Factory<SendFile>> {
    let data = RefCell::new(Some(data));
    Rc::new(Factory::for_protocol(move || {
        SendFile(data.borrow_mut().take())
    }))
}

#[test]
fn file_sender_over_tcp() {
    let data = file();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    });
    let reactor = Reactor::new().unwrap();
    reactor.connect_tcp(
        "127.0.0.1",
        port,
        sender_factory(data.clone()),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "the transfer stalled");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
    assert!(reader.join().unwrap() == data);
}

#[test]
fn file_sender_on_the_simulated_network() {
    #[derive(Default)]
    struct Collect {
        got: Rc<RefCell<Vec<u8>>>,
        closed: Rc<RefCell<bool>>,
    }
    impl Protocol for Collect {
        fn data_received(&mut self, data: &[u8]) {
            self.got.borrow_mut().extend_from_slice(data);
        }
        fn connection_lost(&mut self, _: Failure) {
            *self.closed.borrow_mut() = true;
        }
    }
    let data = file();
    let sim = Simulation::new(3);
    let files = sim.add_host("files").unwrap();
    let app = sim.add_host("app").unwrap();
    sim.set_link(
        "files",
        "app",
        Link::new(Duration::from_millis(5)).bandwidth(10_000_000),
    )
    .unwrap();
    files
        .listen_tcp(21, sender_factory(data.clone()), 50, "")
        .unwrap();
    let (got, closed): (Rc<RefCell<Vec<u8>>>, Rc<RefCell<bool>>) = (Rc::default(), Rc::default());
    let (g, c) = (Rc::clone(&got), Rc::clone(&closed));
    // The connector is not kept: the simulation holds the connection, as a
    // reactor does.
    drop(app.connect_tcp(
        "files",
        21,
        Rc::new(Factory::for_protocol(move || Collect {
            got: g.clone(),
            closed: c.clone(),
        })),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    ));
    sim.run_for(Duration::from_secs(5));
    assert!(*closed.borrow(), "got {} bytes", got.borrow().len());
    assert!(*got.borrow() == data);
}
