//! ClientService where Twisted leaves a hole and we do better (see the
//! `# Twisted` section of `ClientService`), `reset_backoff_after`, exact
//! retry timing, and determinism.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_application::{backoff_policy, ClientService, Service};
use torsion_reactor::error::{CancelledError, PanicError};
use torsion_reactor::{
    Deferred, DynProtocolFactory, Failure, ProtocolRef, ReactorTime, StreamClientEndpoint,
    Transport,
};
use torsion_testing::{
    assert_no_result, failure_result_of, failure_result_of_type, success_result_of, Clock,
    LogCapture,
};
use util::{
    make_reconnector, pending_reconnector, Options, Plain, RememberingFactory, AT_LEAST_ONE_ATTEMPT,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A connection lost while `prepare_connection` is still pending counts as
/// a failed attempt: the waiter's failure budget is spent with the loss
/// reason, the preparation is cancelled, and the service retries.
#[test]
fn connection_lost_while_preparing_counts_as_a_failed_attempt() {
    let preparing: Rc<RefCell<Vec<Deferred<()>>>> = Rc::default();
    let record = preparing.clone();
    let r = make_reconnector(Options::<Plain> {
        customize: Box::new(move |builder| {
            builder.prepare_connection(move |_| {
                let d = Deferred::<()>::new();
                record.borrow_mut().push(d.clone());
                d
            })
        }),
        ..Options::default()
    });
    assert_eq!(r.service.state_name(), "Connecting");
    let awaiting = r.service.when_connected(Some(1));
    let reason = Failure::msg("dropped while preparing");
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(reason.clone());
    assert!(failure_result_of(&awaiting).is_same(&reason));
    assert_eq!(r.service.state_name(), "Waiting");
    assert_eq!(r.service.failed_attempts(), 1);
    // The pending preparation was cancelled (its result then moved on
    // down the attempt's chain).
    let first = preparing.borrow()[0].clone();
    assert!(first.is_called() && first.is_consumed());
    // The retry connects and prepares again; this time it completes.
    r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    preparing.borrow()[1].callback(());
    assert_eq!(r.service.state_name(), "Connected");
    assert!(Rc::ptr_eq(
        &success_result_of(&r.service.when_connected(None)),
        &r.app(1)
    ));
}

/// A rejected connection is closed, not left orphaned.
#[test]
fn a_failed_preparation_closes_the_connection() {
    let r = make_reconnector(Options::<Plain> {
        customize: Box::new(|builder| {
            builder.prepare_connection(|_| Err::<(), _>(Failure::msg("bad greeting")))
        }),
        ..Options::default()
    });
    assert!(r.info.transport(0).is_disconnecting());
    assert_eq!(r.service.state_name(), "Waiting");
    // Its connection_lost arrives later and is recognised as stale.
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::msg("closed"));
    assert_eq!(r.service.state_name(), "Waiting");
}

/// Stopping while preparing cancels the preparation and closes the
/// connection it was given.
#[test]
fn stop_while_preparing_closes_the_connection() {
    let r = make_reconnector(Options::<Plain> {
        customize: Box::new(|builder| builder.prepare_connection(|_| Deferred::<()>::new())),
        ..Options::default()
    });
    success_result_of(&r.service.stop_service());
    assert!(r.info.transport(0).is_disconnecting());
    assert_eq!(r.service.state_name(), "Stopped");
}

/// `when_connected` may be called from inside a `when_connected` callback
/// (Twisted 26 fails it with RuntimeError): it is queued and fires before
/// the outer call returns.
#[test]
fn when_connected_from_inside_a_when_connected_callback() {
    let r = pending_reconnector();
    type Slot = Rc<RefCell<Option<Deferred<Rc<RefCell<Plain>>>>>>;
    let inner: Slot = Rc::default();
    let (service, slot) = (r.service.clone(), inner.clone());
    r.service
        .when_connected(None)
        .add_callback(move |protocol| {
            *slot.borrow_mut() = Some(service.when_connected(None));
            Ok(protocol)
        });
    r.info.connect_queue()[0].callback(());
    let inner = inner.borrow_mut().take().unwrap();
    assert!(Rc::ptr_eq(&success_result_of(&inner), &r.app(0)));
}

