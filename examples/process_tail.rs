//! Runs a command and tails its output: each line it writes is printed
//! with `out:` or `err:` in front, then how it ended. Ctrl-C is forwarded
//! to the command as SIGINT (the reactor waits for it to end).
//!
//! With `--pty` the command runs on a pseudo-terminal (Twisted's
//! `usePTY`): it sees a terminal, so it line-buffers and colours as it
//! would in one, and its stdout and stderr both come out as `out:`.
//!
//! Run:  `cargo run --example process_tail -- [--pty] CMD ARGS...`
//!       e.g. `cargo run --example process_tail -- sh -c 'echo hi; echo oops >&2; exit 3'`
//! Poke: `cargo run --example process_tail -- ping -c 100 127.0.0.1`, then Ctrl-C;
//!       `cargo run --example process_tail -- --pty sh -c 'tty; test -t 1 && echo on a terminal'`

use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;

use torsion::error::{ProcessTerminated, SignalError};
use torsion::{
    events, Deferred, Failure, Phase, ProcessOptions, ProcessProtocol, ProcessTransportRef,
    PtySize, Reactor, ReactorCore, ReactorProcess,
};
use torsion_examples::init_logging;

/// Prefixes lines per stream; stops the reactor when the command ended.
struct Tail {
    reactor: Reactor,
    partial: [Vec<u8>; 3],
    status: Rc<RefCell<Option<i32>>>,
    ended: Deferred<()>,
}

impl Tail {
    fn print(fd: i32, line: &[u8]) {
        let prefix: &[u8] = if fd == 2 { b"err: " } else { b"out: " };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(prefix);
        let _ = out.write_all(line);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
}

impl ProcessProtocol for Tail {
    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        let Some(partial) = self.partial.get_mut(fd as usize) else {
            return;
        };
        partial.extend_from_slice(data);
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            // A terminal ends its lines with CR LF.
            Tail::print(fd, line.strip_suffix(b"\r").unwrap_or(line));
        }
    }

    fn child_connection_lost(&mut self, fd: i32) {
        // A last line without its newline is still a line.
        if let Some(partial) = self.partial.get_mut(fd as usize) {
            if !partial.is_empty() {
                Tail::print(fd, &std::mem::take(partial));
            }
        }
    }

    fn process_ended(&mut self, reason: Failure) {
        let code = match reason.downcast_ref::<ProcessTerminated>() {
            None => {
                println!("exit: code 0");
                0
            }
            Some(t) => match (t.exit_code(), t.signal()) {
                (_, Some(signal)) => {
                    println!("exit: killed by signal {signal}");
                    128 + signal
                }
                (code, None) => {
                    let code = code.unwrap_or(1);
                    println!("exit: code {code}");
                    code
                }
            },
        };
        *self.status.borrow_mut() = Some(code);
        if !self.ended.has_result() {
            self.ended.callback(());
        }
        let _ = self.reactor.stop();
    }
}

fn main() -> ExitCode {
    init_logging();
    let mut args = std::env::args_os().skip(1).peekable();
    let pty = args.next_if(|arg| arg == "--pty").is_some();
    let Some(program) = args.next() else {
        eprintln!("usage: process_tail [--pty] CMD ARGS...");
        return ExitCode::from(2);
    };
    let reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => {
            eprintln!("process_tail: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = Rc::new(RefCell::new(None));
    let ended = Deferred::new();
    let tail = Rc::new(RefCell::new(Tail {
        reactor: reactor.clone(),
        partial: Default::default(),
        status: status.clone(),
        ended: ended.clone(),
    }));
    let mut options = ProcessOptions::new(program).args(args);
    if pty {
        options = options.use_pty(PtySize::default());
    }
    let process: ProcessTransportRef = match reactor.spawn_process(tail, options) {
        Ok(process) => process,
        Err(e) => {
            eprintln!("process_tail: {e}");
            return ExitCode::from(127);
        }
    };
    // Ctrl-C stops the reactor; before it does, the command gets SIGINT
    // and the shutdown waits for it to end.
    reactor.add_system_event_trigger(
        Phase::Before,
        events::SHUTDOWN,
        Box::new(move || match process.signal_process("INT") {
            Ok(()) => Some(ended.clone()),
            Err(SignalError::ProcessExitedAlready) => None,
            Err(e) => {
                eprintln!("process_tail: {e}");
                None
            }
        }),
    );
    if let Err(e) = reactor.run() {
        eprintln!("process_tail: {e}");
        return ExitCode::FAILURE;
    }
    let code = status.borrow().unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
