//! Flow control: Twisted's `IProducer`, `IPushProducer`, `IPullProducer`,
//! `IConsumer`.

use std::fmt;
use std::rc::Rc;

use crate::error::ProducerError;

/// Something that produces data for a [`Consumer`]: Twisted's `IProducer`.
///
/// Producer methods take `&self`: the consumer calls them while the producer
/// may itself be in the middle of writing (a transport pauses its producer
/// from inside `write` once its buffer is full). Keep state in `Cell`s.
pub trait Producer {
    /// Stop for good: the consumer is going away.
    fn stop_producing(&self);
}

/// A producer that writes on its own until paused: Twisted's `IPushProducer`.
///
/// # Implementing
///
/// ```
/// use std::cell::Cell;
/// use torsion_reactor::{Producer, PushProducer};
///
/// #[derive(Default)]
/// struct Ticker {
///     paused: Cell<bool>,
///     stopped: Cell<bool>,
/// }
///
/// impl Producer for Ticker {
///     fn stop_producing(&self) {
///         self.stopped.set(true);
///     }
/// }
///
/// impl PushProducer for Ticker {
///     fn pause_producing(&self) {
///         self.paused.set(true);
///     }
///     fn resume_producing(&self) {
///         self.paused.set(false);
///     }
/// }
/// # let _ = Ticker::default();
/// ```
pub trait PushProducer: Producer {
    /// The consumer is full: stop writing until resumed.
    fn pause_producing(&self);
    /// Write again.
    fn resume_producing(&self);
}

/// A producer that writes one chunk each time it is asked: Twisted's
/// `IPullProducer`.
///
/// # Implementing
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use torsion_reactor::{Producer, ProducerRef, PullProducer, TransportRef};
///
/// /// Sends a file's worth of chunks, one each time the transport asks.
/// struct Chunks {
///     transport: TransportRef,
///     left: Cell<u32>,
/// }
///
/// impl Producer for Chunks {
///     fn stop_producing(&self) {
///         self.left.set(0);
///     }
/// }
///
/// impl PullProducer for Chunks {
///     fn resume_producing(&self) {
///         if self.left.get() == 0 {
///             let _ = self.transport.unregister_producer();
///             return;
///         }
///         self.left.set(self.left.get() - 1);
///         self.transport.write(&[b'x'; 1024]);
///     }
/// }
///
/// fn send(transport: TransportRef) {
///     let chunks = Rc::new(Chunks { transport: transport.clone(), left: Cell::new(64) });
///     transport.register_producer(ProducerRef::Pull(chunks)).expect("no other producer");
/// }
/// # let _ = send;
/// ```
pub trait PullProducer: Producer {
    /// Write one chunk now.
    fn resume_producing(&self);
}

/// A registered producer: Twisted's `registerProducer(producer, streaming)`
/// with `streaming` made a type.
#[derive(Clone)]
pub enum ProducerRef {
    /// A streaming producer (`streaming=True`).
    Push(Rc<dyn PushProducer>),
    /// A pull producer (`streaming=False`).
    Pull(Rc<dyn PullProducer>),
}

impl ProducerRef {
    /// Whether it is a push (streaming) producer.
    pub fn is_streaming(&self) -> bool {
        matches!(self, ProducerRef::Push(_))
    }

    /// Calls `stop_producing` on either kind.
    pub fn stop_producing(&self) {
        match self {
            ProducerRef::Push(p) => p.stop_producing(),
            ProducerRef::Pull(p) => p.stop_producing(),
        }
    }

    /// Calls `resume_producing` on either kind.
    pub fn resume_producing(&self) {
        match self {
            ProducerRef::Push(p) => p.resume_producing(),
            ProducerRef::Pull(p) => p.resume_producing(),
        }
    }

    /// Whether both refer to the same producer object.
    pub fn is_same(&self, other: &ProducerRef) -> bool {
        match (self, other) {
            (ProducerRef::Push(a), ProducerRef::Push(b)) => {
                std::ptr::addr_eq(Rc::as_ptr(a), Rc::as_ptr(b))
            }
            (ProducerRef::Pull(a), ProducerRef::Pull(b)) => {
                std::ptr::addr_eq(Rc::as_ptr(a), Rc::as_ptr(b))
            }
            _ => false,
        }
    }
}

impl fmt::Debug for ProducerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProducerRef::Push(p) => write!(f, "ProducerRef::Push({:p})", Rc::as_ptr(p)),
            ProducerRef::Pull(p) => write!(f, "ProducerRef::Pull({:p})", Rc::as_ptr(p)),
        }
    }
}

/// Something that accepts data and can be flow-controlled: Twisted's `IConsumer`.
///
/// # Examples
///
/// Code that only writes and flow-controls can take any consumer:
///
/// ```
/// use torsion_reactor::Consumer;
///
/// fn greet(consumer: &dyn Consumer) {
///     consumer.write(b"hello\r\n");
/// }
/// # let _ = greet;
/// ```
pub trait Consumer {
    /// Accepts `data`; never blocks (it is buffered if need be).
    fn write(&self, data: &[u8]);

    /// Registers the producer feeding this consumer. A pull producer is asked
    /// for its first chunk at once; registering on a closed consumer stops
    /// the producer at once.
    ///
    /// # Errors
    ///
    /// [`ProducerError::AlreadyRegistered`] if one is registered.
    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError>;

    /// Unregisters the producer; a pending `lose_connection` then completes.
    ///
    /// # Errors
    ///
    /// [`ProducerError::NotRegistered`] if none is.
    fn unregister_producer(&self) -> Result<(), ProducerError>;
}
