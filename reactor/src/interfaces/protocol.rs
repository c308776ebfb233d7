//! [`Protocol`] and its optional capabilities: Twisted's `IProtocol`,
//! `IHalfCloseableProtocol`, `IFileDescriptorReceiver`.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use crate::interfaces::TransportRef;
use crate::Failure;

/// A protocol as the reactor and endpoints hold it: shared, type-erased.
/// The user's own handle to the same object is an `Rc<RefCell<P>>`.
pub type ProtocolRef = Rc<RefCell<dyn Protocol>>;

/// The code that speaks a protocol on one connection: Twisted's `IProtocol`.
///
/// The reactor calls these methods on the reactor thread, one at a time,
/// never re-entrantly: a protocol that calls `transport.lose_connection()`
/// inside [`data_received`](Protocol::data_received) gets
/// [`connection_lost`](Protocol::connection_lost) after `data_received`
/// returns. A panic inside any of them is caught at the reactor boundary,
/// logged, and ends this connection only.
///
/// # Implementing
///
/// Keep the transport handed to [`connection_made`](Protocol::connection_made);
/// write through it whenever you like, from callbacks or from other code
/// holding your protocol's handle.
///
/// ```
/// use torsion_reactor::{Failure, Protocol, TransportRef};
///
/// /// Echoes every byte back, and counts them.
/// #[derive(Default)]
/// struct Echo {
///     transport: Option<TransportRef>,
///     echoed: usize,
/// }
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: TransportRef) {
///         self.transport = Some(transport);
///     }
///
///     fn data_received(&mut self, data: &[u8]) {
///         self.echoed += data.len();
///         if let Some(transport) = &self.transport {
///             transport.write(data);
///         }
///     }
///
///     fn connection_lost(&mut self, reason: Failure) {
///         log::info!("echoed {} bytes; closed: {reason}", self.echoed);
///         self.transport = None;
///     }
/// }
/// # let _ = Echo::default();
/// ```
///
/// # Borrowing: never across `.await`
///
/// A protocol lives in an `Rc<RefCell<_>>` that the reactor borrows for
/// each call. Code that holds `protocol.borrow_mut()` across an `.await`
/// (of the protocol's own Deferred, typically) still holds it when the
/// reactor must deliver the bytes that would fire that Deferred: the
/// reactor then panics with "protocol borrowed elsewhere: held across
/// .await?" and aborts the connection; `connection_lost` is postponed
/// until the borrow ends, then delivered. A task awaiting a Deferred that
/// only the borrowed protocol can fire waits until something else ends the
/// await (a timeout, a cancel): no framework can fire it for you, but both
/// error lines say why. Take what you need and drop the borrow before
/// awaiting:
///
/// ```
/// # use std::{cell::RefCell, rc::Rc};
/// # use torsion_reactor::{succeed, Deferred, Failure};
/// # struct Asker;
/// # impl Asker {
/// #     fn ask(&mut self, _: &[u8]) -> Deferred<Vec<u8>> { succeed(b"pong".to_vec()) }
/// # }
/// async fn ping(protocol: Rc<RefCell<Asker>>) -> Result<Vec<u8>, Failure> {
///     let answer = protocol.borrow_mut().ask(b"ping"); // the borrow ends here
///     answer.await
/// }
/// # let _ = ping;
/// ```
///
/// Clippy's `await_holding_refcell_ref` lint, denied in this workspace,
/// catches the mistake at compile time.
///
/// # Twisted
///
/// Python sets `protocol.transport` in `makeConnection`; Rust has no such
/// field on a trait, so the transport is passed to
/// [`connection_made`](Protocol::connection_made) and the protocol keeps it.
/// `data_received` has no default: a protocol that ignores bytes says so.
pub trait Protocol: 'static {
    /// Called by the transport once, when the connection is established
    /// (Twisted's `makeConnection`). Wrappers override it to see the
    /// transport first; the default calls
    /// [`connection_made`](Protocol::connection_made).
    fn make_connection(&mut self, transport: TransportRef) {
        self.connection_made(transport);
    }

    /// The connection is up (Twisted's `connectionMade`).
    fn connection_made(&mut self, transport: TransportRef) {
        let _ = transport;
    }

    /// Bytes arrived, in arbitrary chunks: a message may be split or merged
    /// with the next (Twisted's `dataReceived`).
    fn data_received(&mut self, data: &[u8]);

    /// The connection is gone; called once, last (Twisted's `connectionLost`).
    /// A clean close gives [`ConnectionDone`](crate::error::ConnectionDone),
    /// an abort [`ConnectionAborted`](crate::error::ConnectionAborted), an
    /// error or reset [`ConnectionLost`](crate::error::ConnectionLost).
    fn connection_lost(&mut self, reason: Failure) {
        let _ = reason;
    }

    /// This protocol's half-close capability, if it has one (Twisted's
    /// `IHalfCloseableProtocol.providedBy`). With it, a peer's FIN arrives as
    /// [`HalfCloseableProtocol::read_connection_lost`] and the connection
    /// stays writable; without it, as `connection_lost(ConnectionDone)`.
    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        None
    }

    /// This protocol's file-descriptor-receiving capability, if it has one
    /// (Twisted's `IFileDescriptorReceiver.providedBy`).
    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        None
    }

    /// A short name for log lines (Twisted's `logPrefix`).
    fn log_prefix(&self) -> &'static str {
        short_type_name::<Self>()
    }
}

