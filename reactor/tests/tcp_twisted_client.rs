//! Twisted's `ConnectionTestsMixin` and `StreamClientTestsMixin`
//! (`twisted/internet/test/connectionmixins.py`, run over TCP by
//! `test_tcp.py`), ported scenario by scenario to the mio reactor over
//! 127.0.0.1 with ephemeral ports; every wait is bounded (an iterate loop
//! with a deadline, or `run()` guarded by a timed `crash()` as Twisted's
//! `runReactor` guards it).
//!
//! Ported: `test_writeAfterDisconnect`, `test_protocolGarbageAfterLostConnection`,
//! `test_clientConnectionFailedStopsReactor`, `test_connectEvent`,
//! `test_unregisterProducerAfterDisconnect`, `test_disconnectWhileProducing`.
//! Not asked for, so not ported: `test_logPrefix` (Twisted's log context),
//! `test_interface` (`verifyObject(IConnector)`: a type check in Rust).
//!
//! Where a Twisted test used an endpoint's `connect` Deferred to reach the
//! client protocol, the client factory here ([`Keeping`]) keeps a `Weak` to
//! each protocol it built (`ProtocolFactory::protocol_built`), and the test
//! acts once the protocol has its transport.

mod tcp_twisted_util;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use tcp_twisted_util::{
    connect, free_port, listen, registered_sources, run_until, stop_listening, turn, DEADLINE,
};
use torsion_reactor::error::{ConnectionDone, ConnectionRefused};
use torsion_reactor::{
    Address, Connector, Deferred, Factory, Failure, Producer, ProducerRef, Protocol,
    ProtocolFactory, PullProducer, Reactor, ReactorCore, ReactorTimeExt, TransportRef,
};

/// Twisted's bare `Protocol`: ignores what it reads.
struct Quiet;

impl Protocol for Quiet {
    fn data_received(&mut self, _: &[u8]) {}
}

/// `ClientFactory.forProtocol`, keeping a `Weak` to each protocol built.
struct Keeping<P> {
    build: Box<dyn Fn() -> P>,
    built: RefCell<Vec<Weak<RefCell<P>>>>,
}

impl<P: Protocol> Keeping<P> {
    fn new(build: impl Fn() -> P + 'static) -> Rc<Keeping<P>> {
        Rc::new(Keeping {
            build: Box::new(build),
            built: RefCell::new(Vec::new()),
        })
    }

    fn first(&self) -> Weak<RefCell<P>> {
        self.built.borrow().first().cloned().unwrap_or_default()
    }
}

impl<P: Protocol> ProtocolFactory for Keeping<P> {
    type Protocol = P;
    fn build_protocol(&self, _: &Address) -> Option<P> {
        Some((self.build)())
    }
    fn protocol_built(&self, protocol: &Rc<RefCell<P>>) {
        self.built.borrow_mut().push(Rc::downgrade(protocol));
    }
}

/// Twisted's `ClosingLaterProtocol`: loses the connection when it receives
/// a byte; fires its Deferred (with its transport: Twisted passes the
/// protocol, whose `transport` the callbacks use) when the connection is
/// lost.
struct ClosingLater {
    on_lost: Deferred<TransportRef>,
    transport: Option<TransportRef>,
    reason: Option<Failure>,
}

impl ClosingLater {
    fn new(on_lost: Deferred<TransportRef>) -> ClosingLater {
        ClosingLater {
            on_lost,
            transport: None,
            reason: None,
        }
    }
}

impl Protocol for ClosingLater {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, _: &[u8]) {
        if let Some(t) = &self.transport {
            t.lose_connection();
        }
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.reason = Some(reason);
        if let Some(t) = self.transport.clone() {
            self.on_lost.callback(t);
        }
    }
}

/// The transport of the first protocol `factory` built, once it has one.
fn client_transport(factory: &Keeping<ClosingLater>) -> Option<TransportRef> {
    let protocol = factory.first().upgrade()?;
    let transport = protocol.borrow().transport.clone();
    transport
}

/// Twisted's `Stop`: a client factory whose `client_connection_failed`
/// records the reason and stops the reactor.
struct Stop<P> {
    reactor: Reactor,
    build: Box<dyn Fn() -> P>,
    fail_reason: Rc<RefCell<Option<Failure>>>,
}

