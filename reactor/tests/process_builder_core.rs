//! Twisted's `ProcessTestsBuilder` (`twisted/internet/test/test_process.py`),
//! first part: writes in sequence, early and timely reaping, the exit
//! callbacks and their order, pausing a child's output, environment,
//! working directory, descriptor mapping, signal names and SIGCHLD, the
//! transport handed back, and signalling a child that exited unnoticed
//! (`MockProcessTests.test_killExited*` of `twisted/test/test_process.py`).
//! The rest is in `process_builder.rs`. Children are `/bin/sh`, `cat`,
//! `true` and `python3`; every wait is bounded by a deadline.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{SignalError, SpawnError};
use torsion_reactor::{ChildFd, ProcessOptions, ReactorProcess};

mod process_util;

use process_util::*;

/// `write` and `write_sequence` reach the child's stdin in order.
#[test]
fn write_sequence() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("cat"))
        .expect("spawned");
    transport.write(b"first ");
    transport.write_sequence(&[b"second ", b"third"]);
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(recorder.borrow().output(1), b"first second third");
}

/// A child that exits at once is reaped even if it exits before the
/// reactor runs (Twisted's `test_spawnProcessEarlyIsReaped`).
#[test]
fn spawn_process_early_is_reaped() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("true"))
        .expect("spawned");
    // Let it exit before the reactor looks.
    let pid = transport.pid().expect("running");
    let deadline = Instant::now() + DEADLINE;
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(recorder.borrow().ended(), Some(Exit::Done));
}

/// A child that kills itself with a signal reports that signal, both in
/// `process_exited` and `process_ended`.
#[test]
fn process_exited_with_signal() {
    let reactor = reactor();
    let r = run(&reactor, sh("kill -KILL $$"), None);
    assert_eq!(r.borrow().exited(), Some(Exit::Signal(9)));
    assert_eq!(r.borrow().ended(), Some(Exit::Signal(9)));
}

/// `process_exited` comes when the child exits even while a grandchild
/// keeps its stdout open; `process_ended` waits for the pipe to close.
#[test]
fn timely_process_exited() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    // The grandchild holds stdout until we close its stdin (through fd 3:
    // sh gives a background job /dev/null as its fd 0).
    reactor
        .spawn_process(recorder.clone(), sh("exec 3<&0; cat <&3 & exit 0"))
        .expect("spawned");
    run_until(&reactor, || recorder.borrow().exited().is_some());
    assert_eq!(recorder.borrow().ended(), None, "stdout is still open");
    let transport = recorder.borrow().transport.clone().expect("made");
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(recorder.borrow().ended(), Some(Exit::Done));
}

/// `child_connection_lost` is called for each descriptor as it closes.
#[test]
fn child_connection_lost() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), sh("exec 1>&-; read x; exec 2>&-; read y"))
        .expect("spawned");
    run_until(&reactor, || {
        recorder.borrow().events.contains(&Event::Lost(1))
    });
    transport.write(b"one\n");
    run_until(&reactor, || {
        recorder.borrow().events.contains(&Event::Lost(2))
    });
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let r = recorder.borrow();
    let order: Vec<i32> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Lost(fd) => Some(*fd),
            _ => None,
        })
        .collect();
    assert_eq!(order, [1, 2, 0]);
}

/// `process_ended` comes once, last, with the exit's reason.
#[test]
fn process_ended() {
    let reactor = reactor();
    let r = run(&reactor, sh("exit 1"), None);
    let r = r.borrow();
    assert_eq!(
        r.events
            .iter()
            .filter(|e| matches!(e, Event::Ended(_)))
            .count(),
        1
    );
    assert_eq!(r.events.last(), Some(&Event::Ended(Exit::Code(1))));
}

/// `process_exited` is called with the exit code.
#[test]
fn process_exited() {
    let reactor = reactor();
    let r = run(&reactor, sh("exit 3"), None);
    assert_eq!(r.borrow().exited(), Some(Exit::Code(3)));
}

/// Pausing the transport stops output delivery; resuming delivers it all.
#[test]
fn pause_and_resume_producing() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("cat"))
        .expect("spawned");
    transport.pause_producing();
    transport.write(b"while paused");
    for _ in 0..20 {
        reactor
            .iterate(Some(Duration::from_millis(10)))
            .expect("iterate");
    }
    assert!(recorder.borrow().output(1).is_empty());
    transport.resume_producing();
    run_until(&reactor, || recorder.borrow().output(1) == b"while paused");
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
}

/// Environment variables set for the child reach it; `env_clear` starts
/// from nothing.
#[test]
fn environment_custom() {
    let reactor = reactor();
    let options = sh("printf '%s|%s' \"$FOO\" \"${HOME:-unset}\"")
        .env_clear()
        .env("FOO", "BAR");
    let r = run(&reactor, options, None);
    assert_eq!(r.borrow().output(1), b"BAR|unset");
}

