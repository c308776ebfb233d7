//! What the TLS examples share: a self-signed certificate made at start,
//! and the STARTTLS line protocols.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use torsion::error::ConnectionDone;
use torsion::protocols::{LineControl, LineHandler};
use torsion::tls::rustls::pki_types::PrivateKeyDer;
use torsion::tls::{start_tls, ServerTlsOptions, TlsContext};
use torsion::{DynProtocolFactory, Failure, Reactor, ReactorCore, StreamServerEndpoint};

/// A self-signed server certificate made at start (rcgen), saved as PEM
/// so that clients can trust it.
#[derive(Debug)]
pub struct SelfSigned {
    /// The server side's context.
    pub context: TlsContext,
    /// The certificate, PEM.
    pub pem: String,
    /// Its SHA-256 fingerprint, `AB:CD:...`.
    pub fingerprint: String,
}

impl SelfSigned {
    /// A certificate for `localhost` and `127.0.0.1`.
    ///
    /// # Errors
    ///
    /// rcgen's or rustls's, which do not happen with these names.
    pub fn localhost() -> Result<SelfSigned, Box<dyn std::error::Error>> {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])?;
        let der = made.cert.der().clone();
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        let fingerprint = digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        let context = ServerTlsOptions::new(
            vec![der],
            PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into()),
        )
        .context()?;
        Ok(SelfSigned {
            context,
            pem: made.cert.pem(),
            fingerprint,
        })
    }

    /// Writes the certificate to a file in the temporary directory named
    /// after `program` and this process; returns its path.
    ///
    /// # Errors
    ///
    /// The OS error if the file cannot be written.
    pub fn save(&self, program: &str) -> std::io::Result<PathBuf> {
        let path = std::env::temp_dir().join(format!("{program}-{}.pem", std::process::id()));
        std::fs::write(&path, &self.pem)?;
        Ok(path)
    }
}

/// The server of the STARTTLS demo: greets in plaintext, answers
/// `STARTTLS` with `220 go ahead` and switches to TLS, then echoes each
/// line as `echo: LINE` (encrypted).
#[derive(Debug)]
pub struct StartTlsServer {
    context: TlsContext,
    upgraded: bool,
}

impl StartTlsServer {
    /// Upgrading with `context` (a server one).
    pub fn new(context: TlsContext) -> StartTlsServer {
        StartTlsServer {
            context,
            upgraded: false,
        }
    }
}

impl LineHandler for StartTlsServer {
    fn connection_made(&mut self, ctl: &mut LineControl<'_>) {
        ctl.send_line(b"220 torsion ready, say STARTTLS");
    }

    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        if self.upgraded {
            ctl.send_line(&[b"echo: ", line].concat());
        } else if line == b"STARTTLS" {
            ctl.send_line(b"220 go ahead");
            let Some(transport) = ctl.transport() else {
                return;
            };
            match start_tls(&transport, self.context.clone()) {
                Ok(()) => self.upgraded = true,
                Err(e) => {
                    log::error!("STARTTLS failed: {e}");
                    ctl.lose_connection();
                }
            }
        } else {
            ctl.send_line(b"530 send STARTTLS first");
        }
    }
}

/// What a [`StartTlsClient`] reports: a reply, or the end of the connection.
type OnEvent = dyn FnMut(Result<&str, &Failure>);

/// The client of the STARTTLS demo: asks for `STARTTLS` after the greeting,
/// switches to TLS on `220 go ahead`, sends its lines, collects the
/// replies, and closes once each line was answered.
pub struct StartTlsClient {
    context: TlsContext,
    to_send: VecDeque<Vec<u8>>,
    expected: usize,
    upgraded: bool,
    /// The replies received over TLS.
    pub replies: Vec<String>,
    /// Called with each reply over TLS and at the end with the reason.
    on_event: Box<OnEvent>,
}

