//! Twisted's `twisted.protocols.test.test_tls.TLSProducerTests` (and the
//! pull-producer cases): flow control through the TLS layer, both ways.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use torsion_reactor::error::{ConnectionDone, ProducerError};
use torsion_reactor::{Producer, ProducerRef, PullProducer, PushProducer, TransportRef};
use torsion_testing::AccumulatingProtocol;
use util::{localhost_pair, TlsPair};

/// A push producer that records what it was told.
#[derive(Default)]
struct Recorder {
    paused: Cell<u32>,
    resumed: Cell<u32>,
    stopped: Cell<bool>,
}

impl Producer for Recorder {
    fn stop_producing(&self) {
        self.stopped.set(true);
    }
}

impl PushProducer for Recorder {
    fn pause_producing(&self) {
        self.paused.set(self.paused.get() + 1);
    }
    fn resume_producing(&self) {
        self.resumed.set(self.resumed.get() + 1);
    }
}

type Pair = TlsPair<AccumulatingProtocol, AccumulatingProtocol>;

/// A handshaken pair and the client's TLS transport.
fn handshaken() -> (Pair, TransportRef) {
    let pair = localhost_pair(AccumulatingProtocol::new(), AccumulatingProtocol::new());
    pair.pump.flush();
    let client = pair.client.borrow().transport.clone().expect("connected");
    (pair, client)
}

fn server_transport(pair: &Pair) -> TransportRef {
    pair.server.borrow().transport.clone().expect("connected")
}

/// When the transport under TLS fills up (the peer is not reading), the
/// producer registered on the TLS transport is paused.
#[test]
fn streaming_producer_paused_in_normal_mode() {
    let (pair, client) = handshaken();
    let producer = Rc::new(Recorder::default());
    client
        .register_producer(ProducerRef::Push(producer.clone()))
        .unwrap();
    server_transport(&pair).pause_producing();
    // A paused TLS transport pauses the reading of the transport under it.
    assert!(pair.pump.server_transport().is_reading_paused());
    client.write(&vec![b'x'; 1 << 20]);
    pair.pump.flush();
    assert_eq!(producer.paused.get(), 1);
    assert_eq!(pair.server.borrow().data.len(), 0);
}

/// Once the peer reads again, the paused producer is resumed and every
/// byte arrives.
#[test]
fn streaming_producer_resumed_in_normal_mode() {
    let (pair, client) = handshaken();
    let producer = Rc::new(Recorder::default());
    client
        .register_producer(ProducerRef::Push(producer.clone()))
        .unwrap();
    server_transport(&pair).pause_producing();
    client.write(&vec![b'x'; 1 << 20]);
    pair.pump.flush();
    assert_eq!((producer.paused.get(), producer.resumed.get()), (1, 0));
    server_transport(&pair).resume_producing();
    pair.pump.flush();
    assert_eq!(producer.resumed.get(), 1);
    assert_eq!(pair.server.borrow().data.len(), 1 << 20);
}

/// Registering a second producer fails.
#[test]
fn streaming_producer_twice() {
    let (_pair, client) = handshaken();
    client
        .register_producer(ProducerRef::Push(Rc::new(Recorder::default())))
        .unwrap();
    assert_eq!(
        client.register_producer(ProducerRef::Push(Rc::new(Recorder::default()))),
        Err(ProducerError::AlreadyRegistered)
    );
}

/// Unregistering the producer removes it from the transport under TLS.
#[test]
fn streaming_producer_unregister() {
    let (pair, client) = handshaken();
    client
        .register_producer(ProducerRef::Push(Rc::new(Recorder::default())))
        .unwrap();
    assert!(pair.pump.client_transport().producer().is_some());
    client.unregister_producer().unwrap();
    assert!(pair.pump.client_transport().producer().is_none());
}

/// Unregistering twice fails the second time.
#[test]
fn streaming_producer_unregister_twice() {
    let (_pair, client) = handshaken();
    client
        .register_producer(ProducerRef::Push(Rc::new(Recorder::default())))
        .unwrap();
    client.unregister_producer().unwrap();
    assert_eq!(
        client.unregister_producer(),
        Err(ProducerError::NotRegistered)
    );
}

