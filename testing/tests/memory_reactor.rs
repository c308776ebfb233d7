//! `MemoryReactor`, `MemoryReactorClock` and `RaisingMemoryReactor`: ports of
//! Twisted's `test_testing.ReactorTests`, and a test per recorded argument
//! and per lifecycle rule of the spec.
//!
//! Over 500 lines: the ports of `test_testing.ReactorTests` and a test per
//! spec rule, kept together.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{
    ConnectError, ConnectionRefused, NotConnectingError, ReactorError, UserError,
};
use torsion_reactor::{
    events, Address, Connector, ConnectorState, Deferred, DynProtocolFactory, Failure,
    ListeningPort, Phase, ProtocolRef, ReactorCore, ReactorFromThreads, ReactorTcp, ReactorTime,
    ReactorTimeExt, ReactorUnix, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT, DEFAULT_UNIX_MODE,
};
use torsion_testing::{
    success_result_of, FakeConnector, LogCapture, MemoryReactor, MemoryReactorClock,
    RaisingMemoryReactor,
};

/// What a [`Recorder`] factory was told, in order.
#[derive(Debug, Clone, PartialEq)]
enum Heard {
    BuildProtocol,
    DoStart,
    DoStop,
    StartedConnecting(Address),
    FailedEnter(String),
    FailedExit,
    Lost,
}

/// A factory that records every call made to it.
#[derive(Default)]
struct Recorder {
    heard: RefCell<Vec<Heard>>,
    /// Calls `connector.connect()` from `client_connection_failed` this many times.
    retries: Cell<u32>,
    failures: RefCell<Vec<Failure>>,
}

impl Recorder {
    fn new() -> Rc<Recorder> {
        Rc::new(Recorder::default())
    }

    fn heard(&self) -> Vec<Heard> {
        self.heard.borrow().clone()
    }
}

impl DynProtocolFactory for Recorder {
    fn build_protocol(&self, _addr: &Address) -> Option<ProtocolRef> {
        self.heard.borrow_mut().push(Heard::BuildProtocol);
        None
    }
    fn do_start(&self) {
        self.heard.borrow_mut().push(Heard::DoStart);
    }
    fn do_stop(&self) {
        self.heard.borrow_mut().push(Heard::DoStop);
    }
    fn started_connecting(&self, connector: &dyn Connector) {
        self.heard
            .borrow_mut()
            .push(Heard::StartedConnecting(connector.destination()));
    }
    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.heard
            .borrow_mut()
            .push(Heard::FailedEnter(reason.error_message()));
        self.failures.borrow_mut().push(reason);
        if self.retries.get() > 0 {
            self.retries.set(self.retries.get() - 1);
            connector.connect();
        }
        self.heard.borrow_mut().push(Heard::FailedExit);
    }
    fn client_connection_lost(&self, _connector: &dyn Connector, _reason: Failure) {
        self.heard.borrow_mut().push(Heard::Lost);
    }
    fn describe(&self) -> String {
        "Recorder".to_string()
    }
}

fn factory(recorder: &Rc<Recorder>) -> Rc<dyn DynProtocolFactory> {
    recorder.clone()
}

fn same_factory(a: &Rc<dyn DynProtocolFactory>, b: &Rc<Recorder>) -> bool {
    Rc::ptr_eq(a, &factory(b))
}

fn tcp(s: &str) -> Address {
    Address::Tcp(s.parse().expect("a socket address literal"))
}

fn unix(path: &str) -> Address {
    Address::Unix(Some(PathBuf::from(path)))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

type Log = Rc<RefCell<Vec<&'static str>>>;

fn push(log: &Log, what: &'static str) -> impl FnOnce() + 'static {
    let log = log.clone();
    move || log.borrow_mut().push(what)
}

fn trigger(log: &Log, what: &'static str) -> torsion_reactor::Trigger {
    let log = log.clone();
    Box::new(move || {
        log.borrow_mut().push(what);
        None
    })
}

// ---------------------------------------------------------------------------
// Ports of Twisted's `ReactorTests`.

fn assert_core_tcp_unix_threads<R: ReactorCore + ReactorTcp + ReactorUnix + ReactorFromThreads>() {}

/// `MemoryReactor` provides all of the attributes described by the
/// interfaces it advertises.
#[test]
fn memory_reactor_provides() {
    assert_core_tcp_unix_threads::<MemoryReactor>();
    assert_core_tcp_unix_threads::<MemoryReactorClock>();
    fn time<R: ReactorTime>() {}
    time::<MemoryReactorClock>();
    let reactor = MemoryReactor::new();
    let _: &dyn ReactorCore = &reactor;
    let _: &dyn ReactorTcp = &reactor;
    let _: &dyn ReactorUnix = &reactor;
    let _: &dyn ReactorFromThreads = &reactor;
}

/// `RaisingMemoryReactor` provides all of the attributes described by the
/// interfaces it advertises.
#[test]
fn raising_reactor_provides() {
    fn tcp_unix<R: ReactorTcp + ReactorUnix>() {}
    tcp_unix::<RaisingMemoryReactor>();
    let reactor = RaisingMemoryReactor::new();
    let _: &dyn ReactorTcp = &reactor;
    let _: &dyn ReactorUnix = &reactor;
}

/// `MemoryReactor.connect_tcp` and `connect_unix` will return a `Connector`
/// whose `destination` method returns an `Address` with attributes which
/// reflect the values passed.
#[test]
fn connect_destination() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let connector = reactor.connect_tcp(
        "test.example.com",
        8321,
        factory(&recorder),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    );
    assert_eq!(
        connector.destination(),
        Address::Hostname {
            host: "test.example.com".to_string(),
            port: 8321
        }
    );
    let connector = reactor.connect_unix(
        Path::new("/fake/path"),
        factory(&recorder),
        DEFAULT_CONNECT_TIMEOUT,
    );
    assert_eq!(connector.destination(), unix("/fake/path"));
}

/// `MemoryReactor.listen_tcp` and `listen_unix` will return a
/// `ListeningPort` whose `host` method returns an `Address`; `listen_tcp`
/// will have a default host of `0.0.0.0`, and a port that reflects the value
/// passed, and `listen_unix` will have a name that reflects the path passed.
#[test]
fn listen_default_host() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let port = reactor
        .listen_tcp(8242, factory(&recorder), DEFAULT_BACKLOG, "")
        .expect("MemoryReactor never fails to listen");
    assert_eq!(port.host(), tcp("0.0.0.0:8242"));
    let port = reactor
        .listen_unix(
            Path::new("/path/to/socket"),
            factory(&recorder),
            DEFAULT_BACKLOG,
            DEFAULT_UNIX_MODE,
        )
        .expect("MemoryReactor never fails to listen");
    assert_eq!(port.host(), unix("/path/to/socket"));
}

