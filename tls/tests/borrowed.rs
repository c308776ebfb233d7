//! Issue 20's rule through the TLS layer: a protocol held borrowed across
//! an `.await` when decrypted data arrives gets a panic naming the cause
//! (contained by the reactor: the connection is aborted), not "RefCell
//! already borrowed"; and its `connection_lost` is not lost but delivered
//! once the borrow ends. Over loopback with certificates made at test time.

// Holding a borrow across an await is the mistake under test.
#![allow(clippy::await_holding_refcell_ref)]

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_endpoints::{Tcp4ClientEndpoint, Tcp4ServerEndpoint};
use torsion_reactor::{
    Factory, Failure, Reactor, StreamClientEndpointExt, StreamServerEndpointExt,
};
use torsion_testing::{success_result_of, Asker, LogCapture};
use torsion_tls::{TlsClientEndpoint, TlsServerEndpoint};
use util::{Echo, Pki};

const CAUSE: &str = "protocol borrowed elsewhere: held across .await?";

/// What the awaiting task got.
type Outcome = Rc<RefCell<Option<Result<Vec<u8>, Failure>>>>;

fn wait_until(reactor: &Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

#[test]
fn borrow_held_across_await_over_tls() {
    let logs = LogCapture::start();
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let pki = Pki::new("Torsion test CA");
    let server = TlsServerEndpoint::new(
        Rc::new(Tcp4ServerEndpoint::new(reactor.clone(), 0).interface("127.0.0.1")),
        pki.server(&["localhost"]),
    );
    let listening = server.listen(Factory::for_protocol(Echo::default));
    wait_until(&reactor, "the listen", || listening.has_result());
    let port = success_result_of(&listening).host().port().unwrap();

    let lost = Rc::new(Cell::new(0));
    let made = lost.clone();
    let client = TlsClientEndpoint::new(
        Rc::new(Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port)),
        pki.client("localhost"),
    );
    let connected = client.connect(Factory::for_protocol(move || {
        Asker::with_lost_counter(made.clone())
    }));
    wait_until(&reactor, "the connection", || connected.has_result());
    let asker: Rc<RefCell<Asker>> = success_result_of(&connected);

    let outcome: Outcome = Rc::default();
    let (slot, timer) = (outcome.clone(), reactor.clone());
    reactor.spawn_local(async move {
        let mut asker = asker.borrow_mut();
        let answer = asker
            .ask(b"ping")
            .add_timeout(Duration::from_millis(300), &timer)
            .await;
        *slot.borrow_mut() = Some(answer);
    });
    wait_until(&reactor, "connection_lost", || lost.get() > 0);
    assert_eq!(lost.get(), 1);
    assert!(matches!(*outcome.borrow(), Some(Err(_))));
    let errors = logs.flush_errors();
    assert!(
        errors.iter().any(|r| r.message.contains(CAUSE)),
        "{errors:?}"
    );
    assert!(
        !errors
            .iter()
            .any(|r| r.message.contains("already borrowed")),
        "{errors:?}"
    );
}
