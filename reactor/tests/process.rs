//! Child processes on the mio reactor: Twisted's `twisted/test/test_process.py`
//! (`ProcessProtocolTests`, `ProcessTests`, `PosixProcessTests`,
//! `ClosingPipesTests`), on real children (`/bin/sh`, `cat`, `true`).
//! `ProcessTestsBuilder` is in `process_builder_core.rs` and
//! `process_builder.rs`.
//! Every wait is bounded by a deadline.

use std::cell::RefCell;
use std::rc::Rc;

use torsion_reactor::error::{SignalError, SpawnError};
use torsion_reactor::{Failure, ProcessOptions, ProcessProtocol, ReactorProcess};

mod process_util;

use process_util::*;

// ---- ProcessProtocolTests --------------------------------------------------

#[derive(Default)]
struct Defaults(Vec<&'static str>);

impl ProcessProtocol for Defaults {
    fn out_received(&mut self, _data: &[u8]) {
        self.0.push("out");
    }
    fn err_received(&mut self, _data: &[u8]) {
        self.0.push("err");
    }
    fn in_connection_lost(&mut self) {
        self.0.push("in lost");
    }
    fn out_connection_lost(&mut self) {
        self.0.push("out lost");
    }
    fn err_connection_lost(&mut self) {
        self.0.push("err lost");
    }
}

/// `ProcessProtocol.childDataReceived` passes data on fd 1 to `outReceived`.
#[test]
fn out_received() {
    let mut p = Defaults::default();
    p.child_data_received(1, b"foo");
    assert_eq!(p.0, ["out"]);
}

/// `ProcessProtocol.childDataReceived` passes data on fd 2 to `errReceived`.
#[test]
fn err_received() {
    let mut p = Defaults::default();
    p.child_data_received(2, b"foo");
    p.child_data_received(3, b"ignored");
    assert_eq!(p.0, ["err"]);
}

/// `childConnectionLost(0)` calls `inConnectionLost`.
#[test]
fn in_connection_lost() {
    let mut p = Defaults::default();
    p.child_connection_lost(0);
    assert_eq!(p.0, ["in lost"]);
}

/// `childConnectionLost(1)` calls `outConnectionLost`.
#[test]
fn out_connection_lost() {
    let mut p = Defaults::default();
    p.child_connection_lost(1);
    assert_eq!(p.0, ["out lost"]);
}

/// `childConnectionLost(2)` calls `errConnectionLost`.
#[test]
fn err_connection_lost() {
    let mut p = Defaults::default();
    p.child_connection_lost(2);
    assert_eq!(p.0, ["err lost"]);
}

// ---- ProcessTests -----------------------------------------------------------

/// Data written to a child's stdin comes back from its stdout (`cat`),
/// and its exit is a clean `ProcessDone`.
#[test]
fn stdio() {
    let reactor = reactor();
    let r = run(
        &reactor,
        ProcessOptions::new("cat"),
        Some(b"hello, world\nabc123\n"),
    );
    let r = r.borrow();
    assert_eq!(r.output(1), b"hello, world\nabc123\n");
    assert_eq!(r.ended(), Some(Exit::Done));
}

/// The transport's `pid` is `None` once the process was reaped.
#[test]
fn unset_pid() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("true"))
        .expect("spawned");
    assert!(transport.pid().is_some());
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(transport.pid(), None);
}

/// A child's output on both streams, each stream's end, its exit code, and
/// `process_ended` last, after everything else.
#[test]
fn process() {
    let reactor = reactor();
    let r = run(&reactor, sh("printf abc; printf 123 >&2; exit 23"), None);
    let r = r.borrow();
    assert_eq!(r.output(1), b"abc");
    assert_eq!(r.output(2), b"123");
    assert_eq!(r.events.first(), Some(&Event::Made));
    assert_eq!(r.events.last(), Some(&Event::Ended(Exit::Code(23))));
    for fd in [0, 1, 2] {
        assert!(r.events.contains(&Event::Lost(fd)), "fd {fd} reported lost");
    }
    assert_eq!(r.exited(), Some(Exit::Code(23)));
}

