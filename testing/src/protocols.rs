//! Ready-made protocols for tests (Twisted's `AccumulatingProtocol`).

use std::fmt;

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
