//! The Torsion demo: one application with an echo server that goes down and
//! comes back every few seconds, and a `ClientService` client that keeps
//! itself connected with backoff and jitter, says a numbered hello on each
//! connection and logs what comes back.
//!
//! Run:  `cargo run --example demo`           (Ctrl-C stops it gracefully)
//!       `cargo run --example demo -- --for 20`  (stops by itself after 20 s)
//! Watch the log: the server going down, the client's retries growing, the
//! reconnection, the echo of each hello.

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use torsion::application::{
    backoff_policy, default_jitter, run, ClientService, MultiService, Service, ServiceState,
    DEFAULT_STOP_DEADLINE,
};
use torsion::endpoints::Tcp4ClientEndpoint;
use torsion::{
    succeed, Deferred, DelayedCall, Factory, Failure, ListeningPort, Protocol, Reactor,
    ReactorCore, ReactorTcp, ReactorTimeExt, TransportRef,
};
use torsion_examples::{init_logging, EchoFactory};

/// How long the server stays up, then down.
const UP: Duration = Duration::from_secs(4);
const DOWN: Duration = Duration::from_secs(3);

/// An echo server that goes down (stops listening, hangs up on everyone)
/// and comes back on the same port, over and over.
struct FlappingServer {
    state: ServiceState,
    reactor: Reactor,
    port: u16,
    factory: Rc<EchoFactory>,
    listening: RefCell<Option<Rc<dyn ListeningPort>>>,
    next_flip: RefCell<Option<DelayedCall>>,
}

impl FlappingServer {
    fn up(self: &Rc<Self>) {
        match self
            .reactor
            .listen_tcp(self.port, self.factory.clone(), 50, "127.0.0.1")
        {
            Ok(port) => {
                log::info!("server: UP, listening on {}", port.host());
                *self.listening.borrow_mut() = Some(port);
            }
            Err(e) => log::error!("server: cannot listen: {e}"),
        }
        self.flip_after(UP, false);
    }

    fn down(self: &Rc<Self>) {
        self.go_quiet();
        log::info!("server: DOWN for {DOWN:?}");
        self.flip_after(DOWN, true);
    }

    fn go_quiet(&self) {
        if let Some(port) = self.listening.borrow_mut().take() {
            drop(port.stop_listening());
        }
        self.factory.hang_up_all();
    }

    fn flip_after(self: &Rc<Self>, delay: Duration, up: bool) {
        let me = Rc::downgrade(self);
        let call = self.reactor.call_later(delay, move || {
            if let Some(me) = me.upgrade() {
                if up {
                    me.up();
                } else {
                    me.down();
                }
            }
        });
        *self.next_flip.borrow_mut() = Some(call);
    }
}

/// The service face of the flapping server (the `Rc` lets timers reach it).
struct Flapper(Rc<FlappingServer>);

impl Service for Flapper {
    fn state(&self) -> &ServiceState {
        &self.0.state
    }

    fn start_service(&self) {
        self.0.state.set_running(true);
        self.0.up();
    }

    fn stop_service(&self) -> Deferred<()> {
        self.0.state.set_running(false);
        if let Some(call) = self.0.next_flip.borrow_mut().take() {
            let _ = call.cancel();
        }
        self.0.go_quiet();
        succeed(())
    }
}

/// The client's protocol: logs every line that comes back.
#[derive(Default)]
struct Greeter {
    transport: Option<TransportRef>,
    pending: Vec<u8>,
}

impl Greeter {
    fn say(&self, line: &str) {
        if let Some(transport) = &self.transport {
            transport.write_sequence(&[line.as_bytes(), b"\r\n"]);
        }
    }
}

impl Protocol for Greeter {
    fn connection_made(&mut self, transport: TransportRef) {
        log::info!("client: connected to {}", transport.peer());
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.pending.drain(..end + 2).take(end).collect();
            log::info!(
                "client: the server echoed {:?}",
                String::from_utf8_lossy(&line)
            );
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        log::info!("client: connection lost: {reason}");
        self.transport = None;
    }
}

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run_for = match args.as_slice() {
        [] => None,
        [flag, seconds] if flag == "--for" => match seconds.parse::<u64>() {
            Ok(s) => Some(Duration::from_secs(s)),
            Err(e) => {
                eprintln!("demo: --for takes whole seconds: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: demo [--for SECONDS]");
            return ExitCode::from(2);
        }
    };
    match demo(run_for) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(run_for: Option<Duration>) -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;

    // Find a free port once; the server comes back on it each time.
    let factory = Rc::new(EchoFactory::new());
    let probe = reactor.listen_tcp(0, factory.clone(), 50, "127.0.0.1")?;
    let port = probe.host().port().unwrap_or_default();
    drop(probe.stop_listening());

    let server = Rc::new(FlappingServer {
        state: ServiceState::named("echo server"),
        reactor: reactor.clone(),
        port,
        factory,
        listening: RefCell::new(None),
        next_flip: RefCell::new(None),
    });

    let hellos = Rc::new(Cell::new(0u32));
    let endpoint = Rc::new(Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port));
    let client = ClientService::builder(endpoint, Factory::for_protocol(Greeter::default))
        .clock(Rc::new(reactor.clone()))
        .retry_policy(backoff_policy(
            Duration::from_millis(500),
            Duration::from_secs(4),
            1.5,
            default_jitter,
        ))
        .prepare_connection(move |greeter: &Rc<RefCell<Greeter>>| {
            hellos.set(hellos.get() + 1);
            let line = format!("hello #{}", hellos.get());
            log::info!("client: saying {line:?}");
            greeter.borrow().say(&line);
            Ok::<_, Failure>(())
        })
        .name("client")
        .build();

    let root = MultiService::new();
    root.add(Flapper(server))?;
    root.add(client)?;

    if let Some(run_for) = run_for {
        let stopper = reactor.clone();
        reactor.call_later(run_for, move || {
            log::info!("demo: {run_for:?} are up, stopping");
            let _ = stopper.stop();
        });
    }
    log::info!("demo: echo server on 127.0.0.1:{port}; Ctrl-C to stop");
    run(&root, &reactor, DEFAULT_STOP_DEADLINE)?;
    log::info!("demo: stopped cleanly");
    Ok(())
}
