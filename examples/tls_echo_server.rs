//! An echo server over TLS, with a self-signed certificate made at start.
//!
//! Run:  `cargo run --example tls_echo_server -- [PORT]`   (default 8443, on 127.0.0.1)
//! Poke: it prints the certificate's path and SHA-256 fingerprint; then
//!       `openssl s_client -connect 127.0.0.1:8443 -servername localhost -CAfile PATH`
//!       or `cargo run --example tls_client -- localhost 8443 --ca PATH`,
//!       type a line, see it come back; Ctrl-C stops it.

use std::process::ExitCode;
use std::rc::Rc;

use torsion::endpoints::Tcp4ServerEndpoint;
use torsion::tls::TlsServerEndpoint;
use torsion::Reactor;
use torsion_examples::{init_logging, port_argument, serve_until_stopped, EchoFactory, SelfSigned};

fn main() -> ExitCode {
    init_logging();
    let port = match port_argument("tls_echo_server", 8443) {
        Ok(port) => port,
        Err(code) => return code,
    };
    match serve(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let certificate = SelfSigned::localhost()?;
    let path = certificate.save("tls_echo_server")?;
    let reactor = Reactor::new()?;
    let tcp = Tcp4ServerEndpoint::new(reactor.clone(), port).interface("127.0.0.1");
    // The TLS endpoint wraps each connection's protocol in TLS.
    let endpoint = TlsServerEndpoint::new(Rc::new(tcp), certificate.context.clone());
    serve_until_stopped(
        "tls_echo_server",
        &reactor,
        &endpoint,
        Rc::new(EchoFactory::new()),
        &path,
        format!(
            "SHA-256 fingerprint: {}\nTLS, names localhost and 127.0.0.1",
            certificate.fingerprint
        ),
    )
}