/// The working directory is honoured (Twisted's `path`).
#[test]
fn working_directory() {
    let reactor = reactor();
    let r = run(&reactor, sh("pwd").current_dir("/"), None);
    assert_eq!(r.borrow().output(1), b"/\n");
}

/// A child descriptor mapped to inherit or to a file of ours, and one
/// closed: the child gets what was mapped (Twisted's `childFDs`).
#[test]
fn child_fds_mapping() {
    let reactor = reactor();
    let path = std::env::temp_dir().join(format!("torsion-childfd-{}", std::process::id()));
    let file = std::fs::File::create(&path).expect("temp file");
    let options = sh("echo to-file; echo nothing-here >&2; cat")
        .child_fd(0, ChildFd::Close)
        .child_fd(1, ChildFd::Fd(file.into()))
        .child_fd(2, ChildFd::Close);
    let r = run(&reactor, options, None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
    assert_eq!(std::fs::read(&path).expect("read back"), b"to-file\n");
    let _ = std::fs::remove_file(&path);
    // Only descriptors 0, 1 and 2 can be inherited by number.
    let error = reactor
        .spawn_process(
            Rc::new(RefCell::new(Recorder::default())),
            ProcessOptions::new("true").child_fd(3, ChildFd::Inherit),
        )
        .expect_err("inheriting fd 3 by number refused");
    assert!(matches!(
        error,
        SpawnError::UnsupportedChildFd { fd: 3, .. }
    ));
}

/// An unknown signal name is a typed error naming it.
#[test]
fn signal_unknown_name() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("cat"))
        .expect("spawned");
    let error = transport.signal_process("NOPE").expect_err("unknown");
    assert!(matches!(&error, SignalError::UnknownSignal { name } if name == "NOPE"));
    transport.close_stdin();
    run_until(&reactor, || recorder.borrow().ended().is_some());
}

/// Exits are seen on the SIGCHLD path too (kernels without pidfd).
#[test]
fn sigchld_reaping() {
    let reactor = reactor();
    reactor.set_reap_with_sigchld(true);
    let recorders: Vec<_> = (0..10)
        .map(|i| {
            let recorder = Rc::new(RefCell::new(Recorder::default()));
            reactor
                .spawn_process(recorder.clone(), sh(&format!("exit {i}")))
                .expect("spawned");
            recorder
        })
        .collect();
    run_until(&reactor, || {
        recorders.iter().all(|r| r.borrow().ended().is_some())
    });
    for (i, r) in recorders.iter().enumerate() {
        let expected = if i == 0 {
            Exit::Done
        } else {
            Exit::Code(i as i32)
        };
        assert_eq!(r.borrow().ended(), Some(expected));
    }
}

/// `spawn_process` hands back the transport at once, the very one the
/// protocol got in `connection_made`, with the child's pid, on pipes and
/// on a terminal (Twisted's `test_processTransportInterface`, which checks
/// the returned transport provides `IProcessTransport`; here the type says
/// so, and what is checked is that it is the child's).
#[test]
fn process_transport_interface() {
    for pty in [false, true] {
        let reactor = reactor();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let mut options = ProcessOptions::new("python3").args(["-c", ""]);
        if pty {
            options = options.use_pty(torsion_reactor::PtySize::default());
        }
        let transport = reactor
            .spawn_process(recorder.clone(), options)
            .expect("spawned");
        let given = recorder.borrow().transport.clone().expect("connected");
        assert!(Rc::ptr_eq(&transport, &given), "pty: {pty}");
        let pid = transport.pid().expect("running");
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pty: {pty}"
        );
        run_until(&reactor, || recorder.borrow().ended().is_some());
        assert_eq!(recorder.borrow().ended(), Some(Exit::Done), "pty: {pty}");
        assert_eq!(transport.pid(), None, "pty: {pty}");
    }
}

/// A child that has exited but whose exit the reactor has not seen yet is
/// still ours (a zombie: its pid cannot be reused), so signalling it is
/// harmless and its status stays its own (Twisted's
/// `test_killExitedButNotDetected`, where `kill` raising ESRCH is
/// `ProcessExitedAlready`; holding the zombie until it is reaped rules that
/// race out here). Once reaped, signalling it is `ProcessExitedAlready`
/// (`test_killExited`).
#[test]
fn kill_exited_but_not_detected() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(recorder.clone(), ProcessOptions::new("true"))
        .expect("spawned");
    let pid = transport.pid().expect("running");
    // Not iterating: the reactor cannot notice the exit meanwhile.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("still ours");
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if state.starts_with('Z') {
            break;
        }
        assert!(Instant::now() < deadline, "the child did not exit: {stat}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(transport.signal_process("KILL").is_ok());
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(recorder.borrow().ended(), Some(Exit::Done));
    assert!(matches!(
        transport.signal_process("KILL"),
        Err(SignalError::ProcessExitedAlready)
    ));
}
