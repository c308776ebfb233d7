//! Child descriptors beyond stdin/stdout/stderr, `write_to_child`, and the
//! child's user and group: Twisted's `FDTests` (`twisted/test/test_process.py`)
//! and `ProcessTestsBuilder`'s `test_writeToChild*`, `test_openFileDescriptors`
//! and `test_change{UID,GID}` (`twisted/internet/test/test_process.py`), with
//! the edges of the mapping. Children are `/bin/sh` and `python3`; every wait
//! is bounded.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use torsion_reactor::error::{ChildFdError, SpawnError};
use torsion_reactor::{
    ChildFd, Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, ReactorProcess,
};

mod process_util;

use process_util::*;

fn python(source: &str) -> ProcessOptions {
    ProcessOptions::new("python3").args(["-u", "-c", source])
}

// ---- FDTests -----------------------------------------------------------------

/// The child of `test_fd` (Twisted's `process_fds.py`): reads 4 bytes on
/// 0, answers on 1, reads 4 bytes on 3, closes 4, waits for the end of 5,
/// answers again; any surprise is a distinct exit code.
const PROCESS_FDS: &str = "\
import os, sys
if os.read(0, 4) != b'abcd': sys.exit(1)
os.write(1, b'righto')
if os.read(3, 4) != b'efgh': sys.exit(2)
os.close(4)
if os.read(5, 4) != b'': sys.exit(3)
os.write(1, b'closed')
sys.exit(0)
";

/// Twisted's `FDChecker`: walks the child through its descriptors, failing
/// on anything out of order.
#[derive(Default)]
struct FdChecker {
    state: u8,
    data: Vec<u8>,
    failed: Option<String>,
    done: bool,
    transport: Option<ProcessTransportRef>,
}

impl FdChecker {
    fn fail(&mut self, why: String) {
        self.failed.get_or_insert(why);
        self.done = true;
    }

    fn transport(&self) -> ProcessTransportRef {
        self.transport.clone().expect("connected")
    }
}

impl ProcessProtocol for FdChecker {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        transport
            .write_to_child(0, b"abcd")
            .expect("fd 0 is a write pipe");
        self.transport = Some(transport);
        self.state = 1;
    }

    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        match self.state {
            1 | 3 if fd != 1 => self.fail(format!(
                "read {data:?} on fd {fd} (not 1) in state {}",
                self.state
            )),
            1 => {
                self.data.extend_from_slice(data);
                if self.data.len() >= 6 {
                    if self.data != b"righto" {
                        return self.fail(format!("got {:?} on fd 1, expected righto", self.data));
                    }
                    self.data.clear();
                    self.state = 2;
                    self.transport()
                        .write_to_child(3, b"efgh")
                        .expect("fd 3 is a write pipe");
                }
            }
            3 => {
                self.data.extend_from_slice(data);
                if self.data.len() >= 6 {
                    if self.data != b"closed" {
                        return self.fail(format!("got {:?} on fd 1, expected closed", self.data));
                    }
                    self.state = 4;
                }
            }
            state => self.fail(format!("read {data:?} on fd {fd} in state {state}")),
        }
    }

    fn child_connection_lost(&mut self, fd: i32) {
        match self.state {
            1 => self.fail(format!("lost fd {fd} in state 1")),
            2 if fd != 4 => self.fail(format!("lost fd {fd} (not 4) in state 2")),
            2 => {
                self.state = 3;
                self.transport().close_child_fd(5);
            }
            _ => {}
        }
    }

    fn process_ended(&mut self, reason: Failure) {
        match process_util::exit_of(&reason) {
            _ if self.state != 4 => {
                let why = format!("process ended early ({reason}) in state {}", self.state);
                self.fail(why);
            }
            Exit::Done => self.done = true,
            other => self.fail(format!("process ended with {other:?}")),
        }
    }
}

/// Pipes on descriptors 3, 4 and 5 in both directions, written with
/// `write_to_child`, closed from either side, in the order the child
/// expects (Twisted's `test_FD`, `childFDs={0: "w", 1: "r", 2: 2, 3: "w",
/// 4: "r", 5: "w"}`).
#[test]
fn test_fd() {
    let reactor = reactor();
    let checker = Rc::new(RefCell::new(FdChecker::default()));
    let options = python(PROCESS_FDS)
        .child_fd(2, ChildFd::Inherit)
        .child_fd(3, ChildFd::Write)
        .child_fd(4, ChildFd::Read)
        .child_fd(5, ChildFd::Write);
    reactor
        .spawn_process(checker.clone(), options)
        .expect("spawned");
    run_until(&reactor, || checker.borrow().done);
    let checker = checker.borrow();
    assert_eq!(checker.failed, None);
    assert_eq!(checker.state, 4);
}

