//! Issue 20: a protocol borrowed across `.await`. Holding
//! `protocol.borrow_mut()` while awaiting the protocol's own Deferred made
//! the framework panic with `RefCell already borrowed`, panic again in
//! `connection_lost`, and never tell the protocol its connection was gone,
//! so its pending Deferreds never failed. Now the panic names the cause and
//! `connection_lost` is delivered once the borrow ends.
//!
//! The tests hold the borrow across an await on purpose.
#![allow(clippy::await_holding_refcell_ref)]

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_endpoints::Tcp4ClientEndpoint;
use torsion_reactor::{
    Factory, Failure, LocalExecutor, Protocol, ProtocolRef, ProtocolWrapper, Reactor, ReactorTcp,
    StreamClientEndpointExt, TransportRef, WrapperHooks,
};
use torsion_testing::{Asker, Clock, LogCapture, StringTransport};

/// Where a test's task leaves its answer.
type Outcome = Rc<RefCell<Option<Result<Vec<u8>, Failure>>>>;

const CAUSE: &str = "protocol borrowed elsewhere: held across .await?";

struct NoHooks;
impl WrapperHooks for NoHooks {}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// On the fakes: a wrapping protocol (an endpoint's) over a
/// `StringTransport`, a `LocalExecutor` and a `Clock`.
#[test]
fn borrow_held_across_await_on_the_fakes() {
    let logs = LogCapture::start();
    let clock = Clock::new();
    let executor = LocalExecutor::new();
    let lost = Rc::new(Cell::new(0));
    let asker = Rc::new(RefCell::new(Asker::with_lost_counter(lost.clone())));
    let inner: ProtocolRef = asker.clone();
    let mut wrapper = ProtocolWrapper::new(inner, NoHooks);
    wrapper.make_connection(Rc::new(StringTransport::new()));

    let outcome: Outcome = Rc::default();
    let (slot, timer) = (outcome.clone(), clock.clone());
    executor.spawn_local(async move {
        let mut asker = asker.borrow_mut();
        let answer = asker
            .ask(b"ping")
            .add_timeout(Duration::from_secs(1), &timer)
            .await;
        *slot.borrow_mut() = Some(answer);
    });
    executor.run_until_stalled();

    // The transport asks on end of file, outside its panic boundary: a
    // borrowed protocol answers "not half-closeable" rather than panicking.
    assert!(wrapper.as_half_closeable().is_none());

    // The answer arrives while the borrow is held: a panic naming the cause.
    let panicked = catch_unwind(AssertUnwindSafe(|| wrapper.data_received(b"pong")))
        .expect_err("a borrowed protocol cannot take data");
    let message = panic_message(panicked.as_ref());
    assert!(message.contains(CAUSE), "{message}");

    // The connection goes: no second panic, and the protocol hears of it
    // as soon as the borrow ends.
    wrapper.connection_lost(Failure::msg("aborted"));
    assert_eq!(lost.get(), 0);
    assert!(logs.messages().iter().any(|m| m.contains(CAUSE)));
    clock.advance(Duration::from_secs(1));
    executor.run_until_stalled();
    assert!(matches!(*outcome.borrow(), Some(Err(_))));
    assert_eq!(lost.get(), 1);
    drop(logs.flush_errors());
}

/// On the real reactor, over loopback, through an endpoint.
#[test]
fn borrow_held_across_await_on_the_reactor() {
    let logs = LogCapture::start();
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let port = reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(Echo::default)),
            50,
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap();
    let lost = Rc::new(Cell::new(0));
    let made = lost.clone();
    let connected = Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port).connect(
        Factory::for_protocol(move || Asker::with_lost_counter(made.clone())),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !connected.has_result() {
        assert!(Instant::now() < deadline, "no connection");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let asker = connected.take_result().unwrap().unwrap();

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
    while lost.get() == 0 {
        assert!(
            Instant::now() < deadline,
            "connection_lost never delivered: {:?}",
            logs.messages()
        );
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(lost.get(), 1);
    assert!(matches!(*outcome.borrow(), Some(Err(_))));
    let errors = logs.flush_errors();
    assert!(
        errors.iter().any(|r| r.message.contains(CAUSE)),
        "{errors:?}"
    );
    assert!(!errors
        .iter()
        .any(|r| r.message.contains("already borrowed")));
}

/// Echoes.
#[derive(Default)]
struct Echo(Option<TransportRef>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.0 {
            transport.write(data);
        }
    }
}

/// Remembers the protocols it builds.
struct Remembering(Rc<Cell<u32>>, RefCell<Vec<Rc<RefCell<Asker>>>>);

impl torsion_reactor::ProtocolFactory for Remembering {
    type Protocol = Asker;
    fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Asker> {
        Some(Asker::with_lost_counter(self.0.clone()))
    }
    fn protocol_built(&self, protocol: &Rc<RefCell<Asker>>) {
        self.1.borrow_mut().push(protocol.clone());
    }
}

/// On the real reactor, a server protocol the reactor holds directly (no
/// wrapper): the data it cannot take aborts the connection with the cause
/// named (it was skipped silently), and `connection_lost` still arrives.
#[test]
fn borrow_held_across_await_unwrapped_server_protocol() {
    use std::io::{Read, Write};

    let logs = LogCapture::start();
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let lost = Rc::new(Cell::new(0));
    let factory = Rc::new(Remembering(lost.clone(), RefCell::default()));
    let port = reactor
        .listen_tcp(0, factory.clone(), 50, "127.0.0.1")
        .unwrap()
        .host()
        .port()
        .unwrap();
    let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while factory.1.borrow().is_empty() {
        assert!(Instant::now() < deadline, "no connection");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let asker = factory.1.borrow()[0].clone();
    let timer = reactor.clone();
    reactor.spawn_local(async move {
        let mut asker = asker.borrow_mut();
        let _ = asker
            .ask(b"question?")
            .add_timeout(Duration::from_millis(300), &timer)
            .await;
    });
    reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    let mut question = [0; 9];
    peer.read_exact(&mut question).unwrap();
    peer.write_all(b"answer").unwrap();
    while lost.get() == 0 {
        assert!(Instant::now() < deadline, "connection_lost never delivered");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let errors = logs.flush_errors();
    assert!(
        errors
            .iter()
            .any(|r| r.message.contains(CAUSE) && r.message.contains("data_received")),
        "{errors:?}"
    );
    // The peer sees the connection end, not silence.
    let mut rest = Vec::new();
    let ended = peer.read_to_end(&mut rest);
    assert!(ended.is_err() || rest.is_empty(), "{ended:?} {rest:?}");
}
