//! An interactive program on `StandardIO`: each line typed is answered on
//! the same reactor that could also be serving the network (no thread).
//! `upper TEXT`, `lower TEXT`, `reverse TEXT`, `quit`; end-of-file (Ctrl-D)
//! says goodbye (the protocol is half-closeable: it still writes after
//! stdin closed).
//!
//! Run:  `cargo run --example stdio_echo`
//! Poke: type `upper hello`; or `printf 'reverse abc\n' | cargo run --example stdio_echo`.

use std::cell::RefCell;
use std::rc::Rc;

use torsion::{
    Failure, HalfCloseableProtocol, Protocol, Reactor, ReactorCore, StandardIO, TransportRef,
};
use torsion_examples::init_logging;

/// Answers each line; stops the reactor when standard I/O closes.
struct Commands {
    reactor: Reactor,
    transport: Option<TransportRef>,
    partial: Vec<u8>,
}

impl Commands {
    fn answer(&self, line: &str) -> Option<String> {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        Some(match command {
            "upper" => rest.to_uppercase(),
            "lower" => rest.to_lowercase(),
            "reverse" => rest.chars().rev().collect(),
            "quit" => return None,
            "" => String::new(),
            other => format!("unknown command {other:?}: try upper, lower, reverse, quit"),
        })
    }
}

impl Protocol for Commands {
    fn connection_made(&mut self, transport: TransportRef) {
        transport.write(b"> ");
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(transport) = self.transport.clone() else {
                return;
            };
            match self.answer(line.trim_end()) {
                Some(answer) => transport.write(format!("{answer}\n> ").as_bytes()),
                None => {
                    transport.write(b"bye\n");
                    transport.lose_connection();
                    return;
                }
            }
        }
    }

    fn connection_lost(&mut self, _reason: Failure) {
        let _ = self.reactor.stop();
    }

    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        Some(self)
    }
}

impl HalfCloseableProtocol for Commands {
    fn read_connection_lost(&mut self) {
        if let Some(transport) = &self.transport {
            transport.write(b"\nend of input, goodbye\n");
            transport.lose_connection();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let reactor = Reactor::new()?;
    let commands = Rc::new(RefCell::new(Commands {
        reactor: reactor.clone(),
        transport: None,
        partial: Vec::new(),
    }));
    let _stdio = StandardIO::new(&reactor, commands)?;
    reactor.run()?;
    Ok(())
}
