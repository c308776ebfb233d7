//! Endpoints against `testing::MemoryReactor`: what they ask the reactor
//! for, and how they turn the factory hooks the test drives into their
//! connect and listen Deferreds (Twisted's endpoint tests over
//! `MemoryReactor`, `TCP4EndpointsTestCase` and friends).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use torsion_endpoints::{
    HostnameEndpoint, StaticResolver, Tcp4ClientEndpoint, Tcp4ServerEndpoint, Tcp6ServerEndpoint,
    UnixClientEndpoint, UnixServerEndpoint,
};
use torsion_reactor::error::{
    CannotListenError, ConnectingCancelledError, ConnectionRefused, NoProtocol,
};
use torsion_reactor::{
    Address, Factory, Failure, Protocol, ProtocolFactory, ReactorTime, StreamClientEndpoint,
    StreamClientEndpointExt, StreamServerEndpointExt,
};
use torsion_testing::{
    assert_no_result, failure_result_of_type, success_result_of, AccumulatingProtocol,
    MemoryReactor, MemoryReactorClock, RaisingMemoryReactor, StringTransport,
};

fn peer() -> Address {
    Address::Tcp("10.0.0.2:1234".parse().unwrap())
}

/// Completes a recorded connect as the reactor would: build, then connect
/// the protocol to a fresh transport.
fn complete(factory: &Rc<dyn torsion_reactor::DynProtocolFactory>) -> Rc<StringTransport> {
    let protocol = factory.build_protocol(&peer()).expect("a protocol");
    let transport = Rc::new(StringTransport::new());
    protocol.borrow_mut().make_connection(transport.clone());
    transport
}

/// `connect` asks `connect_tcp` for the host, port, timeout and bind
/// address given, and fires with the user's protocol once connected.
#[test]
fn tcp4_client_connect() {
    let reactor = MemoryReactor::new();
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), "10.0.0.2", 1234)
        .timeout(Duration::from_secs(5))
        .bind_address(bind);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    let clients = reactor.tcp_clients();
    assert_eq!(clients.len(), 1);
    let call = &clients[0];
    assert_eq!(
        (
            call.host.as_str(),
            call.port,
            call.timeout,
            call.bind_address
        ),
        ("10.0.0.2", 1234, Duration::from_secs(5), Some(bind))
    );
    assert_no_result(&connected);
    complete(&call.factory);
    let protocol = success_result_of(&connected); // Rc<RefCell<AccumulatingProtocol>>
    assert!(protocol.borrow().made);
}

/// A failed connect (the reactor's `client_connection_failed`) fails the
/// Deferred with that reason.
#[test]
fn tcp4_client_connect_failed() {
    let reactor = MemoryReactor::new();
    let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), "10.0.0.2", 1234);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    let call = reactor.tcp_clients().remove(0);
    call.factory
        .client_connection_failed(&*call.connector, Failure::new(ConnectionRefused::new()));
    failure_result_of_type::<ConnectionRefused, _>(&connected);
}

/// Cancelling stops the connector and fails with ConnectingCancelledError
/// naming the destination; a later failure from the connector is ignored.
#[test]
fn tcp4_client_cancel() {
    let reactor = MemoryReactor::new();
    let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), "10.0.0.2", 1234);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    connected.cancel();
    let failure = failure_result_of_type::<ConnectingCancelledError, _>(&connected);
    assert_eq!(
        failure
            .downcast_ref::<ConnectingCancelledError>()
            .unwrap()
            .address,
        peer()
    );
    let call = reactor.tcp_clients().remove(0);
    assert!(call.connector.stopped_connecting());
    call.factory
        .client_connection_failed(&*call.connector, Failure::msg("late"));
}

/// A factory that builds nothing fails the connect with NoProtocol.
#[test]
fn tcp4_client_no_protocol() {
    struct Refuse;
    impl ProtocolFactory for Refuse {
        type Protocol = AccumulatingProtocol;
        fn build_protocol(&self, _: &Address) -> Option<AccumulatingProtocol> {
            None
        }
    }
    let reactor = MemoryReactor::new();
    let connected = Tcp4ClientEndpoint::new(reactor.clone(), "10.0.0.2", 1234).connect(Refuse);
    let call = reactor.tcp_clients().remove(0);
    assert!(call.factory.build_protocol(&peer()).is_none());
    failure_result_of_type::<NoProtocol, _>(&connected);
}

/// The wrapping factory forwards do_start and do_stop to the user's.
#[test]
fn client_factory_start_stop_forwarded() {
    let reactor = MemoryReactor::new();
    let factory = Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
    let _connected =
        Tcp4ClientEndpoint::new(reactor.clone(), "10.0.0.2", 1234).connect_dyn(factory.clone());
    let call = reactor.tcp_clients().remove(0);
    call.factory.do_start();
    assert_eq!(factory.num_ports(), 1);
    call.factory.do_stop();
    assert_eq!(factory.num_ports(), 0);
}