/// The last path segment of a type's name: `my_app::Echo` -> `Echo`.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    crate::failure::short_name(std::any::type_name::<T>())
}

/// A protocol that handles the two halves of a connection closing apart:
/// Twisted's `IHalfCloseableProtocol`.
///
/// # Implementing
///
/// Return `Some(self)` from [`Protocol::as_half_closeable`]:
///
/// ```
/// use torsion_reactor::{HalfCloseableProtocol, Protocol, TransportRef};
///
/// /// Answers once the peer has finished sending.
/// #[derive(Default)]
/// struct Summer {
///     transport: Option<TransportRef>,
///     total: u64,
/// }
///
/// impl Protocol for Summer {
///     fn connection_made(&mut self, transport: TransportRef) {
///         self.transport = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.total += data.iter().map(|&b| u64::from(b)).sum::<u64>();
///     }
///     fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
///         Some(self)
///     }
/// }
///
/// impl HalfCloseableProtocol for Summer {
///     fn read_connection_lost(&mut self) {
///         if let Some(t) = &self.transport {
///             t.write(self.total.to_string().as_bytes());
///             t.lose_connection();
///         }
///     }
/// }
/// # let _ = Summer::default();
/// ```
pub trait HalfCloseableProtocol {
    /// The peer shut down its writing side; we may still write. Called
    /// instead of `connection_lost`, which follows once we close too.
    fn read_connection_lost(&mut self);

    /// Our writing side was shut after `lose_write_connection` flushed.
    fn write_connection_lost(&mut self) {}
}

/// A protocol that accepts file descriptors passed over a UNIX socket:
/// Twisted's `IFileDescriptorReceiver`.
/// # Implementing
///
/// ```
/// use std::os::fd::OwnedFd;
/// use torsion_reactor::{FileDescriptorReceiver, Protocol};
///
/// /// Keeps the descriptors a peer passes it (e.g. a log file to write to).
/// #[derive(Default)]
/// struct Inbox {
///     received: Vec<OwnedFd>,
/// }
///
/// impl Protocol for Inbox {
///     fn data_received(&mut self, _data: &[u8]) {}
///     fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
///         Some(self)
///     }
/// }
///
/// impl FileDescriptorReceiver for Inbox {
///     fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
///         self.received.push(descriptor);
///     }
/// }
/// # let _ = Inbox::default();
/// ```
pub trait FileDescriptorReceiver {
    /// A descriptor arrived (it belongs to the protocol now).
    fn file_descriptor_received(&mut self, descriptor: OwnedFd);
}
