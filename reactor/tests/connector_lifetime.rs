//! A connector the caller drops (Twisted code routinely ignores what
//! `connectTCP` returns) still reports to its factory: the connection keeps
//! its connector, as Twisted's transport holds `connector`, so
//! `client_connection_lost` arrives and a factory can reconnect through the
//! connector it is handed (`ReconnectingClientFactory`'s pattern). On the
//! mio reactor over 127.0.0.1; every wait is bounded.

use std::cell::RefCell;
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{
    Address, Connector, Failure, Protocol, ProtocolFactory, Reactor, ReactorTcp,
    DEFAULT_CONNECT_TIMEOUT,
};

struct Quiet;
impl Protocol for Quiet {
    fn data_received(&mut self, _: &[u8]) {}
}

/// Records the factory hooks; reconnects from `client_connection_lost`
/// while `reconnects` is above zero.
#[derive(Default, Clone)]
struct Hooks {
    seen: Rc<RefCell<Vec<&'static str>>>,
    reconnects: Rc<RefCell<u32>>,
}

impl ProtocolFactory for Hooks {
    type Protocol = Quiet;
    fn build_protocol(&self, _: &Address) -> Option<Quiet> {
        Some(Quiet)
    }
    fn do_stop(&self) {
        self.seen.borrow_mut().push("stop");
    }
    fn client_connection_lost(&self, connector: &dyn Connector, _reason: Failure) {
        self.seen.borrow_mut().push("lost");
        let again = {
            let mut left = self.reconnects.borrow_mut();
            let again = *left > 0;
            *left = left.saturating_sub(1);
            again
        };
        if again {
            connector.connect();
        }
    }
    fn client_connection_failed(&self, _: &dyn Connector, _reason: Failure) {
        self.seen.borrow_mut().push("failed");
    }
}

fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

/// A std server that accepts `count` connections and closes each.
fn closing_server(count: usize) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..count {
            let (stream, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(stream);
        }
        count
    });
    (port, server)
}

/// Connects to `port` with a [`Hooks`] factory reconnecting `reconnects`
/// times, drops the connector, and runs until the factory stopped.
fn connect_dropped(port: u16, reconnects: u32) -> Hooks {
    let reactor = Reactor::new().unwrap();
    let hooks = Hooks::default();
    *hooks.reconnects.borrow_mut() = reconnects;
    drop(reactor.connect_tcp(
        "127.0.0.1",
        port,
        Rc::new(hooks.clone()),
        DEFAULT_CONNECT_TIMEOUT,
        None,
    ));
    run_until(&reactor, "the factory's do_stop", || {
        hooks.seen.borrow().contains(&"stop")
    });
    hooks
}

#[test]
fn dropped_connector_still_reports_the_lost_connection() {
    let (port, server) = closing_server(1);
    let hooks = connect_dropped(port, 0);
    assert_eq!(*hooks.seen.borrow(), ["lost", "stop"]);
    server.join().unwrap();
}

/// `client_connection_lost` reconnecting through the connector it is
/// handed works though nobody else holds that connector.
#[test]
fn dropped_connector_reconnects_from_the_factory() {
    let (port, server) = closing_server(3);
    let hooks = connect_dropped(port, 2);
    assert_eq!(*hooks.seen.borrow(), ["lost", "lost", "lost", "stop"]);
    assert_eq!(server.join().unwrap(), 3);
}

/// A refused attempt of a dropped connector is reported too.
#[test]
fn dropped_connector_reports_a_refused_attempt() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hooks = connect_dropped(port, 0);
    assert_eq!(*hooks.seen.borrow(), ["failed", "stop"]);
}
