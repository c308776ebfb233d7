//! A line-based chat server: every line is broadcast to everyone else.
//!
//! Run:  `cargo run --example chat_server -- [PORT] [--idle-timeout SECONDS] [--max-per-peer N]`
//!       (default 8001 on 127.0.0.1; silent connections are closed after 600 s,
//!       a host's 6th connection is refused)
//! Poke: in two terminals, `nc 127.0.0.1 8001` (or `python3 -m telnetlib 127.0.0.1 8001`);
//!       type lines; `/nick alice` renames, `/who` lists, `/quit` leaves. Ctrl-C stops it.

use std::process::ExitCode;
use std::rc::Rc;

use torsion_application::{
    run, set_service_parent, MultiService, Service, StreamServerEndpointService,
    DEFAULT_STOP_DEADLINE,
};
use torsion_endpoints::Tcp4ServerEndpoint;
use torsion_examples::{init_logging, ChatFactory, ChatLimits};
use torsion_reactor::Reactor;

fn main() -> ExitCode {
    init_logging();
    let (limits, args) = match ChatLimits::from_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!(
                "usage: chat_server [PORT] [--idle-timeout SECONDS] [--max-per-peer N]  ({e})"
            );
            return ExitCode::from(2);
        }
    };
    let port = match args.first().map(|arg| arg.parse::<u16>()) {
        None => 8001,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("usage: chat_server [PORT]  (PORT must be 0-65535: {e})");
            return ExitCode::from(2);
        }
    };
    match serve(port, limits) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(port: u16, limits: ChatLimits) -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;
    let endpoint = Tcp4ServerEndpoint::new(reactor.clone(), port).interface("127.0.0.1");
    let server = Rc::new(StreamServerEndpointService::new(
        Rc::new(endpoint),
        Rc::new(limits.wrap(Rc::new(ChatFactory::new()), Rc::new(reactor.clone()))),
    ));
    // Issue 20: a port that cannot be had fails the start (as Twisted's
    // strports.service does) instead of being logged while we serve on.
    server.raise_synchronously(true);
    server
        .try_privileged_start_service()
        .map_err(|f| f.to_string())?;
    log::info!("chat server on 127.0.0.1:{port} ({limits:?})");
    let root = MultiService::new();
    let server: Rc<dyn Service> = server;
    set_service_parent(&server, &root)?;
    run(&root, &reactor, DEFAULT_STOP_DEADLINE)?;
    Ok(())
}
