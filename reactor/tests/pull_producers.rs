//! Pull (non-streaming) producers on the mio reactor's real transports: a
//! TCP connection and a child's stdin. Twisted asks a non-streaming
//! producer for more each time the transport's buffer is written out; a
//! chunk that went straight to the socket or pipe left nothing buffered,
//! and the producer must still be asked again (it was asked once and never
//! again before: a `FileSender` stalled after its first chunk).
//! 127.0.0.1 and ephemeral ports; every wait is bounded.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{
    Factory, Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, Producer, ProducerRef,
    Protocol, PullProducer, Reactor, ReactorProcess, ReactorTcp, TransportRef, DEFAULT_BACKLOG,
};

/// Iterates until `done` or 20 s (then fails the test).
fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

/// A listening port whose connections hand their transport to `made`.
fn listen(reactor: &Reactor, made: impl Fn(TransportRef) + 'static) -> u16 {
    struct Hand(Rc<dyn Fn(TransportRef)>);
    impl Protocol for Hand {
        fn connection_made(&mut self, transport: TransportRef) {
            (self.0)(transport);
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    let made: Rc<dyn Fn(TransportRef)> = Rc::new(made);
    reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(move || Hand(made.clone()))),
            DEFAULT_BACKLOG,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap()
}

/// A std client reading everything until the server closes.
fn read_all(port: u16) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    })
}

/// Twisted's `test_nonStreamingProducer` (`internet/test/test_tcp.py`):
/// a pull producer is resumed when registered, writes 1 000 bytes with
/// `write_sequence`, and is resumed again once they went out (not paused:
/// only streaming producers are); the second time it stops. Here the first
/// resume comes right after `register_producer` returns rather than inside
/// it (see `Consumer::register_producer`).
#[test]
fn non_streaming_producer() {
    struct SaveActions {
        transport: RefCell<Option<TransportRef>>,
        actions: RefCell<Vec<&'static str>>,
    }
    impl Producer for SaveActions {
        fn stop_producing(&self) {
            self.actions.borrow_mut().push("stop");
        }
    }
    impl PullProducer for SaveActions {
        fn resume_producing(&self) {
            self.actions.borrow_mut().push("resume");
            let transport = self.transport.borrow().clone().unwrap();
            if self.actions.borrow().len() == 2 {
                transport.unregister_producer().unwrap();
                transport.lose_connection();
            } else {
                if let Some(tcp) = transport.as_tcp() {
                    tcp.set_write_buffer_limits(500, 500);
                }
                transport.write_sequence(&[b"x".repeat(50).as_slice(); 20]);
            }
        }
    }
    let reactor = Reactor::new().unwrap();
    let producer = Rc::new(SaveActions {
        transport: RefCell::new(None),
        actions: RefCell::new(Vec::new()),
    });
    let p = producer.clone();
    let port = listen(&reactor, move |transport| {
        *p.transport.borrow_mut() = Some(transport.clone());
        transport
            .register_producer(ProducerRef::Pull(p.clone()))
            .unwrap();
        assert!(p.actions.borrow().is_empty());
    });
    let reader = read_all(port);
    run_until(&reactor, "the connection to close", || reader.is_finished());
    assert_eq!(reader.join().unwrap(), b"x".repeat(1000));
    assert_eq!(*producer.actions.borrow(), ["resume", "resume"]);
}

/// A pull producer writing 64 KiB chunks until 8 MiB went out is asked
/// again after each one, whether the chunk went straight out or waited in
/// the buffer for a slow reader; every byte arrives in order.
#[test]
fn pull_producer_streams_a_large_transfer() {
    const TOTAL: usize = 8 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    struct Chunks {
        transport: RefCell<Option<TransportRef>>,
        sent: Cell<usize>,
        resumes: Cell<usize>,
    }
    impl Producer for Chunks {
        fn stop_producing(&self) {}
    }
    impl PullProducer for Chunks {
        fn resume_producing(&self) {
            self.resumes.set(self.resumes.get() + 1);
            let transport = self.transport.borrow().clone().unwrap();
            let start = self.sent.get();
            if start >= TOTAL {
                transport.unregister_producer().unwrap();
                transport.lose_connection();
                return;
            }
            let chunk: Vec<u8> = (start..start + CHUNK).map(|i| (i % 251) as u8).collect();
            self.sent.set(start + CHUNK);
            transport.write(&chunk);
        }
    }
    let reactor = Reactor::new().unwrap();
    let producer = Rc::new(Chunks {
        transport: RefCell::new(None),
        sent: Cell::new(0),
        resumes: Cell::new(0),
    });
    let p = producer.clone();
    let port = listen(&reactor, move |transport| {
        *p.transport.borrow_mut() = Some(transport.clone());
        transport
            .register_producer(ProducerRef::Pull(p.clone()))
            .unwrap();
    });
    let reader = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::with_capacity(TOTAL);
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
            if got.len() < 1024 * 1024 {
                std::thread::sleep(Duration::from_millis(1)); // slow at first
            }
        }
    });
    run_until(&reactor, "the transfer", || reader.is_finished());
    let got = reader.join().unwrap();
    assert_eq!(got.len(), TOTAL);
    assert!(
        got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8),
        "bytes out of order"
    );
    assert_eq!(producer.resumes.get(), TOTAL / CHUNK + 1);
}

/// A pull producer on a child's stdin (`cat`) is asked for each chunk in
/// turn; what comes back is what it wrote.
#[test]
fn pull_producer_on_a_child_stdin() {
    const TOTAL: usize = 2 * 1024 * 1024;
    const CHUNK: usize = 16 * 1024;
    struct Feed {
        transport: RefCell<Option<ProcessTransportRef>>,
        sent: Cell<usize>,
    }
    impl Producer for Feed {
        fn stop_producing(&self) {}
    }
    impl PullProducer for Feed {
        fn resume_producing(&self) {
            let transport = self.transport.borrow().clone().unwrap();
            let start = self.sent.get();
            if start >= TOTAL {
                transport.unregister_producer().unwrap();
                transport.close_stdin();
                return;
            }
            let chunk: Vec<u8> = (start..start + CHUNK).map(|i| (i % 253) as u8).collect();
            self.sent.set(start + CHUNK);
            transport.write(&chunk);
        }
    }
    #[derive(Default)]
    struct Cat {
        out: Vec<u8>,
        ended: Option<Failure>,
    }
    impl ProcessProtocol for Cat {
        fn child_data_received(&mut self, fd: i32, data: &[u8]) {
            if fd == 1 {
                self.out.extend_from_slice(data);
            }
        }
        fn process_ended(&mut self, reason: Failure) {
            self.ended = Some(reason);
        }
    }
    let reactor = Reactor::new().unwrap();
    let cat = Rc::new(RefCell::new(Cat::default()));
    let transport = reactor
        .spawn_process(cat.clone(), ProcessOptions::new("cat"))
        .unwrap();
    let feed = Rc::new(Feed {
        transport: RefCell::new(Some(transport.clone())),
        sent: Cell::new(0),
    });
    transport
        .register_producer(ProducerRef::Pull(feed.clone()))
        .unwrap();
    run_until(&reactor, "cat to end", || cat.borrow().ended.is_some());
    let out = &cat.borrow().out;
    assert_eq!(out.len(), TOTAL);
    assert!(out.iter().enumerate().all(|(i, b)| *b == (i % 253) as u8));
}