/// Many children at once all end, each with its own exit code.
#[test]
fn many_processes() {
    let reactor = reactor();
    let recorders: Vec<_> = (0..20)
        .map(|i| {
            let recorder = Rc::new(RefCell::new(Recorder::default()));
            reactor
                .spawn_process(recorder.clone(), sh(&format!("echo {i}; exit {i}")))
                .expect("spawned");
            recorder
        })
        .collect();
    run_until(&reactor, || {
        recorders.iter().all(|r| r.borrow().ended().is_some())
    });
    for (i, r) in recorders.iter().enumerate() {
        let r = r.borrow();
        assert_eq!(r.output(1), format!("{i}\n").as_bytes());
        let expected = if i == 0 {
            Exit::Done
        } else {
            Exit::Code(i as i32)
        };
        assert_eq!(r.ended(), Some(expected));
    }
}

/// A lot of data written to `cat` comes back intact (the stdin buffer
/// fills and drains while the child echoes).
#[test]
fn echo() {
    let reactor = reactor();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = run(&reactor, ProcessOptions::new("cat"), Some(&data));
    assert!(
        r.borrow().output(1) == data,
        "cat echoed every byte in order"
    );
}

/// Arguments reach the child as given, spaces and quotes included.
#[test]
fn command_line() {
    let reactor = reactor();
    let args = ["a\\\"b ", "a\\b", " a\\\\\"b", " "];
    let options = ProcessOptions::new("/bin/sh")
        .args(["-c", "for a in \"$@\"; do printf '[%s]' \"$a\"; done", "sh"])
        .args(args);
    let r = run(&reactor, options, None);
    let expected: String = args.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(r.borrow().output(1), expected.as_bytes());
}

// ---- PosixProcessBase / PosixProcessTests -----------------------------------

/// `true` ends with `ProcessDone`.
#[test]
fn normal_termination() {
    let reactor = reactor();
    let r = run(&reactor, ProcessOptions::new("true"), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
}

/// `false` ends with `ProcessTerminated` and exit code 1.
#[test]
fn abnormal_termination() {
    let reactor = reactor();
    let r = run(&reactor, ProcessOptions::new("false"), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Code(1)));
}

/// Sends `signal` to a child waiting on its stdin and checks it died of it.
fn signal_test(signal: &str, number: i32) {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    // `cat` waits on its stdin (which we never close) until signalled.
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("cat"))
        .expect("spawned");
    transport.signal_process(signal).expect("signalled");
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(recorder.borrow().ended(), Some(Exit::Signal(number)));
    assert!(matches!(
        transport.signal_process(signal),
        Err(SignalError::ProcessExitedAlready)
    ));
}

/// A child killed by `SIGHUP` ends with `ProcessTerminated(signal=HUP)`.
#[test]
fn signal_hup() {
    signal_test("HUP", 1);
}

/// A child killed by `SIGINT` ends with `ProcessTerminated(signal=INT)`.
#[test]
fn signal_int() {
    signal_test("INT", 2);
}

/// A child killed by `SIGKILL` ends with `ProcessTerminated(signal=KILL)`.
#[test]
fn signal_kill() {
    signal_test("KILL", 9);
}

/// A child killed by `SIGTERM` ends with `ProcessTerminated(signal=TERM)`.
#[test]
fn signal_term() {
    signal_test("SIGTERM", 15);
}

/// The less common names reach the child too (Twisted looks any name up in
/// Python's `signal` module): `SIGPROF`, and `POLL`, Python's alias of IO.
#[test]
fn signal_by_less_common_names() {
    signal_test("PROF", libc::SIGPROF);
    signal_test("POLL", libc::SIGIO);
}

/// Spawning a program that does not exist is a typed error, not a panic,
/// and the protocol is never called.
#[test]
fn execution_error() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let error = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("/no/such/program"))
        .expect_err("no such program");
    assert!(matches!(error, SpawnError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("/no/such/program"));
    assert!(recorder.borrow().events.is_empty());
}

struct PanicsInEnded(Rc<RefCell<bool>>);

impl ProcessProtocol for PanicsInEnded {
    fn process_ended(&mut self, _reason: Failure) {
        *self.0.borrow_mut() = true;
        panic!("boom in process_ended");
    }
}

