//! Issue 17 on the real reactor: the chat server (wrapped as `chat_server`
//! wraps it) closes a connection idle for longer than its timeout, on
//! time, keeps a talking one open, and refuses a host's connections beyond
//! the per-peer limit. Plain std sockets as clients; every wait bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use torsion::{Reactor, ReactorTcp};
use torsion_examples::{ChatFactory, ChatLimits};

const IDLE: Duration = Duration::from_millis(400);

fn serve(limits: ChatLimits) -> (Reactor, u16) {
    let reactor = Reactor::new().unwrap();
    let factory = limits.wrap(Rc::new(ChatFactory::new()), Rc::new(reactor.clone()));
    let port = reactor
        .listen_tcp(0, Rc::new(factory), 50, "127.0.0.1")
        .unwrap()
        .host()
        .port()
        .unwrap();
    (reactor, port)
}

/// Runs the reactor until `done` finishes, for at most 10 s.
fn run_until<T>(reactor: &Reactor, done: thread::JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the client did not finish in time"
        );
        reactor.iterate(Some(Duration::from_millis(5))).unwrap();
    }
    done.join().unwrap()
}

/// Connects, reads the welcome, then waits for the server to close; returns
/// how long after the welcome the close came.
fn idle_client(port: u16) -> Duration {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut welcome = String::new();
    reader.read_line(&mut welcome).unwrap();
    assert!(welcome.contains("welcome"), "{welcome:?}");
    let since = Instant::now();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap(); // EOF: the server closed
    since.elapsed()
}

#[test]
fn idle_connection_is_closed_on_time() {
    let limits = ChatLimits {
        idle_timeout: IDLE,
        max_per_peer: 5,
    };
    let (reactor, port) = serve(limits);
    let idle_for = run_until(&reactor, thread::spawn(move || idle_client(port)));
    // Never early; late by at most a generous scheduling margin.
    assert!(
        idle_for + Duration::from_millis(50) >= IDLE,
        "closed early: {idle_for:?}"
    );
    assert!(
        idle_for < IDLE + Duration::from_secs(2),
        "closed late: {idle_for:?}"
    );
}

#[test]
fn talking_connection_stays_open() {
    let limits = ChatLimits {
        idle_timeout: IDLE,
        max_per_peer: 5,
    };
    let (reactor, port) = serve(limits);
    let talker = thread::spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Talk without pause for three idle periods.
        let start = Instant::now();
        while start.elapsed() < IDLE * 3 {
            writer.write_all(b"/who\r\n").unwrap();
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert!(line.contains("here:"), "still connected: {line:?}");
        }
    });
    run_until(&reactor, talker);
}

#[test]
fn connections_beyond_the_per_peer_limit_are_refused() {
    let limits = ChatLimits {
        idle_timeout: Duration::from_secs(30),
        max_per_peer: 2,
    };
    let (reactor, port) = serve(limits);
    let clients = thread::spawn(move || {
        let mut welcomed = Vec::new();
        for _ in 0..2 {
            let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.contains("welcome"), "{line:?}");
            welcomed.push(reader);
        }
        let third = TcpStream::connect(("127.0.0.1", port)).unwrap();
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let _ = (&third).read_to_end(&mut got); // EOF (or a reset)
        assert!(got.is_empty(), "the third connection was served: {got:?}");
        drop(welcomed.pop()); // one leaves: a new one is let in
                              // Once the server has noticed the close; until then it refuses.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let fourth = TcpStream::connect(("127.0.0.1", port)).unwrap();
            fourth
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut line = String::new();
            let _ = BufReader::new(fourth).read_line(&mut line);
            if line.contains("welcome") {
                break;
            }
            assert!(Instant::now() < deadline, "never let in again");
        }
    });
    run_until(&reactor, clients);
}
