//! [`StandardIO`] on pipes and regular files: Twisted's
//! `twisted/test/test_stdio.py` (`StandardInputOutputTests`), with the
//! pipes handed to `StandardIO::with_fds` instead of a child's real stdio
//! (the `stdio_test_*.py` helper scripts become the protocols here).
//! Every wait is bounded by a deadline.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::ConnectionDone;
use torsion_reactor::{
    Address, Failure, HalfCloseableProtocol, Producer, ProducerRef, Protocol, PushProducer,
    Reactor, StandardIO, TransportRef,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn run_until(reactor: &Reactor, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        reactor
            .iterate(Some(Duration::from_millis(50)))
            .expect("iterate");
    }
}

/// What the protocol under test does when standard I/O connects.
type OnMade = Box<dyn FnMut(&TransportRef)>;

/// A protocol that records what it gets and runs a script.
#[derive(Default)]
struct Script {
    transport: Option<TransportRef>,
    on_made: Option<OnMade>,
    received: Vec<u8>,
    echo: bool,
    half_closeable: bool,
    panic_in_read_lost: bool,
    read_lost: bool,
    write_lost: bool,
    lost: Option<Failure>,
}

impl Protocol for Script {
    fn connection_made(&mut self, transport: TransportRef) {
        if let Some(mut on_made) = self.on_made.take() {
            on_made(&transport);
        }
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
        if self.echo {
            if let Some(t) = &self.transport {
                t.write(data);
            }
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.lost = Some(reason);
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        if self.half_closeable {
            Some(self)
        } else {
            None
        }
    }
}

impl HalfCloseableProtocol for Script {
    fn read_connection_lost(&mut self) {
        self.read_lost = true;
        if self.panic_in_read_lost {
            panic!("buggy read_connection_lost");
        }
        // Half-closed: still writing, then done.
        if let Some(t) = &self.transport {
            t.write(b"bye");
            t.lose_connection();
        }
    }

    fn write_connection_lost(&mut self) {
        self.write_lost = true;
    }
}

/// A pipe, both ends blocking files: (read end, write end).
fn pipe() -> (File, File) {
    let (sender, receiver) = mio::unix::pipe::new().expect("pipe");
    sender.set_nonblocking(false).expect("blocking");
    receiver.set_nonblocking(false).expect("blocking");
    (
        File::from(OwnedFd::from(receiver)),
        File::from(OwnedFd::from(sender)),
    )
}

/// Pipes for stdin and stdout: (the test's end of stdin, the test's end of
/// stdout, the StandardIO).
fn stdio_on_pipes(reactor: &Reactor, protocol: Rc<RefCell<Script>>) -> (File, File, StandardIO) {
    let (stdin_read, stdin_write) = pipe();
    let (stdout_read, stdout_write) = pipe();
    let stdio = StandardIO::with_fds(reactor, protocol, stdin_read.into(), stdout_write.into())
        .expect("standard I/O");
    (stdin_write, stdout_read, stdio)
}

fn read_all(mut reader: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out).expect("read");
    out
}

/// A protocol connected to `StandardIO` can disconnect itself with
/// `lose_connection`; it is told `ConnectionDone`.
#[test]
fn lose_connection() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        on_made: Some(Box::new(|t: &TransportRef| {
            t.write(b"written before the close");
            t.lose_connection();
        })),
        ..Script::default()
    }));
    let (_stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol.clone());
    run_until(&reactor, || stdio.is_closed());
    assert!(protocol
        .borrow()
        .lost
        .as_ref()
        .unwrap()
        .check::<ConnectionDone>());
    assert_eq!(read_all(stdout), b"written before the close");
}

/// When stdin is closed and the protocol is half-closeable, its
/// `read_connection_lost` is called; it may still write.
#[test]
fn read_connection_lost() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        half_closeable: true,
        ..Script::default()
    }));
    let (mut stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol.clone());
    stdin.write_all(b"hello").expect("write");
    drop(stdin);
    run_until(&reactor, || stdio.is_closed());
    let p = protocol.borrow();
    assert!(p.read_lost);
    assert_eq!(p.received, b"hello");
    assert!(p.lost.as_ref().unwrap().check::<ConnectionDone>());
    drop(p);
    assert_eq!(read_all(stdout), b"bye");
}

/// When the half-closeable protocol's `read_connection_lost` panics, the
/// panic is contained and its `connection_lost` is still called.
#[test]
fn buggy_read_connection_lost() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        half_closeable: true,
        panic_in_read_lost: true,
        ..Script::default()
    }));
    let (stdin, _stdout, stdio) = stdio_on_pipes(&reactor, protocol.clone());
    drop(stdin);
    run_until(&reactor, || stdio.is_closed());
    assert!(protocol.borrow().read_lost);
    assert!(protocol.borrow().lost.is_some());
}

