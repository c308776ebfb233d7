//! The server process: records each message in its log, then acknowledges it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use torsion::protocols::{LineControl, LineHandler, LineReceiver};
use torsion::{DynProtocolFactory, Factory, Reactor, ReactorCore, ReactorTcp, ReactorTimeExt};

use super::{payload, two_numbers, ServerArgs, READY_LINE};

/// One connection's handler: checks a message, appends it to the log with a
/// single `write`, and only then sends the ack.
/// Where the server records messages: a file for the real soak, memory
/// that survives the host's crash for the simulated one.
pub(super) trait RecordLog {
    /// Appends `record` in one write.
    fn append(&self, record: &[u8]) -> std::io::Result<()>;
}

impl RecordLog for File {
    fn append(&self, record: &[u8]) -> std::io::Result<()> {
        (&*self).write_all(record)
    }
}

struct Recorder {
    log: Rc<dyn RecordLog>,
}

impl LineHandler for Recorder {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        let message = two_numbers(line)
            .filter(|(client, seq, rest)| *rest == payload(*client, *seq).as_bytes());
        let record = match message {
            Some((client, seq, _)) => format!("{client} {seq}\n"),
            None => format!("corrupt {}\n", String::from_utf8_lossy(line).escape_debug()),
        };
        if let Err(e) = self.log.append(record.as_bytes()) {
            log::error!("soak server: cannot record a message: {e}");
            return ctl.lose_connection();
        }
        match message {
            Some((client, seq, _)) => ctl.send_line(format!("ack {client} {seq}").as_bytes()),
            None => ctl.lose_connection(),
        }
    }
}

/// The server's factory: records each message in `log`, then acknowledges it.
pub(super) fn recorder_factory(log: Rc<dyn RecordLog>) -> Rc<dyn DynProtocolFactory> {
    Rc::new(Factory::for_protocol(move || {
        LineReceiver::new(Recorder { log: log.clone() })
            .with_delimiter(b"\n".to_vec())
            .expect("the delimiter is not empty")
    }))
}

/// The server process's program: listens on 127.0.0.1:`args.port` (retrying
/// for up to 5 s while the port is still taken), prints
/// [`READY_LINE`](super::READY_LINE) on stdout, and serves until killed, or
/// until `args.max_life` has passed.
///
/// # Errors
///
/// If the log cannot be opened, the port cannot be bound, or the reactor fails.
pub fn serve(args: &ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let log = Rc::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&args.log)?,
    );
    let reactor = Reactor::new()?;
    let factory = recorder_factory(log);
    let mut tries = 0;
    let port = loop {
        match reactor.listen_tcp(args.port, factory.clone(), 1024, "127.0.0.1") {
            Ok(port) => break port,
            Err(e) if tries < 50 => {
                log::warn!("soak server: cannot listen yet ({e}); retrying");
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{READY_LINE} on {}", port.host())?;
    stdout.flush()?;
    drop(stdout);
    let stopper = reactor.clone();
    reactor.call_later(args.max_life, move || {
        log::warn!("soak server: nobody killed me; exiting");
        let _ = stopper.stop();
    });
    reactor.run()?;
    Ok(())
}
