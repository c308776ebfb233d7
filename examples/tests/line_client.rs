//! The `line_client` example end to end, with no thread of its own: the
//! test's reactor serves the chat room and runs the built `line_client`
//! as a child process (`spawn_process`), feeding its stdin through a pipe;
//! a plain std socket in the room sees the lines arrive, and the client
//! exits 0 once its stdin is closed and every line was sent.

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion::error::ProcessDone;
use torsion::{
    Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, Reactor, ReactorProcess,
    ReactorTcp,
};
use torsion_examples::ChatFactory;

/// `target/<profile>/examples/line_client`, which `cargo test` builds.
fn line_client_binary() -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let binary = deps.parent()?.join("examples").join("line_client");
    binary.exists().then_some(binary)
}

#[derive(Default)]
struct Child {
    ended: Option<Failure>,
    stderr: Vec<u8>,
}

impl ProcessProtocol for Child {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        transport.write(b"hello from the pipe\nsecond line\n");
        transport.close_stdin();
    }
    fn err_received(&mut self, data: &[u8]) {
        self.stderr.extend_from_slice(data);
    }
    fn process_ended(&mut self, reason: Failure) {
        self.ended = Some(reason);
    }
}

#[test]
fn line_client_sends_piped_lines_and_exits() {
    let Some(binary) = line_client_binary() else {
        panic!("line_client was not built next to the tests (cargo test builds examples)");
    };
    let reactor = Reactor::new().unwrap();
    let factory = Rc::new(ChatFactory::new());
    let room = factory.room();
    let port = reactor
        .listen_tcp(0, factory, 50, "127.0.0.1")
        .unwrap()
        .host()
        .port()
        .unwrap();
    // The observer joins first and reads until both lines arrived.
    let observer = std::thread::spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(stream).lines() {
            let line = line.unwrap();
            let done = line.contains("second line");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    // Let the observer in before the client talks.
    while room.borrow().nicks().is_empty() {
        assert!(Instant::now() < deadline, "the observer never got in");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let child = Rc::new(RefCell::new(Child::default()));
    reactor
        .spawn_process(
            child.clone(),
            ProcessOptions::new(binary)
                .arg(format!("tcp:host=127.0.0.1:port={port}"))
                .env("RUST_LOG", "warn"),
        )
        .unwrap();
    while child.borrow().ended.is_none() || !observer.is_finished() {
        assert!(Instant::now() < deadline, "line_client did not finish");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let lines = observer.join().unwrap();
    let child = child.borrow();
    let reason = child.ended.as_ref().unwrap();
    assert!(
        reason.check::<ProcessDone>(),
        "{reason}: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        lines.iter().any(|l| l.ends_with("> hello from the pipe")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("> second line")),
        "{lines:?}"
    );
}

/// Says nothing: stdin is closed by the test.
#[derive(Default)]
struct Silent {
    transport: Option<ProcessTransportRef>,
    ended: Option<Failure>,
    stderr: Vec<u8>,
}

impl ProcessProtocol for Silent {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        self.transport = Some(transport);
    }
    fn err_received(&mut self, data: &[u8]) {
        self.stderr.extend_from_slice(data);
    }
    fn process_ended(&mut self, reason: Failure) {
        self.ended = Some(reason);
    }
}

/// Stdin ending while the server is down, with nothing left to send, ends
/// the client (it stops retrying) instead of waiting for a reconnection.
#[test]
fn line_client_exits_when_stdin_ends_while_the_server_is_down() {
    let Some(binary) = line_client_binary() else {
        panic!("line_client was not built next to the tests (cargo test builds examples)");
    };
    // A port nothing listens on: every attempt is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reactor = Reactor::new().unwrap();
    let child = Rc::new(RefCell::new(Silent::default()));
    reactor
        .spawn_process(
            child.clone(),
            ProcessOptions::new(binary)
                .arg(format!("tcp:host=127.0.0.1:port={port}"))
                .env("RUST_LOG", "info"),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Let it be refused (and schedule a retry) before its stdin ends.
    while !String::from_utf8_lossy(&child.borrow().stderr).contains("Scheduling retry") {
        assert!(Instant::now() < deadline, "the client never retried");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let transport = child.borrow().transport.clone().unwrap();
    transport.close_stdin();
    let closed = Instant::now();
    while child.borrow().ended.is_none() {
        assert!(
            Instant::now() < deadline,
            "line_client kept retrying after its stdin ended: {}",
            String::from_utf8_lossy(&child.borrow().stderr)
        );
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let child = child.borrow();
    let reason = child.ended.as_ref().unwrap();
    assert!(
        reason.check::<ProcessDone>(),
        "{reason}: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(closed.elapsed() < Duration::from_secs(5));
}