impl<P: Protocol> ProtocolFactory for Stop<P> {
    type Protocol = P;
    fn build_protocol(&self, _: &Address) -> Option<P> {
        Some((self.build)())
    }
    fn client_connection_failed(&self, _: &dyn Connector, reason: Failure) {
        *self.fail_reason.borrow_mut() = Some(reason);
        self.reactor.stop().expect("the reactor is running");
    }
}

/// Twisted's `runReactor`: runs `reactor` until it is stopped, crashing it
/// (and failing the test) after [`DEADLINE`].
fn run_reactor(reactor: &Reactor) {
    reactor.set_install_signal_handlers(false);
    let timed_out = Rc::new(Cell::new(false));
    let (r, t) = (reactor.clone(), timed_out.clone());
    let guard = reactor.call_later(DEADLINE, move || {
        t.set(true);
        r.crash();
    });
    reactor.run().unwrap();
    let _ = guard.cancel();
    assert!(
        !timed_out.get(),
        "the reactor was not stopped in {DEADLINE:?}"
    );
}

/// Ports `test_writeAfterDisconnect`: once each side's connection is lost
/// (the client writes `x`, the server loses the connection on it, the
/// client sees the close), `write` and `write_sequence` on its transport
/// are no-ops: called from `connection_lost`'s Deferred, they neither
/// panic nor fail, and the callback runs to the end on both sides.
#[test]
fn write_after_disconnect() {
    let reactor = Reactor::new().unwrap();
    let finished = Rc::new(RefCell::new(Vec::new()));
    let disconnected = |lost: &Deferred<TransportRef>| {
        let finished = finished.clone();
        drop(lost.clone().add_callback(move |t: TransportRef| {
            t.write(b"some bytes to get lost");
            t.write_sequence(&[b"some", b"more"]);
            finished.borrow_mut().push(true);
            Ok::<(), Failure>(())
        }));
    };
    let server_lost = Deferred::new();
    disconnected(&server_lost);
    let sl = server_lost.clone();
    let server_factory = Factory::for_protocol(move || ClosingLater::new(sl.clone()));
    let (port, number) = listen(&reactor, Rc::new(server_factory));

    let client_lost = Deferred::new();
    disconnected(&client_lost);
    let cl = client_lost.clone();
    let factory = Keeping::new(move || ClosingLater::new(cl.clone()));
    let _connector = connect(&reactor, number, factory.clone());
    run_until(&reactor, "the client's connection", || {
        client_transport(&factory).is_some()
    });
    client_transport(&factory).unwrap().write(b"x");
    run_until(&reactor, "both connections lost", || {
        finished.borrow().len() == 2
    });
    assert_eq!(*finished.borrow(), [true, true]);
    stop_listening(&reactor, &port);
}

/// Ports `test_protocolGarbageAfterLostConnection`: after the client's
/// connection is lost (it calls `lose_connection`), the reactor keeps no
/// reference to its protocol: once the test's own handles are dropped, a
/// `Weak` to it no longer upgrades, though the reactor, the listening port
/// and the connector are all still alive. (Twisted checks a weakref after
/// `gc.collect()`; Rust frees on the last `Rc`, so no collection is needed.)
#[test]
fn protocol_garbage_after_lost_connection() {
    let reactor = Reactor::new().unwrap();
    let (port, number) = listen(&reactor, Rc::new(Factory::for_protocol(|| Quiet)));
    let lost = Deferred::new();
    let l = lost.clone();
    let factory = Keeping::new(move || ClosingLater::new(l.clone()));
    let connector = connect(&reactor, number, factory.clone());
    run_until(&reactor, "the client's connection", || {
        client_transport(&factory).is_some()
    });
    let client = factory.first();
    client_transport(&factory).unwrap().lose_connection();
    run_until(&reactor, "the connection to be lost", || lost.is_called());
    turn(&reactor, 3);
    // The test's own handles: the transport its Deferred was fired with.
    drop(lost.take_result());
    drop(lost);
    assert!(
        client.upgrade().is_none(),
        "something still holds the client protocol ({} strong references)",
        client.strong_count()
    );
    drop(connector);
    stop_listening(&reactor, &port);
}