// ---------------------------------------------------------------------------
// listen_tcp: every argument recorded, in call order.

fn listen_two(reactor: &MemoryReactor, a: &Rc<Recorder>, b: &Rc<Recorder>) {
    reactor
        .listen_tcp(1234, factory(a), 7, "")
        .expect("MemoryReactor never fails to listen");
    reactor
        .listen_tcp(0, factory(b), 99, "::1")
        .expect("MemoryReactor never fails to listen");
}

/// `listen_tcp` records the port asked for, in call order.
#[test]
fn listen_tcp_records_port() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    listen_two(&reactor, &a, &b);
    let ports: Vec<u16> = reactor.tcp_servers().iter().map(|s| s.port).collect();
    assert_eq!(ports, [1234, 0]);
}

/// `listen_tcp` records the very factory passed in.
#[test]
fn listen_tcp_records_factory() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    listen_two(&reactor, &a, &b);
    let servers = reactor.tcp_servers();
    assert!(same_factory(&servers[0].factory, &a));
    assert!(same_factory(&servers[1].factory, &b));
}

/// `listen_tcp` records the backlog.
#[test]
fn listen_tcp_records_backlog() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    listen_two(&reactor, &a, &b);
    let backlogs: Vec<u32> = reactor.tcp_servers().iter().map(|s| s.backlog).collect();
    assert_eq!(backlogs, [7, 99]);
}

/// `listen_tcp` records the interface, as given.
#[test]
fn listen_tcp_records_interface() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    listen_two(&reactor, &a, &b);
    let interfaces: Vec<String> = reactor
        .tcp_servers()
        .iter()
        .map(|s| s.interface.clone())
        .collect();
    assert_eq!(interfaces, ["", "::1"]);
}

/// `listen_tcp` records the port it returned.
#[test]
fn listen_tcp_records_listening_port() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let port = reactor
        .listen_tcp(80, factory(&recorder), DEFAULT_BACKLOG, "")
        .expect("MemoryReactor never fails to listen");
    let recorded: Rc<dyn ListeningPort> = reactor.tcp_servers()[0].listening_port.clone();
    assert!(Rc::ptr_eq(&port, &recorded));
}

/// The port of a `listen_tcp` on an IPv6 literal has that interface as its
/// host.
#[test]
fn listen_tcp_ipv6_interface_host() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let port = reactor
        .listen_tcp(8080, factory(&recorder), DEFAULT_BACKLOG, "::1")
        .expect("MemoryReactor never fails to listen");
    assert_eq!(port.host(), tcp("[::1]:8080"));
    let port = reactor
        .listen_tcp(8080, factory(&recorder), DEFAULT_BACKLOG, "::")
        .expect("MemoryReactor never fails to listen");
    assert_eq!(port.host(), tcp("[::]:8080"));
}

/// As in Twisted, the port of a `listen_tcp` on any interface that is not an
/// IPv6 literal, an IPv4 one included, has `0.0.0.0` as its host.
#[test]
fn listen_tcp_ipv4_interface_host_is_any() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let port = reactor
        .listen_tcp(8080, factory(&recorder), DEFAULT_BACKLOG, "127.0.0.1")
        .expect("MemoryReactor never fails to listen");
    assert_eq!(port.host(), tcp("0.0.0.0:8080"));
}

/// The fake port's `stop_listening` returns an already-fired Deferred and
/// records the call; `start_listening` succeeds.
#[test]
fn fake_port_stop_and_start_listening() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let port = reactor
        .listen_tcp(80, factory(&recorder), DEFAULT_BACKLOG, "")
        .expect("MemoryReactor never fails to listen");
    let fake = reactor.tcp_servers()[0].listening_port.clone();
    assert!(fake.is_listening());
    assert_eq!(fake.stop_calls(), 0);
    success_result_of(&port.stop_listening());
    assert!(!fake.is_listening());
    assert_eq!(fake.stop_calls(), 1);
    port.start_listening().expect("a fake port always starts");
    assert!(fake.is_listening());
}