impl StartTlsClient {
    /// Upgrading with `context` (a client one), then sending `lines`.
    pub fn new(
        context: TlsContext,
        lines: Vec<Vec<u8>>,
        on_event: impl FnMut(Result<&str, &Failure>) + 'static,
    ) -> StartTlsClient {
        StartTlsClient {
            context,
            expected: lines.len(),
            to_send: lines.into(),
            upgraded: false,
            replies: Vec::new(),
            on_event: Box::new(on_event),
        }
    }
}

impl std::fmt::Debug for StartTlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartTlsClient")
            .field("upgraded", &self.upgraded)
            .field("replies", &self.replies)
            .finish_non_exhaustive()
    }
}

impl LineHandler for StartTlsClient {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        let text = String::from_utf8_lossy(line).into_owned();
        if self.upgraded {
            (self.on_event)(Ok(&text));
            self.replies.push(text);
            if self.replies.len() == self.expected {
                ctl.lose_connection();
            }
        } else if text.starts_with("220 go ahead") {
            let Some(transport) = ctl.transport() else {
                return;
            };
            if let Err(e) = start_tls(&transport, self.context.clone()) {
                log::error!("STARTTLS failed: {e}");
                ctl.lose_connection();
                return;
            }
            self.upgraded = true;
            while let Some(line) = self.to_send.pop_front() {
                ctl.send_line(&line);
            }
            if self.expected == 0 {
                ctl.lose_connection();
            }
        } else if text.starts_with("220") {
            ctl.send_line(b"STARTTLS");
        } else {
            log::error!("server refused: {text}");
            ctl.lose_connection();
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        (self.on_event)(Err(&reason));
    }
}

/// The optional `PORT` argument of a server example (`default` without
/// one); a usage line and exit code 2 for a bad one.
///
/// # Errors
///
/// The exit code to return after the usage line was printed.
pub fn port_argument(program: &str, default: u16) -> Result<u16, ExitCode> {
    match std::env::args().nth(1).map(|arg| arg.parse::<u16>()) {
        None => Ok(default),
        Some(Ok(port)) => Ok(port),
        Some(Err(e)) => {
            eprintln!("usage: {program} [PORT]  (PORT must be 0-65535: {e})");
            Err(ExitCode::from(2))
        }
    }
}

/// Listens on `endpoint` with `factory`, prints the certificate's path,
/// `announce` and the port bound, runs the reactor until it is stopped,
/// then removes the certificate file.
///
/// # Errors
///
/// The reactor's, if it cannot run; a failure to listen stops it and is
/// printed.
pub fn serve_until_stopped(
    program: &'static str,
    reactor: &Reactor,
    endpoint: &dyn StreamServerEndpoint,
    factory: Rc<dyn DynProtocolFactory>,
    certificate: &Path,
    announce: String,
) -> Result<(), Box<dyn std::error::Error>> {
    let path = certificate.to_path_buf();
    let stop = reactor.clone();
    let port_handle = Rc::new(RefCell::new(None));
    let keep = port_handle.clone();
    endpoint.listen_dyn(factory).add_callbacks(
        move |listening| {
            println!("certificate: {}", path.display());
            println!("{announce}");
            match listening.host().port() {
                Some(port) => println!("listening: 127.0.0.1:{port}"),
                None => println!("listening: {}", listening.host()),
            }
            let _ = std::io::stdout().flush();
            *keep.borrow_mut() = Some(listening);
            Ok::<(), Failure>(())
        },
        move |failure| {
            eprintln!("{program}: cannot listen: {failure}");
            let _ = stop.stop();
            Ok::<(), Failure>(())
        },
    );
    reactor.run()?;
    drop(port_handle);
    let _ = std::fs::remove_file(certificate);
    Ok(())
}

/// How a client example ended: fine after a clean close (or none), else
/// the reason as an error.
///
/// # Errors
///
/// The reason, when it is not `ConnectionDone`.
pub fn clean_close(reason: Option<Failure>) -> Result<(), Box<dyn std::error::Error>> {
    match reason {
        Some(reason) if !reason.check::<ConnectionDone>() => Err(reason.to_string().into()),
        _ => Ok(()),
    }
}
