//! What the ports of Twisted's TCP mixins (`tcp_twisted_abort.rs`,
//! `tcp_twisted_client.rs`) share: bounded waits on the real mio reactor,
//! listening and connecting on 127.0.0.1 with ephemeral ports, and a look
//! at what the reactor still has registered (Twisted's `removeAll()`).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{
    Connector, DynProtocolFactory, ListeningPort, Reactor, ReactorTcp, DEFAULT_BACKLOG,
    DEFAULT_CONNECT_TIMEOUT,
};

/// How long any one wait may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// Iterates `reactor` until `done` or [`DEADLINE`] (then fails the test).
#[track_caller]
pub(crate) fn run_until(reactor: &Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

/// Iterates `reactor` a few times (lets queued work and close-downs run).
pub(crate) fn turn(reactor: &Reactor, turns: usize) {
    for _ in 0..turns {
        reactor.iterate(Some(Duration::from_millis(5))).unwrap();
    }
}

/// Listens on 127.0.0.1, port 0; returns the port and its number.
pub(crate) fn listen(
    reactor: &Reactor,
    factory: Rc<dyn DynProtocolFactory>,
) -> (Rc<dyn ListeningPort>, u16) {
    let port = reactor
        .listen_tcp(0, factory, DEFAULT_BACKLOG, "127.0.0.1")
        .unwrap();
    let number = port.host().port().unwrap();
    (port, number)
}

/// Connects to 127.0.0.1:`port`.
pub(crate) fn connect(
    reactor: &Reactor,
    port: u16,
    factory: Rc<dyn DynProtocolFactory>,
) -> Rc<dyn Connector> {
    reactor.connect_tcp("127.0.0.1", port, factory, DEFAULT_CONNECT_TIMEOUT, None)
}

/// Twisted's `findFreePort`: a 127.0.0.1 port nobody listens on (bound,
/// noted, closed).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops `port` and waits until it has.
pub(crate) fn stop_listening(reactor: &Reactor, port: &Rc<dyn ListeningPort>) {
    let stopped = port.stop_listening();
    run_until(reactor, "the port to stop listening", || {
        stopped.is_called()
    });
}

/// How many I/O sources (connections, ports, connection attempts) the
/// reactor still has registered with its poller: Twisted's
/// `len(reactor.removeAll())`.
pub(crate) fn registered_sources(reactor: &Reactor) -> usize {
    reactor.registered_sources()
}
