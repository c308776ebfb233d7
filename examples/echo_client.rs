//! An echo client: sends each line read from stdin, prints what comes back,
//! and exits once stdin is closed and every echo has arrived.
//!
//! Run:  `cargo run --example echo_client -- 127.0.0.1 8000`
//!       (start `cargo run --example echo_server` first)
//! Poke: `printf 'one\ntwo\n' | cargo run --example echo_client -- 127.0.0.1 8000`

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::rc::Rc;

use torsion::endpoints::Tcp4ClientEndpoint;
use torsion::{
    Factory, Failure, Protocol, Reactor, ReactorCore, ReactorFromThreads, StreamClientEndpointExt,
    TransportRef,
};
use torsion_examples::init_logging;

/// Prints what it receives; counts bytes so it knows when all came back.
#[derive(Default)]
struct Printer {
    transport: Option<TransportRef>,
    received: usize,
    expected: Option<usize>,
    stop: Option<Reactor>,
}

impl Printer {
    fn maybe_done(&self) {
        if self.expected == Some(self.received) {
            if let Some(t) = &self.transport {
                t.lose_connection();
            }
        }
    }
}

impl Protocol for Printer {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.received += data.len();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
        self.maybe_done();
    }

    fn connection_lost(&mut self, reason: Failure) {
        log::info!("connection closed: {reason}");
        if let Some(reactor) = self.stop.take() {
            let _ = reactor.stop();
        }
    }
}

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port) = match args.as_slice() {
        [host, port] => match port.parse::<u16>() {
            Ok(port) => (host.clone(), port),
            Err(e) => {
                eprintln!("echo_client: bad PORT {port:?}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: echo_client HOST PORT");
            return ExitCode::from(2);
        }
    };
    let reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => {
            eprintln!("echo_client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), host.clone(), port);
    let stopper = reactor.clone();
    let handle = reactor.thread_handle();
    let failed = Rc::new(RefCell::new(None));
    let failure_slot = failed.clone();
    let on_failure = reactor.clone();
    endpoint
        .connect(Factory::for_protocol(Printer::default))
        .add_callback(move |printer: Rc<RefCell<Printer>>| {
            printer.borrow_mut().stop = Some(stopper);
            // Lines come from a thread (stdin blocks); each is handed to the
            // reactor thread, which owns the connection.
            std::thread::spawn(move || {
                let mut sent = 0;
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    let bytes = format!("{line}\n").into_bytes();
                    sent += bytes.len();
                    if handle.call_from_thread(move || send(bytes)).is_err() {
                        return;
                    }
                }
                let _ = handle.call_from_thread(move || finish(sent));
            });
            PRINTER.with(|p| *p.borrow_mut() = Some(printer));
            Ok(())
        })
        .add_errback(move |failure: Failure| {
            *failure_slot.borrow_mut() = Some(failure.to_string());
            let _ = on_failure.stop();
            Ok(())
        });
    if let Err(e) = reactor.run() {
        eprintln!("echo_client: {e}");
        return ExitCode::FAILURE;
    }
    let failed = failed.borrow_mut().take();
    match failed {
        Some(failure) => {
            eprintln!("echo_client: cannot connect to {host}:{port}: {failure}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

thread_local! {
    /// The connected protocol, on the reactor thread.
    static PRINTER: RefCell<Option<Rc<RefCell<Printer>>>> = const { RefCell::new(None) };
}

fn send(bytes: Vec<u8>) {
    PRINTER.with(|p| {
        if let Some(printer) = p.borrow().as_ref() {
            if let Some(t) = &printer.borrow().transport {
                t.write(&bytes);
            }
        }
    });
}

fn finish(sent: usize) {
    PRINTER.with(|p| {
        if let Some(printer) = p.borrow().as_ref() {
            let mut printer = printer.borrow_mut();
            printer.expected = Some(sent);
            printer.maybe_done();
        }
    });
}