// ---------------------------------------------------------------------------
// connect_tcp: every argument recorded, in call order.

fn bind() -> Option<SocketAddr> {
    Some("10.0.0.2:4000".parse().expect("a socket address literal"))
}

fn connect_two(reactor: &MemoryReactor, a: &Rc<Recorder>, b: &Rc<Recorder>) {
    reactor.connect_tcp("example.org", 80, factory(a), secs(5), None);
    reactor.connect_tcp("10.0.0.1", 443, factory(b), secs(30), bind());
}

/// `connect_tcp` records the host, as given.
#[test]
fn connect_tcp_records_host() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    connect_two(&reactor, &a, &b);
    let hosts: Vec<String> = reactor
        .tcp_clients()
        .iter()
        .map(|c| c.host.clone())
        .collect();
    assert_eq!(hosts, ["example.org", "10.0.0.1"]);
}

/// `connect_tcp` records the port.
#[test]
fn connect_tcp_records_port() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    connect_two(&reactor, &a, &b);
    let ports: Vec<u16> = reactor.tcp_clients().iter().map(|c| c.port).collect();
    assert_eq!(ports, [80, 443]);
}

/// `connect_tcp` records the very factory passed in.
#[test]
fn connect_tcp_records_factory() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    connect_two(&reactor, &a, &b);
    let clients = reactor.tcp_clients();
    assert!(same_factory(&clients[0].factory, &a));
    assert!(same_factory(&clients[1].factory, &b));
}

/// `connect_tcp` records the timeout.
#[test]
fn connect_tcp_records_timeout() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    connect_two(&reactor, &a, &b);
    let timeouts: Vec<Duration> = reactor.tcp_clients().iter().map(|c| c.timeout).collect();
    assert_eq!(timeouts, [secs(5), secs(30)]);
}

/// `connect_tcp` records the bind address.
#[test]
fn connect_tcp_records_bind_address() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    connect_two(&reactor, &a, &b);
    let binds: Vec<Option<SocketAddr>> = reactor
        .tcp_clients()
        .iter()
        .map(|c| c.bind_address)
        .collect();
    assert_eq!(binds, [None, bind()]);
}

/// `connect_tcp` records the connector it returned, which is also listed
/// in `connectors`.
#[test]
fn connect_tcp_records_connector() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    let first = reactor.connect_tcp("example.org", 80, factory(&a), secs(5), None);
    let second = reactor.connect_tcp("example.org", 81, factory(&b), secs(5), None);
    let clients = reactor.tcp_clients();
    let recorded: Rc<dyn Connector> = clients[0].connector.clone();
    assert!(Rc::ptr_eq(&first, &recorded));
    let connectors = reactor.connectors();
    assert_eq!(connectors.len(), 2);
    let listed: Rc<dyn Connector> = connectors[1].clone();
    assert!(Rc::ptr_eq(&second, &listed));
}

/// A connector's destination is a TCP address for IPv4 and IPv6 literals.
#[test]
fn connect_tcp_ip_literal_destinations() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let v4 = reactor.connect_tcp("127.0.0.1", 80, factory(&recorder), secs(30), None);
    assert_eq!(v4.destination(), tcp("127.0.0.1:80"));
    let v6 = reactor.connect_tcp("::1", 80, factory(&recorder), secs(30), None);
    assert_eq!(v6.destination(), tcp("[::1]:80"));
}

/// `connect_tcp` calls the factory's `started_connecting` with the
/// connector, and nothing else: nothing connects, and `do_start` and
/// `build_protocol` are left to the test.
#[test]
fn connect_tcp_only_calls_started_connecting() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let connector = reactor.connect_tcp("127.0.0.1", 80, factory(&recorder), secs(30), None);
    assert_eq!(
        recorder.heard(),
        [Heard::StartedConnecting(connector.destination())]
    );
    assert_eq!(connector.state(), ConnectorState::Connecting);
}

/// `started_connecting` runs before the connector is listed in
/// `connectors`, as in Twisted, and may call back into the reactor.
#[test]
fn started_connecting_runs_before_connector_is_listed() {
    struct Peek {
        reactor: MemoryReactor,
        seen: Cell<Option<usize>>,
    }
    impl DynProtocolFactory for Peek {
        fn build_protocol(&self, _addr: &Address) -> Option<ProtocolRef> {
            None
        }
        fn started_connecting(&self, _connector: &dyn Connector) {
            self.seen.set(Some(self.reactor.connectors().len()));
            assert_eq!(self.reactor.tcp_clients().len(), 1);
        }
        fn describe(&self) -> String {
            "Peek".to_string()
        }
    }
    let reactor = MemoryReactor::new();
    let peek = Rc::new(Peek {
        reactor: reactor.clone(),
        seen: Cell::new(None),
    });
    reactor.connect_tcp("example.org", 80, peek.clone(), secs(30), None);
    assert_eq!(peek.seen.get(), Some(0));
    assert_eq!(reactor.connectors().len(), 1);
}

