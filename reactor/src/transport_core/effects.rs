//! What a [`TransportCore`](crate::TransportCore) asks its owner to do:
//! [`Effects`], [`ProducerCall`], [`CloseReason`] and [`Closing`].

use std::fmt;
use std::rc::Rc;

use crate::error::{ConnectionAborted, ConnectionDone};
use crate::interfaces::{ProducerRef, PushProducer};
use crate::Failure;

/// Why the core says the connection should close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// A clean close: everything written went out (`ConnectionDone`).
    Done,
    /// `abort_connection`: unsent bytes were dropped (`ConnectionAborted`).
    Aborted,
}

impl CloseReason {
    /// The failure the protocol's `connection_lost` gets for this reason.
    pub fn failure(self) -> Failure {
        match self {
            CloseReason::Done => Failure::new(ConnectionDone),
            CloseReason::Aborted => Failure::new(ConnectionAborted),
        }
    }
}

/// A call the owner makes on the registered producer (with no borrow held).
#[derive(Clone)]
#[non_exhaustive]
pub enum ProducerCall {
    /// The backlog passed the high-water mark: `pause_producing`.
    Pause(Rc<dyn PushProducer>),
    /// The backlog drained (to the low-water mark for a streaming
    /// producer, to nothing for a pull producer), or a pull producer was
    /// just registered: `resume_producing`.
    Resume(ProducerRef),
    /// The producer was registered on (or left on) a closed transport:
    /// `stop_producing`.
    Stop(ProducerRef),
}

impl ProducerCall {
    /// Makes the call.
    pub fn perform(self) {
        match self {
            ProducerCall::Pause(producer) => producer.pause_producing(),
            ProducerCall::Resume(producer) => producer.resume_producing(),
            ProducerCall::Stop(producer) => producer.stop_producing(),
        }
    }
}

impl fmt::Debug for ProducerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProducerCall::Pause(_) => "Pause",
            ProducerCall::Resume(_) => "Resume",
            ProducerCall::Stop(_) => "Stop",
        })
    }
}

/// What the owner of a [`TransportCore`](crate::TransportCore) must do
/// after an event, in field order: change its write interest, call the
/// producer, shut the write side, close. The core has made its own state
/// changes already.
#[must_use = "the owner must perform what the core asks"]
#[derive(Debug, Default)]
pub struct Effects {
    /// Ask for writability (`Some(true)`) or stop asking (`Some(false)`).
    pub writable: Option<bool>,
    /// Call the producer.
    pub producer: Option<ProducerCall>,
    /// Shut the write side now (then tell the core with
    /// [`write_shut`](crate::TransportCore::write_shut)).
    pub shutdown_write: bool,
    /// Close the connection with this reason (then tell the core with
    /// [`close`](crate::TransportCore::close)).
    pub close: Option<CloseReason>,
}

impl Effects {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.writable.is_none()
            && self.producer.is_none()
            && !self.shutdown_write
            && self.close.is_none()
    }

    pub(super) fn close(reason: CloseReason) -> Effects {
        Effects {
            close: Some(reason),
            ..Effects::default()
        }
    }
}

/// What [`TransportCore::close`](crate::TransportCore::close) hands back to
/// the owner.
#[derive(Debug)]
pub struct Closing {
    /// The registered producer, to be told `stop_producing`.
    pub producer: Option<ProducerRef>,
    /// Whether the close is an abort (a real socket resets the connection).
    pub aborting: bool,
}
