//! A UDP echo server: every datagram goes back to its sender, byte for byte.
//!
//! Run:  `cargo run --example udp_echo -- PORT`   (on 127.0.0.1; 0 picks a free port)
//! Poke: `nc -u 127.0.0.1 PORT`, type a line, see it come back; Ctrl-C stops it.
//!
//! It prints `listening on 127.0.0.1:PORT` once bound, so a script that
//! asked for port 0 can read the port it got.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use torsion::{Reactor, ReactorCore, ReactorUdp, DEFAULT_MAX_PACKET_SIZE};
use torsion_examples::{init_logging, UdpEcho};

fn main() -> ExitCode {
    init_logging();
    let port = match std::env::args().nth(1).map(|arg| arg.parse::<u16>()) {
        Some(Ok(port)) => port,
        None => {
            eprintln!("usage: udp_echo PORT");
            return ExitCode::from(2);
        }
        Some(Err(e)) => {
            eprintln!("usage: udp_echo PORT  (PORT must be 0-65535: {e})");
            return ExitCode::from(2);
        }
    };
    let reactor = match Reactor::new() {
        Ok(reactor) => reactor,
        Err(e) => {
            eprintln!("udp_echo: cannot create the reactor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let protocol = Rc::new(RefCell::new(UdpEcho::default()));
    let listening = reactor.listen_udp(port, protocol, "127.0.0.1", DEFAULT_MAX_PACKET_SIZE);
    match listening {
        Ok(port) => println!("listening on {}", port.host()),
        Err(e) => {
            eprintln!("udp_echo: {e}");
            return ExitCode::FAILURE;
        }
    }
    match reactor.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
