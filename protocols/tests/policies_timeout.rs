//! `TimeoutFactory` and `TimeoutMixin`: Twisted's `TimeoutProtocolTests`,
//! `TimeoutFactoryTests` and `TimeoutMixinTests`
//! (`twisted/test/test_policies.py`), on `torsion_testing::Clock`.

mod policies_util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use policies_util::{connect, secs, timings, Recording, SimpleProtocol};
use torsion_protocols::policies::{
    PolicyProtocol, TimeoutConnection, TimeoutFactory, TimeoutHooks, TimeoutMixin,
};
use torsion_reactor::{Protocol, ReactorTime, Transport, TransportRef};
use torsion_testing::{Clock, StringTransport};

/// Twisted's `getProtocolAndClock`: a connected protocol from a
/// `TimeoutFactory` with no period, and its clock.
/// What `protocol_and_clock` sets up.
type Setup = (
    Rc<RefCell<PolicyProtocol<TimeoutHooks>>>,
    Rc<Clock>,
    Rc<Recording<SimpleProtocol>>,
    Rc<StringTransport>,
);

fn protocol_and_clock(period: Option<Duration>) -> Setup {
    let clock = Rc::new(Clock::new());
    let wrapped = Recording::new(SimpleProtocol::default);
    let factory = TimeoutFactory::new(wrapped.clone(), clock.clone(), period);
    let (proto, transport) = connect(&factory);
    (proto, clock, wrapped, transport)
}

/// Twisted's `TimeoutProtocolTests.test_cancelTimeout`: will cancel the
/// ongoing timeout.
#[test]
fn cancel_timeout() {
    let (sut, clock, wrapped, _t) = protocol_and_clock(None);
    let hooks = sut.borrow().hooks().clone();
    hooks.set_timeout(Some(secs(3.0)));
    assert!(hooks.is_pending());
    assert!(!wrapped.nth(0).borrow().disconnected);

    clock.advance(secs(1.0));
    hooks.cancel_timeout();
    assert!(!hooks.is_pending());
    clock.advance(secs(3.0));
    assert!(!wrapped.nth(0).borrow().disconnected);
}

/// Twisted's `test_cancelTimeoutNoTimeout`: does nothing if no timeout is
/// already set.
#[test]
fn cancel_timeout_no_timeout() {
    let (sut, _clock, wrapped, _t) = protocol_and_clock(None);
    let hooks = sut.borrow().hooks().clone();
    assert!(!hooks.is_pending());
    hooks.cancel_timeout();
    assert!(!wrapped.nth(0).borrow().disconnected);
}

/// Twisted's `test_cancelTimeoutAlreadyCalled`: does nothing if the
/// timeout was already reached.
#[test]
fn cancel_timeout_already_called() {
    let (sut, clock, wrapped, _t) = protocol_and_clock(None);
    let hooks = sut.borrow().hooks().clone();
    hooks.set_timeout(Some(secs(3.0)));
    clock.advance(secs(3.0));
    assert!(wrapped.nth(0).borrow().disconnected);
    hooks.cancel_timeout();
}

/// Twisted's `test_cancelTimeoutAlreadyCancelled`: does nothing if the
/// timeout is cancelled from another part.
#[test]
fn cancel_timeout_already_cancelled() {
    let (sut, clock, wrapped, _t) = protocol_and_clock(None);
    let hooks = sut.borrow().hooks().clone();
    hooks.set_timeout(Some(secs(3.0)));
    for call in clock.delayed_calls() {
        call.cancel().expect("pending");
    }
    hooks.cancel_timeout();
    assert!(!wrapped.nth(0).borrow().disconnected);
}

/// Twisted's `TimeoutFactoryTests.test_timeout`: when a TimeoutFactory
/// accepts a connection, it will time out that connection if no data is
/// read or written within the timeout period.
#[test]
fn timeout() {
    let (_sut, clock, wrapped, _t) = protocol_and_clock(Some(secs(3.0)));
    clock.pump(&timings(&[0.0, 0.5, 1.0, 1.0, 0.4]));
    assert!(!wrapped.nth(0).borrow().disconnected);
    clock.pump(&timings(&[0.0, 0.2]));
    assert!(wrapped.nth(0).borrow().disconnected);
}

