//! The `process_tail` and `stdio_echo` examples end to end, run as a user
//! runs them: as child processes of a plain `std::process::Command` (not
//! Torsion), with pipes; and `stdio_echo` on a pseudo-terminal spawned
//! by a Torsion reactor. Every run is bounded by a timeout.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion::error::ProcessDone;
use torsion::{
    Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, PtySize, Reactor, ReactorProcess,
};

/// `target/<profile>/examples/<name>`, which `cargo test` builds.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .expect("the test binary's directory");
    let binary = deps
        .parent()
        .expect("target/<profile>")
        .join("examples")
        .join(name);
    assert!(
        binary.exists(),
        "{name} was not built next to the tests (cargo test builds examples)"
    );
    binary
}

/// Waits for `child` with a deadline (then kills it and fails), reading
/// its piped stdout and stderr meanwhile so that it never waits on us.
fn wait_bounded(mut child: Child) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut all);
            }
            all
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not end in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Starts example `name` with `args`, its stdin as given, stdout and
/// stderr piped.
fn spawn_example(name: &str, args: &[&str], stdin: Stdio) -> Child {
    Command::new(example(name))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the example")
}

fn run(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the example");
    wait_bounded(child)
}

/// Lines on stdout and stderr come out prefixed, the last one without its
/// newline too, then the exit status, which is also `process_tail`'s.
#[test]
fn process_tail_prefixes_lines_and_passes_the_status_on() {
    let mut command = Command::new(example("process_tail"));
    command.args(["sh", "-c", "echo hi; echo oops >&2; printf last; exit 3"]);
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.pop(), Some("exit: code 3"));
    lines.sort_unstable(); // stdout and stderr are read independently
    assert_eq!(lines, ["err: oops", "out: hi", "out: last"]);
}

/// With `--pty` the command sees a terminal on stdout and stderr; both
/// come out as `out:` without the terminal's carriage returns.
#[test]
fn process_tail_on_a_terminal() {
    let mut command = Command::new(example("process_tail"));
    command.args([
        "--pty",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && test -t 2 && echo on a terminal; echo to stderr >&2",
    ]);
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(
        stdout, "out: on a terminal\nout: to stderr\nexit: code 0\n",
        "{stdout:?}"
    );
}

/// What is piped into `process_tail` goes to the command's stdin, its
/// end-of-file too: 5 MB through `cat` come back line for line, after
/// flow control both ways (`process_tail`'s stdout is a pipe this test
/// reads only after writing everything).
#[test]
fn process_tail_forwards_stdin() {
    let lines: Vec<String> = (0..60_000)
        .map(|i| format!("{i:06} {}", "x".repeat(i % 150)))
        .collect();
    let input = lines.join("\n") + "\n";
    let mut child = spawn_example("process_tail", &["cat"], Stdio::piped());
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = wait_bounded(child);
    writer.join().expect("writer").expect("all written");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut seen: Vec<&str> = stdout.lines().collect();
    assert_eq!(seen.pop(), Some("exit: code 0"));
    assert_eq!(seen.len(), lines.len());
    for (got, sent) in seen.iter().zip(&lines) {
        assert_eq!(got.strip_prefix("out: "), Some(sent.as_str()));
    }
}

/// A program that does not exist: one line naming it, exit 127 (as a
/// shell would).
#[test]
fn process_tail_missing_program() {
    let mut command = Command::new(example("process_tail"));
    command.arg("/nonexistent/torsion-program");
    let output = run(command);
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/torsion-program") && stderr.contains("no such program"),
        "{stderr}"
    );
}

/// SIGINT to `process_tail` (Ctrl-C) is forwarded to the command, and
/// `process_tail` waits for it to end and reports the signal.
#[test]
fn process_tail_forwards_ctrl_c() {
    let mut child = spawn_example(
        "process_tail",
        &["sh", "-c", "echo started; exec sleep 30"],
        Stdio::null(),
    );
    let mut stdout = child.stdout.take().expect("piped");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("out: started") {
        let n = stdout.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "process_tail ended early: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    stdout.read_to_end(&mut seen).expect("the rest");
    let output = wait_bounded(child);
    let text = String::from_utf8_lossy(&seen);
    assert!(text.ends_with("exit: killed by signal 2\n"), "{text:?}");
    assert_eq!(output.status.code(), Some(128 + 2));
}

/// `stdio_echo` answers each line on its stdin, says goodbye at
/// end-of-file (it still writes after stdin closed), and exits 0.
#[test]
fn stdio_echo_answers_piped_lines() {
    let mut child = spawn_example("stdio_echo", &[], Stdio::piped());
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(b"upper hello\nreverse abc\nlower MiXeD\n")
        .expect("write");
    drop(stdin);
    let output = wait_bounded(child);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(
        stdout,
        "> HELLO\n> cba\n> mixed\n> \nend of input, goodbye\n"
    );
}

/// `stdio_echo` with a terminal as stdin and stdout (spawned on a
/// pseudo-terminal by a Torsion reactor): it answers what is typed, and
/// Ctrl-D at the start of a line is end-of-file, after which it still says
/// goodbye and exits 0.
#[test]
fn stdio_echo_on_a_terminal() {
    #[derive(Default)]
    struct Typist {
        seen: Vec<u8>,
        transport: Option<ProcessTransportRef>,
        typed_eof: bool,
        ended: Option<Failure>,
    }
    impl ProcessProtocol for Typist {
        fn connection_made(&mut self, transport: ProcessTransportRef) {
            transport.write(b"upper hello\n");
            self.transport = Some(transport);
        }
        fn out_received(&mut self, data: &[u8]) {
            self.seen.extend_from_slice(data);
            let answered = String::from_utf8_lossy(&self.seen).contains("HELLO\r\n");
            if answered && !self.typed_eof {
                self.typed_eof = true;
                // Ctrl-D at the start of a line: end-of-file on a terminal.
                self.transport.as_ref().expect("connected").write(b"\x04");
            }
        }
        fn process_ended(&mut self, reason: Failure) {
            self.ended = Some(reason);
        }
    }
    let reactor = Reactor::new().expect("reactor");
    let typist = Rc::new(RefCell::new(Typist::default()));
    reactor
        .spawn_process(
            typist.clone(),
            ProcessOptions::new(example("stdio_echo")).use_pty(PtySize::default()),
        )
        .expect("spawned");
    let deadline = Instant::now() + Duration::from_secs(20);
    while typist.borrow().ended.is_none() {
        assert!(
            Instant::now() < deadline,
            "stdio_echo did not end: {:?}",
            String::from_utf8_lossy(&typist.borrow().seen)
        );
        reactor
            .iterate(Some(Duration::from_millis(20)))
            .expect("iterate");
    }
    let typist = typist.borrow();
    let seen = String::from_utf8_lossy(&typist.seen);
    // The terminal echoes what was typed (before or after the first
    // prompt, as the child starts); the answer follows, on CR LF.
    assert!(seen.contains("upper hello\r\n"), "{seen:?}");
    assert!(seen.contains("HELLO\r\n"), "{seen:?}");
    assert!(seen.ends_with("\r\nend of input, goodbye\r\n"), "{seen:?}");
    let ended = typist.ended.as_ref().expect("ended");
    assert!(ended.check::<ProcessDone>(), "{ended} after {seen:?}");
}
