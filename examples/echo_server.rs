//! An echo server.
//!
//! Run:  `cargo run --example echo_server -- [PORT]`   (default 8000, on 127.0.0.1)
//! Poke: `nc 127.0.0.1 8000`, type a line, see it come back; Ctrl-C stops it.
//!
//! The protocol, [`EchoFactory`], lives in the examples' `lib.rs` so that
//! its tests can drive it; it reads no faster than the peer reads
//! (backpressure, see `examples/backpressure.rs`).

use std::process::ExitCode;

use torsion::{run_app, serve};
use torsion_examples::{init_logging, EchoFactory};

fn main() -> ExitCode {
    init_logging();
    let port = match std::env::args()
        .nth(1)
        .map(|arg| arg.parse::<u16>())
        .transpose()
    {
        Ok(port) => port.unwrap_or(8000),
        Err(e) => {
            eprintln!("usage: echo_server [PORT]  (PORT must be 0-65535: {e})");
            return ExitCode::from(2);
        }
    };
    run_app(|reactor, root| {
        let description = format!("tcp:{port}:interface=127.0.0.1");
        root.add(serve(reactor, &description, EchoFactory::new())?)?;
        Ok(())
    })
}