/// `lose_write_connection` closes stdout: a half-closeable protocol is
/// told `write_connection_lost` and goes on reading stdin.
#[test]
fn buggy_write_connection_lost() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        half_closeable: true,
        on_made: Some(Box::new(|t: &TransportRef| {
            t.write(b"last words");
            t.lose_write_connection();
        })),
        ..Script::default()
    }));
    let (mut stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol.clone());
    let reader = std::thread::spawn(move || read_all(stdout));
    run_until(&reactor, || protocol.borrow().write_lost);
    assert_eq!(reader.join().expect("reader"), b"last words");
    stdin.write_all(b"still read").expect("write");
    drop(stdin);
    run_until(&reactor, || stdio.is_closed());
    assert_eq!(protocol.borrow().received, b"still read");
}

/// The transport has a host and a peer: pipes.
#[test]
fn host_and_peer() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script::default()));
    let (_stdin, _stdout, stdio) = stdio_on_pipes(&reactor, protocol);
    assert_eq!(stdio.transport().host(), Address::Pipe);
    assert_eq!(stdio.transport().peer(), Address::Pipe);
}

/// `write` sends bytes to standard out.
#[test]
fn write() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        on_made: Some(Box::new(|t: &TransportRef| {
            t.write(b"ok!");
            t.lose_connection();
        })),
        ..Script::default()
    }));
    let (_stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol);
    run_until(&reactor, || stdio.is_closed());
    assert_eq!(read_all(stdout), b"ok!");
}

/// `write_sequence` sends bytes to standard out.
#[test]
fn write_sequence() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        on_made: Some(Box::new(|t: &TransportRef| {
            t.write_sequence(&[b"o", b"k", b"!"]);
            t.lose_connection();
        })),
        ..Script::default()
    }));
    let (_stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol);
    run_until(&reactor, || stdio.is_closed());
    assert_eq!(read_all(stdout), b"ok!");
}

/// A streaming producer writing to standard out is paused when the pipe
/// backs up and resumed as it drains; everything arrives in order.
#[test]
fn producer() {
    struct Chunks {
        transport: TransportRef,
        next: RefCell<u32>,
        paused: RefCell<bool>,
        pauses: RefCell<u32>,
    }
    impl Chunks {
        fn produce(&self) {
            while !*self.paused.borrow() {
                let n = *self.next.borrow();
                if n == 2000 {
                    let _ = self.transport.unregister_producer();
                    self.transport.lose_connection();
                    return;
                }
                *self.next.borrow_mut() += 1;
                self.transport
                    .write(format!("{n:08}\n").repeat(16).as_bytes());
            }
        }
    }
    impl Producer for Chunks {
        fn stop_producing(&self) {}
    }
    impl PushProducer for Chunks {
        fn pause_producing(&self) {
            *self.paused.borrow_mut() = true;
            *self.pauses.borrow_mut() += 1;
        }
        fn resume_producing(&self) {
            *self.paused.borrow_mut() = false;
            self.produce();
        }
    }
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script::default()));
    let (_stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol);
    let chunks = Rc::new(Chunks {
        transport: stdio.transport(),
        next: RefCell::new(0),
        paused: RefCell::new(false),
        pauses: RefCell::new(0),
    });
    stdio
        .transport()
        .register_producer(ProducerRef::Push(chunks.clone()))
        .expect("registered");
    chunks.produce();
    let reader = std::thread::spawn(move || read_all(stdout));
    run_until(&reactor, || stdio.is_closed());
    let out = reader.join().expect("reader");
    let expected: String = (0..2000).map(|n| format!("{n:08}\n").repeat(16)).collect();
    assert!(out == expected.as_bytes(), "all 2000 chunks, in order");
    assert!(*chunks.pauses.borrow() > 0, "the producer was paused");
}

/// What arrives on stdin reaches `data_received` (the transport as a
/// consumer of our input: `cat` written with `StandardIO`).
#[test]
fn consumer() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        echo: true,
        ..Script::default()
    }));
    let (mut stdin, stdout, stdio) = stdio_on_pipes(&reactor, protocol.clone());
    let junk: Vec<u8> = (0..1024)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let expected = junk.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&junk));
    let reader = std::thread::spawn(move || read_all(stdout));
    run_until(&reactor, || stdio.is_closed());
    writer.join().expect("writer").expect("written");
    assert_eq!(reader.join().expect("reader"), expected);
}