/// A protocol that panics in `process_ended` does not take the reactor
/// down: the panic is contained and logged.
#[test]
fn error_in_process_ended() {
    let reactor = reactor();
    let ended = Rc::new(RefCell::new(false));
    reactor
        .spawn_process(
            Rc::new(RefCell::new(PanicsInEnded(ended.clone()))),
            ProcessOptions::new("true"),
        )
        .expect("spawned");
    run_until(&reactor, || *ended.borrow());
    // The reactor still serves another child.
    let r = run(&reactor, ProcessOptions::new("true"), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
}

/// Output on stderr is delivered to fd 2 (`err_received`).
#[test]
fn stderr() {
    let reactor = reactor();
    let r = run(&reactor, sh("echo 'to stderr' >&2"), None);
    assert_eq!(r.borrow().output(2), b"to stderr\n");
    assert!(r.borrow().output(1).is_empty());
}

// ---- ClosingPipesTests ------------------------------------------------------

/// Closing our end of the child's stdout makes its next write there fail
/// (EPIPE); we see fd 1 lost before it exits.
#[test]
fn closing_pipes_stdout() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(
            recorder.clone(),
            sh("read line; echo written || exit 42; echo after >&2"),
        )
        .expect("spawned");
    transport.close_stdout();
    // Our close takes effect on the next turn: the child is let go only
    // after it did, or its write could still land in the pipe.
    run_until(&reactor, || {
        recorder.borrow().events.contains(&Event::Lost(1))
    });
    transport.write(b"go\n");
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let r = recorder.borrow();
    let lost_out = r.events.iter().position(|e| *e == Event::Lost(1));
    let exited = r.events.iter().position(|e| matches!(e, Event::Exited(_)));
    assert!(lost_out < exited, "{:?}", r.events);
    assert!(r.output(1).is_empty());
    // sh survives the EPIPE of `echo` (SIGPIPE kills it by default).
    assert!(
        matches!(r.ended(), Some(Exit::Code(42) | Exit::Signal(13))),
        "{:?}",
        r.ended()
    );
}

/// Twisted's `ClosingPipesTests.doit`: a child that waits for a line,
/// then writes to `fd` every 10 ms and would exit 42 if the writes kept
/// working; we close our end of `fd` first. Returns what it wrote on
/// stdout and stderr, and how it ended.
fn closing_pipes(fd: i32) -> (Vec<u8>, Vec<u8>, Exit) {
    let source = format!(
        "input()\n\
         import sys, os, time\n\
         for i in range(1000):\n    os.write({fd}, b'foo\\n')\n    time.sleep(0.01)\n\
         sys.exit(42)\n"
    );
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(
            recorder.clone(),
            ProcessOptions::new("python3").args(["-u", "-c", &source]),
        )
        .expect("spawned");
    transport.close_child_fd(fd);
    // Give the close time to take effect (as Twisted's test does).
    run_until(&reactor, || {
        recorder.borrow().events.contains(&Event::Lost(fd))
    });
    transport.write(b"go\n");
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let r = recorder.borrow();
    (r.output(1), r.output(2), r.ended().expect("ended"))
}

/// `close_stdout` really closes the pipe: the child's next write fails
/// with a broken pipe before it gets to its own exit code (Twisted's
/// `ClosingPipesTests.test_stdout`).
#[test]
fn closing_pipes_tests_stdout() {
    let (output, errput, exit) = closing_pipes(1);
    assert_ne!(exit, Exit::Code(42), "the writes went on");
    assert!(matches!(exit, Exit::Code(_)), "{exit:?}");
    assert!(output.is_empty());
    let errput = String::from_utf8_lossy(&errput);
    assert!(errput.contains("BrokenPipeError"), "{errput}");
    assert!(errput.contains("Broken pipe"), "{errput}");
}

/// `close_stderr` really closes the pipe; with no stderr left, the child
/// has nowhere to report the failure (Twisted's
/// `ClosingPipesTests.test_stderr`).
#[test]
fn closing_pipes_tests_stderr() {
    let (output, errput, exit) = closing_pipes(2);
    assert_ne!(exit, Exit::Code(42), "the writes went on");
    assert!(output.is_empty());
    assert!(errput.is_empty());
}