/// `listen_*` call nothing on the factory.
#[test]
fn listen_calls_nothing_on_factory() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    reactor
        .listen_tcp(80, factory(&recorder), DEFAULT_BACKLOG, "")
        .expect("MemoryReactor never fails to listen");
    reactor
        .listen_unix(
            Path::new("/s"),
            factory(&recorder),
            DEFAULT_BACKLOG,
            DEFAULT_UNIX_MODE,
        )
        .expect("MemoryReactor never fails to listen");
    assert_eq!(recorder.heard(), []);
}

/// The fake connector's `stop_connecting` sets a flag (and never fails),
/// `disconnect` sets another, `connect` does nothing but count.
#[test]
fn fake_connector_records_calls() {
    let reactor = MemoryReactor::new();
    let recorder = Recorder::new();
    let connector = reactor.connect_tcp("example.org", 80, factory(&recorder), secs(30), None);
    let fake = reactor.connectors()[0].clone();
    assert!(!fake.stopped_connecting());
    assert!(!fake.disconnected());
    connector.stop_connecting().expect("the fake never fails");
    connector.stop_connecting().expect("the fake never fails");
    assert!(fake.stopped_connecting());
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    connector.connect();
    assert_eq!(fake.connect_calls(), 1);
    assert_eq!(connector.state(), ConnectorState::Connecting);
    connector.disconnect();
    assert!(fake.disconnected());
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert_eq!(recorder.heard().len(), 1, "only started_connecting");
}

/// `remove_tcp_client` takes a recorded connect and its connector out.
#[test]
fn remove_tcp_client() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    connect_two(&reactor, &a, &b);
    reactor.connect_unix(Path::new("/s"), factory(&a), secs(30));
    let removed = reactor.remove_tcp_client(0).expect("a recorded connect");
    assert_eq!(removed.host, "example.org");
    assert_eq!(reactor.tcp_clients().len(), 1);
    let connectors = reactor.connectors();
    assert_eq!(connectors.len(), 2);
    assert!(!connectors.iter().any(|c| Rc::ptr_eq(c, &removed.connector)));
    assert!(reactor.remove_tcp_client(5).is_none());
    let removed = reactor.remove_unix_client(0).expect("a recorded connect");
    assert_eq!(removed.path, Path::new("/s"));
    assert_eq!(reactor.connectors().len(), 1);
}

// ---------------------------------------------------------------------------
// UNIX.

/// `listen_unix` records the path, factory, backlog and mode, in call order.
#[test]
fn listen_unix_records_every_argument() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    reactor
        .listen_unix(Path::new("/one"), factory(&a), 3, 0o600)
        .expect("MemoryReactor never fails to listen");
    let port = reactor
        .listen_unix(
            Path::new("/two"),
            factory(&b),
            DEFAULT_BACKLOG,
            DEFAULT_UNIX_MODE,
        )
        .expect("MemoryReactor never fails to listen");
    let servers = reactor.unix_servers();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0].path, Path::new("/one"));
    assert!(same_factory(&servers[0].factory, &a));
    assert_eq!((servers[0].backlog, servers[0].mode), (3, 0o600));
    assert_eq!(servers[1].path, Path::new("/two"));
    assert!(same_factory(&servers[1].factory, &b));
    assert_eq!((servers[1].backlog, servers[1].mode), (50, 0o666));
    let recorded: Rc<dyn ListeningPort> = servers[1].listening_port.clone();
    assert!(Rc::ptr_eq(&port, &recorded));
}

/// `connect_unix` records the path, factory and timeout, calls
/// `started_connecting`, and lists its connector after TCP ones in call
/// order.
#[test]
fn connect_unix_records_every_argument() {
    let (reactor, a, b) = (MemoryReactor::new(), Recorder::new(), Recorder::new());
    reactor.connect_tcp("example.org", 80, factory(&a), secs(30), None);
    let connector = reactor.connect_unix(Path::new("/s"), factory(&b), secs(7));
    let clients = reactor.unix_clients();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].path, Path::new("/s"));
    assert!(same_factory(&clients[0].factory, &b));
    assert_eq!(clients[0].timeout, secs(7));
    assert_eq!(b.heard(), [Heard::StartedConnecting(unix("/s"))]);
    let connectors = reactor.connectors();
    assert_eq!(connectors.len(), 2);
    assert_eq!(connectors[0].destination().port(), Some(80));
    let listed: Rc<dyn Connector> = connectors[1].clone();
    assert!(Rc::ptr_eq(&connector, &listed));
}

// ---------------------------------------------------------------------------
// Lifecycle.

/// A new reactor is not running and has not run, stopped or crashed.
#[test]
fn initial_lifecycle_flags() {
    let reactor = MemoryReactor::new();
    assert!(!reactor.is_running());
    assert!(!reactor.has_run());
    assert!(!reactor.has_stopped());
    assert!(!reactor.has_crashed());
}

