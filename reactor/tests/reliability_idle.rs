//! Reliability (issue 9, item 4, second half): 10 000 idle connections
//! held open by the mio reactor on 127.0.0.1, then each answered once.
//!
//! 10 000 client sockets and 10 000 server sockets do not fit one process
//! under a hard limit of 20 000 descriptors, so the clients live in a child
//! process: this test binary again, run with [`CHILD`] set and `--exact
//! idle_client_child`. The test (the server) and the child talk over the
//! child's stdin and stdout:
//!
//! 1. the child connects `CONNECTIONS` times, blocking, and says
//!    `connected`;
//! 2. the server, once it holds every connection and none has sent a byte
//!    (let idle a while), says `go`;
//! 3. the child sends one message on each connection, reads each echo back
//!    and checks it, shuts down its writing side of each, reads EOF (no
//!    second answer), says `answered` and exits.
//!
//! This file holds a single test (the child mode is a no-op without
//! [`CHILD`]), so the process's descriptor count at the end says whether
//! the reactor leaked one.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use torsion_reactor::error::ConnectionDone;
use torsion_reactor::{Failure, Protocol, Reactor, TransportRef};

mod load;
use load::{listen_for, open_descriptors, raise_nofile};

/// Connections held open at once.
const CONNECTIONS: usize = 10_000;
/// The environment variable that turns [`idle_client_child`] on; its value
/// is the server's port.
const CHILD: &str = "TORSION_IDLE_CLIENT_PORT";
/// Every message has this length: `message(id)`.
const MESSAGE_LEN: usize = 14;
/// The whole test fails past this.
const DEADLINE: Duration = Duration::from_secs(30);
/// How long the server holds every connection with nothing happening.
const IDLE_FOR: Duration = Duration::from_millis(200);

fn message(id: usize) -> Vec<u8> {
    let message = format!("idle no {id:05}\n").into_bytes();
    assert_eq!(message.len(), MESSAGE_LEN);
    message
}

/// Echoes; records how many bytes it was sent when the connection ends.
struct Echo {
    transport: Option<TransportRef>,
    received: usize,
    log: Rc<Log>,
}

#[derive(Default)]
struct Log {
    made: Cell<usize>,
    /// Bytes received on all connections.
    received: Cell<usize>,
    /// Why each connection ended, and the bytes it had received.
    lost: RefCell<Vec<(Failure, usize)>>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.log.made.set(self.log.made.get() + 1);
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.received += data.len();
        self.log.received.set(self.log.received.get() + data.len());
        self.transport.as_ref().unwrap().write(data);
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.log.lost.borrow_mut().push((reason, self.received));
    }
}

/// The child process, killed if the test ends before it does.
struct ChildGuard {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The child's stdout lines, read on a thread.
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ChildGuard {
    fn spawn(port: u16) -> ChildGuard {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "idle_client_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the client process");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        ChildGuard {
            child,
            stdin,
            lines,
            reader: Some(reader),
        }
    }

    /// Whether the child has said `what` (its own lines end with "idle
    /// client: " and that; the test harness prints others, and may start
    /// the first one).
    fn said(&self, what: &str) -> bool {
        let said = format!("idle client: {what}");
        self.lines.try_iter().any(|line| line.ends_with(&said))
    }

    fn tell(&mut self, what: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{what}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the child to exit, and closes the pipes to it.
    fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        // The reader thread ends at EOF, closing the child's stdout.
        self.reader.take().unwrap().join().unwrap();
        status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Iterates until `done` or the test's deadline (then fails the test).
fn run_until(reactor: &Reactor, deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(5))).unwrap();
    }
}

