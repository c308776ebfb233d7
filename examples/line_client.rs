//! A line client that stays connected: sends each line read from stdin,
//! prints each line it receives. While the server is down it keeps the
//! lines typed meanwhile and sends them after the reconnection (a
//! `ClientService` with backoff); it exits once stdin is closed and every
//! line was sent.
//!
//! Run:  `cargo run --example line_client -- tcp:host=127.0.0.1:port=8001`
//!       (with `cargo run --example chat_server` running; any client
//!       endpoint string works, e.g. `unix:path=/tmp/chat.sock`)
//! Poke: type lines; stop and restart the server, type meanwhile; Ctrl-D ends.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use torsion::application::{backoff_policy, default_jitter, ClientService, Service};
use torsion::endpoints::client_from_string;
use torsion::protocols::{LineControl, LineHandler, LineReceiver};
use torsion::{Factory, Failure, Reactor, ReactorCore, ReactorFromThreads, TransportRef};
use torsion_examples::init_logging;

/// Prints what arrives: lines ended by `\n` or `\r\n`, so servers of any
/// convention are read right (the client itself sends `\r\n`).
#[derive(Debug, Default)]
struct Printer;

impl LineHandler for Printer {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineControl<'_>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }

    fn connection_lost(&mut self, reason: Failure) {
        log::info!("disconnected: {reason}; lines typed now are sent after the reconnection");
        // From now on lines queue until the next connection.
        STATE.with(|state| state.borrow_mut().transport = None);
    }
}

type Client = ClientService<Factory<LineReceiver<Printer>>>;

/// The reactor thread's side of the program.
#[derive(Default)]
struct State {
    queued: VecDeque<String>,
    transport: Option<TransportRef>,
    stdin_closed: bool,
    service: Option<Client>,
    reactor: Option<Reactor>,
}

thread_local! {
    /// Reached from the closures stdin's thread queues with `call_from_thread`.
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Sends what is queued if connected; when stdin is done and nothing is
/// left, stops the service (which flushes and closes) and then the reactor.
fn pump() {
    let finishing = STATE.with(|state| {
        let mut state = state.borrow_mut();
        if let Some(transport) = state.transport.clone() {
            while let Some(line) = state.queued.pop_front() {
                transport.write_sequence(&[line.as_bytes(), b"\r\n"]);
            }
        }
        (state.stdin_closed && state.queued.is_empty() && state.transport.is_some())
            .then(|| (state.service.clone(), state.reactor.clone()))
    });
    if let Some((Some(service), Some(reactor))) = finishing {
        service.stop_service().add_callback(move |()| {
            let _ = reactor.stop();
            Ok(())
        });
    }
}

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [description] = args.as_slice() else {
        eprintln!("usage: line_client ENDPOINT   (e.g. tcp:host=127.0.0.1:port=8001)");
        return ExitCode::from(2);
    };
    match client(description) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("line_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn client(description: &str) -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;
    let endpoint = client_from_string(reactor.clone(), description)?;
    let service = ClientService::builder(
        endpoint,
        Factory::for_protocol(|| {
            LineReceiver::new(Printer)
                .with_delimiter("\n")
                .expect("\"\\n\" is a delimiter: it is not empty")
        }),
    )
    .clock(Rc::new(reactor.clone()))
    .retry_policy(backoff_policy(
        Duration::from_millis(250),
        Duration::from_secs(5),
        1.5,
        default_jitter,
    ))
    .prepare_connection(|protocol: &Rc<RefCell<LineReceiver<Printer>>>| {
        let transport = protocol.borrow().transport();
        STATE.with(|state| state.borrow_mut().transport = transport);
        pump();
        Ok::<_, Failure>(())
    })
    .build();
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        state.service = Some(service.clone());
        state.reactor = Some(reactor.clone());
    });
    service.start_service();

    let handle = reactor.thread_handle();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let queued = handle.call_from_thread(move || {
                STATE.with(|state| state.borrow_mut().queued.push_back(line));
                pump();
            });
            if queued.is_err() {
                return;
            }
        }
        let _ = handle.call_from_thread(|| {
            STATE.with(|state| state.borrow_mut().stdin_closed = true);
            pump();
        });
    });
    reactor.run()?;
    Ok(())
}
