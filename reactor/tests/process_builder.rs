//! The rest of Twisted's `ProcessTestsBuilder`
//! (`twisted/internet/test/test_process.py`) and `PosixProcessBase`'s
//! `test_childSignalHandling` (`twisted/test/test_process.py`): the
//! environment on both of `std`'s spawning paths, shebang scripts, argument
//! bytes, a panicking `process_exited`, the order of reaping and
//! `process_ended`, SIGCHLD and blocking calls. Children are `/bin/sh`,
//! `env` and `python3`; every wait is bounded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::SignalError;
use torsion_reactor::{
    ChildFd, Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, ReactorProcess,
};

mod process_util;
mod util;

use process_util::*;

// ---- environment: posix_spawn and fork+exec ---------------------------------

/// How the child is started. `std::process::Command` uses `posix_spawn`
/// when it can; mapping a descriptor beyond 2 adds code between fork and
/// exec, so it forks (Twisted's `usePosixSpawnp=True/False`).
#[derive(Debug, Clone, Copy)]
enum Path {
    PosixSpawn,
    Fork,
}

/// The child's environment, as `env -0` prints it (NUL-separated, so a
/// value may hold a newline).
fn child_environment(
    path: Path,
    options: impl FnOnce(ProcessOptions) -> ProcessOptions,
) -> BTreeMap<OsString, OsString> {
    let reactor = reactor();
    let mut base = ProcessOptions::new("env").arg("-0");
    if let Path::Fork = path {
        base = base.child_fd(3, ChildFd::Read);
    }
    let r = run(&reactor, options(base), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
    let output = r.borrow().output(1);
    output
        .split(|&b| b == 0)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let at = line.iter().position(|&b| b == b'=').expect("NAME=value");
            (
                OsString::from_vec(line[..at].to_vec()),
                OsString::from_vec(line[at + 1..].to_vec()),
            )
        })
        .collect()
}

fn check_env_cleared(path: Path) {
    assert_eq!(
        child_environment(path, ProcessOptions::env_clear),
        BTreeMap::new()
    );
}

fn check_env_inherited(path: Path) {
    let ours: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    assert_eq!(child_environment(path, |o| o), ours);
}

fn check_env_custom(path: Path) {
    let env = child_environment(path, |o| o.env_clear().env("MYENV1", "myvalue1"));
    assert_eq!(
        env,
        BTreeMap::from([(OsString::from("MYENV1"), OsString::from("myvalue1"))])
    );
}

/// An empty environment when asked for one (Twisted's
/// `test_environmentPosixSpawnpEnvNotSet`; Twisted's default `env={}` is
/// our `env_clear()`).
#[test]
fn environment_posix_spawnp_env_not_set() {
    check_env_cleared(Path::PosixSpawn);
}

/// The same on the fork path (Twisted's `test_environmentForkEnvNotSet`).
#[test]
fn environment_fork_env_not_set() {
    check_env_cleared(Path::Fork);
}

/// The parent's environment by default (Twisted's
/// `test_environmentPosixSpawnpEnvNone`, `env=None` there).
#[test]
fn environment_posix_spawnp_env_none() {
    check_env_inherited(Path::PosixSpawn);
}

/// The same on the fork path (Twisted's `test_environmentForkEnvNone`).
#[test]
fn environment_fork_env_none() {
    check_env_inherited(Path::Fork);
}

/// Exactly the variables given, none of the parent's (Twisted's
/// `test_environmentPosixSpawnpEnvCustom`).
#[test]
fn environment_posix_spawnp_env_custom() {
    check_env_custom(Path::PosixSpawn);
}

/// The same on the fork path (Twisted's `test_environmentForkEnvCustom`).
#[test]
fn environment_fork_env_custom() {
    check_env_custom(Path::Fork);
}

// ---- programs and arguments -------------------------------------------------