/// Standard out may be a regular file (epoll refuses those): writes still
/// arrive, in turns of the loop.
#[test]
fn normal_file_standard_out() {
    let reactor = Reactor::new().expect("reactor");
    let path = std::env::temp_dir().join(format!("torsion-stdout-{}", std::process::id()));
    let stdout = std::fs::File::create(&path).expect("temp file");
    let (stdin_read, stdin_write) = pipe();
    let protocol = Rc::new(RefCell::new(Script {
        echo: true,
        ..Script::default()
    }));
    let stdio = StandardIO::with_fds(&reactor, protocol, stdin_read.into(), stdout.into())
        .expect("standard I/O");
    let mut stdin_write = stdin_write;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
    let input = data.clone();
    let writer = std::thread::spawn(move || stdin_write.write_all(&input));
    run_until(&reactor, || stdio.is_closed());
    writer.join().expect("writer").expect("written");
    assert!(std::fs::read(&path).expect("read back") == data);
    let _ = std::fs::remove_file(&path);
}

/// Standard in may be a regular file: it is read in turns to its end,
/// then end-of-file closes the (not half-closeable) transport.
#[test]
fn normal_file_standard_in() {
    let reactor = Reactor::new().expect("reactor");
    let path = std::env::temp_dir().join(format!("torsion-stdin-{}", std::process::id()));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).expect("temp file");
    let stdin = std::fs::File::open(&path).expect("open");
    let (stdout_read, stdout_write) = pipe();
    let protocol = Rc::new(RefCell::new(Script {
        echo: true,
        ..Script::default()
    }));
    let stdio = StandardIO::with_fds(
        &reactor,
        protocol.clone(),
        stdin.into(),
        stdout_write.into(),
    )
    .expect("standard I/O");
    let reader = std::thread::spawn(move || read_all(stdout_read));
    run_until(&reactor, || stdio.is_closed());
    assert!(reader.join().expect("reader") == data);
    assert!(protocol
        .borrow()
        .lost
        .as_ref()
        .unwrap()
        .check::<ConnectionDone>());
    let _ = std::fs::remove_file(&path);
}

/// `pause_producing` stops delivery from stdin; `resume_producing` brings
/// what was waiting.
#[test]
fn pause_and_resume_reading() {
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script::default()));
    let (mut stdin, _stdout, stdio) = stdio_on_pipes(&reactor, protocol.clone());
    stdio.transport().pause_producing();
    stdin.write_all(b"waiting").expect("write");
    for _ in 0..10 {
        reactor
            .iterate(Some(Duration::from_millis(10)))
            .expect("iterate");
    }
    assert!(protocol.borrow().received.is_empty());
    stdio.transport().resume_producing();
    run_until(&reactor, || protocol.borrow().received == b"waiting");
}

/// Once `StandardIO` has finished, what the protocol wrote last is all
/// there, and the process can go on writing to its stdout directly with
/// blocking writes: the descriptor is back in blocking mode (Twisted's
/// `test_lastWriteReceived`, whose child `os.write`s after StandardIO is
/// done; the mode is shared by every copy of the descriptor, as a
/// process's own fd 1 shares it with the pipe's other users).
#[test]
fn last_write_received() {
    const UNIQUE_LAST_WRITE: &[u8] = b"xyz123abc Twisted is great!";
    let reactor = Reactor::new().expect("reactor");
    let protocol = Rc::new(RefCell::new(Script {
        on_made: Some(Box::new(|t: &TransportRef| {
            t.write(UNIQUE_LAST_WRITE);
            t.lose_connection();
        })),
        ..Script::default()
    }));
    let (stdin_read, _stdin_write) = pipe();
    let (stdout_read, mut stdout_write) = pipe();
    let shared = stdout_write.try_clone().expect("dup");
    let stdio = StandardIO::with_fds(&reactor, protocol, stdin_read.into(), shared.into())
        .expect("standard I/O");
    run_until(&reactor, || stdio.is_closed());
    // More than a pipe holds, written blocking while a thread drains it:
    // a descriptor left non-blocking would fail with WouldBlock here.
    let reader = std::thread::spawn(move || read_all(stdout_read));
    let after: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
    stdout_write
        .write_all(&after)
        .expect("blocking write after StandardIO");
    drop(stdout_write);
    let got = reader.join().expect("reader");
    assert!(got.starts_with(UNIQUE_LAST_WRITE));
    assert!(got[UNIQUE_LAST_WRITE.len()..] == after[..]);
}