/// `stop_service` may be called from inside a `when_connected` callback.
#[test]
fn stop_service_from_inside_a_when_connected_callback() {
    let r = pending_reconnector();
    let stopped: Rc<RefCell<Option<Deferred<()>>>> = Rc::default();
    let (service, slot) = (r.service.clone(), stopped.clone());
    r.service.when_connected(None).add_callback(move |_| {
        *slot.borrow_mut() = Some(service.stop_service());
        Ok(())
    });
    r.info.connect_queue()[0].callback(());
    let stopped = stopped.borrow_mut().take().unwrap();
    assert_no_result(&stopped);
    assert!(r.info.transport(0).is_disconnecting());
    r.info
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::msg("bye"));
    success_result_of(&stopped);
}

/// A waiter that fails (its callback panics, or the user already fired it)
/// never stops the others from firing; the service stays connected.
#[test]
fn a_failing_waiter_never_stops_the_others() {
    let r = pending_reconnector();
    let panicking = r
        .service
        .when_connected(None)
        .add_callback(|_| -> Result<(), Failure> { panic!("user bug") });
    let fired_by_user = r.service.when_connected(None);
    fired_by_user.callback(Rc::new(RefCell::new(Plain::default())));
    let last = r.service.when_connected(None);
    r.info.connect_queue()[0].callback(());
    assert!(Rc::ptr_eq(&success_result_of(&last), &r.app(0)));
    assert_eq!(r.service.state_name(), "Connected");
    failure_result_of_type::<PanicError, _>(&panicking);
    assert_eq!(r.logs.flush_errors().len(), 1, "the panic is logged once");
}

struct PanickingEndpoint;

impl StreamClientEndpoint for PanickingEndpoint {
    fn connect_dyn(&self, _factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        panic!("endpoint bug");
    }
}

struct FailingEndpoint;

impl StreamClientEndpoint for FailingEndpoint {
    fn connect_dyn(&self, _factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        Deferred::failed(torsion_reactor::error::ConnectionRefused::new())
    }
}

fn service_on(
    endpoint: Rc<dyn StreamClientEndpoint>,
    clock: &Clock,
) -> ClientService<RememberingFactory<Plain>> {
    let factory = RememberingFactory {
        make: Box::new(Plain::default),
        refuse: false,
        application_protocols: RefCell::new(Vec::new()),
        ports: torsion_reactor::PortCounter::new(),
    };
    ClientService::builder(endpoint, factory)
        .clock(Rc::new(clock.clone()))
        .retry_policy(|attempt| secs(u64::from(attempt)))
        .build()
}

/// `endpoint.connect` panicking is a failed attempt, retried, not a panic
/// out of `start_service`.
#[test]
fn endpoint_panicking_in_connect_is_a_failed_attempt() {
    let clock = Clock::new();
    let service = service_on(Rc::new(PanickingEndpoint), &clock);
    let awaiting = service.when_connected(Some(2));
    service.start_service();
    assert_eq!(service.state_name(), "Waiting");
    clock.advance(secs(1));
    failure_result_of_type::<PanicError, _>(&awaiting);
    success_result_of(&service.stop_service());
    assert!(clock.delayed_calls().is_empty());
}

/// An endpoint failing synchronously (an already-failed Deferred) is a
/// failed attempt too, with the policy's delays: 1 s, then 2 s, then 3 s.
#[test]
fn endpoint_failing_synchronously_is_retried_with_the_policy() {
    let clock = Clock::new();
    let service = service_on(Rc::new(FailingEndpoint), &clock);
    service.start_service();
    for (failures, delay) in [(1, 1), (2, 2), (3, 3)] {
        assert_eq!(service.failed_attempts(), failures);
        let pending = clock.delayed_calls();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].time() - clock.now(), secs(delay));
        clock.advance(secs(delay));
    }
    success_result_of(&service.stop_service());
}

/// The retry log line names the attempt, the endpoint, the delay and (issue
/// 20) the failure that caused it.
#[test]
fn retry_is_logged() {
    let logs = LogCapture::start();
    let clock = Clock::new();
    let service = service_on(Rc::new(FailingEndpoint), &clock);
    service.start_service();
    logs.assert_logged(
        log::Level::Info,
        "Scheduling retry 1 to connect FailingEndpoint in 1s (",
    );
    service.stop_service();
}