/// A script starting with `#!` runs under its interpreter (Twisted's
/// `test_shebang`).
#[test]
fn shebang() {
    let dir = std::env::temp_dir().join(format!("torsion-shebang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("script");
    std::fs::write(&script, "#!/bin/sh\nprintf 'this is the shebang output'\n")
        .expect("write the script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let reactor = reactor();
    let r = run(&reactor, ProcessOptions::new(&script), None);
    let _ = std::fs::remove_dir_all(&dir);
    let r = r.borrow();
    assert_eq!(r.output(1), b"this is the shebang output");
    assert_eq!(r.output(2), b"");
    assert_eq!(r.ended(), Some(Exit::Done));
}

/// Arguments reach the child byte for byte: quotes, backslashes, shell
/// metacharacters, and every byte but NUL (Twisted's
/// `test_processCommandLineArguments`).
#[test]
fn process_command_line_arguments() {
    let mut args: Vec<OsString> = [
        "hello",
        "\"",
        " \t|<>^&",
        r#""\\"hello\\""#,
        r#""foo\ bar baz\""#,
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(OsString::from_vec((1..=255u8).collect()));
    let source = "import os, sys\n\
                  sys.stdout.buffer.write(b''.join(os.fsencode(a) + b'\\0' for a in sys.argv[1:]))";
    let options = ProcessOptions::new("python3")
        .args(["-c", source])
        .args(&args);
    let reactor = reactor();
    let r = run(&reactor, options, None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
    let output = r.borrow().output(1);
    let mut seen: Vec<&[u8]> = output.split(|&b| b == 0).collect();
    assert_eq!(seen.pop(), Some(&b""[..]), "a trailing NUL");
    let expected: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    assert_eq!(seen, expected);
}

// ---- PosixProcessBase.test_childSignalHandling ------------------------------

/// A signal the parent ignores is back to its default in the child, so
/// it ends the child (Twisted's `test_childSignalHandling`). The Rust
/// runtime ignores SIGPIPE in every program, and `std` resets it in the
/// child on both spawning paths, which is what is checked here. Twisted
/// uses SIGUSR1 and resets every ignored signal; resetting others needs
/// code between fork and exec, so a signal the parent ignores on purpose
/// (other than SIGPIPE) stays ignored in the child (see `ProcessOptions`'
/// docs).
#[test]
fn child_signal_handling() {
    for path in [Path::PosixSpawn, Path::Fork] {
        let reactor = reactor();
        let mut options = sh("kill -PIPE $$; echo survived");
        if let Path::Fork = path {
            options = options.child_fd(3, ChildFd::Read);
        }
        let r = run(&reactor, options, None);
        let r = r.borrow();
        assert_eq!(r.ended(), Some(Exit::Signal(libc::SIGPIPE)), "{path:?}");
        assert_eq!(r.output(1), b"", "{path:?}");
    }
}

// ---- protocol misbehaviour and ordering ------------------------------------

/// A `process_exited` that panics is logged; the process is still reaped
/// and forgotten, and the reactor goes on running other children (Twisted's
/// `test_processExitedRaises`, where the exception is logged).
#[test]
fn process_exited_raises() {
    struct Raises;
    impl ProcessProtocol for Raises {
        fn process_exited(&mut self, _reason: Failure) {
            panic!("process_exited raised");
        }
    }
    util::capture_logs();
    let reactor = reactor();
    let transport = reactor
        .spawn_process(Rc::new(RefCell::new(Raises)), ProcessOptions::new("true"))
        .expect("spawned");
    run_until(&reactor, || transport.pid().is_none());
    let errors = util::take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("process_exited raised"),
        "{errors:?}"
    );
    assert!(matches!(
        transport.signal_process("TERM"),
        Err(SignalError::ProcessExitedAlready)
    ));
    // The reactor is fine: the next child runs to its end.
    let r = run(&reactor, ProcessOptions::new("true"), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));
}

/// By `process_ended` the child is reaped and forgotten: no pid, and
/// signalling it says it exited already (Twisted's
/// `test_process_unregistered_before_protocol_ended_callback`, which looks
/// in `reapProcessHandlers`).
#[test]
fn process_unregistered_before_protocol_ended_callback() {
    #[derive(Default)]
    struct AtEnd {
        transport: Option<ProcessTransportRef>,
        seen: Option<(Option<u32>, bool)>,
    }
    impl ProcessProtocol for AtEnd {
        fn connection_made(&mut self, transport: ProcessTransportRef) {
            self.transport = Some(transport);
        }
        fn process_ended(&mut self, _reason: Failure) {
            let transport = self.transport.as_ref().expect("connected");
            let exited_already = matches!(
                transport.signal_process("TERM"),
                Err(SignalError::ProcessExitedAlready)
            );
            self.seen = Some((transport.pid(), exited_already));
        }
    }
    let reactor = reactor();
    let protocol = Rc::new(RefCell::new(AtEnd::default()));
    reactor
        .spawn_process(
            protocol.clone(),
            ProcessOptions::new("python3").arg("--version"),
        )
        .expect("spawned");
    run_until(&reactor, || protocol.borrow().seen.is_some());
    assert_eq!(protocol.borrow().seen, Some((None, true)));
}

// ---- SIGCHLD ------------------------------------------------------------------

/// While the reactor reaps through SIGCHLD, a blocking read elsewhere is
/// not failed with EINTR when a child exits (Twisted's
/// `test_systemCallUninterruptedByChildExit`: the handler is installed
/// with SA_RESTART); and children the reactor did not spawn keep their
/// exit status for their own `wait`.
#[test]
fn system_call_uninterrupted_by_child_exit() {
    let reactor = reactor();
    reactor.set_reap_with_sigchld(true);
    // A child of ours installs the SIGCHLD handler.
    let r = run(&reactor, ProcessOptions::new("true"), None);
    assert_eq!(r.borrow().ended(), Some(Exit::Done));

    let mut short = std::process::Command::new("sh")
        .args(["-c", "sleep 0.1; exit 7"])
        .spawn()
        .expect("short child");
    let mut long = std::process::Command::new("sh")
        .args(["-c", "sleep 0.5; echo Foo"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("long child");
    let stdout = std::os::fd::OwnedFd::from(long.stdout.take().expect("piped"));
    // One raw read: rustix does not retry on EINTR, so an interrupted
    // call would show here.
    let mut buf = [0u8; 64];
    let n = rustix::io::read(&stdout, &mut buf).expect("read not interrupted");
    assert_eq!(&buf[..n], b"Foo\n");
    // The reactor's SIGCHLD handling did not reap them behind their back.
    reactor
        .iterate(Some(Duration::from_millis(50)))
        .expect("iterate");
    assert_eq!(short.wait().expect("its own status").code(), Some(7));
    assert!(long.wait().expect("its own status").success());
}
