//! Runs a command and tails its output: each line it writes is printed
//! with `out:` or `err:` in front, then how it ended. What you type goes
//! to the command's stdin (end-of-file too), and Ctrl-C is forwarded to it
//! as SIGINT (the reactor waits for it to end). All of it runs on one
//! reactor: our standard I/O is a `StandardIO`, the command a
//! `spawn_process`, with flow control both ways (a command that prints
//! faster than our stdout takes is paused, and so is our stdin when the
//! command reads slower than we type).
//!
//! With `--pty` the command runs on a pseudo-terminal (Twisted's
//! `usePTY`): it sees a terminal, so it line-buffers and colours as it
//! would in one, and its stdout and stderr both come out as `out:`.
//!
//! Run:  `cargo run --example process_tail -- [--pty] CMD ARGS...`
//!       e.g. `cargo run --example process_tail -- sh -c 'echo hi; echo oops >&2; exit 3'`
//! Poke: `cargo run --example process_tail -- ping -c 100 127.0.0.1`, then Ctrl-C;
//!       `printf 'a\nb\n' | cargo run --example process_tail -- cat -n`;
//!       `cargo run --example process_tail -- --pty sh -c 'tty; test -t 1 && echo on a terminal'`

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use torsion::error::{ProcessTerminated, SignalError};
use torsion::{
    events, Deferred, Failure, HalfCloseableProtocol, Phase, ProcessOptions, ProcessProtocol,
    ProcessTransportRef, Producer, ProducerRef, Protocol, PtySize, PushProducer, Reactor,
    ReactorCore, ReactorProcess, StandardIO, TransportRef,
};
use torsion_examples::init_logging;

/// Prefixes the command's lines per stream onto our stdout; ends our
/// standard I/O when the command has ended.
struct Tail {
    out: TransportRef,
    partial: [Vec<u8>; 3],
    status: Rc<RefCell<Option<i32>>>,
    ended: Deferred<()>,
}

impl Tail {
    fn print(&self, fd: i32, line: &[u8]) {
        let prefix: &[u8] = if fd == 2 { b"err: " } else { b"out: " };
        // A terminal ends its lines with CR LF.
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.out.write_sequence(&[prefix, line, b"\n"]);
    }
}

impl ProcessProtocol for Tail {
    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        let Some(partial) = self.partial.get_mut(fd as usize) else {
            return;
        };
        partial.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            lines.push(line);
        }
        for line in lines {
            self.print(fd, &line[..line.len() - 1]);
        }
    }

    fn child_connection_lost(&mut self, fd: i32) {
        // A last line without its newline is still a line.
        if let Some(partial) = self.partial.get_mut(fd as usize) {
            if !partial.is_empty() {
                let line = std::mem::take(partial);
                self.print(fd, &line);
            }
        }
    }

    fn process_ended(&mut self, reason: Failure) {
        let (code, said) = match reason.downcast_ref::<ProcessTerminated>() {
            None => (0, "exit: code 0".to_string()),
            Some(t) => match (t.exit_code(), t.signal()) {
                (_, Some(signal)) => (128 + signal, format!("exit: killed by signal {signal}")),
                (code, None) => {
                    let code = code.unwrap_or(1);
                    (code, format!("exit: code {code}"))
                }
            },
        };
        self.out.write_sequence(&[said.as_bytes(), b"\n"]);
        *self.status.borrow_mut() = Some(code);
        if !self.ended.has_result() {
            self.ended.callback(());
        }
        // Once what we printed went out, our standard I/O closes (the
        // command, gone, no longer produces for it), and
        // `Forward::connection_lost` stops the reactor.
        let _ = self.out.unregister_producer();
        self.out.lose_connection();
    }
}

/// Our stdin to the command's; stops the reactor when our standard I/O is
/// done.
struct Forward {
    reactor: Reactor,
    command: Option<ProcessTransportRef>,
    pty: bool,
    /// The last byte forwarded: a terminal's end-of-file must start a line.
    last: Option<u8>,
}

impl Protocol for Forward {
    fn data_received(&mut self, data: &[u8]) {
        if let Some(command) = &self.command {
            command.write(data);
        }
        self.last = data.last().copied().or(self.last);
    }

    fn connection_lost(&mut self, _reason: Failure) {
        let _ = self.reactor.stop();
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }
}

impl HalfCloseableProtocol for Forward {
    /// End of our input: the command's too. A terminal cannot be half
    /// closed; Ctrl-D at the start of a line is its end-of-file (after a
    /// partial line, the first Ctrl-D only sends that line on).
    fn read_connection_lost(&mut self) {
        if let Some(command) = &self.command {
            // Our stdin no longer produces for the command's.
            let _ = command.unregister_producer();
            if self.pty {
                let partial_line = self.last.is_some_and(|b| b != b'\n');
                command.write(if partial_line { b"\x04\x04" } else { b"\x04" });
            } else {
                command.close_stdin();
            }
        }
    }
}

/// One transport as the push producer of another: what is written to
/// stops while the other is full (a `Transport` is a push producer of what
/// it reads).
struct Throttles<T: ?Sized>(Rc<T>);

impl<T: ?Sized + torsion::Transport> Producer for Throttles<T> {
    fn stop_producing(&self) {
        self.0.stop_producing();
    }
}

impl<T: ?Sized + torsion::Transport> PushProducer for Throttles<T> {
    fn pause_producing(&self) {
        self.0.pause_producing();
    }

    fn resume_producing(&self) {
        self.0.resume_producing();
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
    let forward = Rc::new(RefCell::new(Forward {
        reactor: reactor.clone(),
        command: None,
        pty,
        last: None,
    }));
    let stdio = match StandardIO::new(&reactor, forward.clone()) {
        Ok(stdio) => stdio,
        Err(e) => {
            eprintln!("process_tail: standard I/O: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = Rc::new(RefCell::new(None));
    let ended = Deferred::new();
    let tail = Rc::new(RefCell::new(Tail {
        out: stdio.transport(),
        partial: Default::default(),
        status: status.clone(),
        ended: ended.clone(),
    }));
    let mut options = ProcessOptions::new(program).args(args);
    if pty {
        options = options.use_pty(PtySize::default());
    }
    let command: ProcessTransportRef = match reactor.spawn_process(tail, options) {
        Ok(command) => command,
        Err(e) => {
            stdio.transport().abort_connection();
            eprintln!("process_tail: {e}");
            return ExitCode::from(127);
        }
    };
    forward.borrow_mut().command = Some(command.clone());
    // Flow control both ways: the command's output waits for our stdout,
    // our stdin for the command's.
    let _ = stdio
        .transport()
        .register_producer(ProducerRef::Push(Rc::new(Throttles(command.clone()))));
    let _ = command.register_producer(ProducerRef::Push(Rc::new(Throttles(stdio.transport()))));
    // Ctrl-C stops the reactor; before it does, the command gets SIGINT
    // and the shutdown waits for it to end.
    reactor.add_system_event_trigger(
        Phase::Before,
        events::SHUTDOWN,
        Box::new(move || match command.signal_process("INT") {
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
