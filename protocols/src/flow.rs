//! [`Flow`]: the transport and the paused flag a receiver shares with its
//! [`ReceiverProducer`] (Twisted's `_PausableMixin`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use torsion_reactor::{Producer, Protocol, PullProducer, PushProducer, TransportRef};

/// State shared between a receiver and its producer handles. Borrows of
/// `transport` are momentary (a clone is taken), so no borrow is ever held
/// across a call into the transport or the user's handler.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    paused: Cell<bool>,
    transport: RefCell<Option<TransportRef>>,
}

impl Flow {
    pub(crate) fn new() -> Rc<Flow> {
        Rc::new(Flow::default())
    }

    pub(crate) fn transport(&self) -> Option<TransportRef> {
        self.transport.borrow().clone()
    }

    pub(crate) fn set_transport(&self, transport: Option<TransportRef>) {
        *self.transport.borrow_mut() = transport;
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.get()
    }

    pub(crate) fn is_disconnecting(&self) -> bool {
        self.transport().is_some_and(|t| t.is_disconnecting())
    }

    pub(crate) fn write(&self, parts: &[&[u8]]) {
        match self.transport() {
            Some(transport) => transport.write_sequence(parts),
            None => log::warn!("dropping a write on a receiver that is not connected"),
        }
    }

    pub(crate) fn lose_connection(&self) {
        if let Some(transport) = self.transport() {
            transport.lose_connection();
        }
    }

    /// Twisted's `pauseProducing`: stop delivering, and stop reading.
    pub(crate) fn pause(&self) {
        self.paused.set(true);
        if let Some(transport) = self.transport() {
            transport.pause_producing();
        }
    }

    /// Twisted's `resumeProducing` minus the `dataReceived(b"")` that drains
    /// the buffer: the caller drains (or, inside a delivery, the running loop
    /// re-checks the flag).
    pub(crate) fn resume(&self) {
        self.paused.set(false);
        if let Some(transport) = self.transport() {
            transport.resume_producing();
        }
    }

    /// Twisted's `stopProducing`: stay paused for good, and stop the transport.
    pub(crate) fn stop(&self) {
        self.paused.set(true);
        if let Some(transport) = self.transport() {
            transport.stop_producing();
        }
    }
}

/// A receiver seen as a producer of incoming data, to register with a
/// consumer (for instance the transport itself, as Twisted's tests do with
/// `transport.registerProducer(self, False)`).
///
/// Pausing stops the receiver delivering frames and pauses its transport;
/// resuming resumes the transport and delivers the frames buffered
/// meanwhile. It may be used from inside the receiver's own handler: the
/// flag is shared, and the running delivery loop re-checks it after every
/// frame, exactly as Twisted's re-entrant `dataReceived(b"")` does nothing.
///
/// Get one from [`LineReceiver::producer`](crate::LineReceiver::producer) or
/// [`IntNStringReceiver::producer`](crate::IntNStringReceiver::producer).
pub struct ReceiverProducer {
    flow: Rc<Flow>,
    receiver: Weak<RefCell<dyn Protocol>>,
}

impl ReceiverProducer {
    pub(crate) fn new(flow: Rc<Flow>, receiver: Weak<RefCell<dyn Protocol>>) -> ReceiverProducer {
        ReceiverProducer { flow, receiver }
    }

    /// Whether the receiver is paused (or stopped).
    pub fn is_paused(&self) -> bool {
        self.flow.is_paused()
    }

    fn drain(&self) {
        let Some(receiver) = self.receiver.upgrade() else {
            return;
        };
        // Busy means we are inside the receiver's own delivery loop, which
        // re-checks the paused flag after the current callback returns.
        if let Ok(mut receiver) = receiver.try_borrow_mut() {
            receiver.data_received(b"");
        };
    }
}

impl Producer for ReceiverProducer {
    fn stop_producing(&self) {
        self.flow.stop();
    }
}

impl PushProducer for ReceiverProducer {
    fn pause_producing(&self) {
        self.flow.pause();
    }

    fn resume_producing(&self) {
        self.flow.resume();
        self.drain();
    }
}

impl PullProducer for ReceiverProducer {
    fn resume_producing(&self) {
        PushProducer::resume_producing(self);
    }
}

impl fmt::Debug for ReceiverProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverProducer")
            .field("paused", &self.flow.is_paused())
            .field("receiver_alive", &(self.receiver.strong_count() > 0))
            .finish()
    }
}
