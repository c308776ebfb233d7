//! A line-based chat server: every line is broadcast to everyone else.
//!
//! Run:  `cargo run --example chat_server -- [PORT] [--idle-timeout SECONDS] [--max-per-peer N]`
//!       (default 8001 on 127.0.0.1; silent connections are closed after 600 s,
//!       a host's 6th connection is refused)
//! Poke: in two terminals, `nc 127.0.0.1 8001` (or `python3 -m telnetlib 127.0.0.1 8001`);
//!       type lines; `/nick alice` renames, `/who` lists, `/quit` leaves. Ctrl-C stops it.

use std::process::ExitCode;
use std::rc::Rc;

use torsion::{run_app, serve};
use torsion_examples::{init_logging, ChatFactory, ChatLimits};

fn main() -> ExitCode {
    init_logging();
    let usage = "usage: chat_server [PORT] [--idle-timeout SECONDS] [--max-per-peer N]";
    let (limits, args) = match ChatLimits::from_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{usage}  ({e})");
            return ExitCode::from(2);
        }
    };
    let port = match args.first().map(|arg| arg.parse::<u16>()).transpose() {
        Ok(port) => port.unwrap_or(8001),
        Err(e) => {
            eprintln!("{usage}  (PORT must be 0-65535: {e})");
            return ExitCode::from(2);
        }
    };
    run_app(|reactor, root| {
        let description = format!("tcp:{port}:interface=127.0.0.1");
        let factory = limits.wrap(Rc::new(ChatFactory::new()), Rc::new(reactor.clone()));
        root.add(serve(reactor, &description, factory)?)?;
        log::info!("chat server on 127.0.0.1:{port} ({limits:?})");
        Ok(())
    })
}
