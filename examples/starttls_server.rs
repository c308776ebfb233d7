//! A STARTTLS line server: greets in plaintext, switches to TLS when the
//! client says `STARTTLS`, then echoes each line as `echo: LINE`.
//!
//! Run:  `cargo run --example starttls_server -- [PORT]`   (default 8025, on 127.0.0.1)
//! Poke: it prints its certificate's path; then
//!       `cargo run --example starttls_client -- 8025 PATH hello world`;
//!       `nc 127.0.0.1 8025` shows the plaintext greeting.

use std::process::ExitCode;
use std::rc::Rc;

use torsion::endpoints::Tcp4ServerEndpoint;
use torsion::protocols::LineReceiver;
use torsion::tls::TlsFactory;
use torsion::{Factory, Reactor};
use torsion_examples::{
    init_logging, port_argument, serve_until_stopped, SelfSigned, StartTlsServer,
};

fn main() -> ExitCode {
    init_logging();
    let port = match port_argument("starttls_server", 8025) {
        Ok(port) => port,
        Err(code) => return code,
    };
    match serve(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starttls_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let certificate = SelfSigned::localhost()?;
    let path = certificate.save("starttls_server")?;
    let reactor = Reactor::new()?;
    let endpoint = Tcp4ServerEndpoint::new(reactor.clone(), port).interface("127.0.0.1");
    let context = certificate.context.clone();
    // Plaintext connections that the protocol upgrades with start_tls.
    let factory = TlsFactory::for_start_tls(Factory::for_protocol(move || {
        LineReceiver::new(StartTlsServer::new(context.clone()))
    }));
    serve_until_stopped(
        "starttls_server",
        &reactor,
        &endpoint,
        Rc::new(factory),
        &path,
        "plaintext until STARTTLS".to_string(),
    )
}
