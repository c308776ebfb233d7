//! An echo server.
//!
//! Run:  `cargo run --example echo_server -- [PORT]`   (default 8000, on 127.0.0.1)
//! Poke: `nc 127.0.0.1 8000`, type a line, see it come back; Ctrl-C stops it.

use std::process::ExitCode;
use std::rc::Rc;

use torsion_application::{
    run, set_service_parent, MultiService, Service, StreamServerEndpointService,
    DEFAULT_STOP_DEADLINE,
};
use torsion_endpoints::Tcp4ServerEndpoint;
use torsion_examples::{init_logging, EchoFactory};
use torsion_reactor::Reactor;

fn main() -> ExitCode {
    init_logging();
    let port = match std::env::args().nth(1).map(|arg| arg.parse::<u16>()) {
        None => 8000,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("usage: echo_server [PORT]  (PORT must be 0-65535: {e})");
            return ExitCode::from(2);
        }
    };
    let reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => {
            eprintln!("echo_server: cannot create the reactor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = Tcp4ServerEndpoint::new(reactor.clone(), port).interface("127.0.0.1");
    let server = Rc::new(StreamServerEndpointService::new(
        Rc::new(endpoint),
        Rc::new(EchoFactory::new()),
    ));
    // Issue 20: a port that cannot be had fails the start (as Twisted's
    // strports.service does) instead of being logged while we serve on.
    server.raise_synchronously(true);
    if let Err(failure) = server.try_privileged_start_service() {
        eprintln!("echo_server: {failure}");
        return ExitCode::FAILURE;
    }
    log::info!("echo server listening on 127.0.0.1:{port}");
    let root = MultiService::new();
    let server: Rc<dyn Service> = server;
    if let Err(e) = set_service_parent(&server, &root) {
        eprintln!("echo_server: {e}");
        return ExitCode::FAILURE;
    }
    match run(&root, &reactor, DEFAULT_STOP_DEADLINE) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}
