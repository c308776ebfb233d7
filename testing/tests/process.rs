//! `MemoryReactor::spawn_process` and `FakeProcessTransport`: a process
//! protocol driven by a test, on the fake clock.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{ChildFdError, ProcessDone, ProcessTerminated, SignalError};
use torsion_reactor::{
    ChildFd, Failure, ProcessOptions, ProcessProtocol, ProcessTransport, ProcessTransportRef,
    PtySize, ReactorProcess, ReactorTimeExt,
};
use torsion_testing::{Clock, FakeProcessTransport, MemoryReactor, FAKE_PID};

#[derive(Default)]
struct Recorder {
    transport: Option<ProcessTransportRef>,
    events: Vec<String>,
}

impl ProcessProtocol for Recorder {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        transport.write(b"hello child");
        self.transport = Some(transport);
        self.events.push("made".into());
    }
    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        self.events
            .push(format!("data {fd} {}", String::from_utf8_lossy(data)));
    }
    fn child_connection_lost(&mut self, fd: i32) {
        self.events.push(format!("lost {fd}"));
    }
    fn process_exited(&mut self, reason: Failure) {
        self.events.push(format!("exited {}", describe(&reason)));
    }
    fn process_ended(&mut self, reason: Failure) {
        self.events.push(format!("ended {}", describe(&reason)));
    }
}

fn describe(reason: &Failure) -> String {
    if reason.check::<ProcessDone>() {
        return "done".into();
    }
    let t = reason
        .downcast_ref::<ProcessTerminated>()
        .expect("terminated");
    match (t.exit_code(), t.signal()) {
        (_, Some(s)) => format!("signal {s}"),
        (Some(c), _) => format!("code {c}"),
        _ => "?".into(),
    }
}

/// `spawn_process` on a `MemoryReactor` records the call and connects the
/// protocol to a fake child.
#[test]
fn memory_reactor_records_spawn_process() {
    let reactor = MemoryReactor::new();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let options = ProcessOptions::new("/bin/echo")
        .arg("hi")
        .env("A", "1")
        .current_dir("/tmp");
    let transport = reactor
        .spawn_process(recorder.clone(), options)
        .expect("never fails");
    assert_eq!(transport.pid(), Some(FAKE_PID));
    let spawned = reactor.processes();
    assert_eq!(spawned.len(), 1);
    assert_eq!(spawned[0].options.program().to_str(), Some("/bin/echo"));
    assert_eq!(spawned[0].options.get_args(), ["hi"]);
    assert_eq!(
        spawned[0]
            .options
            .get_current_dir()
            .and_then(|d| d.to_str()),
        Some("/tmp")
    );
    assert_eq!(spawned[0].transport.written(), b"hello child");
    assert_eq!(recorder.borrow().events, ["made"]);
}

/// Output, the pipes closing and the exit reach the protocol in the
/// order the test plays them, on the fake clock; `process_ended` waits
/// for the last pipe.
#[test]
fn fake_child_on_the_clock() {
    let clock = Clock::new();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let child = FakeProcessTransport::connect(recorder.clone(), &ProcessOptions::new("x"));
    let c = child.clone();
    clock.call_later(Duration::from_secs(1), move || c.child_data(1, b"out"));
    let c = child.clone();
    clock.call_later(Duration::from_secs(2), move || {
        c.child_data(2, b"err");
        c.reaped(Failure::new(ProcessTerminated::exited(3)));
    });
    clock.advance(Duration::from_secs(1));
    assert_eq!(recorder.borrow().events, ["made", "data 1 out"]);
    clock.advance(Duration::from_secs(1));
    assert_eq!(child.pid(), None);
    assert_eq!(
        recorder.borrow().events,
        ["made", "data 1 out", "data 2 err", "exited code 3"]
    );
    child.child_fd_closed(1);
    child.child_fd_closed(2);
    assert!(!recorder
        .borrow()
        .events
        .iter()
        .any(|e| e.starts_with("ended")));
    child.child_fd_closed(0);
    assert_eq!(
        recorder.borrow().events.last().map(String::as_str),
        Some("ended code 3")
    );
}

/// Signals are recorded; an unknown name and a signal after the exit are
/// typed errors.
#[test]
fn fake_child_signals() {
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let child = FakeProcessTransport::connect(recorder.clone(), &ProcessOptions::new("x"));
    let transport = recorder.borrow().transport.clone().expect("made");
    transport.signal_process("TERM").expect("sent");
    assert!(matches!(
        transport.signal_process("BOGUS"),
        Err(SignalError::UnknownSignal { .. })
    ));
    assert_eq!(child.signals(), ["TERM"]);
    child.killed_by(15);
    assert_eq!(
        recorder.borrow().events.last().map(String::as_str),
        Some("ended signal 15")
    );
    assert!(matches!(
        transport.signal_process("KILL"),
        Err(SignalError::ProcessExitedAlready)
    ));
}