/// Ports `test_clientConnectionFailedStopsReactor`: a client factory's
/// `client_connection_failed` can stop the reactor: connecting (once the
/// reactor runs) to a port nobody listens on, `run()` returns because the
/// factory stopped it (with the refusal as its reason), not because the
/// deadline crashed it.
#[test]
fn client_connection_failed_stops_reactor() {
    let reactor = Reactor::new().unwrap();
    let fail_reason = Rc::new(RefCell::new(None));
    let factory = Rc::new(Stop {
        reactor: reactor.clone(),
        build: Box::new(|| Quiet),
        fail_reason: fail_reason.clone(),
    });
    let port = free_port();
    let r = reactor.clone();
    reactor.call_when_running(Box::new(move || {
        connect(&r, port, factory);
    }));
    run_reactor(&reactor);
    assert!(!reactor.is_running());
    let reason = fail_reason.borrow().clone().expect("the connection failed");
    assert!(reason.check::<ConnectionRefused>(), "{reason}");
}

/// Ports `test_connectEvent`: a client gets its `connection_made` (and can
/// stop the reactor from there): the reactor is stopped by the protocol,
/// not by the factory's failure hook nor the deadline.
#[test]
fn connect_event() {
    struct CheckConnection {
        reactor: Reactor,
        connected: Rc<RefCell<Vec<bool>>>,
    }
    impl Protocol for CheckConnection {
        fn connection_made(&mut self, _: TransportRef) {
            let stopped = self.reactor.stop().is_ok();
            self.connected.borrow_mut().push(stopped);
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    let reactor = Reactor::new().unwrap();
    let (_port, number) = listen(&reactor, Rc::new(Factory::for_protocol(|| Quiet)));
    let connected = Rc::new(RefCell::new(Vec::new()));
    let fail_reason = Rc::new(RefCell::new(None));
    let (r, c) = (reactor.clone(), connected.clone());
    let factory = Rc::new(Stop {
        reactor: reactor.clone(),
        build: Box::new(move || CheckConnection {
            reactor: r.clone(),
            connected: c.clone(),
        }),
        fail_reason: fail_reason.clone(),
    });
    let r = reactor.clone();
    reactor.call_when_running(Box::new(move || {
        connect(&r, number, factory);
    }));
    run_reactor(&reactor);
    assert_eq!(*connected.borrow(), [true], "connection_made stopped it");
    assert!(fail_reason.borrow().is_none());
}

/// Ports `test_unregisterProducerAfterDisconnect`: the client registers a
/// pull producer (one `x` per resume) and calls `lose_connection`; the
/// server closes on connection, so the client's connection is lost (its
/// `x`s meet the closed peer). Unregistering the producer from
/// `connection_lost` does not put the transport back in the poller as a
/// writer (Twisted: `transport in reactor.getWriters()` is false): its
/// socket is gone and the reactor holds no source but the listening port.
///
/// Twisted's `unregisterProducer` there is a silent no-op; Torsion's
/// already dropped the producer on close and returns `NotRegistered`,
/// which the port ignores, as Twisted's test ignores the call's result.
#[test]
fn unregister_producer_after_disconnect() {
    struct SimplePull(TransportRef);
    impl Producer for SimplePull {
        fn stop_producing(&self) {}
    }
    impl PullProducer for SimplePull {
        fn resume_producing(&self) {
            self.0.write(b"x");
        }
    }
    /// Twisted's `ClosingProtocol` (`test/test_tcp.py`).
    struct Closing(Rc<RefCell<Option<Failure>>>);
    impl Protocol for Closing {
        fn connection_made(&mut self, t: TransportRef) {
            t.lose_connection();
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn connection_lost(&mut self, reason: Failure) {
            *self.0.borrow_mut() = Some(reason);
        }
    }
    /// Whether the transport was still registered, as `connection_lost` saw it.
    type Writing = Rc<RefCell<Vec<bool>>>;
    struct Client(Rc<RefCell<Option<TransportRef>>>, Writing);
    impl Protocol for Client {
        fn connection_made(&mut self, t: TransportRef) {
            let producer = Rc::new(SimplePull(t.clone()));
            t.register_producer(ProducerRef::Pull(producer)).unwrap();
            t.lose_connection();
            *self.0.borrow_mut() = Some(t);
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn connection_lost(&mut self, _: Failure) {
            let t = self.0.borrow().clone().expect("connected");
            let _ = t.unregister_producer();
            self.1.borrow_mut().push(t.as_tcp().is_some());
        }
    }
    let reactor = Reactor::new().unwrap();
    let server_lost = Rc::new(RefCell::new(None));
    let s = server_lost.clone();
    let (port, number) = listen(
        &reactor,
        Rc::new(Factory::for_protocol(move || Closing(s.clone()))),
    );
    let writing = Writing::default();
    let transport = Rc::new(RefCell::new(None));
    let (w, t) = (writing.clone(), transport.clone());
    let factory = Factory::for_protocol(move || Client(t.clone(), w.clone()));
    let _connector = connect(&reactor, number, Rc::new(factory));
    run_until(&reactor, "the client's connection_lost", || {
        !writing.borrow().is_empty()
    });
    turn(&reactor, 3);
    assert_eq!(*writing.borrow(), [false], "still registered at unregister");
    let transport = transport.borrow().clone().expect("connected");
    assert!(transport.as_tcp().is_none(), "the socket is still open");
    assert_eq!(
        registered_sources(&reactor),
        1,
        "only the port: {reactor:?}"
    );
    let reason = server_lost.borrow().clone().expect("the server closed");
    assert!(reason.check::<ConnectionDone>(), "server: {reason}");
    stop_listening(&reactor, &port);
    assert_eq!(registered_sources(&reactor), 0, "{reactor:?}");
}

/// Ports `test_disconnectWhileProducing`: `lose_connection` with a pull
/// producer registered waits for the producer; once it is unregistered
/// (two reactor turns later) the connection closes cleanly, well within a
/// second, and the producer was never told to stop (Twisted's producer
/// there has no `stopProducing` at all).
#[test]
fn disconnect_while_producing() {
    type Events = Rc<RefCell<Vec<String>>>;
    struct Idle(Events);
    impl Producer for Idle {
        fn stop_producing(&self) {
            self.0.borrow_mut().push("stop_producing".into());
        }
    }
    impl PullProducer for Idle {
        fn resume_producing(&self) {
            self.0.borrow_mut().push("resume_producing".into());
        }
    }
    struct Client(Reactor, Events);
    impl Protocol for Client {
        fn connection_made(&mut self, t: TransportRef) {
            let events = self.1.clone();
            t.register_producer(ProducerRef::Pull(Rc::new(Idle(events.clone()))))
                .unwrap();
            t.lose_connection();
            let r = self.0.clone();
            self.0.call_later(Duration::ZERO, move || {
                let r2 = r.clone();
                r.call_later(Duration::ZERO, move || {
                    let unregistered = t.unregister_producer();
                    events
                        .borrow_mut()
                        .push(format!("unregistered: {}", unregistered.is_ok()));
                    r2.call_later(Duration::from_secs(1), move || {
                        events.borrow_mut().push("connection was not lost".into());
                    });
                });
            });
        }
        fn data_received(&mut self, _: &[u8]) {}
        fn connection_lost(&mut self, reason: Failure) {
            let done = reason.check::<ConnectionDone>();
            let kind = if done { "done" } else { reason.type_name() };
            self.1.borrow_mut().push(format!("lost: {kind}"));
        }
    }
    let reactor = Reactor::new().unwrap();
    let (port, number) = listen(&reactor, Rc::new(Factory::for_protocol(|| Quiet)));
    let events = Events::default();
    let (r, e) = (reactor.clone(), events.clone());
    let factory = Keeping::new(move || Client(r.clone(), e.clone()));
    let _connector = connect(&reactor, number, factory.clone());
    run_until(&reactor, "the connection to be lost", || {
        events.borrow().iter().any(|e| e.starts_with("lost"))
    });
    turn(&reactor, 3);
    let events = events.borrow().clone();
    let after_resumes: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| *e != "resume_producing")
        .collect();
    assert_eq!(
        after_resumes,
        ["unregistered: true", "lost: done"],
        "{events:?}"
    );
    assert_eq!(events[0], "resume_producing", "{events:?}");
    stop_listening(&reactor, &port);
}
