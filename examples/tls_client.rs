//! A TLS client: sends each line read from stdin, prints what comes back;
//! at the end of stdin it sends close_notify and waits for the server to
//! finish answering.
//!
//! Run:  `cargo run --example tls_client -- HOST PORT [--ca FILE]`
//!       (with `cargo run --example tls_echo_server` running:
//!       `-- localhost 8443 --ca /tmp/tls_echo_server-PID.pem`; without
//!       `--ca`, Mozilla's root certificates are trusted)
//! Poke: type lines, see the echo; Ctrl-D ends. A wrong host name or an
//!       untrusted certificate ends it with the reason.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::{cell::RefCell, thread};

use torsion::endpoints::Tcp4ClientEndpoint;
use torsion::tls::{ClientTlsOptions, TlsClientEndpoint};
use torsion::{
    Factory, Failure, Protocol, Reactor, ReactorCore, ReactorFromThreads, StreamClientEndpointExt,
    ThreadHandle, TransportRef,
};
use torsion_examples::{clean_close, init_logging};

thread_local! {
    /// The connection's transport, reached by the lines stdin's thread
    /// queues with `call_from_thread`.
    static TRANSPORT: RefCell<Option<TransportRef>> = const { RefCell::new(None) };
}

/// Prints what arrives; remembers how the connection ended.
struct Printer {
    reactor: Reactor,
    outcome: Rc<RefCell<Option<Failure>>>,
}

impl Protocol for Printer {
    fn connection_made(&mut self, transport: TransportRef) {
        TRANSPORT.with(|t| *t.borrow_mut() = Some(transport));
    }

    fn data_received(&mut self, data: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
    }

    fn connection_lost(&mut self, reason: Failure) {
        TRANSPORT.with(|t| *t.borrow_mut() = None);
        *self.outcome.borrow_mut() = Some(reason);
        let _ = self.reactor.stop();
    }
}

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port, ca) = match args.as_slice() {
        [host, port] => (host, port, None),
        [host, port, flag, ca] if flag == "--ca" => (host, port, Some(ca)),
        _ => {
            eprintln!("usage: tls_client HOST PORT [--ca FILE]");
            return ExitCode::from(2);
        }
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("tls_client: PORT must be 0-65535, not {port:?}");
        return ExitCode::from(2);
    };
    match client(host, port, ca.map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn client(host: &str, port: u16, ca: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let options = match ca {
        Some(file) => ClientTlsOptions::trusting_pem_file(file)?,
        None => ClientTlsOptions::new(),
    };
    let reactor = Reactor::new()?;
    let endpoint = TlsClientEndpoint::new(
        Rc::new(Tcp4ClientEndpoint::new(reactor.clone(), host, port)),
        options.context(host)?,
    );
    let outcome = Rc::new(RefCell::new(None));
    let (for_protocol, for_errback) = (outcome.clone(), outcome.clone());
    let (for_printer, for_stop) = (reactor.clone(), reactor.clone());
    let handle = reactor.thread_handle();
    endpoint
        .connect(Factory::for_protocol(move || Printer {
            reactor: for_printer.clone(),
            outcome: for_protocol.clone(),
        }))
        .add_callbacks(
            move |_protocol| {
                read_stdin(handle);
                Ok::<(), Failure>(())
            },
            move |failure| {
                *for_errback.borrow_mut() = Some(failure);
                let _ = for_stop.stop();
                Ok::<(), Failure>(())
            },
        );
    reactor.run()?;
    let reason = outcome.borrow_mut().take();
    clean_close(reason)
}

/// Sends stdin's lines from a thread, through the reactor; half-closes at
/// the end (close_notify), so that the server's last answers still arrive.
fn read_stdin(handle: ThreadHandle) {
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let sent = handle.call_from_thread(move || {
                TRANSPORT.with(|t| {
                    if let Some(transport) = &*t.borrow() {
                        transport.write_sequence(&[line.as_bytes(), b"\n"]);
                    }
                });
            });
            if sent.is_err() {
                return;
            }
        }
        let _ = handle.call_from_thread(|| {
            TRANSPORT.with(|t| {
                if let Some(transport) = &*t.borrow() {
                    transport.lose_write_connection();
                }
            });
        });
    });
}
