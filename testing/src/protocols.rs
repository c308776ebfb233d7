//! Ready-made protocols for tests (Twisted's `AccumulatingProtocol`, and
//! an [`Asker`] that awaits answers).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use torsion_reactor::{Deferred, Failure, Protocol, TransportRef};

/// Records everything that happens to it (Twisted's `AccumulatingProtocol`):
/// whether the connection was made and closed, every byte received, and the
/// reason it closed. Optional Deferreds fire on connect and close.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Failure, Protocol, error::ConnectionDone};
/// use torsion_testing::{AccumulatingProtocol, StringTransport};
///
/// let mut p = AccumulatingProtocol::new();
/// p.make_connection(Rc::new(StringTransport::new()));
/// p.data_received(b"ab");
/// p.data_received(b"c");
/// p.connection_lost(Failure::new(ConnectionDone));
/// assert!(p.made && p.closed);
/// assert_eq!(p.data, b"abc");
/// assert!(p.closed_reason.unwrap().check::<ConnectionDone>());
/// ```
#[derive(Default)]
pub struct AccumulatingProtocol {
    /// `connection_made` ran.
    pub made: bool,
    /// `connection_lost` ran.
    pub closed: bool,
    /// Every byte received, in order.
    pub data: Vec<u8>,
    /// Why the connection closed.
    pub closed_reason: Option<Failure>,
    /// The transport it was given.
    pub transport: Option<TransportRef>,
    /// Fired (once, then cleared) when the connection is made (Twisted's
    /// `factory.protocolConnectionMade`).
    pub connection_made_deferred: Option<Deferred<()>>,
    /// Fired (once, then cleared) when the connection is lost (Twisted's
    /// `closedDeferred`).
    pub closed_deferred: Option<Deferred<()>>,
}

impl AccumulatingProtocol {
    /// Nothing recorded yet.
    pub fn new() -> AccumulatingProtocol {
        AccumulatingProtocol::default()
    }
}

impl Protocol for AccumulatingProtocol {
    fn connection_made(&mut self, transport: TransportRef) {
        self.made = true;
        self.transport = Some(transport);
        if let Some(d) = self.connection_made_deferred.take() {
            d.callback(());
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.data.extend_from_slice(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.closed = true;
        self.closed_reason = Some(reason);
        if let Some(d) = self.closed_deferred.take() {
            d.callback(());
        }
    }
}

impl fmt::Debug for AccumulatingProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccumulatingProtocol")
            .field("made", &self.made)
            .field("closed", &self.closed)
            .field("data", &String::from_utf8_lossy(&self.data))
            .field("closed_reason", &self.closed_reason)
            .finish()
    }
}

/// A client that asks and awaits the answer: [`ask`](Asker::ask) writes a
/// question and returns a Deferred fired with the next data received, or
/// failed with the reason the connection was lost. It counts its
/// `connection_lost` calls in a shared counter a test can read while the
/// protocol itself is borrowed (say, by a task awaiting an answer).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{error::ConnectionDone, Failure, Protocol};
/// use torsion_testing::{success_result_of, failure_result_of, Asker, StringTransport};
///
/// let transport = Rc::new(StringTransport::new());
/// let mut asker = Asker::new();
/// asker.make_connection(transport.clone());
/// let answer = asker.ask(b"ping");
/// assert_eq!(transport.value(), b"ping");
/// asker.data_received(b"pong");
/// assert_eq!(success_result_of(&answer), b"pong");
///
/// let lost = asker.lost_counter();
/// let unanswered = asker.ask(b"again?");
/// asker.connection_lost(Failure::new(ConnectionDone));
/// assert!(failure_result_of(&unanswered).check::<ConnectionDone>());
/// assert_eq!(lost.get(), 1);
/// ```
#[derive(Default)]
pub struct Asker {
    transport: Option<TransportRef>,
    pending: Option<Deferred<Vec<u8>>>,
    lost: Rc<Cell<u32>>,
}

impl Asker {
    /// Not connected, nothing asked.
    pub fn new() -> Asker {
        Asker::default()
    }

    /// Counting its `connection_lost` calls into `lost` (shared by every
    /// protocol a factory builds, say).
    pub fn with_lost_counter(lost: Rc<Cell<u32>>) -> Asker {
        Asker {
            lost,
            ..Asker::default()
        }
    }

    /// Writes `question` (if connected) and returns the Deferred of its
    /// answer: the next data received.
    pub fn ask(&mut self, question: &[u8]) -> Deferred<Vec<u8>> {
        if let Some(transport) = &self.transport {
            transport.write(question);
        }
        let answer = Deferred::new();
        self.pending = Some(answer.clone());
        answer
    }

    /// The counter of `connection_lost` calls, shared: read it without
    /// borrowing the protocol.
    pub fn lost_counter(&self) -> Rc<Cell<u32>> {
        self.lost.clone()
    }
}

impl Protocol for Asker {
    fn connection_made(&mut self, transport: TransportRef) {
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(answer) = self.pending.take() {
            let _ = answer.try_callback(data.to_vec());
        }
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.lost.set(self.lost.get() + 1);
        if let Some(answer) = self.pending.take() {
            let _ = answer.try_errback(reason);
        }
    }
}

impl fmt::Debug for Asker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asker")
            .field("connected", &self.transport.is_some())
            .field("waiting", &self.pending.is_some())
            .field("lost", &self.lost.get())
            .finish()
    }
}