/// All the pipes close before the process stops: the exit is still seen,
/// and every byte written before the close arrives (Twisted's
/// `test_linger`, `childFDs={0: "w", 1: "r", 2: 2}`).
#[test]
fn test_linger() {
    #[derive(Default)]
    struct Linger(Recorder);
    impl ProcessProtocol for Linger {
        fn connection_made(&mut self, transport: ProcessTransportRef) {
            self.0.connection_made(transport);
        }
        fn child_data_received(&mut self, fd: i32, data: &[u8]) {
            self.0.child_data_received(fd, data);
        }
        fn child_connection_lost(&mut self, fd: i32) {
            self.0.child_connection_lost(fd);
            if fd == 1 {
                self.0.transport.as_ref().expect("connected").close_stdin();
            }
        }
        fn process_exited(&mut self, reason: Failure) {
            self.0.process_exited(reason);
        }
        fn process_ended(&mut self, reason: Failure) {
            self.0.process_ended(reason);
        }
    }
    let reactor = reactor();
    let linger = Rc::new(RefCell::new(Linger::default()));
    let source = "import os, sys\n\
                  print('here is some text')\n\
                  print('goodbye')\n\
                  sys.stdout.flush()\n\
                  os.close(1)\n\
                  os.close(2)\n\
                  sys.stdin.buffer.read()\n";
    reactor
        .spawn_process(linger.clone(), python(source).child_fd(2, ChildFd::Inherit))
        .expect("spawned");
    run_until(&reactor, || linger.borrow().0.ended().is_some());
    let linger = linger.borrow();
    assert_eq!(linger.0.output(1), b"here is some text\ngoodbye\n");
    assert_eq!(linger.0.ended(), Some(Exit::Done));
}

// ---- ProcessTestsBuilder: writeToChild ------------------------------------

/// A child that reads one line from stdin and writes it back on stdout.
fn line_echo() -> ProcessOptions {
    python("import sys\nsys.stdout.write(sys.stdin.readline())")
}

/// Runs `line_echo`, calling `write` with its transport once connected;
/// returns what the child echoed.
fn write_test(write: impl FnOnce(&ProcessTransportRef) + 'static) -> Vec<u8> {
    type Write = Box<dyn FnOnce(&ProcessTransportRef)>;
    struct Writer {
        recorder: Recorder,
        write: Option<Write>,
    }
    impl ProcessProtocol for Writer {
        fn connection_made(&mut self, transport: ProcessTransportRef) {
            if let Some(write) = self.write.take() {
                write(&transport);
            }
            self.recorder.connection_made(transport);
        }
        fn child_data_received(&mut self, fd: i32, data: &[u8]) {
            self.recorder.child_data_received(fd, data);
        }
        fn process_ended(&mut self, reason: Failure) {
            self.recorder.process_ended(reason);
        }
    }
    let reactor = reactor();
    let writer = Rc::new(RefCell::new(Writer {
        recorder: Recorder::default(),
        write: Some(Box::new(write)),
    }));
    reactor
        .spawn_process(writer.clone(), line_echo())
        .expect("spawned");
    run_until(&reactor, || writer.borrow().recorder.ended().is_some());
    let writer = writer.borrow();
    assert_eq!(writer.recorder.ended(), Some(Exit::Done));
    writer.recorder.output(1)
}

/// `write_to_child(0, ..)` writes to the child's stdin (Twisted's
/// `test_writeToChild`).
#[test]
fn test_write_to_child() {
    let echoed = write_test(|transport| {
        transport
            .write_to_child(0, b"hello, world\n")
            .expect("stdin is a write pipe");
    });
    assert_eq!(echoed, b"hello, world\n");
}

/// `write_to_child` with a descriptor `spawn_process` did not set up is a
/// typed error and writes nothing (Twisted's
/// `test_writeToChildBadFileDescriptor`, where it is `KeyError`).
#[test]
fn test_write_to_child_bad_file_descriptor() {
    let echoed = write_test(|transport| {
        assert_eq!(
            transport.write_to_child(13, b"lost?\n"),
            Err(ChildFdError::NotWritable { fd: 13 })
        );
        // stdout is a pipe the child writes: not one to write to either.
        assert_eq!(
            transport.write_to_child(1, b"lost?\n"),
            Err(ChildFdError::NotWritable { fd: 1 })
        );
        transport.write(b"hello, world\n");
    });
    assert_eq!(echoed, b"hello, world\n");
}

