//! What the ports of Twisted's TCP connection tests share
//! (`tcp_twisted_connection.rs`, `tcp_twisted_legacy.rs`): bounded waits on
//! a real reactor, Twisted's `AccumulatingProtocol` (with `MyHCProtocol`'s
//! half-close flags), `MyServerFactory`/`MyClientFactory`/
//! `ClientStartStopFactory` in one recording factory, `ClosingFactory`, and
//! a per-thread log capture (trial's `flushLoggedErrors`).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{
    Address, Connector, Deferred, Factory, Failure, HalfCloseableProtocol, ListeningPort, Protocol,
    ProtocolFactory, Reactor, ReactorCore, ReactorTcp, ReactorTimeExt, TransportRef,
    DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT,
};

/// How long any wait may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// Iterates the reactor until `done` or [`DEADLINE`] (then fails the test).
#[track_caller]
pub(crate) fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

/// Iterates `turns` times (at most 20 ms each): "nothing more happens".
pub(crate) fn spin(reactor: &Reactor, turns: usize) {
    for _ in 0..turns {
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

/// The port a listening port got.
pub(crate) fn port_number(port: &Rc<dyn ListeningPort>) -> u16 {
    port.host().port().expect("a TCP port has a number")
}

/// `127.0.0.1:port` as an address.
pub(crate) fn loopback(port: u16) -> Address {
    Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Listens on 127.0.0.1, port 0.
pub(crate) fn listen<F: ProtocolFactory>(
    reactor: &Reactor,
    factory: &Rc<F>,
) -> Rc<dyn ListeningPort> {
    reactor
        .listen_tcp(0, factory.clone(), DEFAULT_BACKLOG, "127.0.0.1")
        .expect("listen on 127.0.0.1")
}

/// Connects to 127.0.0.1:`port`.
pub(crate) fn connect<F: ProtocolFactory>(
    reactor: &Reactor,
    port: u16,
    factory: &Rc<F>,
) -> Rc<dyn Connector> {
    reactor.connect_tcp(
        "127.0.0.1",
        port,
        factory.clone(),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    )
}

/// A failure's error type, without its path: `ConnectionDone`.
pub(crate) fn kind(failure: &Failure) -> &'static str {
    let name = failure.type_name();
    name.rsplit("::").next().unwrap_or(name)
}

/// The data pointer of a connector, to compare identities.
pub(crate) fn identity(connector: &dyn Connector) -> *const () {
    std::ptr::from_ref(connector).cast::<()>()
}

type Hook = Box<dyn FnOnce(&Rc<Acc>)>;

/// What an [`Accumulating`] protocol saw (Twisted's `AccumulatingProtocol`
/// attributes, plus `MyHCProtocol`'s half-close flags).
#[derive(Default)]
pub(crate) struct Acc {
    pub(crate) made: Cell<u32>,
    /// Twisted's `closed`, counted: how often `connection_lost` came (or
    /// `MyHCProtocol` called it on itself).
    pub(crate) closed: Cell<u32>,
    pub(crate) data: RefCell<Vec<u8>>,
    pub(crate) reason: RefCell<Option<Failure>>,
    pub(crate) transport: RefCell<Option<TransportRef>>,
    pub(crate) half_closeable: bool,
    pub(crate) read_half_closed: Cell<bool>,
    pub(crate) write_half_closed: Cell<bool>,
    /// `readConnectionLost = aBug`: panics instead.
    pub(crate) buggy_read_lost: Cell<bool>,
    /// `writeConnectionLost = aBug`: panics instead.
    pub(crate) buggy_write_lost: Cell<bool>,
    /// Fired (once) from `connection_made`: the factory's `protocolConnectionMade`.
    pub(crate) on_made: RefCell<Option<Hook>>,
    /// Fired (once) from `connection_lost`: Twisted's `closedDeferred`.
    pub(crate) on_lost: RefCell<Option<Hook>>,
    /// Shared with the factory: what happened, in order.
    pub(crate) order: Rc<RefCell<Vec<&'static str>>>,
}

impl Acc {
    pub(crate) fn transport(&self) -> TransportRef {
        self.transport.borrow().clone().expect("connected")
    }

    pub(crate) fn data(&self) -> Vec<u8> {
        self.data.borrow().clone()
    }

    pub(crate) fn reason(&self) -> Failure {
        self.reason.borrow().clone().expect("connection_lost came")
    }

    /// Sets Twisted's `closedDeferred`.
    pub(crate) fn when_lost(&self, hook: impl FnOnce(&Rc<Acc>) + 'static) {
        *self.on_lost.borrow_mut() = Some(Box::new(hook));
    }

    /// AccumulatingProtocol.connectionLost.
    fn lost(self: &Rc<Self>, reason: Option<Failure>) {
        self.closed.set(self.closed.get() + 1);
        self.order.borrow_mut().push("CL");
        if let Some(reason) = reason {
            *self.reason.borrow_mut() = Some(reason);
        }
        let hook = self.on_lost.borrow_mut().take();
        if let Some(hook) = hook {
            hook(self);
        }
    }
}

/// Twisted's `AccumulatingProtocol`; half-closeable (`MyHCProtocol`) when
/// its [`Acc::half_closeable`] says so.
pub(crate) struct Accumulating(pub(crate) Rc<Acc>);

impl Protocol for Accumulating {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0.made.set(self.0.made.get() + 1);
        *self.0.transport.borrow_mut() = Some(transport);
        let hook = self.0.on_made.borrow_mut().take();
        if let Some(hook) = hook {
            hook(&self.0);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.0.data.borrow_mut().extend_from_slice(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.0.lost(Some(reason));
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        if self.0.half_closeable {
            Some(self)
        } else {
            None
        }
    }
}

impl HalfCloseableProtocol for Accumulating {
    fn read_connection_lost(&mut self) {
        assert!(!self.0.buggy_read_lost.get(), "ONO I AM BUGGY CODE");
        self.0.read_half_closed.set(true);
        if self.0.write_half_closed.get() {
            self.0.lost(None);
        }
    }

    fn write_connection_lost(&mut self) {
        assert!(!self.0.buggy_write_lost.get(), "ONO I AM BUGGY CODE");
        self.0.write_half_closed.set(true);
        if self.0.read_half_closed.get() {
            self.0.lost(None);
        }
    }
}

type ConnectorHook = Box<dyn Fn(&dyn Connector)>;

/// Twisted's `MyServerFactory`, `MyClientFactory` and
/// `ClientStartStopFactory` in one: builds [`Accumulating`] protocols
/// (`None` when `refuse`), counts `do_start`/`do_stop` calls, and records
/// the client hooks.
#[derive(Default)]
pub(crate) struct MyFactory {
    pub(crate) half_closeable: bool,
    /// `buildProtocol` returns `None`.
    pub(crate) refuse: bool,
    pub(crate) called: Cell<u32>,
    pub(crate) last: RefCell<Option<Rc<Acc>>>,
    pub(crate) protocol_connection_made: RefCell<Option<Hook>>,
    pub(crate) protocol_connection_lost: RefCell<Option<Hook>>,
    pub(crate) started: Cell<u32>,
    pub(crate) stopped: Cell<u32>,
    /// `stopFactory` raises `RuntimeError("An error")`.
    pub(crate) stop_panics: Cell<bool>,
    /// Connectors passed to `started_connecting`, then to `client_connection_lost`.
    pub(crate) connectors: RefCell<Vec<*const ()>>,
    pub(crate) failed: Cell<u32>,
    pub(crate) failure: RefCell<Option<Failure>>,
    pub(crate) lost: RefCell<Option<Failure>>,
    pub(crate) on_started_connecting: RefCell<Option<ConnectorHook>>,
    /// Replaces the default `client_connection_lost` recording.
    pub(crate) on_client_lost: RefCell<Option<ConnectorHook>>,
    pub(crate) order: Rc<RefCell<Vec<&'static str>>>,
}

impl MyFactory {
    pub(crate) fn half_closeable() -> MyFactory {
        MyFactory {
            half_closeable: true,
            ..MyFactory::default()
        }
    }

    /// The last protocol built.
    pub(crate) fn last(&self) -> Option<Rc<Acc>> {
        self.last.borrow().clone()
    }

    /// Whether the last protocol built is connected.
    pub(crate) fn made(&self) -> bool {
        self.last().is_some_and(|p| p.made.get() > 0)
    }

    /// Sets `protocolConnectionMade`.
    pub(crate) fn when_made(&self, hook: impl FnOnce(&Rc<Acc>) + 'static) {
        *self.protocol_connection_made.borrow_mut() = Some(Box::new(hook));
    }
}

impl ProtocolFactory for MyFactory {
    type Protocol = Accumulating;

    fn build_protocol(&self, _addr: &Address) -> Option<Accumulating> {
        self.called.set(self.called.get() + 1);
        if self.refuse {
            return None;
        }
        let acc = Rc::new(Acc {
            half_closeable: self.half_closeable,
            order: self.order.clone(),
            ..Acc::default()
        });
        *acc.on_made.borrow_mut() = self.protocol_connection_made.borrow_mut().take();
        *acc.on_lost.borrow_mut() = self.protocol_connection_lost.borrow_mut().take();
        *self.last.borrow_mut() = Some(acc.clone());
        Some(Accumulating(acc))
    }

    fn do_start(&self) {
        self.started.set(self.started.get() + 1);
    }

    fn do_stop(&self) {
        self.stopped.set(self.stopped.get() + 1);
        assert!(!self.stop_panics.get(), "An error");
    }

    fn started_connecting(&self, connector: &dyn Connector) {
        self.connectors.borrow_mut().push(identity(connector));
        if let Some(hook) = &*self.on_started_connecting.borrow() {
            hook(connector);
        }
    }

    fn client_connection_failed(&self, _connector: &dyn Connector, reason: Failure) {
        self.failed.set(self.failed.get() + 1);
        *self.failure.borrow_mut() = Some(reason);
    }

    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.order.borrow_mut().push("CCL");
        self.connectors.borrow_mut().push(identity(connector));
        *self.lost.borrow_mut() = Some(reason);
        if let Some(hook) = &*self.on_client_lost.borrow() {
            hook(connector);
        }
    }
}

/// Twisted's `ClosingProtocol`: closes at once; records its close reason.
pub(crate) struct Closing(Rc<RefCell<Vec<Failure>>>);

impl Protocol for Closing {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.lose_connection();
    }

    fn data_received(&mut self, _data: &[u8]) {}

    fn connection_lost(&mut self, reason: Failure) {
        self.0.borrow_mut().push(reason);
    }
}

/// Twisted's `ClosingFactory`: stops listening on its port while building
/// the first protocol, which closes at once.
#[derive(Default)]
pub(crate) struct ClosingFactory {
    pub(crate) port: RefCell<Option<Rc<dyn ListeningPort>>>,
    /// The Deferred `stop_listening` returned (`_cleanerUpper`).
    pub(crate) stopped: RefCell<Option<Deferred<()>>>,
    /// The close reasons of the protocols built.
    pub(crate) lost: Rc<RefCell<Vec<Failure>>>,
}

impl ClosingFactory {
    /// Listens on 127.0.0.1 with a new `ClosingFactory` that closes that port.
    pub(crate) fn listen(reactor: &Reactor) -> (Rc<ClosingFactory>, u16) {
        let factory = Rc::new(ClosingFactory::default());
        let port = listen(reactor, &factory);
        let number = port_number(&port);
        *factory.port.borrow_mut() = Some(port);
        (factory, number)
    }

    /// `cleanUp`: the port stopped listening (at once if it was not yet).
    pub(crate) fn clean_up(&self) {
        let port = self.port.borrow_mut().take();
        let stopped = match port {
            Some(port) => port.stop_listening(),
            None => self.stopped.borrow_mut().take().expect("stopped in build"),
        };
        assert!(matches!(stopped.take_result(), Some(Ok(()))));
    }
}

impl ProtocolFactory for ClosingFactory {
    type Protocol = Closing;

    fn build_protocol(&self, _addr: &Address) -> Option<Closing> {
        let port = self.port.borrow_mut().take();
        if let Some(port) = port {
            *self.stopped.borrow_mut() = Some(port.stop_listening());
        }
        Some(Closing(self.lost.clone()))
    }
}

/// A factory counting `(started, stopped)` through `Factory`'s
/// `startFactory`/`stopFactory` hooks (Twisted's `StartStopFactory`).
pub(crate) fn start_stop_factory(counts: &Rc<Cell<(u32, u32)>>) -> Rc<Factory<Accumulating>> {
    let (on_start, on_stop) = (counts.clone(), counts.clone());
    Rc::new(
        Factory::for_protocol(|| Accumulating(Rc::default()))
            .on_start(move || on_start.set((on_start.get().0 + 1, on_start.get().1)))
            .on_stop(move || on_stop.set((on_stop.get().0, on_stop.get().1 + 1))),
    )
}

/// Whether a `stop_listening` Deferred succeeded.
pub(crate) fn fired_ok(stopped: &Deferred<()>) -> bool {
    matches!(stopped.take_result(), Some(Ok(())))
}

/// Runs the reactor's shutdown (`stop` before `run`: one iteration, then
/// the `shutdown` event, whose `disconnectAll` closes every port); fails
/// the test if it does not return within [`DEADLINE`].
pub(crate) fn shut_down(reactor: &Reactor) {
    reactor.set_install_signal_handlers(false);
    let crash = reactor.clone();
    let watchdog = reactor.call_later(DEADLINE, move || crash.crash());
    let started = Instant::now();
    reactor.stop().unwrap();
    reactor.run().unwrap();
    assert!(started.elapsed() < DEADLINE, "the shutdown hung");
    let _ = watchdog.cancel();
}

/// Connects a fresh reactor's `MyFactory` client to `port`; returns why it
/// failed.
pub(crate) fn failed_connect(port: u16) -> Failure {
    let reactor = Reactor::new().unwrap();
    let client = Rc::new(MyFactory::default());
    connect(&reactor, port, &client);
    run_until(&reactor, "the attempt's end", || {
        client.failed.get() > 0 || client.made()
    });
    let failure = client.failure.borrow().clone();
    failure.expect("the connection was refused, not made")
}
