//! Endpoints over real loopback sockets: TCP4, TCP6 (when the machine has
//! ::1), UNIX; cancellation and a refusing factory.

use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_endpoints::{
    client_from_string, server_from_string, Tcp4ClientEndpoint, Tcp4ServerEndpoint,
    Tcp6ClientEndpoint, Tcp6ServerEndpoint, UnixClientEndpoint, UnixServerEndpoint,
};
use torsion_reactor::error::{ConnectingCancelledError, NoProtocol};
use torsion_reactor::{
    Address, Deferred, Factory, Protocol, ProtocolFactory, Reactor, StreamClientEndpoint,
    StreamClientEndpointExt, StreamServerEndpoint, StreamServerEndpointExt, TransportRef,
};
use torsion_testing::{success_result_of, AccumulatingProtocol};

fn wait_for<T: 'static>(reactor: &Reactor, d: &Deferred<T>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.has_result() {
        assert!(Instant::now() < deadline, "timed out");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

#[derive(Debug, Default)]
struct Echo(Option<TransportRef>);
impl Protocol for Echo {
    fn connection_made(&mut self, t: TransportRef) {
        self.0 = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data);
    }
}

/// Listens with `server`, connects with `client`, checks one echo.
fn round_trip(
    reactor: &Reactor,
    server: &dyn StreamServerEndpoint,
    client: impl Fn(Address) -> Rc<dyn StreamClientEndpoint>,
) {
    let listening = server.listen(Factory::for_protocol(Echo::default));
    wait_for(reactor, &listening);
    let port = success_result_of(&listening);
    let connected = client(port.host()).connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait_for(reactor, &connected);
    let protocol = success_result_of(&connected);
    protocol.borrow().transport.as_ref().unwrap().write(b"ping");
    let deadline = Instant::now() + Duration::from_secs(10);
    while protocol.borrow().data.len() < 4 {
        assert!(Instant::now() < deadline, "no echo");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(protocol.borrow().data, b"ping");
    drop(port.stop_listening());
}

#[test]
fn tcp4_connect_and_listen() {
    let reactor = Reactor::new().unwrap();
    let server = Tcp4ServerEndpoint::new(reactor.clone(), 0).interface("127.0.0.1");
    round_trip(&reactor, &server, |host| {
        Rc::new(Tcp4ClientEndpoint::new(
            reactor.clone(),
            "127.0.0.1",
            host.port().unwrap(),
        ))
    });
}

#[test]
fn tcp6_connect_and_listen() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; the TCP6 round trip cannot run here");
        return;
    }
    let reactor = Reactor::new().unwrap();
    let server = Tcp6ServerEndpoint::new(reactor.clone(), 0).interface("::1");
    round_trip(&reactor, &server, |host| {
        Rc::new(Tcp6ClientEndpoint::new(
            reactor.clone(),
            "::1",
            host.port().unwrap(),
        ))
    });
}

#[test]
fn unix_connect_and_listen() {
    let dir = std::env::temp_dir().join(format!("torsion-endpoints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let reactor = Reactor::new().unwrap();
    let server = UnixServerEndpoint::new(reactor.clone(), &path).mode(0o600);
    round_trip(&reactor, &server, |_| {
        Rc::new(UnixClientEndpoint::new(reactor.clone(), &path))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn endpoints_from_strings_connect() {
    let reactor = Reactor::new().unwrap();
    let server = server_from_string(reactor.clone(), "tcp:0:interface=127.0.0.1").unwrap();
    round_trip(&reactor, &*server, |host| {
        client_from_string(
            reactor.clone(),
            &format!("tcp:host=127.0.0.1:port={}", host.port().unwrap()),
        )
        .unwrap()
    });
}

/// Cancelling a connect fails it with ConnectingCancelledError naming the
/// destination; nothing fires later.
#[test]
fn cancelling_a_connect() {
    // A listener that never accepts still completes TCP handshakes, so use
    // a port with nobody on it and cancel before the refusal is processed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reactor = Reactor::new().unwrap();
    let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    connected.cancel();
    let failure = connected.take_result().unwrap().unwrap_err();
    let cancelled = failure.downcast_ref::<ConnectingCancelledError>().unwrap();
    assert_eq!(
        cancelled.address,
        Address::Tcp(format!("127.0.0.1:{port}").parse().unwrap())
    );
    for _ in 0..5 {
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

/// A factory that builds nothing fails the connect with NoProtocol.
#[test]
fn a_refusing_factory_fails_with_no_protocol() {
    struct Refuse;
    impl ProtocolFactory for Refuse {
        type Protocol = Echo;
        fn build_protocol(&self, _: &Address) -> Option<Echo> {
            None
        }
    }
    let reactor = Reactor::new().unwrap();
    let server = Tcp4ServerEndpoint::new(reactor.clone(), 0).interface("127.0.0.1");
    let listening = success_result_of(&server.listen(Factory::for_protocol(Echo::default)));
    let endpoint = Tcp4ClientEndpoint::new(
        reactor.clone(),
        "127.0.0.1",
        listening.host().port().unwrap(),
    );
    let connected = endpoint.connect(Refuse);
    wait_for(&reactor, &connected);
    let failure = match connected.take_result() {
        Some(Err(failure)) => failure,
        _ => panic!("expected a failure"),
    };
    assert!(failure.check::<NoProtocol>(), "{failure}");
}