/// The server holds `CONNECTIONS` idle connections, then answers each once;
/// every connection ends with ConnectionDone having received exactly its
/// message, and every descriptor is closed again.
#[test]
fn ten_thousand_idle_connections_each_answered_once() {
    // The server side of every connection, and some to spare; the child
    // inherits the limit for its side.
    raise_nofile(CONNECTIONS as u64 + 200);
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let reactor = Reactor::new().unwrap();
    let log = Rc::new(Log::default());
    let l = log.clone();
    let port = listen_for(&reactor, CONNECTIONS, move || Echo {
        transport: None,
        received: 0,
        log: l.clone(),
    });
    let descriptors_before = open_descriptors();
    let mut child = ChildGuard::spawn(port);

    let mut connected = false;
    run_until(&reactor, deadline, "every connection", || {
        connected = connected || child.said("connected");
        connected && log.made.get() == CONNECTIONS
    });
    let held_at = started.elapsed();
    let idle_until = Instant::now() + IDLE_FOR;
    run_until(&reactor, deadline, "the idle time to pass", || {
        Instant::now() > idle_until
    });
    assert_eq!(log.made.get(), CONNECTIONS);
    assert_eq!(log.received.get(), 0, "an idle connection sent something");
    assert!(log.lost.borrow().is_empty(), "an idle connection ended");
    assert!(open_descriptors() >= descriptors_before + CONNECTIONS);

    child.tell("go");
    let mut answered = false;
    run_until(&reactor, deadline, "the answers and the closes", || {
        answered = answered || child.said("answered");
        answered && log.lost.borrow().len() == CONNECTIONS
    });
    let status = child.finish();
    assert!(status.success(), "the client process failed: {status}");
    assert_eq!(log.made.get(), CONNECTIONS);
    for (reason, received) in log.lost.borrow().iter() {
        assert!(reason.check::<ConnectionDone>(), "{reason}");
        assert_eq!(*received, MESSAGE_LEN, "not answered exactly once");
    }
    assert_eq!(
        open_descriptors(),
        descriptors_before,
        "descriptors left open"
    );
    eprintln!(
        "{CONNECTIONS} connections held after {held_at:?}, all answered and closed after {:?}",
        started.elapsed()
    );
}

/// Bounds `stream`'s blocking reads by what is left until `deadline`.
fn reads_until(stream: &TcpStream, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(!left.is_zero(), "the client timed out");
    stream.set_read_timeout(Some(left)).unwrap();
}

/// Not a test by itself: the client side of
/// [`ten_thousand_idle_connections_each_answered_once`], which runs it in a
/// child process with [`CHILD`] set. Without it, does nothing.
#[test]
#[ignore = "the client side of ten_thousand_idle_connections_each_answered_once (its child process)"]
fn idle_client_child() {
    let Ok(port) = std::env::var(CHILD) else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    raise_nofile(CONNECTIONS as u64 + 100);
    let deadline = Instant::now() + DEADLINE;
    let mut streams: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|id| {
            assert!(Instant::now() < deadline, "timed out connecting");
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("connection {id}: connect: {e}"))
        })
        .collect();
    println!("idle client: connected");
    // The server says go (or, gone, closes the pipe: then fail).
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_eq!(go.trim(), "go", "the server did not say go");
    for (id, stream) in streams.iter_mut().enumerate() {
        stream.write_all(&message(id)).unwrap();
    }
    let mut echo = [0u8; MESSAGE_LEN];
    for (id, stream) in streams.iter_mut().enumerate() {
        reads_until(stream, deadline);
        stream
            .read_exact(&mut echo)
            .unwrap_or_else(|e| panic!("connection {id}: read: {e}"));
        assert_eq!(echo[..], message(id)[..], "connection {id}: wrong answer");
    }
    // The server closes when it reads our EOF; nothing may come before.
    for stream in &streams {
        stream.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut rest = Vec::new();
    for (id, stream) in streams.iter_mut().enumerate() {
        reads_until(stream, deadline);
        stream
            .read_to_end(&mut rest)
            .unwrap_or_else(|e| panic!("connection {id}: read: {e}"));
        assert!(rest.is_empty(), "connection {id}: answered twice");
    }
    println!("idle client: answered");
}
