//! `ClientService` over `ProcessEndpoint`: a "connection" is a child's
//! stdin and stdout, so a service keeps a worker process running, respawns
//! it when it exits (after the retry delay) and stops it by closing its
//! stdin. Deterministic on `MemoryReactor` and the fake clock, then once on
//! real children (`/bin/sh`), every wait bounded.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_application::{ClientService, Service};
use torsion_endpoints::ProcessEndpoint;
use torsion_reactor::error::{ProcessDone, ProcessTerminated, SpawnError};
use torsion_reactor::{Deferred, Factory, Failure, Protocol, Reactor, TransportRef};
use torsion_testing::{failure_result_of, success_result_of, Clock, MemoryReactor};

/// Greets the worker, keeps what it answers and how the connection ended.
#[derive(Default)]
struct Worker {
    greeting: Vec<u8>,
    received: Vec<u8>,
    lost: Option<Failure>,
}

impl Protocol for Worker {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(&self.greeting);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.lost = Some(reason);
    }
}

const RETRY: Duration = Duration::from_secs(5);

/// The worker is spawned when the service starts; its exit loses the
/// connection with the exit's reason; the service respawns it after the
/// retry delay, not before; stopping closes the current child's pipes and
/// completes when it has ended.
#[test]
fn respawns_an_exited_worker_on_the_fake_clock() {
    let reactor = MemoryReactor::new();
    let clock = Clock::new();
    let endpoint = Rc::new(ProcessEndpoint::new(reactor.clone(), "worker").args(["--serve"]));
    let factory = Factory::for_protocol(|| Worker {
        greeting: b"hello\n".to_vec(),
        ..Worker::default()
    });
    let service = ClientService::builder(endpoint, factory)
        .clock(Rc::new(clock.clone()))
        .retry_policy(|_| RETRY)
        .build();
    service.start_service();

    let spawned = reactor.processes();
    assert_eq!(spawned.len(), 1);
    assert_eq!(spawned[0].options.program().to_str(), Some("worker"));
    assert_eq!(spawned[0].options.get_args(), ["--serve"]);
    let first = success_result_of(&service.when_connected(None));
    let child = spawned[0].transport.clone();
    assert_eq!(child.written(), b"hello\n");
    child.child_data(1, b"ready\n");
    assert_eq!(first.borrow().received, b"ready\n");

    // The worker dies with exit code 3: the protocol hears it as such.
    child.exit(3);
    let reason = first.borrow().lost.clone().expect("connection lost");
    let terminated = reason
        .downcast_ref::<ProcessTerminated>()
        .expect("the exit's reason");
    assert_eq!(terminated.exit_code(), Some(3));

    let next = service.when_connected(None);
    clock.advance(RETRY - Duration::from_millis(1));
    assert_eq!(reactor.processes().len(), 1, "respawned before the delay");
    assert!(!next.has_result());
    clock.advance(Duration::from_millis(1));
    assert_eq!(reactor.processes().len(), 2, "respawned after the delay");
    let second = success_result_of(&next);
    assert!(!Rc::ptr_eq(&first, &second));
    let child = reactor.processes()[1].transport.clone();
    assert_eq!(child.written(), b"hello\n");

    // Stopping closes the child's pipes; the stop completes once it ended.
    let stopped = service.stop_service();
    assert_eq!(child.closed_by_protocol(), [0, 1, 2]);
    assert!(!stopped.has_result(), "stopped before the child ended");
    child.reaped(Failure::new(ProcessDone));
    success_result_of(&stopped);
    assert!(second
        .borrow()
        .lost
        .as_ref()
        .unwrap()
        .check::<ProcessDone>());
    clock.advance(RETRY * 10);
    assert_eq!(reactor.processes().len(), 2, "respawned after the stop");
}

fn wait<T: 'static>(reactor: &Reactor, d: &Deferred<T>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !d.has_result() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

/// On real children: each spawn answers its greeting and exits, the
/// service respawns it; the third stays (`cat`) until the stop closes its
/// stdin.
#[test]
fn respawns_real_children_and_stops_the_last() {
    let reactor = Reactor::new().unwrap();
    let script = r#"read line; echo "got $line"; if [ "$line" = stay ]; then exec cat; fi"#;
    let endpoint = Rc::new(ProcessEndpoint::new(reactor.clone(), "/bin/sh").args(["-c", script]));
    let spawned = Rc::new(RefCell::new(0));
    let count = spawned.clone();
    let factory = Factory::for_protocol(move || {
        *count.borrow_mut() += 1;
        let greeting = if *count.borrow() == 3 { "stay" } else { "go" };
        Worker {
            greeting: format!("{greeting}\n").into_bytes(),
            ..Worker::default()
        }
    });
    let service = ClientService::builder(endpoint, factory)
        .clock(Rc::new(reactor.clone()))
        .retry_policy(|_| Duration::from_millis(20))
        .build();
    service.start_service();

    let mut workers = Vec::new();
    for n in 1..=3 {
        let connected = service.when_connected(None);
        wait(&reactor, &connected, &format!("worker {n}"));
        let worker = success_result_of(&connected);
        let expected: &[u8] = if n == 3 { b"got stay\n" } else { b"got go\n" };
        let deadline = Instant::now() + Duration::from_secs(20);
        while worker.borrow().received != expected || (n < 3 && worker.borrow().lost.is_none()) {
            assert!(Instant::now() < deadline, "worker {n} never answered");
            reactor.iterate(Some(Duration::from_millis(10))).unwrap();
        }
        workers.push(worker);
    }
    for worker in &workers[..2] {
        assert!(worker
            .borrow()
            .lost
            .as_ref()
            .unwrap()
            .check::<ProcessDone>());
    }
    assert!(workers[2].borrow().lost.is_none());

    let stopped = service.stop_service();
    wait(&reactor, &stopped, "the stop");
    assert!(workers[2]
        .borrow()
        .lost
        .as_ref()
        .expect("the last worker ended")
        .check::<ProcessDone>());
    assert_eq!(*spawned.borrow(), 3);
}

/// A program that does not exist: each attempt fails with the typed spawn
/// error, which `when_connected(Some(1))` hands on.
#[test]
fn a_missing_program_fails_with_its_spawn_error() {
    let reactor = Reactor::new().unwrap();
    let endpoint = Rc::new(ProcessEndpoint::new(
        reactor.clone(),
        "/nonexistent/torsion-worker",
    ));
    let service = ClientService::builder(endpoint, Factory::for_protocol(Worker::default))
        .clock(Rc::new(reactor.clone()))
        .retry_policy(|_| Duration::from_millis(20))
        .build();
    let connected = service.when_connected(Some(2));
    service.start_service();
    wait(&reactor, &connected, "the failure");
    let failure = failure_result_of(&connected);
    assert!(
        matches!(
            failure.downcast_ref::<SpawnError>(),
            Some(SpawnError::NotFound { .. })
        ),
        "{failure}"
    );
    assert!(service.failed_attempts() >= 2);
    let stopped = service.stop_service();
    wait(&reactor, &stopped, "the stop");
}
