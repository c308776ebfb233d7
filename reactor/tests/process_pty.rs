//! Children on a pseudo-terminal (Twisted's `usePTY`): `PosixProcessPTYTests`
//! and `TwoProcessesPosixTests`' PTY cases from `twisted/test/test_process.py`,
//! with the terminal's own edges (controlling terminal, size, closing).
//! Children are `/bin/sh` and `python3`; every wait is bounded.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{SignalError, SpawnError};
use torsion_reactor::{
    ChildFd, ProcessOptions, ProcessTransportRef, PtySize, Reactor, ReactorProcess,
};

mod process_util;

use process_util::*;

fn on_pty(options: ProcessOptions) -> ProcessOptions {
    options.use_pty(PtySize::default())
}

fn python(source: &str) -> ProcessOptions {
    ProcessOptions::new("python3").args(["-u", "-c", source])
}

/// Spawns `options` with a fresh recorder; returns both.
fn spawn(
    reactor: &Reactor,
    options: ProcessOptions,
) -> (Rc<RefCell<Recorder>>, ProcessTransportRef) {
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), options)
        .expect("spawned");
    (recorder, transport)
}

/// Iterates until the child's output contains `text`.
fn wait_for_output(reactor: &Reactor, recorder: &Rc<RefCell<Recorder>>, text: &[u8]) {
    run_until(reactor, || {
        recorder
            .borrow()
            .output(1)
            .windows(text.len())
            .any(|w| w == text)
    });
}

// ---- PosixProcessPTYTests ------------------------------------------------------

/// The child can open `/dev/tty` (the terminal is its controlling
/// terminal); what we write is echoed by the terminal and written back by
/// the child, with the terminal's CR LF (Twisted's `test_openingTTY`).
#[test]
fn opening_tty() {
    let reactor = reactor();
    let source = "f = open('/dev/tty', 'rb+', buffering=0)\n\
                  a = f.readline()\n\
                  f.write(a)\n\
                  f.close()";
    let (recorder, transport) = spawn(&reactor, on_pty(python(source)));
    transport.write(b"hello world!\n");
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let r = recorder.borrow();
    assert_eq!(r.output(1), b"hello world!\r\nhello world!\r\n");
    assert_eq!(r.ended(), Some(Exit::Done));
    assert!(matches!(
        transport.signal_process("HUP"),
        Err(SignalError::ProcessExitedAlready)
    ));
}

/// A terminal and a descriptor mapping together are refused (Twisted's
/// `test_badArgs`, a `ValueError` there).
#[test]
fn bad_args() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let error = reactor
        .spawn_process(
            recorder.clone(),
            on_pty(python("print('hello')")).child_fd(1, ChildFd::Read),
        )
        .expect_err("refused");
    assert!(matches!(error, SpawnError::PtyWithChildFds), "{error}");
    assert!(recorder.borrow().events.is_empty());
}

/// `true` on a terminal ends with `ProcessDone` (Twisted's
/// `testNormalTermination` with `usePTY`).
#[test]
fn normal_termination() {
    let reactor = reactor();
    let r = run(&reactor, on_pty(ProcessOptions::new("true")), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
}

/// `false` on a terminal ends with exit code 1 (Twisted's
/// `test_abnormalTermination` with `usePTY`).
#[test]
fn abnormal_termination() {
    let reactor = reactor();
    let r = run(&reactor, on_pty(ProcessOptions::new("false")), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Code(1)));
}

/// Each signal ends a child on a terminal with that signal (Twisted's
/// `testSignal` HUP/INT/KILL/TERM with `usePTY`).
#[test]
fn signals() {
    for (name, number) in [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("KILL", libc::SIGKILL),
        ("TERM", libc::SIGTERM),
    ] {
        let reactor = reactor();
        let (recorder, transport) = spawn(&reactor, on_pty(sh("echo ready; exec sleep 30")));
        wait_for_output(&reactor, &recorder, b"ready");
        transport.signal_process(name).expect("signalled");
        run_until(&reactor, || recorder.borrow().ended().is_some());
        assert_eq!(
            recorder.borrow().ended(),
            Some(Exit::Signal(number)),
            "{name}"
        );
    }
}

// ---- TwoProcessesPosixTests (on terminals and on pipes) ------------------------------------------------------

/// Twisted's `process_reader.py`: says it is ready, reads to end-of-file.
const READER: &str = "import sys\nprint('ready', flush=True)\nsys.stdin.read()";

/// Two children on terminals: each ends when its terminal is closed, one
/// after the other, the second still running while the first ends
/// (Twisted's `test_closePty`: closing the terminal hangs it up).
#[test]
fn close_pty() {
    terminate_two(|transport| transport.lose_connection());
}

/// The same, ending each with SIGTERM (Twisted's `test_killPty`).
#[test]
fn kill_pty() {
    terminate_two(|transport| transport.signal_process("TERM").expect("signalled"));
}

/// Two children on pipes, ended by closing their stdin (Twisted's
/// `TestTwoProcessesBase.test_close`).
#[test]
fn close() {
    terminate_two_on(false, |transport| transport.lose_connection());
}

/// Two children on pipes, ended with SIGTERM (Twisted's
/// `TwoProcessesPosixTests.test_kill`).
#[test]
fn kill() {
    terminate_two_on(false, |transport| {
        transport.signal_process("TERM").expect("signalled")
    });
}