/// `listen` asks `listen_tcp` for the port, backlog and interface given.
#[test]
fn tcp4_server_listen() {
    let reactor = MemoryReactor::new();
    let endpoint = Tcp4ServerEndpoint::new(reactor.clone(), 8080)
        .interface("127.0.0.1")
        .backlog(7);
    let port =
        success_result_of(&endpoint.listen(Factory::for_protocol(AccumulatingProtocol::new)));
    let servers = reactor.tcp_servers();
    assert_eq!(
        (
            servers[0].port,
            servers[0].backlog,
            servers[0].interface.as_str()
        ),
        (8080, 7, "127.0.0.1")
    );
    assert_eq!(port.host().port(), Some(8080));
}

/// A TCP6 server listens on `::` by default.
#[test]
fn tcp6_server_default_interface() {
    let reactor = MemoryReactor::new();
    success_result_of(
        &Tcp6ServerEndpoint::new(reactor.clone(), 443)
            .listen(Factory::for_protocol(AccumulatingProtocol::new)),
    );
    assert_eq!(reactor.tcp_servers()[0].interface, "::");
}

/// UNIX endpoints ask for the path, timeout, backlog and mode given.
#[test]
fn unix_endpoints() {
    let reactor = MemoryReactor::new();
    let path = PathBuf::from("/run/app.sock");
    success_result_of(
        &UnixServerEndpoint::new(reactor.clone(), &path)
            .mode(0o660)
            .backlog(9)
            .listen(Factory::for_protocol(AccumulatingProtocol::new)),
    );
    let server = &reactor.unix_servers()[0];
    assert_eq!(
        (server.path.clone(), server.mode, server.backlog),
        (path.clone(), 0o660, 9)
    );
    let connected = UnixClientEndpoint::new(reactor.clone(), &path)
        .timeout(Duration::from_secs(2))
        .connect(Factory::for_protocol(AccumulatingProtocol::new));
    let client = reactor.unix_clients().remove(0);
    assert_eq!(
        (client.path.clone(), client.timeout),
        (path, Duration::from_secs(2))
    );
    complete(&client.factory);
    assert!(success_result_of(&connected).borrow().made);
}

/// Listen and connect errors of the reactor become failed Deferreds.
#[test]
fn raising_reactor_errors_become_failures() {
    let reactor = RaisingMemoryReactor::new()
        .with_listen_error(std::io::Error::from(std::io::ErrorKind::AddrInUse))
        .with_connect_failure(ConnectionRefused::new());
    let listened = Tcp4ServerEndpoint::new(reactor.clone(), 80)
        .listen(Factory::for_protocol(AccumulatingProtocol::new));
    failure_result_of_type::<CannotListenError, _>(&listened);
    let connected = Tcp4ClientEndpoint::new(reactor, "10.0.0.2", 80)
        .connect(Factory::for_protocol(AccumulatingProtocol::new));
    failure_result_of_type::<ConnectionRefused, _>(&connected);
}

#[derive(Default)]
struct Quiet;
impl Protocol for Quiet {
    fn data_received(&mut self, _: &[u8]) {}
}

/// HostnameEndpoint on a MemoryReactorClock: the first address is tried at
/// once, the next after the attempt delay (or at once when the first
/// fails); the first success wins and the others are stopped.
#[test]
fn hostname_attempts_on_a_fake_clock() {
    let reactor = MemoryReactorClock::new();
    let resolver = Rc::new(StaticResolver(vec![
        "[::1]:80".parse().unwrap(),
        "10.0.0.1:80".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    ]));
    let endpoint = HostnameEndpoint::with_resolver(reactor.clone(), resolver, "example.test", 80)
        .attempt_delay(Duration::from_millis(300));
    let connected = endpoint.connect(Factory::for_protocol(Quiet::default));
    assert_eq!(reactor.tcp_clients().len(), 1, "one attempt at once");
    assert_eq!(reactor.tcp_clients()[0].host, "::1");
    reactor.advance(Duration::from_millis(299));
    assert_eq!(reactor.tcp_clients().len(), 1);
    reactor.advance(Duration::from_millis(1));
    assert_eq!(reactor.tcp_clients().len(), 2, "the second after the delay");
    assert_eq!(reactor.tcp_clients()[1].host, "10.0.0.1");
    // The second fails: the third starts at once.
    let second = reactor.tcp_clients()[1].clone();
    second
        .factory
        .client_connection_failed(&*second.connector, Failure::new(ConnectionRefused::new()));
    assert_eq!(reactor.tcp_clients().len(), 3);
    // The third connects: it wins, the first is stopped.
    complete(&reactor.tcp_clients()[2].factory);
    success_result_of(&connected);
    assert!(reactor.tcp_clients()[0].connector.stopped_connecting());
    // The first connecting late gets nothing built.
    assert!(reactor.tcp_clients()[0]
        .factory
        .build_protocol(&peer())
        .is_none());
    assert!(reactor.delayed_calls().is_empty(), "timers cleaned up");
}