/// `close_child_fd` closes a write pipe once what was written went out:
/// a write while it is closing still goes out (as after `lose_connection`
/// on any transport, and as in Twisted); once it is closed, the
/// descriptor takes no more writes.
#[test]
fn write_to_child_after_close_is_refused() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let transport = reactor
        .spawn_process(
            recorder.clone(),
            sh("cat <&3")
                .child_fd(3, ChildFd::Write)
                .child_fd(0, ChildFd::Close),
        )
        .expect("spawned");
    transport.write_to_child(3, b"before").expect("open");
    transport.close_child_fd(3);
    transport
        .write_to_child(3, b"|while closing")
        .expect("still flushing");
    run_until(&reactor, || {
        recorder.borrow().events.contains(&Event::Lost(3))
    });
    assert_eq!(
        transport.write_to_child(3, b"after"),
        Err(ChildFdError::NotWritable { fd: 3 })
    );
    run_until(&reactor, || recorder.borrow().ended().is_some());
    assert_eq!(recorder.borrow().output(1), b"before|while closing");
}

// ---- ProcessTestsBuilder: descriptors, uid, gid ------------------------------

/// Lists the child's open descriptors.
const LIST_FDS: &str = "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))";

fn listed_fds(output: &[u8]) -> BTreeSet<i32> {
    let text = String::from_utf8_lossy(output);
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("a descriptor number"))
        .collect()
}

/// Whether `fd` of this process is close-on-exec.
fn close_on_exec(fd: &impl std::os::fd::AsFd) -> bool {
    rustix::io::fcntl_getfd(fd)
        .expect("fcntl")
        .contains(rustix::io::FdFlags::CLOEXEC)
}

/// A pipe's write end duplicated at `at` without close-on-exec, as
/// Python's `os.dup2` makes it (inheritable), with the read end.
fn inheritable_at(at: i32) -> (OwnedFd, OwnedFd) {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    let high = rustix::io::fcntl_dupfd_cloexec(&write, at).expect("dup high");
    rustix::io::fcntl_setfd(&high, rustix::io::FdFlags::empty()).expect("clear CLOEXEC");
    assert!(!close_on_exec(&high));
    (read, high)
}

/// The child has stdin, stdout and stderr, and not a descriptor the parent
/// has open, inheritable, at a number it is unlikely to use itself
/// (Twisted's `test_openFileDescriptors`). Twisted closes it in the child;
/// we mark it close-on-exec before the spawn: it stays open here.
#[test]
fn test_open_file_descriptors() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024)
        .min(65_536) as i32;
    let (_read, unlikely) = inheritable_at(limit - 17);
    let unlikely_fd = std::os::fd::AsRawFd::as_raw_fd(&unlikely);
    let reactor = reactor();
    let r = run(&reactor, python(LIST_FDS), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
    let seen = listed_fds(&r.borrow().output(1));
    let watched: BTreeSet<i32> = [0, 1, 2, unlikely_fd].into();
    assert_eq!(
        seen.intersection(&watched)
            .copied()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1, 2])
    );
    assert!(close_on_exec(&unlikely), "marked, and still open here");
    drop(unlikely);
}

/// An inheritable descriptor the child is given on its own number (the
/// `dup2`-less path of the mapping) reaches the child; another one, not
/// given, does not; the child's writes through it arrive.
#[test]
fn inheritable_descriptor_given_on_its_own_number() {
    let (read, given) = inheritable_at(200);
    let (_other_read, other) = inheritable_at(201);
    let (given_fd, other_fd) = (
        std::os::fd::AsRawFd::as_raw_fd(&given),
        std::os::fd::AsRawFd::as_raw_fd(&other),
    );
    let reactor = reactor();
    let script = format!("{LIST_FDS}\nos.write({given_fd}, b'through')");
    let r = run(
        &reactor,
        python(&script).child_fd(given_fd, ChildFd::Fd(given)),
        None,
    );
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
    let seen = listed_fds(&r.borrow().output(1));
    assert!(seen.contains(&given_fd), "{seen:?}");
    assert!(!seen.contains(&other_fd), "{seen:?}");
    let mut got = [0u8; 16];
    let n = rustix::io::read(&read, &mut got).expect("read");
    assert_eq!(&got[..n], b"through");
    drop(other);
}

