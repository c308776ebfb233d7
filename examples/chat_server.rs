//! A line-based chat server: every line is broadcast to everyone else.
//!
//! Run:  `cargo run --example chat_server -- [PORT]`   (default 8001, on 127.0.0.1)
//! Poke: in two terminals, `nc 127.0.0.1 8001` (or `python3 -m telnetlib 127.0.0.1 8001`);
//!       type lines; `/nick alice` renames, `/who` lists, `/quit` leaves. Ctrl-C stops it.

use std::process::ExitCode;

use torsion::{run_app, serve};
use torsion_examples::{init_logging, ChatFactory};

fn main() -> ExitCode {
    init_logging();
    let port = match std::env::args()
        .nth(1)
        .map(|arg| arg.parse::<u16>())
        .transpose()
    {
        Ok(port) => port.unwrap_or(8001),
        Err(e) => {
            eprintln!("usage: chat_server [PORT]  (PORT must be 0-65535: {e})");
            return ExitCode::from(2);
        }
    };
    run_app(|reactor, root| {
        let description = format!("tcp:{port}:interface=127.0.0.1");
        root.add(serve(reactor, &description, ChatFactory::new())?)?;
        Ok(())
    })
}
