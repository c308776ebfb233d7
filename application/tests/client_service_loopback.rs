//! ClientService on the real reactor against a real loopback server: the
//! server goes away, comes back, the client reconnects and `when_connected`
//! fires again.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_application::{ClientService, Service};
use torsion_endpoints::Tcp4ClientEndpoint;
use torsion_reactor::{
    Address, Deferred, Factory, Protocol, ProtocolFactory, Reactor, ReactorTcp, TransportRef,
};
use torsion_testing::success_result_of;

fn wait<T: 'static>(reactor: &Reactor, d: &Deferred<T>, what: &str) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.has_result() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    success_result_of(d)
}

/// Echoes, and is remembered so the test can drop it from the server side.
#[derive(Default)]
struct Echo(Option<TransportRef>);

impl Protocol for Echo {
    fn connection_made(&mut self, t: TransportRef) {
        self.0 = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data);
    }
}

struct Server(RefCell<Vec<Rc<RefCell<Echo>>>>);

impl ProtocolFactory for Server {
    type Protocol = Echo;
    fn build_protocol(&self, _: &Address) -> Option<Echo> {
        Some(Echo::default())
    }
    fn protocol_built(&self, p: &Rc<RefCell<Echo>>) {
        self.0.borrow_mut().push(p.clone());
    }
}

#[derive(Default)]
struct Client {
    transport: Option<TransportRef>,
}

impl Protocol for Client {
    fn connection_made(&mut self, t: TransportRef) {
        self.transport = Some(t);
    }
    fn data_received(&mut self, _: &[u8]) {}
}

#[test]
fn reconnects_after_the_server_goes_away_and_comes_back() {
    let reactor = Reactor::new().unwrap();
    let server = Rc::new(Server(RefCell::new(Vec::new())));
    let listening = reactor
        .listen_tcp(0, server.clone(), 50, "127.0.0.1")
        .unwrap();
    let port = listening.host().port().unwrap();

    let endpoint = Rc::new(Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port));
    let service = ClientService::builder(endpoint, Factory::for_protocol(Client::default))
        .clock(Rc::new(reactor.clone()))
        .retry_policy(|_| Duration::from_millis(50))
        .build();
    service.start_service();
    let first = wait(
        &reactor,
        &service.when_connected(None),
        "the first connection",
    );

    // The client can be connected before the server accepted: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.0.borrow().is_empty() {
        assert!(Instant::now() < deadline, "the server never accepted");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    // The server goes away: stops listening and drops its connections.
    drop(listening.stop_listening());
    for echo in server.0.borrow_mut().drain(..) {
        echo.borrow().0.as_ref().unwrap().abort_connection();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.state_name() == "Connected" {
        assert!(
            Instant::now() < deadline,
            "the client never saw the server go"
        );
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let next = service.when_connected(None);
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    assert!(!next.has_result(), "connected while the server was down");
    assert!(
        service.failed_attempts() >= 2,
        "retries: {}",
        service.failed_attempts()
    );

    // It comes back on the same port.
    let _again = reactor
        .listen_tcp(port, server.clone(), 50, "127.0.0.1")
        .unwrap();
    let second = wait(&reactor, &next, "the reconnection");
    assert!(!Rc::ptr_eq(&first, &second));
    assert_eq!(service.failed_attempts(), 0);
    assert!(second.borrow().transport.is_some());

    let stopped = service.stop_service();
    wait(&reactor, &stopped, "the stop");
}