/// `run` marks the reactor running and `has_run` while it calls the
/// `call_when_running` hooks, in order, then stops it and returns.
#[test]
fn run_calls_hooks_in_order_then_stops() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    for name in ["first", "second", "third"] {
        let (reactor2, log2) = (reactor.clone(), log.clone());
        let queued = reactor.call_when_running(Box::new(move || {
            assert!(reactor2.is_running());
            assert!(reactor2.has_run());
            assert!(!reactor2.has_stopped());
            log2.borrow_mut().push(name);
        }));
        assert!(queued.is_some());
    }
    assert_eq!(reactor.when_running_hooks(), 3);
    assert!(log.borrow().is_empty());
    reactor.run().expect("not running yet");
    assert_eq!(*log.borrow(), ["first", "second", "third"]);
    assert!(!reactor.is_running());
    assert!(reactor.has_run());
    assert!(reactor.has_stopped());
    assert_eq!(reactor.when_running_hooks(), 0);
}

/// `run` while running fails with `AlreadyRunning`.
#[test]
fn run_while_running_fails() {
    let reactor = MemoryReactor::new();
    let outcome: Rc<RefCell<Option<Result<(), ReactorError>>>> = Rc::default();
    let (reactor2, outcome2) = (reactor.clone(), outcome.clone());
    reactor.call_when_running(Box::new(move || {
        *outcome2.borrow_mut() = Some(reactor2.run());
    }));
    reactor.run().expect("not running yet");
    assert!(matches!(
        *outcome.borrow(),
        Some(Err(ReactorError::AlreadyRunning))
    ));
}

/// `run` after it returned runs again (Twisted asserts only that it is not
/// running).
#[test]
fn run_again_after_run() {
    let reactor = MemoryReactor::new();
    reactor.run().expect("not running yet");
    reactor.run().expect("the fake can run again");
    assert!(reactor.has_run());
}

/// `stop` when not running does not fail, and sets `has_stopped`.
#[test]
fn stop_when_not_running() {
    let reactor = MemoryReactor::new();
    reactor.stop().expect("the fake's stop never fails");
    assert!(reactor.has_stopped());
    assert!(!reactor.has_run());
    assert!(!reactor.is_running());
}

/// `stop` inside a hook stops the reactor; the other hooks still run.
#[test]
fn stop_inside_hook() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let reactor2 = reactor.clone();
    reactor.call_when_running(Box::new(move || {
        reactor2.stop().expect("never fails");
        assert!(!reactor2.is_running());
    }));
    reactor.call_when_running(Box::new(push(&log, "after stop")));
    reactor.run().expect("not running yet");
    assert_eq!(*log.borrow(), ["after stop"]);
    assert!(reactor.has_stopped());
}

/// `crash` marks the reactor not running and `has_crashed`, without
/// `has_stopped`.
#[test]
fn crash_sets_has_crashed() {
    let reactor = MemoryReactor::new();
    let reactor2 = reactor.clone();
    reactor.call_when_running(Box::new(move || {
        reactor2.crash();
        assert!(!reactor2.is_running());
        assert!(reactor2.has_crashed());
        assert!(!reactor2.has_stopped());
    }));
    reactor.run().expect("not running yet");
    assert!(reactor.has_crashed());
}

/// Unlike Twisted's fake (whose `running = None` fails `run`'s assertion),
/// `run` works after `crash`, as on the real reactor.
#[test]
fn run_after_crash() {
    let reactor = MemoryReactor::new();
    reactor.crash();
    reactor.run().expect("run after crash");
    assert!(reactor.has_run());
}

/// `call_when_running` calls at once while running.
#[test]
fn call_when_running_while_running_calls_now() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let (reactor2, log2) = (reactor.clone(), log.clone());
    reactor.call_when_running(Box::new(move || {
        let id = reactor2.call_when_running(Box::new(push(&log2, "nested")));
        assert_eq!(id, None);
        assert_eq!(*log2.borrow(), ["nested"]);
    }));
    reactor.run().expect("not running yet");
    assert_eq!(*log.borrow(), ["nested"]);
}

/// `call_when_running` calls at once once the reactor has run, even after
/// it stopped.
#[test]
fn call_when_running_after_run_calls_now() {
    let reactor = MemoryReactor::new();
    reactor.run().expect("not running yet");
    let log: Log = Rc::default();
    assert_eq!(reactor.call_when_running(Box::new(push(&log, "now"))), None);
    assert_eq!(*log.borrow(), ["now"]);
}

/// A queued `call_when_running` hook can be removed by its id, and then
/// does not run.
#[test]
fn remove_queued_when_running_hook() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let id = reactor
        .call_when_running(Box::new(push(&log, "removed")))
        .expect("queued");
    reactor.call_when_running(Box::new(push(&log, "kept")));
    assert!(reactor.remove_system_event_trigger(id));
    assert!(!reactor.remove_system_event_trigger(id));
    reactor.run().expect("not running yet");
    assert_eq!(*log.borrow(), ["kept"]);
}

// ---------------------------------------------------------------------------
// System event triggers.

/// `add_system_event_trigger` only records the trigger, keyed by phase and
/// event name; neither adding it nor `run` calls it.
#[test]
fn add_system_event_trigger_only_records() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let a = reactor.add_system_event_trigger(Phase::Before, events::SHUTDOWN, trigger(&log, "a"));
    let b = reactor.add_system_event_trigger(Phase::Before, events::SHUTDOWN, trigger(&log, "b"));
    let c = reactor.add_system_event_trigger(Phase::After, events::STARTUP, trigger(&log, "c"));
    assert_ne!(a, b);
    reactor.run().expect("not running yet");
    assert!(log.borrow().is_empty());
    assert_eq!(reactor.triggers(Phase::Before, events::SHUTDOWN), [a, b]);
    assert_eq!(reactor.triggers(Phase::After, events::STARTUP), [c]);
    assert_eq!(reactor.triggers(Phase::During, events::SHUTDOWN), []);
    assert_eq!(reactor.triggers(Phase::Before, "other"), []);
}