/// `lose_connection` waits for the producer to unregister, then sends
/// close_notify and closes cleanly.
#[test]
fn streaming_producer_lose_connection_with_producer() {
    let (pair, client) = handshaken();
    client
        .register_producer(ProducerRef::Push(Rc::new(Recorder::default())))
        .unwrap();
    client.write(b"last words");
    client.lose_connection();
    pair.pump.flush();
    assert!(!pair.server.borrow().closed);
    assert_eq!(pair.server.borrow().data, b"last words");
    client.write(b", really");
    client.unregister_producer().unwrap();
    pair.pump.flush();
    assert_eq!(pair.server.borrow().data, b"last words, really");
    let reason = pair.server.borrow().closed_reason.clone().expect("closed");
    assert!(reason.check::<ConnectionDone>(), "{reason}");
}

/// `stop_producing` on the TLS transport closes the connection under it.
#[test]
fn streaming_producer_stop_producing() {
    let (pair, client) = handshaken();
    client.stop_producing();
    pair.pump.flush();
    assert!(pair.pump.client_transport().is_connection_lost());
    assert!(pair.client.borrow().closed && pair.server.borrow().closed);
}

/// A pull producer is asked for chunks until it unregisters; every chunk
/// arrives encrypted and in order.
#[test]
fn non_streaming_producer() {
    struct Chunks {
        transport: TransportRef,
        left: Cell<u32>,
    }
    impl Producer for Chunks {
        fn stop_producing(&self) {
            self.left.set(0);
        }
    }
    impl PullProducer for Chunks {
        fn resume_producing(&self) {
            if self.left.get() == 0 {
                let _ = self.transport.unregister_producer();
                self.transport.lose_connection();
                return;
            }
            self.left.set(self.left.get() - 1);
            self.transport
                .write(format!("chunk {};", self.left.get()).as_bytes());
        }
    }
    let (pair, client) = handshaken();
    let chunks = Rc::new(Chunks {
        transport: client.clone(),
        left: Cell::new(10),
    });
    client.register_producer(ProducerRef::Pull(chunks)).unwrap();
    pair.pump.flush();
    let expected: String = (0..10).rev().map(|i| format!("chunk {i};")).collect();
    assert_eq!(pair.server.borrow().data, expected.as_bytes());
    assert!(pair.server.borrow().closed);
}

/// A producer registered after the connection was lost is stopped at once.
#[test]
fn streaming_producer_after_connection_lost() {
    let (pair, client) = handshaken();
    client.lose_connection();
    pair.pump.flush();
    assert!(pair.client.borrow().closed);
    let producer = Rc::new(Recorder::default());
    client
        .register_producer(ProducerRef::Push(producer.clone()))
        .unwrap();
    assert!(producer.stopped.get());
}

/// The same for a pull producer.
#[test]
fn non_streaming_producer_after_connection_lost() {
    struct Pull(RefCell<bool>);
    impl Producer for Pull {
        fn stop_producing(&self) {
            *self.0.borrow_mut() = true;
        }
    }
    impl PullProducer for Pull {
        fn resume_producing(&self) {}
    }
    let (pair, client) = handshaken();
    client.lose_connection();
    pair.pump.flush();
    let producer = Rc::new(Pull(RefCell::new(false)));
    client
        .register_producer(ProducerRef::Pull(producer.clone()))
        .unwrap();
    assert!(*producer.0.borrow());
}

/// A producer paused from inside the lower transport's `write` (while the
/// layer hands it records) may call back into the TLS transport: its
/// writes are encrypted after the records being handed over, in order.
#[test]
fn producer_writes_while_being_paused() {
    struct Noisy {
        transport: RefCell<Option<TransportRef>>,
        paused: Cell<u32>,
    }
    impl Producer for Noisy {
        fn stop_producing(&self) {}
    }
    impl PushProducer for Noisy {
        fn pause_producing(&self) {
            self.paused.set(self.paused.get() + 1);
            let transport = self.transport.borrow().clone().unwrap();
            assert!(!transport.is_disconnecting());
            assert!(transport.as_tls().is_some());
            transport.write(b"<paused>");
        }
        fn resume_producing(&self) {}
    }
    let (pair, client) = handshaken();
    let producer = Rc::new(Noisy {
        transport: RefCell::new(Some(client.clone())),
        paused: Cell::new(0),
    });
    client
        .register_producer(ProducerRef::Push(producer.clone()))
        .unwrap();
    server_transport(&pair).pause_producing();
    client.write(&vec![b'x'; 1 << 20]);
    server_transport(&pair).resume_producing();
    pair.pump.flush();
    *producer.transport.borrow_mut() = None;
    assert_eq!(producer.paused.get(), 1);
    let data = pair.server.borrow().data.clone();
    assert_eq!(data.len(), (1 << 20) + 8);
    assert!(data.ends_with(b"<paused>"));
    assert!(data[..1 << 20].iter().all(|&b| b == b'x'));
}