/// `close_stdin` from the test side closes fd 0 (the protocol hears
/// `child_connection_lost(0)`); writes after it are not taken; a child
/// without a stdin pipe has no fd 0 to close.
#[test]
fn fake_child_close_stdin() {
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let child = FakeProcessTransport::connect(recorder.clone(), &ProcessOptions::new("x"));
    let transport = recorder.borrow().transport.clone().expect("made");
    transport.close_stdin();
    transport.write(b" more");
    assert_eq!(child.written(), b"hello child");
    assert_eq!(child.closed_by_protocol(), [0]);
    assert!(recorder.borrow().events.contains(&"lost 0".to_string()));

    let quiet = Rc::new(RefCell::new(Recorder::default()));
    let no_stdin = FakeProcessTransport::connect(
        quiet.clone(),
        &ProcessOptions::new("x").child_fd(0, ChildFd::Close),
    );
    assert!(!no_stdin.is_open(0));
    no_stdin.exit(0);
    assert_eq!(
        quiet.borrow().events.last().map(String::as_str),
        Some("ended done")
    );
}

/// Extra descriptors on the fake child: `write_to_child` keeps what was
/// written per descriptor, refuses one that is not a write pipe (or was
/// closed) with a typed error, and the extra pipes hold `process_ended`
/// back like the standard ones; `uid`/`gid` are recorded.
#[test]
fn fake_child_extra_descriptors() {
    let reactor = MemoryReactor::new();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let options = ProcessOptions::new("helper")
        .child_fd(3, ChildFd::Write)
        .child_fd(4, ChildFd::Read)
        .uid(1000)
        .gid(100);
    let transport = reactor
        .spawn_process(recorder.clone(), options)
        .expect("never fails");
    let spawned = reactor.processes();
    let fake = spawned[0].transport.clone();
    assert_eq!(spawned[0].options.get_uid(), Some(1000));
    assert_eq!(spawned[0].options.get_gid(), Some(100));

    transport
        .write_to_child(3, b"to three")
        .expect("fd 3 is a write pipe");
    transport
        .write_to_child(0, b"+stdin")
        .expect("fd 0 is a write pipe");
    assert_eq!(fake.written_to(3), b"to three");
    assert_eq!(fake.written(), b"hello child+stdin");
    for fd in [1, 4, 7] {
        assert_eq!(
            transport.write_to_child(fd, b"x"),
            Err(ChildFdError::NotWritable { fd })
        );
    }

    fake.child_data(4, b"from four");
    transport.close_child_fd(3);
    assert_eq!(
        transport.write_to_child(3, b"late"),
        Err(ChildFdError::NotWritable { fd: 3 })
    );
    for fd in [0, 1, 2] {
        fake.child_fd_closed(fd);
    }
    fake.reaped(Failure::new(ProcessDone));
    assert!(!recorder
        .borrow()
        .events
        .iter()
        .any(|e| e.starts_with("ended")));
    fake.child_fd_closed(4);
    assert_eq!(
        recorder.borrow().events,
        [
            "made",
            "data 4 from four",
            "lost 3",
            "lost 0",
            "lost 1",
            "lost 2",
            "exited done",
            "lost 4",
            "ended done"
        ]
    );
}

/// A fake child on a terminal: one way in (0) and one way out (1),
/// closing half of it does nothing, resizes are recorded, and
/// `lose_connection` closes it as a whole.
#[test]
fn fake_child_on_a_terminal() {
    let reactor = MemoryReactor::new();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let options = ProcessOptions::new("sh").use_pty(PtySize::default());
    let transport = reactor
        .spawn_process(recorder.clone(), options)
        .expect("never fails");
    let fake = reactor.processes()[0].transport.clone();
    assert!(fake.is_open(0) && fake.is_open(1) && !fake.is_open(2));
    transport.close_stdin();
    assert!(fake.is_open(0));
    assert_eq!(
        transport.write_to_child(1, b"x"),
        Err(ChildFdError::NotWritable { fd: 1 })
    );
    let bigger = PtySize {
        rows: 50,
        cols: 132,
    };
    transport.set_pty_size(bigger).expect("resized");
    assert_eq!(fake.pty_sizes(), [PtySize::default(), bigger]);
    fake.child_data(1, b"$ ");
    transport.lose_connection();
    assert!(!fake.is_open(0) && !fake.is_open(1));
    fake.reaped(Failure::new(ProcessTerminated::signalled(1)));
    assert_eq!(
        recorder.borrow().events,
        [
            "made",
            "data 1 $ ",
            "lost 0",
            "lost 1",
            "exited signal 1",
            "ended signal 1"
        ]
    );
}

/// Resizing a fake child on pipes is refused, as on the real reactor.
#[test]
fn fake_child_without_a_terminal_cannot_be_resized() {
    let reactor = MemoryReactor::new();
    let transport = reactor
        .spawn_process(
            Rc::new(RefCell::new(Recorder::default())),
            ProcessOptions::new("cat"),
        )
        .expect("never fails");
    let error = transport
        .set_pty_size(PtySize::default())
        .expect_err("no terminal");
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
}
