//! A line client that stays connected: sends each line read from stdin,
//! prints each line it receives. While the server is down it keeps the
//! lines typed meanwhile and sends them after the reconnection (a
//! `ClientService` with backoff); it exits once stdin is closed and every
//! line was sent. stdin and stdout are a `StandardIO` transport on the same
//! reactor as the network: no thread, no thread-local.
//!
//! Run:  `cargo run --example line_client -- tcp:host=127.0.0.1:port=8001`
//!       (with `cargo run --example chat_server` running; any client
//!       endpoint string works, e.g. `unix:path=/tmp/chat.sock`)
//! Poke: type lines; stop and restart the server, type meanwhile; Ctrl-D ends.
//!       Or pipe them: `printf 'hi\nthere\n' | cargo run --example line_client -- tcp:...`

use std::cell::RefCell;
use std::collections::VecDeque;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use torsion::application::{backoff_policy, default_jitter, ClientService, Service};
use torsion::endpoints::client_from_string;
use torsion::protocols::{LineControl, LineHandler, LineReceiver};
use torsion::{
    Factory, Failure, HalfCloseableProtocol, Protocol, Reactor, ReactorCore, StandardIO,
    TransportRef,
};
use torsion_examples::init_logging;

type Client = ClientService<Factory<LineReceiver<Printer>>>;

/// The program's state, shared by the stdin protocol and the network one.
#[derive(Default)]
struct State {
    queued: VecDeque<Vec<u8>>,
    /// The connection to the server, while there is one.
    network: Option<TransportRef>,
    /// Our stdout (the StandardIO transport).
    stdout: Option<TransportRef>,
    stdin_closed: bool,
    service: Option<Client>,
    reactor: Option<Reactor>,
}

type Shared = Rc<RefCell<State>>;

/// Sends what is queued if connected; when stdin is done and nothing is
/// left to send, stops the service (which flushes and closes the
/// connection, or stops retrying if there is none) and then the reactor.
fn pump(state: &Shared) {
    let finishing = {
        let mut state = state.borrow_mut();
        if let Some(network) = state.network.clone() {
            while let Some(line) = state.queued.pop_front() {
                network.write_sequence(&[&line, b"\r\n"]);
            }
        }
        (state.stdin_closed && state.queued.is_empty())
            .then(|| (state.service.clone(), state.reactor.clone()))
    };
    if let Some((Some(service), Some(reactor))) = finishing {
        service.stop_service().add_callback(move |()| {
            let _ = reactor.stop();
            Ok(())
        });
    }
}

/// Prints what arrives from the server: lines ended by `\n` or `\r\n`, so
/// servers of any convention are read right (the client sends `\r\n`).
struct Printer(Shared);

impl LineHandler for Printer {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineControl<'_>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(stdout) = self.0.borrow().stdout.clone() {
            stdout.write_sequence(&[line, b"\n"]);
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        log::info!("disconnected: {reason}; lines typed now are sent after the reconnection");
        // From now on lines queue until the next connection.
        self.0.borrow_mut().network = None;
    }
}

/// Standard I/O's protocol: splits stdin into lines and queues them.
/// Half-closeable, so end-of-file on stdin leaves stdout open for what the
/// server still says.
struct Keyboard {
    state: Shared,
    partial: Vec<u8>,
}

impl Protocol for Keyboard {
    fn data_received(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.partial.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.state.borrow_mut().queued.push_back(line);
        }
        pump(&self.state);
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }
}

impl HalfCloseableProtocol for Keyboard {
    fn read_connection_lost(&mut self) {
        {
            let mut state = self.state.borrow_mut();
            if !self.partial.is_empty() {
                // A last line without its newline is still a line.
                state.queued.push_back(std::mem::take(&mut self.partial));
            }
            state.stdin_closed = true;
        }
        pump(&self.state);
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
    let state: Shared = Rc::default();
    let endpoint = client_from_string(reactor.clone(), description)?;
    let for_printer = state.clone();
    let for_connection = state.clone();
    let service = ClientService::builder(
        endpoint,
        Factory::for_protocol(move || {
            LineReceiver::new(Printer(for_printer.clone()))
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
    .prepare_connection(move |protocol: &Rc<RefCell<LineReceiver<Printer>>>| {
        let transport = protocol.borrow().transport();
        for_connection.borrow_mut().network = transport;
        pump(&for_connection);
        Ok::<_, Failure>(())
    })
    .build();
    {
        let mut state = state.borrow_mut();
        state.service = Some(service.clone());
        state.reactor = Some(reactor.clone());
    }
    let keyboard = Rc::new(RefCell::new(Keyboard {
        state: state.clone(),
        partial: Vec::new(),
    }));
    let stdio = StandardIO::new(&reactor, keyboard)?;
    state.borrow_mut().stdout = Some(stdio.transport());
    service.start_service();
    reactor.run()?;
    Ok(())
}
