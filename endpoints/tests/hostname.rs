//! HostnameEndpoint on real loopback sockets: resolution, address
//! fallback, staggering, failures naming every address, cancel, timeout.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use torsion_endpoints::{HostnameConnectError, HostnameEndpoint, NameResolver, StaticResolver};
use torsion_reactor::error::{ConnectingCancelledError, DnsLookupError, TimeoutError};
use torsion_reactor::{
    Address, Deferred, Factory, Failure, Reactor, ReactorTcp, StreamClientEndpointExt,
};
use torsion_testing::AccumulatingProtocol;

fn wait<T: 'static>(reactor: &Reactor, d: &Deferred<T>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.has_result() {
        assert!(Instant::now() < deadline, "timed out");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

fn echo_port(reactor: &Reactor) -> u16 {
    reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(AccumulatingProtocol::new)),
            50,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap()
}

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn failure_of<T: 'static>(d: &Deferred<T>) -> Failure {
    match d.take_result() {
        Some(Err(failure)) => failure,
        Some(Ok(_)) => panic!("expected a failure, got a success"),
        None => panic!("expected a failure, got no result"),
    }
}

/// `localhost` through the system resolver reaches a 127.0.0.1 listener,
/// whichever address the resolver lists first.
#[test]
fn localhost_by_name() {
    let reactor = Reactor::new().unwrap();
    let port = echo_port(&reactor);
    let endpoint = HostnameEndpoint::new(reactor.clone(), "localhost", port)
        .attempt_delay(Duration::from_millis(50));
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait(&reactor, &connected);
    let protocol = connected
        .take_result()
        .unwrap()
        .map_err(|f| f.to_string())
        .unwrap();
    assert!(protocol.borrow().made);
}

/// `localhost` resolving to both ::1 and 127.0.0.1 where ::1 refuses: the
/// IPv4 address connects.
#[test]
fn one_address_refuses_the_other_connects() {
    let reactor = Reactor::new().unwrap();
    let port = echo_port(&reactor);
    let resolver = Rc::new(StaticResolver(vec![
        addr(&format!("[::1]:{port}")),
        addr(&format!("127.0.0.1:{port}")),
    ]));
    let endpoint = HostnameEndpoint::with_resolver(reactor.clone(), resolver, "localhost", port);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait(&reactor, &connected);
    let protocol = connected
        .take_result()
        .unwrap()
        .map_err(|f| f.to_string())
        .unwrap();
    let peer = protocol.borrow().transport.as_ref().unwrap().peer();
    assert_eq!(peer, Address::Tcp(addr(&format!("127.0.0.1:{port}"))));
}

/// Every address refusing: the failure names the host and each address.
#[test]
fn all_addresses_fail() {
    let reactor = Reactor::new().unwrap();
    let (a, b) = (unused_port(), unused_port());
    let resolver = Rc::new(StaticResolver(vec![
        addr(&format!("127.0.0.1:{a}")),
        addr(&format!("127.0.0.1:{b}")),
    ]));
    let endpoint = HostnameEndpoint::with_resolver(reactor.clone(), resolver, "example.test", 80);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait(&reactor, &connected);
    let failure = failure_of(&connected);
    let error = failure
        .downcast_ref::<HostnameConnectError>()
        .expect("a HostnameConnectError");
    assert_eq!(error.host, "example.test");
    assert_eq!(error.attempts.len(), 2);
    let text = failure.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{a}")) && text.contains(&format!("127.0.0.1:{b}")),
        "{text}"
    );
}

/// No addresses: DnsLookupError naming the host.
#[test]
fn no_addresses() {
    let reactor = Reactor::new().unwrap();
    let endpoint = HostnameEndpoint::with_resolver(
        reactor.clone(),
        Rc::new(StaticResolver(vec![])),
        "nowhere.test",
        80,
    );
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    let failure = failure_of(&connected);
    assert_eq!(
        failure.downcast_ref::<DnsLookupError>().unwrap().host,
        "nowhere.test"
    );
}

struct Failing;
impl NameResolver for Failing {
    fn resolve(&self, _: &str, _: u16) -> Deferred<Vec<SocketAddr>> {
        Deferred::failed(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such name",
        ))
    }
}

/// A resolver failure: DnsLookupError carrying the cause.
#[test]
fn resolver_failure() {
    let reactor = Reactor::new().unwrap();
    let endpoint = HostnameEndpoint::with_resolver(reactor, Rc::new(Failing), "nowhere.test", 80);
    let failure = failure_of(&endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new)));
    assert!(failure.check::<DnsLookupError>());
    assert!(failure.to_string().contains("no such name"), "{failure}");
}

struct Never;
impl NameResolver for Never {
    fn resolve(&self, _: &str, _: u16) -> Deferred<Vec<SocketAddr>> {
        Deferred::new()
    }
}

/// The timeout covers resolution too.
#[test]
fn timeout_covers_the_whole_connect() {
    let reactor = Reactor::new().unwrap();
    let endpoint =
        HostnameEndpoint::with_resolver(reactor.clone(), Rc::new(Never), "slow.test", 80)
            .timeout(Duration::from_millis(100));
    let started = Instant::now();
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait(&reactor, &connected);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(failure_of(&connected).check::<TimeoutError>());
}

/// Cancelling fails with ConnectingCancelledError naming the host.
#[test]
fn cancel() {
    let reactor = Reactor::new().unwrap();
    let endpoint = HostnameEndpoint::with_resolver(reactor, Rc::new(Never), "slow.test", 80);
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    connected.cancel();
    let failure = failure_of(&connected);
    assert_eq!(
        failure
            .downcast_ref::<ConnectingCancelledError>()
            .unwrap()
            .address,
        Address::Hostname {
            host: "slow.test".into(),
            port: 80
        }
    );
}

/// A first address that never answers does not hold the connect up: the
/// next address is tried `attempt_delay` later (not sooner) and wins.
#[test]
fn attempts_are_staggered() {
    // A listener with a full accept queue: SYNs to it go unanswered.
    let silent = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    silent.bind(&addr("127.0.0.2:0").into()).unwrap();
    silent.listen(0).unwrap();
    let silent_addr = silent.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&silent_addr.into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    let reactor = Reactor::new().unwrap();
    let port = echo_port(&reactor);
    let resolver = Rc::new(StaticResolver(vec![
        silent_addr,
        addr(&format!("127.0.0.1:{port}")),
    ]));
    let endpoint = HostnameEndpoint::with_resolver(reactor.clone(), resolver, "two.test", port)
        .attempt_delay(Duration::from_millis(150));
    let started = Instant::now();
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait(&reactor, &connected);
    let elapsed = started.elapsed();
    let protocol = connected
        .take_result()
        .unwrap()
        .map_err(|f| f.to_string())
        .unwrap();
    assert_eq!(
        protocol.borrow().transport.as_ref().unwrap().peer().port(),
        Some(port)
    );
    assert!(
        elapsed >= Duration::from_millis(150),
        "the second attempt started early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "waited for the silent address: {elapsed:?}"
    );
}