/// `remove_system_event_trigger` removes a trigger and says whether it
/// was registered.
#[test]
fn remove_system_event_trigger() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let a = reactor.add_system_event_trigger(Phase::During, "custom", trigger(&log, "a"));
    let b = reactor.add_system_event_trigger(Phase::During, "custom", trigger(&log, "b"));
    assert!(reactor.remove_system_event_trigger(a));
    assert!(!reactor.remove_system_event_trigger(a));
    assert_eq!(reactor.triggers(Phase::During, "custom"), [b]);
    reactor.fire_system_event("custom");
    assert_eq!(*log.borrow(), ["b"]);
}

/// `fire_system_event` runs the event's triggers phase by phase (`Before`,
/// `During`, `After`), in registration order within a phase, and no
/// other event's; the triggers stay registered.
#[test]
fn fire_system_event_runs_phases_in_order() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    reactor.add_system_event_trigger(Phase::After, "custom", trigger(&log, "after"));
    reactor.add_system_event_trigger(Phase::During, "custom", trigger(&log, "during 1"));
    reactor.add_system_event_trigger(Phase::Before, "custom", trigger(&log, "before"));
    reactor.add_system_event_trigger(Phase::During, "custom", trigger(&log, "during 2"));
    reactor.add_system_event_trigger(Phase::Before, "other", trigger(&log, "other"));
    reactor.fire_system_event("custom");
    assert_eq!(*log.borrow(), ["before", "during 1", "during 2", "after"]);
    log.borrow_mut().clear();
    reactor.fire_system_event("custom");
    assert_eq!(*log.borrow(), ["before", "during 1", "during 2", "after"]);
}

/// A `Before` trigger's Deferred holds the `During` and `After` phases
/// until it fires.
#[test]
fn fire_system_event_waits_for_before_deferred() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let hold: Deferred<()> = Deferred::new();
    let (held, log2) = (hold.clone(), log.clone());
    reactor.add_system_event_trigger(
        Phase::Before,
        events::SHUTDOWN,
        Box::new(move || {
            log2.borrow_mut().push("before");
            Some(held.clone())
        }),
    );
    reactor.add_system_event_trigger(Phase::During, events::SHUTDOWN, trigger(&log, "during"));
    reactor.add_system_event_trigger(Phase::After, events::SHUTDOWN, trigger(&log, "after"));
    reactor.fire_system_event(events::SHUTDOWN);
    assert_eq!(*log.borrow(), ["before"]);
    hold.callback(());
    assert_eq!(*log.borrow(), ["before", "during", "after"]);
}

/// A failed `Before` Deferred is logged and does not stop the event.
#[test]
fn fire_system_event_failed_before_deferred() {
    let capture = LogCapture::strict();
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    reactor.add_system_event_trigger(
        Phase::Before,
        "custom",
        Box::new(|| Some(Deferred::failed(ConnectError::new()))),
    );
    reactor.add_system_event_trigger(Phase::After, "custom", trigger(&log, "after"));
    reactor.fire_system_event("custom");
    assert_eq!(*log.borrow(), ["after"]);
    assert_eq!(capture.flush_logged_errors::<ConnectError>().len(), 1);
}

/// A panicking trigger is logged, and the other triggers still run.
#[test]
fn fire_system_event_panicking_trigger() {
    let capture = LogCapture::strict();
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    reactor.add_system_event_trigger(Phase::During, "custom", Box::new(|| panic!("boom")));
    reactor.add_system_event_trigger(Phase::During, "custom", trigger(&log, "next"));
    reactor.fire_system_event("custom");
    assert_eq!(*log.borrow(), ["next"]);
    let errors = capture.flush_errors();
    assert!(
        errors.iter().any(|e| e.message.contains("boom")),
        "{errors:?}"
    );
}

/// A trigger may add and remove triggers of the phase being run: one added
/// runs in this firing, one removed before its turn does not. No borrow is
/// held while a trigger runs.
#[test]
fn fire_system_event_triggers_change_triggers() {
    let reactor = MemoryReactor::new();
    let log: Log = Rc::default();
    let victim: Rc<Cell<Option<torsion_reactor::TriggerId>>> = Rc::default();
    let (reactor2, log2, victim2) = (reactor.clone(), log.clone(), victim.clone());
    reactor.add_system_event_trigger(
        Phase::During,
        "custom",
        Box::new(move || {
            log2.borrow_mut().push("first");
            if let Some(id) = victim2.take() {
                assert!(reactor2.remove_system_event_trigger(id));
                reactor2.add_system_event_trigger(Phase::During, "custom", trigger(&log2, "added"));
            }
            None
        }),
    );
    victim.set(Some(reactor.add_system_event_trigger(
        Phase::During,
        "custom",
        trigger(&log, "removed"),
    )));
    reactor.fire_system_event("custom");
    assert_eq!(*log.borrow(), ["first", "added"]);
}

