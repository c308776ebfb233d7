//! `ProcessEndpoint`: Twisted's `ProcessEndpointsTests`
//! (`twisted/internet/test/test_endpoints.py`), on real children and on
//! `MemoryReactor`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_endpoints::ProcessEndpoint;
use torsion_reactor::error::{ProcessDone, SpawnError};
use torsion_reactor::{
    Factory, Failure, Protocol, PtySize, Reactor, StreamClientEndpoint, StreamClientEndpointExt,
    TransportRef,
};
use torsion_testing::MemoryReactor;

#[derive(Default)]
struct Collect {
    transport: Option<TransportRef>,
    received: Vec<u8>,
    lost: Option<Failure>,
}

impl Protocol for Collect {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(b"round trip");
        transport.lose_write_connection();
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.lost = Some(reason);
    }
}

/// The protocol's writes reach the child's stdin, its stdout reaches
/// `data_received`, and the child's end is `connection_lost(ProcessDone)`.
#[test]
fn connect_to_a_child() {
    let reactor = Reactor::new().expect("reactor");
    let endpoint = ProcessEndpoint::new(reactor.clone(), "cat");
    let connected = endpoint.connect(Factory::for_protocol(Collect::default));
    let protocol: Rc<RefCell<Collect>> = connected
        .take_result()
        .expect("fired at once")
        .expect("connected");
    let deadline = Instant::now() + Duration::from_secs(20);
    while protocol.borrow().lost.is_none() {
        assert!(Instant::now() < deadline, "timed out");
        reactor
            .iterate(Some(Duration::from_millis(50)))
            .expect("iterate");
    }
    let p = protocol.borrow();
    assert_eq!(p.received, b"round trip");
    assert!(p.lost.as_ref().unwrap().check::<ProcessDone>());
}

/// A program that does not exist fails the connection attempt with
/// `SpawnError::NotFound`.
#[test]
fn connect_failure() {
    let reactor = Reactor::new().expect("reactor");
    let endpoint = ProcessEndpoint::new(reactor, "/no/such/program");
    let Err(failure) = endpoint
        .connect(Factory::for_protocol(Collect::default))
        .take_result()
        .expect("fired at once")
    else {
        panic!("connected to a program that does not exist");
    };
    assert!(matches!(
        failure.downcast_ref::<SpawnError>(),
        Some(SpawnError::NotFound { .. })
    ));
}

/// The endpoint hands the reactor the program, arguments, environment and
/// directory it was given (Twisted's `test_constructorDefaults` /
/// `test_constructorNonDefaults` with `MemoryReactor`).
#[test]
fn spawn_process_arguments() {
    let reactor = MemoryReactor::new();
    let endpoint = ProcessEndpoint::new(reactor.clone(), "/bin/prog")
        .args(["a", "b"])
        .env("K", "V")
        .current_dir("/srv");
    assert_eq!(endpoint.describe(), "process:/bin/prog");
    let connected = endpoint.connect(Factory::for_protocol(Collect::default));
    assert!(connected.take_result().expect("fired").is_ok());
    let spawned = reactor.processes();
    assert_eq!(spawned.len(), 1);
    let options = &spawned[0].options;
    assert_eq!(options.program().to_str(), Some("/bin/prog"));
    assert_eq!(options.get_args(), ["a", "b"]);
    assert_eq!(options.get_env(), [("K".into(), "V".into())]);
    assert_eq!(
        options.get_current_dir().and_then(|d| d.to_str()),
        Some("/srv")
    );
    assert_eq!(spawned[0].transport.written(), b"round trip");
}

/// The ids and the terminal reach the reactor too (the rest of Twisted's
/// `test_constructorNonDefaults`).
#[test]
fn spawn_process_arguments_non_defaults() {
    let reactor = MemoryReactor::new();
    let size = PtySize { rows: 30, cols: 90 };
    let endpoint = ProcessEndpoint::new(reactor.clone(), "/bin/prog")
        .uid(1000)
        .gid(100)
        .use_pty(size);
    let connected = endpoint.connect(Factory::for_protocol(Collect::default));
    assert!(connected.take_result().expect("fired").is_ok());
    let spawned = reactor.processes();
    let options = &spawned[0].options;
    assert_eq!(options.get_uid(), Some(1000));
    assert_eq!(options.get_gid(), Some(100));
    assert_eq!(options.get_pty(), Some(size));
    assert_eq!(spawned[0].transport.pty_sizes(), [size]);
}

/// Over a terminal, the protocol talks to a child that sees one: what it
/// writes is echoed and read as a line, and the child's output, on the
/// terminal's CR LF, reaches `data_received`.
#[test]
fn connect_to_a_child_on_a_terminal() {
    #[derive(Default)]
    struct Talk(Vec<u8>, Option<Failure>);
    impl Protocol for Talk {
        fn connection_made(&mut self, transport: TransportRef) {
            transport.write(b"hi\n");
        }
        fn data_received(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
        }
        fn connection_lost(&mut self, reason: Failure) {
            self.1 = Some(reason);
        }
    }
    let reactor = Reactor::new().expect("reactor");
    let endpoint = ProcessEndpoint::new(reactor.clone(), "/bin/sh")
        .args([
            "-c",
            "read line; test -t 0 && test -t 1 && echo \"tty got $line\"",
        ])
        .use_pty(PtySize::default());
    let protocol: Rc<RefCell<Talk>> = endpoint
        .connect(Factory::for_protocol(Talk::default))
        .take_result()
        .expect("fired at once")
        .expect("connected");
    let deadline = Instant::now() + Duration::from_secs(20);
    while protocol.borrow().1.is_none() {
        assert!(Instant::now() < deadline, "timed out");
        reactor
            .iterate(Some(Duration::from_millis(50)))
            .expect("iterate");
    }
    let p = protocol.borrow();
    assert_eq!(p.0, b"hi\r\ntty got hi\r\n");
    assert!(p.1.as_ref().unwrap().check::<ProcessDone>());
}