/// Twisted's `test_sendAvoidsTimeout`: writing data to a transport from a
/// protocol constructed by a TimeoutFactory resets the timeout countdown.
#[test]
fn send_avoids_timeout() {
    let (_sut, clock, wrapped, _t) = protocol_and_clock(Some(secs(3.0)));
    clock.pump(&timings(&[0.0, 0.5, 1.0]));
    assert!(!wrapped.nth(0).borrow().disconnected);

    let transport = wrapped
        .nth(0)
        .borrow()
        .transport
        .clone()
        .expect("connected");
    transport.write(b"bytes bytes bytes");
    clock.pump(&timings(&[0.0, 1.0, 1.0]));
    assert!(!wrapped.nth(0).borrow().disconnected);

    transport.write_sequence(&[b"bytes".as_slice(); 3]);
    clock.pump(&timings(&[0.0, 1.0, 1.0]));
    assert!(!wrapped.nth(0).borrow().disconnected);

    clock.pump(&timings(&[0.0, 2.0]));
    assert!(wrapped.nth(0).borrow().disconnected);
}

/// Twisted's `test_receiveAvoidsTimeout`: receiving data also resets the
/// timeout countdown.
#[test]
fn receive_avoids_timeout() {
    let (sut, clock, wrapped, _t) = protocol_and_clock(Some(secs(3.0)));
    clock.pump(&timings(&[0.0, 1.0, 0.5]));
    assert!(!wrapped.nth(0).borrow().disconnected);

    sut.borrow_mut().data_received(b"bytes bytes bytes");
    clock.pump(&timings(&[0.0, 1.0, 1.0]));
    assert!(!wrapped.nth(0).borrow().disconnected);

    clock.pump(&timings(&[0.0, 1.0, 1.0]));
    assert!(wrapped.nth(0).borrow().disconnected);
    assert_eq!(wrapped.nth(0).borrow().buffer, b"bytes bytes bytes");
}

/// Twisted's `TimeoutTester`: a protocol with its own timeout reaction.
struct TimeoutTester {
    timeout: TimeoutMixin,
    time_out: Option<Duration>,
    timed_out: bool,
}

impl TimeoutTester {
    fn new(clock: &Rc<Clock>) -> Rc<RefCell<TimeoutTester>> {
        let tester = Rc::new(RefCell::new(TimeoutTester {
            timeout: TimeoutMixin::new(clock.clone()),
            time_out: Some(secs(3.0)),
            timed_out: false,
        }));
        tester.borrow().timeout.bind(&tester);
        tester
    }
}

impl Protocol for TimeoutTester {
    fn connection_made(&mut self, _transport: TransportRef) {
        self.timeout.set_timeout(self.time_out);
    }

    fn data_received(&mut self, _data: &[u8]) {
        self.timeout.reset_timeout();
    }

    fn connection_lost(&mut self, _reason: torsion_reactor::Failure) {
        self.timeout.set_timeout(None);
    }
}

impl TimeoutConnection for TimeoutTester {
    fn timeout_connection(&mut self) {
        self.timed_out = true;
    }
}

fn connect_tester(proto: &Rc<RefCell<TimeoutTester>>) {
    proto
        .borrow_mut()
        .make_connection(Rc::new(StringTransport::new()));
}

/// Twisted's `test_overriddenCallLater`: the given clock is used.
#[test]
fn overridden_call_later() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    proto.borrow().timeout.set_timeout(Some(secs(10.0)));
    assert_eq!(clock.delayed_calls().len(), 1);
}