/// A descriptor of ours mapped to child descriptor 7 is open there, and is
/// what we gave (a file the child writes through it).
#[test]
fn file_on_a_high_descriptor() {
    let path = std::env::temp_dir().join(format!("torsion-fd7-{}", std::process::id()));
    let file = std::fs::File::create(&path).expect("temp file");
    let reactor = reactor();
    let r = run(
        &reactor,
        sh("echo via-seven >&7; ls /proc/self/fd >/dev/null").child_fd(7, ChildFd::Fd(file.into())),
        None,
    );
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
    assert_eq!(std::fs::read(&path).expect("read back"), b"via-seven\n");
    let _ = std::fs::remove_file(&path);
}

/// Seven extra read pipes at once: each child descriptor's output reaches
/// `child_data_received` under its own number, and each closes once.
#[test]
fn many_extra_read_pipes() {
    let reactor = reactor();
    let mut options = sh("for i in 3 4 5 6 7 8 9; do echo \"fd$i\" >&$i; done");
    for fd in 3..=9 {
        options = options.child_fd(fd, ChildFd::Read);
    }
    let r = run(&reactor, options, None);
    let r = r.borrow();
    assert_eq!(r.ended(), Some(Exit::Done));
    for fd in 3..=9 {
        assert_eq!(r.output(fd), format!("fd{fd}\n").into_bytes(), "fd {fd}");
        let closes = r.events.iter().filter(|e| **e == Event::Lost(fd)).count();
        assert_eq!(closes, 1, "fd {fd} closed once");
    }
}

/// Pipes the other way round on the standard descriptors: the parent reads
/// what the child writes on its descriptor 0 and writes what it reads on 1
/// (Twisted allows `"r"` and `"w"` on any descriptor).
#[test]
fn reversed_standard_pipes() {
    let reactor = reactor();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let options = sh("echo up >&0; read line <&1; echo \"got $line\" >&2")
        .child_fd(0, ChildFd::Read)
        .child_fd(1, ChildFd::Write)
        .child_fd(2, ChildFd::Read);
    let transport = reactor
        .spawn_process(recorder.clone(), options)
        .expect("spawned");
    transport
        .write_to_child(1, b"down\n")
        .expect("fd 1 is a write pipe");
    run_until(&reactor, || recorder.borrow().ended().is_some());
    let r = recorder.borrow();
    assert_eq!(r.ended(), Some(Exit::Done));
    assert_eq!(r.output(0), b"up\n");
    assert_eq!(r.output(2), b"got down\n");
}

/// Mapping errors are typed and name the descriptor; nothing is spawned
/// and the protocol is not called.
#[test]
fn bad_mappings_are_typed_errors() {
    let reactor = reactor();
    for (fd, what) in [(-1, ChildFd::Read), (3, ChildFd::Inherit)] {
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let error = reactor
            .spawn_process(
                recorder.clone(),
                ProcessOptions::new("true").child_fd(fd, what),
            )
            .expect_err("refused");
        assert!(
            matches!(error, SpawnError::UnsupportedChildFd { fd: f, .. } if f == fd),
            "{error}"
        );
        assert!(
            error.to_string().contains(&format!("child fd {fd}")),
            "{error}"
        );
        assert!(recorder.borrow().events.is_empty());
    }
}

/// A program that does not exist, with extra pipes asked for: the typed
/// error, and our ends of those pipes are closed (the pipe we hand over is
/// not left open: its other end sees end-of-file).
#[test]
fn missing_program_with_extra_fds() {
    let reactor = reactor();
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    let error = reactor
        .spawn_process(
            Rc::new(RefCell::new(Recorder::default())),
            ProcessOptions::new("/nonexistent/torsion-program")
                .child_fd(3, ChildFd::Read)
                .child_fd(4, ChildFd::Fd(write)),
        )
        .expect_err("no such program");
    assert!(matches!(error, SpawnError::NotFound { .. }), "{error}");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut rest)
        .expect("end of file, not a hang");
    assert!(rest.is_empty());
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs a child that exits 0 only if its `which` id is 1.
fn change_id_test(which: &str, options: impl FnOnce(ProcessOptions) -> ProcessOptions) {
    if !is_root() {
        eprintln!("SKIPPED: changing the child's {which} needs root");
        return;
    }
    let reactor = reactor();
    let source = format!("import os\nraise SystemExit(os.get{which}() != 1)");
    let r = run(&reactor, options(python(&source).current_dir("/")), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
}

/// The child runs with the user id asked for (Twisted's `test_changeUID`).
#[test]
fn test_change_uid() {
    change_id_test("uid", |options| options.uid(1));
}

/// The child runs with the group id asked for (Twisted's `test_changeGID`).
#[test]
fn test_change_gid() {
    change_id_test("gid", |options| options.gid(1));
}