/// A trigger that removes itself while running is gone afterwards.
#[test]
fn fire_system_event_trigger_removes_itself() {
    let reactor = MemoryReactor::new();
    let count = Rc::new(Cell::new(0));
    let me: Rc<Cell<Option<torsion_reactor::TriggerId>>> = Rc::default();
    let (reactor2, count2, me2) = (reactor.clone(), count.clone(), me.clone());
    me.set(Some(reactor.add_system_event_trigger(
        Phase::After,
        "custom",
        Box::new(move || {
            count2.set(count2.get() + 1);
            assert!(reactor2.remove_system_event_trigger(me2.get().expect("registered")));
            None
        }),
    )));
    reactor.fire_system_event("custom");
    reactor.fire_system_event("custom");
    assert_eq!(count.get(), 1);
    assert_eq!(reactor.triggers(Phase::After, "custom"), []);
}

// ---------------------------------------------------------------------------
// Threads.

/// Calls queued through the thread handle, from any thread, wait until the
/// test runs them with `run_thread_calls`, and then run in order.
#[test]
fn thread_calls_wait_for_run_thread_calls() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<torsion_reactor::ThreadHandle>();
    let reactor = MemoryReactor::new();
    let handle = reactor.thread_handle();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for i in 0..3 {
            let seen = seen2.clone();
            handle
                .call_from_thread(move || seen.lock().expect("not poisoned").push(i))
                .expect("the reactor is alive");
        }
    })
    .join()
    .expect("the worker does not panic");
    assert!(seen.lock().expect("not poisoned").is_empty());
    assert_eq!(reactor.run_thread_calls(), 3);
    assert_eq!(*seen.lock().expect("not poisoned"), [0, 1, 2]);
    assert_eq!(reactor.run_thread_calls(), 0);
}

/// Once the reactor is dropped, its thread handle refuses calls.
#[test]
fn thread_handle_after_reactor_dropped() {
    let reactor = MemoryReactor::new();
    let handle = reactor.thread_handle();
    drop(reactor);
    assert!(handle.call_from_thread(|| {}).is_err());
}

// ---------------------------------------------------------------------------
// MemoryReactorClock.

/// `MemoryReactorClock` keeps time with its clock and records like a
/// `MemoryReactor`; clones share both.
#[test]
fn memory_reactor_clock_time_and_recording() {
    let reactor = MemoryReactorClock::new();
    let other = reactor.clone();
    let fired = Rc::new(Cell::new(false));
    let flag = fired.clone();
    let call = reactor.call_later(secs(5), move || flag.set(true));
    assert_eq!(other.delayed_calls().len(), 1);
    assert_eq!(call.time(), secs(5));
    other.advance(secs(4));
    assert!(!fired.get());
    reactor.clock().advance(secs(1));
    assert!(fired.get());
    assert_eq!(reactor.now(), secs(5));
    let recorder = Recorder::new();
    reactor.connect_tcp("example.org", 80, factory(&recorder), secs(30), None);
    assert_eq!(other.tcp_clients().len(), 1);
    assert_eq!(other.reactor().connectors().len(), 1);
}

/// `MemoryReactorClock` follows `MemoryReactor`'s lifecycle; `run` does
/// not advance time.
#[test]
fn memory_reactor_clock_lifecycle() {
    let reactor = MemoryReactorClock::new();
    let log: Log = Rc::default();
    reactor.call_when_running(Box::new(push(&log, "hook")));
    let fired = Rc::new(Cell::new(false));
    let flag = fired.clone();
    reactor.call_later(Duration::ZERO, move || flag.set(true));
    reactor.run().expect("not running yet");
    assert_eq!(*log.borrow(), ["hook"]);
    assert!(reactor.has_run() && reactor.has_stopped());
    assert!(!fired.get());
    reactor.pump(&[Duration::ZERO]);
    assert!(fired.get());
}

// ---------------------------------------------------------------------------
// RaisingMemoryReactor.