/// Twisted's `TimeoutMixinTests.test_timeout`: the protocol times out at
/// the time given.
#[test]
fn mixin_timeout() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    connect_tester(&proto);
    clock.pump(&timings(&[0.0, 0.5, 1.0, 1.0]));
    assert!(!proto.borrow().timed_out);
    clock.pump(&timings(&[0.0, 1.0]));
    assert!(proto.borrow().timed_out);
}

/// Twisted's `test_noTimeout`: receiving data delays the timeout.
#[test]
fn no_timeout() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    connect_tester(&proto);
    clock.pump(&timings(&[0.0, 0.5, 1.0, 1.0]));
    assert!(!proto.borrow().timed_out);
    proto.borrow_mut().data_received(b"hello there");
    clock.pump(&timings(&[0.0, 1.0, 1.0, 0.5]));
    assert!(!proto.borrow().timed_out);
    clock.pump(&timings(&[0.0, 1.0]));
    assert!(proto.borrow().timed_out);
}

/// Twisted's `test_resetTimeout`: setting a new value for timeout cancels
/// the previous value and installs a new timeout.
#[test]
fn reset_timeout() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    proto.borrow_mut().time_out = None;
    connect_tester(&proto);
    proto.borrow().timeout.set_timeout(Some(secs(1.0)));
    assert_eq!(proto.borrow().timeout.timeout(), Some(secs(1.0)));
    clock.pump(&timings(&[0.0, 0.9]));
    assert!(!proto.borrow().timed_out);
    clock.pump(&timings(&[0.0, 0.2]));
    assert!(proto.borrow().timed_out);
}

/// Twisted's `TimeoutMixinTests.test_cancelTimeout`: setting the timeout to
/// `None` cancels any timeout operations.
#[test]
fn mixin_cancel_timeout() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    proto.borrow_mut().time_out = Some(secs(5.0));
    connect_tester(&proto);
    proto.borrow().timeout.set_timeout(None);
    assert_eq!(proto.borrow().timeout.timeout(), None);
    clock.pump(&timings(&[0.0, 5.0, 5.0, 5.0]));
    assert!(!proto.borrow().timed_out);
}

/// Twisted's `test_setTimeoutReturn`: `set_timeout` returns the previous
/// period.
#[test]
fn set_timeout_return() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    let mixin = &proto.borrow().timeout;
    mixin.set_timeout(Some(secs(5.0)));
    assert_eq!(mixin.set_timeout(Some(secs(10.0))), Some(secs(5.0)));
    assert_eq!(mixin.set_timeout(None), Some(secs(10.0)));
    assert_eq!(mixin.set_timeout(Some(secs(1.0))), None);
    assert_eq!(mixin.timeout(), Some(secs(1.0)));
    mixin.set_timeout(None);
    assert!(clock.delayed_calls().is_empty());
}

/// Twisted's `test_setTimeoutCancleAlreadyCancelled`: when the timeout was
/// already cancelled from an external place, `set_timeout(None)` cleans up
/// without an error.
#[test]
fn set_timeout_cancel_already_cancelled() {
    let clock = Rc::new(Clock::new());
    let proto = TimeoutTester::new(&clock);
    let mixin = &proto.borrow().timeout;
    mixin.set_timeout(Some(secs(3.0)));
    clock.delayed_calls()[0].cancel().expect("pending");
    assert!(mixin.timeout().is_some());
    mixin.set_timeout(None);
    assert_eq!(mixin.timeout(), None);
}

/// The default reaction closes the transport it was given.
#[test]
fn mixin_closes_transport_by_default() {
    let clock = Rc::new(Clock::new());
    let mixin = TimeoutMixin::new(clock.clone());
    let transport = Rc::new(StringTransport::new());
    let as_ref: TransportRef = transport.clone();
    mixin.close_on_timeout(&as_ref);
    mixin.set_timeout(Some(secs(2.0)));
    clock.advance(secs(1.9));
    assert!(!transport.is_disconnecting());
    clock.advance(secs(0.1));
    assert!(transport.is_disconnecting());
    assert!(!mixin.is_pending());
}