fn terminate_two(terminate: impl Fn(&ProcessTransportRef)) {
    terminate_two_on(true, terminate);
}

fn terminate_two_on(pty: bool, terminate: impl Fn(&ProcessTransportRef)) {
    let reactor = reactor();
    let options = || {
        if pty {
            on_pty(python(READER))
        } else {
            python(READER)
        }
    };
    let children: Vec<_> = (0..2).map(|_| spawn(&reactor, options())).collect();
    for (recorder, _) in &children {
        wait_for_output(&reactor, recorder, b"ready");
    }
    for (n, (recorder, transport)) in children.iter().enumerate() {
        assert!(
            recorder.borrow().ended().is_none(),
            "child {n} ended too early"
        );
        terminate(transport);
        run_until(&reactor, || recorder.borrow().ended().is_some());
    }
}

// ---- the terminal's own edges ------------------------------------------------------

/// Stdin, stdout and stderr are the terminal, and the child leads a
/// session of its own.
#[test]
fn child_is_a_session_leader_on_a_terminal() {
    let reactor = reactor();
    let source = "import os\n\
                  print(os.isatty(0), os.isatty(1), os.isatty(2), os.getsid(0) == os.getpid())";
    let r = run(&reactor, on_pty(python(source)), None);
    assert_eq!(r.borrow().output(1), b"True True True True\r\n");
}

/// The terminal starts at the size asked for; `set_pty_size` resizes it
/// and the child sees SIGWINCH.
#[test]
fn terminal_size_and_resize() {
    let reactor = reactor();
    let source = "import os, signal, sys\n\
                  def report(*_):\n    s = os.get_terminal_size(0)\n    print(s.lines, s.columns, flush=True)\n\
                  signal.signal(signal.SIGWINCH, report)\n\
                  report()\n\
                  sys.stdin.read()";
    let options = python(source).use_pty(PtySize {
        rows: 40,
        cols: 100,
    });
    let (recorder, transport) = spawn(&reactor, options);
    wait_for_output(&reactor, &recorder, b"40 100\r\n");
    transport
        .set_pty_size(PtySize {
            rows: 50,
            cols: 120,
        })
        .expect("resized");
    wait_for_output(&reactor, &recorder, b"50 120\r\n");
    transport.lose_connection();
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let error = transport
        .set_pty_size(PtySize::default())
        .expect_err("closed");
    assert_eq!(error.kind(), std::io::ErrorKind::NotConnected);
}

/// A child on pipes has no terminal to resize: a typed error.
#[test]
fn resizing_pipes_is_unsupported() {
    let reactor = reactor();
    let (recorder, transport) = spawn(&reactor, ProcessOptions::new("cat"));
    let error = transport
        .set_pty_size(PtySize::default())
        .expect_err("no terminal");
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
}

/// Half a terminal cannot be closed: `close_stdin` leaves the child
/// running and talking; the terminal closes as a whole, once, when the
/// child exits.
#[test]
fn close_stdin_does_nothing_on_a_terminal() {
    let reactor = reactor();
    let (recorder, transport) = spawn(&reactor, on_pty(sh("read line; echo \"got $line\"")));
    transport.close_stdin();
    transport.close_child_fd(1);
    transport.write(b"still here\n");
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let r = recorder.borrow();
    assert!(
        r.output(1).ends_with(b"got still here\r\n"),
        "{:?}",
        String::from_utf8_lossy(&r.output(1))
    );
    assert_eq!(r.ended(), Some(Exit::Done));
    for fd in [0, 1] {
        let closes = r.events.iter().filter(|e| **e == Event::Lost(fd)).count();
        assert_eq!(closes, 1, "fd {fd}");
    }
}

/// A program that does not exist fails to spawn on a terminal too, with
/// the typed error; the terminal is not leaked to anyone.
#[test]
fn missing_program_on_a_terminal() {
    let reactor = reactor();
    let error = reactor
        .spawn_process(
            Rc::new(RefCell::new(Recorder::default())),
            on_pty(ProcessOptions::new("/nonexistent/torsion-program")),
        )
        .expect_err("no such program");
    assert!(matches!(error, SpawnError::NotFound { .. }), "{error}");
}

/// Output written just before the child exits is not lost when the
/// terminal closes (the master reads what is buffered before EIO).
#[test]
fn last_output_before_exit_arrives() {
    let reactor = reactor();
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..20 {
        assert!(Instant::now() < deadline);
        let r = run(&reactor, on_pty(sh("printf 'last words'")), None);
        assert_eq!(r.borrow().output(1), b"last words");
    }
}

/// A child that ends on end-of-file from its terminal exits with its own
/// status, not SIGHUP: the terminal is not hung up under it while it is
/// still exiting (our read sees end-of-file as soon as it has let go of
/// the terminal, before it is gone). Repeated, with a full terminal and
/// Ctrl-D, where the race used to show.
#[test]
fn exit_status_survives_the_terminal_closing() {
    let lines: Vec<u8> = (0..2000)
        .flat_map(|i| format!("line {i:05} of the input to cat on a terminal\n").into_bytes())
        .collect();
    let reactor = reactor();
    for round in 0..30 {
        let (recorder, transport) = spawn(&reactor, on_pty(ProcessOptions::new("cat")));
        transport.write(&lines);
        transport.write(b"\x04");
        run_until(&reactor, || recorder.borrow().ended().is_some());
        assert_eq!(recorder.borrow().ended(), Some(Exit::Done), "round {round}");
    }
}
