//! [`TrafficLoggingFactory`]: Twisted's `policies.TrafficLoggingFactory`
//! and `TrafficLoggingProtocol`.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::rc::Rc;

use torsion_reactor::{Address, DynProtocolFactory, Failure, TransportRef};

use super::wrapper::{Admission, Policy, PolicyHooks, WrappingFactory};

/// Opens the log of one connection, given its name (`<prefix>-<n>`).
pub type TrafficLog = Box<dyn Fn(&str) -> io::Result<Box<dyn Write>>>;

/// The policy of a [`TrafficLoggingFactory`].
pub struct TrafficLogging {
    prefix: String,
    length_limit: Option<usize>,
    counter: Cell<u64>,
    open: TrafficLog,
}

impl TrafficLogging {
    /// How many connections were logged since the last reset (Twisted's `_counter`).
    pub fn counter(&self) -> u64 {
        self.counter.get()
    }

    /// Starts numbering connections from 1 again (Twisted's `resetCounter`).
    pub fn reset_counter(&self) {
        self.counter.set(0);
    }
}

impl Policy for TrafficLogging {
    type Hooks = TrafficLoggingHooks;

    fn admit(&self, _addr: &Address) -> Admission<TrafficLoggingHooks> {
        let number = self.counter.get() + 1;
        self.counter.set(number);
        let name = format!("{}-{number}", self.prefix);
        match (self.open)(&name) {
            Ok(log) => Admission::Wrap(TrafficLoggingHooks {
                log: RefCell::new(log),
                number,
                length_limit: self.length_limit,
            }),
            Err(error) => {
                log::error!("refusing a connection: cannot open traffic log {name}: {error}");
                Admission::Refuse
            }
        }
    }

    fn name(&self) -> &'static str {
        "TrafficLoggingFactory"
    }
}

impl fmt::Debug for TrafficLogging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrafficLogging")
            .field("prefix", &self.prefix)
            .field("length_limit", &self.length_limit)
            .field("counter", &self.counter.get())
            .finish_non_exhaustive()
    }
}

/// One connection's traffic log (Twisted's `TrafficLoggingProtocol`):
/// `*` when it connects, `C <n>: <bytes>` for what the peer sent,
/// `S <n>: <bytes>` and `SV <n>: [<bytes>, ...]` for what we wrote,
/// `S <n>: *` when we close, `C <n>: <reason>` when it is lost.
pub struct TrafficLoggingHooks {
    log: RefCell<Box<dyn Write>>,
    number: u64,
    length_limit: Option<usize>,
}

impl TrafficLoggingHooks {
    /// The connection's number (Twisted's `_number`).
    pub fn number(&self) -> u64 {
        self.number
    }

    fn line(&self, line: &str) {
        let mut log = self.log.borrow_mut();
        if let Err(error) = writeln!(log, "{line}").and_then(|()| log.flush()) {
            log::warn!("cannot write traffic log {}: {error}", self.number);
        }
    }

    /// Python's `repr` of the bytes, cut to the length limit (Twisted's `_mungeData`).
    fn munge(&self, data: &[u8]) -> String {
        match self.length_limit {
            Some(limit) if limit > 0 && data.len() > limit => {
                let mut cut = data[..limit.saturating_sub(12)].to_vec();
                cut.extend_from_slice(b"<... elided>");
                bytes_repr(&cut)
            }
            _ => bytes_repr(data),
        }
    }
}

impl PolicyHooks for TrafficLoggingHooks {
    fn connection_made(&self, _transport: &TransportRef) {
        self.line("*");
    }

    fn data_received(&self, data: &[u8]) {
        self.line(&format!("C {}: {}", self.number, self.munge(data)));
    }

    fn write(&self, data: &[u8]) {
        self.line(&format!("S {}: {}", self.number, self.munge(data)));
    }

    fn write_sequence(&self, data: &[&[u8]]) {
        let pieces: Vec<String> = data.iter().map(|piece| self.munge(piece)).collect();
        self.line(&format!("SV {}: [{}]", self.number, pieces.join(", ")));
    }

    fn lose_connection(&self) {
        self.line(&format!("S {}: *", self.number));
    }

    fn connection_lost(&self, reason: &Failure) {
        self.line(&format!("C {}: {reason:?}", self.number));
    }
}

impl fmt::Debug for TrafficLoggingHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrafficLoggingHooks")
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

/// `data` as Python writes a bytes literal: `b'ab\n\x00'`.
fn bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(data.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in data {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote);
    out
}

/// Logs every connection's traffic to a file of its own,
/// `<prefix>-<n>` (Twisted's `policies.TrafficLoggingFactory`).
///
/// # Examples
///
/// Logging into memory instead of files:
///
/// ```
/// use std::{cell::RefCell, io, rc::Rc};
/// use torsion_protocols::policies::TrafficLoggingFactory;
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory};
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let opened = Rc::new(RefCell::new(Vec::new()));
/// let names = opened.clone();
/// let factory = TrafficLoggingFactory::new(Rc::new(Factory::for_protocol(|| Quiet)), "traffic")
///     .open_with(Box::new(move |name| {
///         names.borrow_mut().push(name.to_string());
///         Ok(Box::new(io::sink()))
///     }));
/// factory.build_protocol(&Address::Unix(None));
/// assert_eq!(*opened.borrow(), ["traffic-1"]);
/// ```
///
/// # Twisted
///
/// Twisted's `open` method, overridden in tests, is
/// [`open_with`](TrafficLoggingFactory::open_with). A log that cannot be
/// opened refuses the connection (Twisted's `buildProtocol` raises). Cut
/// data ends in the bytes `<... elided>` (Twisted adds a `str` to `bytes`,
/// which raises on Python 3).
pub type TrafficLoggingFactory = WrappingFactory<TrafficLogging>;

impl WrappingFactory<TrafficLogging> {
    /// Wraps `wrapped`, logging to files named `<prefix>-<n>`.
    pub fn new(wrapped: Rc<dyn DynProtocolFactory>, prefix: &str) -> TrafficLoggingFactory {
        WrappingFactory::with_policy(
            wrapped,
            TrafficLogging {
                prefix: prefix.to_string(),
                length_limit: None,
                counter: Cell::new(0),
                open: Box::new(|name| Ok(Box::new(File::create(name)?))),
            },
        )
    }

    /// Logs at most `limit` bytes of each chunk (Twisted's `lengthLimit`).
    pub fn length_limit(self, limit: usize) -> TrafficLoggingFactory {
        let wrapped = self.wrapped().clone();
        let mut policy = self.into_policy();
        policy.length_limit = Some(limit);
        WrappingFactory::with_policy(wrapped, policy)
    }

    /// Opens each connection's log with `open` instead of creating a file.
    pub fn open_with(self, open: TrafficLog) -> TrafficLoggingFactory {
        let wrapped = self.wrapped().clone();
        let mut policy = self.into_policy();
        policy.open = open;
        WrappingFactory::with_policy(wrapped, policy)
    }
}
