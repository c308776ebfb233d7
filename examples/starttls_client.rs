//! A STARTTLS line client: waits for the greeting, says `STARTTLS`,
//! switches to TLS on `220 go ahead`, sends its lines, prints the replies.
//!
//! Run:  `cargo run --example starttls_client -- PORT CA_FILE [LINE...]`
//!       (with `cargo run --example starttls_server` running, CA_FILE being
//!       the certificate path it printed)

use std::process::ExitCode;
use std::rc::Rc;

use torsion::endpoints::Tcp4ClientEndpoint;
use torsion::protocols::LineReceiver;
use torsion::tls::{ClientTlsOptions, TlsFactory};
use torsion::{Factory, Failure, Reactor, ReactorCore, StreamClientEndpoint};
use torsion_examples::{clean_close, init_logging, StartTlsClient};

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, ca, lines @ ..] = args.as_slice() else {
        eprintln!("usage: starttls_client PORT CA_FILE [LINE...]");
        return ExitCode::from(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("starttls_client: PORT must be 0-65535, not {port:?}");
        return ExitCode::from(2);
    };
    let lines = if lines.is_empty() {
        vec![b"hello over STARTTLS".to_vec()]
    } else {
        lines.iter().map(|l| l.as_bytes().to_vec()).collect()
    };
    match client(port, ca, lines) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starttls_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn client(port: u16, ca: &str, lines: Vec<Vec<u8>>) -> Result<(), Box<dyn std::error::Error>> {
    let context = ClientTlsOptions::trusting_pem_file(ca)?.context("localhost")?;
    let reactor = Reactor::new()?;
    let endpoint = Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port);
    let outcome = Rc::new(std::cell::RefCell::new(None::<Failure>));
    let (record, stop) = (outcome.clone(), reactor.clone());
    let protocol = LineReceiver::new(StartTlsClient::new(
        context,
        lines,
        move |event| match event {
            Ok(reply) => println!("{reply}"),
            Err(reason) => {
                *record.borrow_mut() = Some(reason.clone());
                let _ = stop.stop();
            }
        },
    ));
    let slot = std::cell::Cell::new(Some(protocol));
    let factory = TlsFactory::for_start_tls(Factory::new(move |_| slot.take()));
    let (errback_record, errback_stop) = (outcome.clone(), reactor.clone());
    endpoint.connect_dyn(Rc::new(factory)).add_callbacks(
        |_connected| Ok::<(), Failure>(()),
        move |failure| {
            *errback_record.borrow_mut() = Some(failure);
            let _ = errback_stop.stop();
            Ok::<(), Failure>(())
        },
    );
    reactor.run()?;
    let reason = outcome.borrow_mut().take();
    clean_close(reason)
}