/// With Twisted's policy and a fixed jitter, retries wait exactly
/// 1.5 s, 2.25 s, 3.375 s... as the backoff promises.
#[test]
fn backoff_with_fixed_jitter_is_exact() {
    let r = make_reconnector(Options::<Plain> {
        fire_immediately: false,
        customize: Box::new(|builder| {
            builder.retry_policy(backoff_policy(secs(1), secs(60), 1.5, || {
                Duration::from_millis(250)
            }))
        }),
        ..Options::default()
    });
    for expected_ms in [1750, 2500, 3625, 5312] {
        r.info.pop_connect().errback(Failure::msg("no"));
        let pending = r.clock.delayed_calls();
        let wait = pending[0].time() - r.clock.now();
        assert!(
            wait.abs_diff(Duration::from_millis(expected_ms)) < Duration::from_millis(1),
            "{wait:?}"
        );
        r.clock.advance(wait);
    }
}

/// `reset_backoff_after`: a peer that accepts and drops at once meets a
/// growing delay; a connection that stays up long enough resets the count.
#[test]
fn reset_backoff_after_requires_the_connection_to_stay_up() {
    let r = make_reconnector(Options::<Plain> {
        fire_immediately: false,
        customize: Box::new(|builder| {
            builder
                .retry_policy(|attempt| secs(u64::from(attempt)))
                .reset_backoff_after(secs(10))
        }),
        ..Options::default()
    });
    // Accept then drop at once, three times: 1 s, 2 s, 3 s.
    for (i, delay) in [1, 2, 3].into_iter().enumerate() {
        r.info.connect_queue()[i].callback(());
        r.info
            .protocol(i)
            .borrow_mut()
            .connection_lost(Failure::msg("dropped"));
        assert_eq!(r.service.failed_attempts(), delay);
        r.clock.advance(secs(delay as u64));
    }
    // This one stays up for 10 s: the count starts over.
    r.info.connect_queue()[3].callback(());
    r.clock.advance(secs(10));
    r.info
        .protocol(3)
        .borrow_mut()
        .connection_lost(Failure::msg("dropped"));
    assert_eq!(r.service.failed_attempts(), 1);
}

/// Without it (Twisted), every successful connection resets the count.
#[test]
fn by_default_every_connection_resets_the_count() {
    let r = pending_reconnector();
    for i in 0..3 {
        r.info.connect_queue()[i].callback(());
        r.info
            .protocol(i)
            .borrow_mut()
            .connection_lost(Failure::msg("dropped"));
        assert_eq!(r.service.failed_attempts(), 1);
        r.clock.advance(AT_LEAST_ONE_ATTEMPT);
    }
}

/// A waiter the user cancelled is skipped; the others still fire.
#[test]
fn a_cancelled_waiter_is_skipped() {
    let r = pending_reconnector();
    let cancelled = r.service.when_connected(None);
    let kept = r.service.when_connected(None);
    cancelled.cancel();
    failure_result_of_type::<CancelledError, _>(&cancelled);
    r.info.connect_queue()[0].callback(());
    success_result_of(&kept);
}

/// The same scenario run twice gives the same transcript (the policy's
/// jitter is injected).
#[test]
fn same_scenario_twice_is_deterministic() {
    fn scenario() -> Vec<(String, Duration)> {
        let r = make_reconnector(Options::<Plain> {
            fire_immediately: false,
            customize: Box::new(|builder| {
                builder.retry_policy(backoff_policy(secs(1), secs(5), 2.0, || {
                    Duration::from_millis(100)
                }))
            }),
            ..Options::default()
        });
        let mut transcript = Vec::new();
        for i in 0..6 {
            if i % 3 == 2 {
                r.info.pop_connect().callback(());
                let n = r.info.constructed_protocols().len() - 1;
                r.info
                    .protocol(n)
                    .borrow_mut()
                    .connection_lost(Failure::msg("x"));
            } else {
                r.info.pop_connect().errback(Failure::msg("x"));
            }
            transcript.push((
                r.service.state_name().to_string(),
                r.clock.delayed_calls()[0].time(),
            ));
            r.clock.advance(secs(10));
        }
        transcript
    }
    let first = scenario();
    assert_eq!(first.len(), 6);
    assert_eq!(first, scenario());
}
