//! Flow control for the examples, on the transport's producer machinery
//! (Twisted's `IPushProducer` / `registerProducer`).
//!
//! * [`PauseReading`]: a transport registered as the producer of its own
//!   writes, so that it stops reading while its write buffer is above the
//!   high-water mark and reads again once it drained to the low-water mark
//!   (Twisted's `transport.registerProducer(transport, True)`, as in
//!   `twisted.protocols.portforward`). An echo server then holds at most
//!   about one high-water mark per connection, however much a peer sends
//!   without reading.
//! * [`write_within`]: writes, and says whether the write left more than
//!   the transport's high-water mark unsent, for a server (the chat) that
//!   cannot slow its senders down for one slow reader and drops that
//!   reader instead.

use std::cell::Cell;
use std::rc::{Rc, Weak};

use torsion::{Producer, ProducerRef, PushProducer, Transport, TransportRef};

/// Pauses and resumes a transport's reading as its own write buffer fills
/// and drains. Register with [`PauseReading::register`]; a connection that
/// closes needs nothing more (the transport stops its producer), but a
/// close *asked for* with a producer registered waits for it to
/// unregister: call [`PauseReading::unregister`] first.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_examples::PauseReading;
/// use torsion::{ProtocolRef, Transport};
/// use torsion_testing::{AccumulatingProtocol, FakeTransport};
///
/// let protocol: ProtocolRef = Rc::new(RefCell::new(AccumulatingProtocol::new()));
/// let transport: Rc<FakeTransport> = Rc::new(FakeTransport::new(protocol, true));
/// let as_transport: Rc<dyn Transport> = transport.clone();
/// PauseReading::register(&as_transport);
/// assert!(transport.producer().is_some());
/// PauseReading::unregister(&as_transport);
/// assert!(transport.producer().is_none());
/// ```
#[derive(Debug)]
pub struct PauseReading {
    transport: Weak<dyn Transport>,
}

impl PauseReading {
    /// Registers `transport` as its own streaming producer; logs (and does
    /// without flow control) if it already has a producer.
    pub fn register(transport: &TransportRef) {
        let producer = Rc::new(PauseReading {
            transport: Rc::downgrade(transport),
        });
        if let Err(e) = transport.register_producer(ProducerRef::Push(producer)) {
            log::warn!(
                "no flow control on {}: {e}; its write buffer is unbounded",
                transport.peer()
            );
        }
    }

    /// Unregisters it, so that a `lose_connection` does not wait for it.
    pub fn unregister(transport: &TransportRef) {
        let _ = transport.unregister_producer();
    }
}

impl Producer for PauseReading {
    fn stop_producing(&self) {}
}

impl PushProducer for PauseReading {
    fn pause_producing(&self) {
        if let Some(transport) = self.transport.upgrade() {
            transport.pause_producing();
        }
    }

    fn resume_producing(&self) {
        if let Some(transport) = self.transport.upgrade() {
            transport.resume_producing();
        }
    }
}

/// A producer that only remembers being paused.
#[derive(Debug, Default)]
struct Probe {
    paused: Cell<bool>,
}

impl Producer for Probe {
    fn stop_producing(&self) {}
}

impl PushProducer for Probe {
    fn pause_producing(&self) {
        self.paused.set(true);
    }

    fn resume_producing(&self) {}
}

/// Writes `parts` to `transport`; returns `false` if the write left more
/// than the transport's high-water mark unsent (the transport pauses its
/// producer from inside `write` then: a probe producer registered around
/// the write hears it). A transport that already has a producer is
/// written to unchecked.
pub fn write_within(transport: &TransportRef, parts: &[&[u8]]) -> bool {
    let probe = Rc::new(Probe::default());
    let registered = transport
        .register_producer(ProducerRef::Push(probe.clone()))
        .is_ok();
    transport.write_sequence(parts);
    if registered {
        let _ = transport.unregister_producer();
    }
    !probe.paused.get()
}