/// Every `listen_tcp` fails with a `CannotListenError` naming what was
/// asked for, with the configured error as its source.
#[test]
fn raising_listen_tcp() {
    let reactor = RaisingMemoryReactor::new()
        .with_listen_error(io::Error::new(io::ErrorKind::PermissionDenied, "nope"));
    let recorder = Recorder::new();
    for _ in 0..2 {
        let error = reactor
            .listen_tcp(80, factory(&recorder), DEFAULT_BACKLOG, "127.0.0.1")
            .map(|_| ())
            .expect_err("RaisingMemoryReactor never listens");
        assert_eq!((error.interface.as_str(), error.port), ("127.0.0.1", 80));
        assert_eq!(error.source.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(error.source.to_string(), "nope");
    }
    assert_eq!(recorder.heard(), []);
}

/// `listen_unix` fails too, naming the path; the default error is
/// `AddrInUse`, and an OS error keeps its code.
#[test]
fn raising_listen_unix() {
    let recorder = Recorder::new();
    let error = RaisingMemoryReactor::new()
        .listen_unix(
            Path::new("/s"),
            factory(&recorder),
            DEFAULT_BACKLOG,
            DEFAULT_UNIX_MODE,
        )
        .map(|_| ())
        .expect_err("RaisingMemoryReactor never listens");
    assert_eq!((error.interface.as_str(), error.port), ("/s", 0));
    assert_eq!(error.source.kind(), io::ErrorKind::AddrInUse);
    let error = RaisingMemoryReactor::new()
        .with_listen_error(io::Error::from_raw_os_error(13))
        .listen_unix(
            Path::new("/s"),
            factory(&recorder),
            DEFAULT_BACKLOG,
            DEFAULT_UNIX_MODE,
        )
        .map(|_| ())
        .expect_err("RaisingMemoryReactor never listens");
    assert_eq!(error.source.raw_os_error(), Some(13));
}

/// `connect_tcp` reports the configured failure through the factory
/// before it returns: `started_connecting`, then
/// `client_connection_failed` with that very failure.
#[test]
fn raising_connect_tcp() {
    let failure = Failure::new(ConnectError::new());
    let reactor = RaisingMemoryReactor::new().with_connect_failure(failure.clone());
    let recorder = Recorder::new();
    let connector = reactor.connect_tcp("example.org", 80, factory(&recorder), secs(30), None);
    let destination = Address::Hostname {
        host: "example.org".to_string(),
        port: 80,
    };
    assert_eq!(connector.destination(), destination);
    assert_eq!(
        recorder.heard(),
        [
            Heard::StartedConnecting(destination),
            Heard::FailedEnter(failure.error_message()),
            Heard::FailedExit
        ]
    );
    assert!(recorder.failures.borrow()[0].is_same(&failure));
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert_eq!(connector.stop_connecting(), Err(NotConnectingError));
}

/// `connect_unix` fails the same way; the default failure is
/// `ConnectionRefused`.
#[test]
fn raising_connect_unix() {
    let recorder = Recorder::new();
    let connector =
        RaisingMemoryReactor::new().connect_unix(Path::new("/s"), factory(&recorder), secs(30));
    assert_eq!(connector.destination(), unix("/s"));
    assert_eq!(recorder.heard().len(), 3);
    assert!(recorder.failures.borrow()[0].check::<ConnectionRefused>());
}

/// A retry (`connector.connect()`) from `client_connection_failed` fails
/// again, after that call returned rather than nested in it.
#[test]
fn raising_connect_retry_is_not_reentrant() {
    let reactor = RaisingMemoryReactor::new();
    let recorder = Recorder::new();
    recorder.retries.set(2);
    let connector = reactor.connect_tcp("10.0.0.1", 80, factory(&recorder), secs(30), None);
    let attempt = [
        Heard::StartedConnecting(tcp("10.0.0.1:80")),
        Heard::FailedEnter(ConnectionRefused::new().to_string()),
        Heard::FailedExit,
    ];
    assert_eq!(recorder.heard(), repeat(&attempt, 3));
    connector.connect();
    assert_eq!(recorder.heard(), repeat(&attempt, 4));
}

fn repeat(attempt: &[Heard], times: usize) -> Vec<Heard> {
    attempt
        .iter()
        .cloned()
        .cycle()
        .take(attempt.len() * times)
        .collect()
}

/// A factory that stops the attempt from `started_connecting` gets a
/// `UserError` instead of the configured failure.
#[test]
fn raising_connect_stopped_from_started_connecting() {
    struct Stopper(RefCell<Vec<Failure>>);
    impl DynProtocolFactory for Stopper {
        fn build_protocol(&self, _addr: &Address) -> Option<ProtocolRef> {
            None
        }
        fn started_connecting(&self, connector: &dyn Connector) {
            connector.stop_connecting().expect("connecting");
        }
        fn client_connection_failed(&self, _connector: &dyn Connector, reason: Failure) {
            self.0.borrow_mut().push(reason);
        }
        fn describe(&self) -> String {
            "Stopper".to_string()
        }
    }
    let stopper = Rc::new(Stopper(RefCell::default()));
    RaisingMemoryReactor::new().connect_tcp("::1", 80, stopper.clone(), secs(30), None);
    let failures = stopper.0.borrow();
    assert_eq!(failures.len(), 1);
    assert!(failures[0].check::<UserError>());
}

/// The same scenario recorded twice gives the same record: the fakes are
/// deterministic.
#[test]
fn recording_is_deterministic() {
    fn scenario() -> String {
        let reactor = MemoryReactorClock::new();
        let recorder = Recorder::new();
        reactor
            .listen_tcp(80, factory(&recorder), 5, "::")
            .expect("MemoryReactor never fails to listen");
        reactor.connect_tcp("example.org", 443, factory(&recorder), secs(3), bind());
        reactor.connect_unix(Path::new("/s"), factory(&recorder), secs(4));
        reactor.advance(secs(1));
        format!(
            "{:?} {:?} {:?} {:?}",
            reactor.tcp_servers(),
            reactor.tcp_clients(),
            reactor.unix_clients(),
            recorder.heard()
        )
    }
    assert_eq!(scenario(), scenario());
}

/// `FakeConnector` can be built directly, for tests of code that takes a
/// connector.
#[test]
fn fake_connector_new() {
    let connector = FakeConnector::new(tcp("127.0.0.1:1"));
    assert_eq!(connector.destination(), tcp("127.0.0.1:1"));
    assert_eq!(connector.connect_calls(), 0);
    let _ = Heard::BuildProtocol;
    let _ = Heard::DoStart;
    let _ = Heard::DoStop;
    let _ = Heard::Lost;
}
