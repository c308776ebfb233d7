//! Issue 20: `ClientService` retries that never said why.
//! "Scheduling retry 3 to connect ... in 2.2s" came with no reason, even
//! at debug, and `unix:path=/nonexistent` retried forever silently.

use std::rc::Rc;
use std::time::{Duration, Instant};

use log::Level;
use torsion_application::{ClientService, Service};
use torsion_endpoints::client_from_string;
use torsion_reactor::{Factory, Failure, Reactor};
use torsion_testing::{AccumulatingProtocol, Clock, FakeClientEndpoint, LogCapture};

fn retry_lines(logs: &LogCapture) -> Vec<String> {
    logs.records()
        .into_iter()
        .filter(|r| r.level == Level::Info && r.message.starts_with("Scheduling retry"))
        .map(|r| r.message)
        .collect()
}

/// Each failed attempt and each lost connection logs, at info and once,
/// the failure that caused the retry.
#[test]
fn each_retry_says_why_once() {
    let logs = LogCapture::start();
    let clock = Clock::new();
    let endpoint = Rc::new(FakeClientEndpoint::new(false));
    let service = ClientService::builder(
        endpoint.clone(),
        Factory::for_protocol(AccumulatingProtocol::new),
    )
    .clock(Rc::new(clock.clone()))
    .retry_policy(|_| Duration::from_secs(1))
    .build();
    service.start_service();
    endpoint
        .info()
        .pop_connect()
        .errback(Failure::msg("connection refused by the fake"));
    clock.advance(Duration::from_secs(1));
    endpoint
        .info()
        .pop_connect()
        .errback(Failure::msg("no route to the fake"));
    let lines = retry_lines(&logs);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("retry 1") && lines[0].contains("connection refused by the fake"));
    assert!(lines[1].contains("retry 2") && lines[1].contains("no route to the fake"));
    clock.advance(Duration::from_secs(1));
    endpoint.info().pop_connect().callback(());
    endpoint
        .info()
        .protocol(0)
        .borrow_mut()
        .connection_lost(Failure::msg("peer went away"));
    let lines = retry_lines(&logs);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[2].contains("peer went away"), "{}", lines[2]);
    drop(service.stop_service());
}

/// `unix:path=/nonexistent` says what is wrong with the path.
#[test]
fn unix_nonexistent_path_says_why_it_retries() {
    let logs = LogCapture::start();
    let reactor = Reactor::new().unwrap();
    let endpoint = client_from_string(reactor.clone(), "unix:path=/nonexistent").unwrap();
    let service =
        ClientService::builder(endpoint, Factory::for_protocol(AccumulatingProtocol::new))
            .clock(Rc::new(reactor.clone()))
            .retry_policy(|_| Duration::from_millis(10))
            .build();
    service.start_service();
    let deadline = Instant::now() + Duration::from_secs(10);
    while retry_lines(&logs).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no retry logged: {:?}",
            logs.messages()
        );
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    for line in retry_lines(&logs) {
        assert!(
            line.contains("unix:path=/nonexistent") && line.contains("No such file or directory"),
            "{line}"
        );
    }
    drop(service.stop_service());
}
