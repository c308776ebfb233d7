//! [`TransportCore`]: the sans-I/O state machine of a stream transport,
//! shared by the mio connection and the testing crate's fakes.

use std::collections::VecDeque;
use std::fmt;

use crate::error::ProducerError;
use crate::interfaces::ProducerRef;

mod closing;
mod effects;
#[cfg(test)]
mod tests;

pub use effects::{CloseReason, Closing, Effects, ProducerCall};

/// Default high-water mark: past it a streaming producer is paused.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// Default low-water mark: at or below it a paused producer is resumed.
pub const DEFAULT_LOW_WATER: usize = 16 * 1024;

/// How far a `lose_write_connection` has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteSide {
    /// Writable.
    Open,
    /// `lose_write_connection` was called; the write side is shut once
    /// everything written before it went out.
    Closing,
    /// Shut: the peer was sent its end-of-file.
    Closed,
}

/// The state machine of a stream transport with no I/O in it: the write
/// buffer, the lifecycle (disconnecting, aborting, half-closed, closed),
/// the water marks and the registered producer.
///
/// Its owner (the mio connection, `torsion_testing`'s `FakeTransport` and
/// `StringTransport`, and the TLS, UDP, process and stdio transports built
/// on it) feeds it events: bytes the user wrote and the sink did not take
/// ([`buffer`](TransportCore::buffer)), bytes the sink accepted
/// ([`sink_accepted`](TransportCore::sink_accepted) then
/// [`flushed`](TransportCore::flushed)), the peer's end-of-file,
/// `lose_connection`, `abort_connection`, `lose_write_connection`,
/// producer registration. Each returns what the owner must do as
/// [`Effects`] (or a [`ProducerCall`]); the core never calls user code, so
/// the owner makes those calls after releasing its `RefCell` borrow
/// (ARCHITECTURE's re-entrancy rule 2).
///
/// The rules, as Twisted's `abstract.FileDescriptor` has them:
///
/// * writes are taken until the transport closes, aborts or half-closes
///   ([`accepting_writes`](TransportCore::accepting_writes));
/// * `lose_connection` closes with `ConnectionDone` once the buffer is
///   empty and no producer is registered;
/// * `abort_connection` drops the buffer and closes with `ConnectionAborted`;
/// * `lose_write_connection` shuts the write side once the buffer is empty;
///   the connection closes when both sides are shut;
/// * a streaming producer is paused when the buffer passes the high-water
///   mark and resumed when it drains to the low-water mark; a pull
///   producer is resumed each time the buffer empties;
/// * reading stops while the write buffer is above the high-water mark and
///   starts again once it drains to the low-water mark (the read
///   backpressure below).
///
/// # Read backpressure
///
/// The mio connection asks the core before each read whether the write
/// backlog stops reading, and after each flush whether reading may go on;
/// it reads nothing in between. So a protocol whose peer does not read what
/// it writes (an echo to a peer that only sends) holds at most the
/// high-water mark plus what it wrote in answer to one read, and the peer
/// is slowed by its own TCP window, as a raw event loop does it. A protocol
/// that writes nothing, or whose writes go out, never sees the pause; its
/// own `pause_producing`/`resume_producing` is separate
/// ([`is_reading_paused`](TransportCore::is_reading_paused) reports only
/// that one).
///
/// # Twisted
///
/// Twisted's `FileDescriptor` keeps reading however much is buffered (its
/// write buffer grows without bound when the peer stops reading, unless
/// the protocol registers itself as a producer). Torsion reads nothing
/// more while more than the high-water mark (64 KiB by default; see
/// `TcpTransport::set_write_buffer_limits`) waits to be sent, so memory
/// stays bounded: the bytes wait in the kernel's buffers instead, and the
/// protocol gets them, in order, once its writes drain. A protocol that
/// needs Twisted's unbounded buffer sets a high-water mark of `usize::MAX`.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{CloseReason, TransportCore};
///
/// let mut core = TransportCore::new();
/// // The sink took none of it: buffer it and ask for writability.
/// let effects = core.buffer(b"hello");
/// assert_eq!(effects.writable, Some(true));
/// assert!(core.lose_connection().is_empty()); // waits for the flush
///
/// let (front, _) = core.slices();
/// assert_eq!(front, b"hello");
/// core.sink_accepted(5);
/// let effects = core.flushed();
/// assert_eq!(effects.writable, Some(false));
/// assert_eq!(effects.close, Some(CloseReason::Done));
/// let closing = core.close().expect("not closed before");
/// assert!(!closing.aborting);
/// ```
pub struct TransportCore {
    buffer: VecDeque<u8>,
    want_writable: bool,
    reading_paused: bool,
    read_eof: bool,
    disconnecting: bool,
    aborting: bool,
    write_side: WriteSide,
    close_scheduled: bool,
    closed: bool,
    producer: Option<ProducerRef>,
    producer_paused: bool,
    /// Reading stopped for the write backlog (see read backpressure).
    read_backlogged: bool,
    /// The owner scheduled asking a pull producer for more (see
    /// [`pull_after_write_through`](TransportCore::pull_after_write_through)).
    pull_pending: bool,
    high: usize,
    low: usize,
}

impl Default for TransportCore {
    fn default() -> Self {
        TransportCore::new()
    }
}

impl TransportCore {
    /// An open transport with an empty buffer and the default water marks.
    pub fn new() -> TransportCore {
        TransportCore {
            buffer: VecDeque::new(),
            want_writable: false,
            reading_paused: false,
            read_eof: false,
            disconnecting: false,
            aborting: false,
            write_side: WriteSide::Open,
            close_scheduled: false,
            closed: false,
            producer: None,
            producer_paused: false,
            read_backlogged: false,
            pull_pending: false,
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_LOW_WATER,
        }
    }

    // ---- queries -------------------------------------------------------

    /// Bytes waiting in the write buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The write buffer, front first, as two slices (for a vectored write).
    pub fn slices(&self) -> (&[u8], &[u8]) {
        self.buffer.as_slices()
    }

    /// A copy of the write buffer.
    pub fn buffer_to_vec(&self) -> Vec<u8> {
        let (a, b) = self.buffer.as_slices();
        [a, b].concat()
    }

    /// Takes the write buffer (as if the sink accepted all of it, without
    /// the [`flushed`](TransportCore::flushed) step).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        Vec::from(std::mem::take(&mut self.buffer))
    }

    /// Drops the write buffer and frees its memory.
    pub fn discard_buffer(&mut self) {
        self.buffer = VecDeque::new();
    }

    /// Whether a write may still be taken: not closed, aborting or
    /// half-closed.
    pub fn accepting_writes(&self) -> bool {
        !(self.closed || self.aborting || self.write_side != WriteSide::Open)
    }

    /// Whether `lose_connection` was called (or the owner marked it so).
    pub fn is_disconnecting(&self) -> bool {
        self.disconnecting
    }

    /// Whether `abort_connection` was called.
    pub fn is_aborting(&self) -> bool {
        self.aborting
    }

    /// Whether the connection closed ([`close`](TransportCore::close)).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the peer's end-of-file was received.
    pub fn is_read_eof(&self) -> bool {
        self.read_eof
    }

    /// How far the write side is shut.
    pub fn write_side(&self) -> WriteSide {
        self.write_side
    }

    /// Whether the protocol paused reading.
    pub fn is_reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// The registered producer.
    pub fn producer(&self) -> Option<&ProducerRef> {
        self.producer.as_ref()
    }

    /// Whether reading is to stop for the write backlog: `true` once the
    /// buffer passes the high-water mark, until
    /// [`read_resumes`](TransportCore::read_resumes) finds it at the
    /// low-water mark. Crate-private for now (the mio connection is its one
    /// user), so the public API is unchanged.
    pub(crate) fn read_backlogged(&mut self) -> bool {
        if !self.read_backlogged && self.buffer.len() > self.high {
            self.read_backlogged = true;
        }
        self.read_backlogged
    }

    /// After a flush: whether reading stopped for the backlog and may go
    /// on now (the buffer is at or below the low-water mark, or the
    /// connection is closing and reads no more anyway); clears the stop.
    pub(crate) fn read_resumes(&mut self) -> bool {
        if !self.read_backlogged || self.buffer.len() > self.low {
            return false;
        }
        self.read_backlogged = false;
        true
    }

    /// Whether the core paused the streaming producer for backlog.
    pub fn is_producer_paused(&self) -> bool {
        self.producer_paused
    }

    /// The `(high, low)` water marks.
    pub fn water_marks(&self) -> (usize, usize) {
        (self.high, self.low)
    }

    /// Whether the core asked its owner for writability.
    pub fn wants_writable(&self) -> bool {
        self.want_writable
    }

    // ---- writing -------------------------------------------------------

    /// Appends `data` to the buffer and nothing else: for owners whose
    /// sink is pulled (the in-memory pump) rather than waited on.
    pub fn append(&mut self, data: &[u8]) {
        self.buffer.extend(data);
    }

    /// Buffers bytes the user wrote and the sink did not take: asks for
    /// writability, and pauses a streaming producer past the high-water
    /// mark.
    pub fn buffer(&mut self, data: &[u8]) -> Effects {
        self.buffer.extend(data);
        Effects {
            writable: self.set_want_writable(true),
            producer: self.pause_if_above_high(self.buffer.len()),
            ..Effects::default()
        }
    }

    /// Records a change of write interest; `Some(on)` if the owner must
    /// make it (never once closed).
    pub fn set_want_writable(&mut self, on: bool) -> Option<bool> {
        if self.want_writable == on || self.closed {
            return None;
        }
        self.want_writable = on;
        Some(on)
    }

    /// Pauses a running streaming producer if `backlog` (the buffer, plus
    /// whatever the owner counts as not yet delivered) passes the
    /// high-water mark.
    pub fn pause_if_above_high(&mut self, backlog: usize) -> Option<ProducerCall> {
        match &self.producer {
            Some(ProducerRef::Push(producer)) if !self.producer_paused && backlog > self.high => {
                self.producer_paused = true;
                Some(ProducerCall::Pause(producer.clone()))
            }
            _ => None,
        }
    }

    /// Resumes the streaming producer the core paused once `backlog` is at
    /// or below the low-water mark.
    pub fn resume_if_at_low(&mut self, backlog: usize) -> Option<ProducerCall> {
        if !self.producer_paused || backlog > self.low {
            return None;
        }
        self.producer_paused = false;
        self.producer.clone().map(ProducerCall::Resume)
    }

    /// The sink accepted the first `n` buffered bytes.
    pub fn sink_accepted(&mut self, n: usize) {
        self.buffer.drain(..n.min(self.buffer.len()));
    }

    /// After the sink took what it could: stop asking for writability once
    /// empty; resume a producer (a paused streaming one at the low-water
    /// mark, a pull one when empty); otherwise, once empty, finish a
    /// `lose_connection` (close, if no producer is registered) or a
    /// `lose_write_connection` (shut the write side).
    pub fn flushed(&mut self) -> Effects {
        let len = self.buffer.len();
        let producer = match &self.producer {
            Some(push @ ProducerRef::Push(_)) if self.producer_paused && len <= self.low => {
                self.producer_paused = false;
                Some(ProducerCall::Resume(push.clone()))
            }
            Some(pull @ ProducerRef::Pull(_)) if len == 0 => {
                Some(ProducerCall::Resume(pull.clone()))
            }
            _ => None,
        };
        let mut effects = Effects {
            producer,
            ..Effects::default()
        };
        if len != 0 {
            return effects;
        }
        effects.writable = self.set_want_writable(false);
        if effects.producer.is_some() {
            return effects;
        }
        if self.disconnecting && self.producer.is_none() {
            effects.close = Some(CloseReason::Done);
        } else if self.write_side == WriteSide::Closing {
            effects.shutdown_write = true;
        }
        effects
    }

    /// Sets the water marks as given (an owner wanting `low <= high`
    /// clamps first). The owner checks the new high mark with
    /// [`pause_if_above_high`](TransportCore::pause_if_above_high) if it
    /// pauses at once.
    pub fn set_water_marks(&mut self, high: usize, low: usize) {
        self.high = high;
        self.low = low;
    }

    // ---- producers -----------------------------------------------------

    /// Registers `producer`. A pull producer is to be resumed (after the
    /// caller returns, for a real transport); on a closed transport the
    /// producer is not kept and is to be stopped.
    ///
    /// # Errors
    ///
    /// [`ProducerError::AlreadyRegistered`] if one is registered.
    pub fn register_producer(
        &mut self,
        producer: ProducerRef,
    ) -> Result<Option<ProducerCall>, ProducerError> {
        if self.producer.is_some() {
            return Err(ProducerError::AlreadyRegistered);
        }
        if self.closed {
            return Ok(Some(ProducerCall::Stop(producer)));
        }
        self.producer_paused = false;
        let call = match &producer {
            ProducerRef::Pull(_) => Some(ProducerCall::Resume(producer.clone())),
            ProducerRef::Push(_) => None,
        };
        self.producer = Some(producer);
        Ok(call)
    }

    /// Unregisters the producer and returns it. A `lose_connection`
    /// waiting for it finishes at the next [`flushed`](TransportCore::flushed).
    ///
    /// # Errors
    ///
    /// [`ProducerError::NotRegistered`] if none is registered.
    pub fn unregister_producer(&mut self) -> Result<ProducerRef, ProducerError> {
        self.producer_paused = false;
        self.producer.take().ok_or(ProducerError::NotRegistered)
    }

    /// An owner that writes straight to its sink when nothing is buffered
    /// calls this after such a write left nothing buffered: whether to
    /// schedule asking the registered pull producer for its next chunk (on
    /// a later turn, then through [`take_pull`](TransportCore::take_pull)).
    /// A buffered write gets there through [`flushed`](TransportCore::flushed)
    /// instead; this is the path where nothing was buffered, so nothing will
    /// be flushed. `true` at most once until the scheduled call ran.
    ///
    /// Twisted's transports ask a non-streaming producer for more each time
    /// their buffer is written out; without this a pull producer on a
    /// transport that writes through (the mio connection, pipes) would be
    /// asked once and never again.
    pub fn pull_after_write_through(&mut self) -> bool {
        let pull = matches!(self.producer, Some(ProducerRef::Pull(_)));
        if !pull || !self.buffer.is_empty() || self.closed || self.pull_pending {
            return false;
        }
        self.pull_pending = true;
        true
    }

    /// The scheduled call of
    /// [`pull_after_write_through`](TransportCore::pull_after_write_through)
    /// runs: the pull producer to resume, if one is still registered, the
    /// buffer is still empty (else [`flushed`](TransportCore::flushed)
    /// resumes it once it is) and the transport is open.
    pub fn take_pull(&mut self) -> Option<ProducerCall> {
        self.pull_pending = false;
        match &self.producer {
            Some(pull @ ProducerRef::Pull(_)) if self.buffer.is_empty() && !self.closed => {
                Some(ProducerCall::Resume(pull.clone()))
            }
            _ => None,
        }
    }

    /// The protocol paused (`true`) or resumed reading; returns whether it
    /// was paused before.
    pub fn set_reading_paused(&mut self, paused: bool) -> bool {
        std::mem::replace(&mut self.reading_paused, paused)
    }
}

impl fmt::Debug for TransportCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportCore")
            .field("buffered", &self.buffer.len())
            .field("disconnecting", &self.disconnecting)
            .field("aborting", &self.aborting)
            .field("write_side", &self.write_side)
            .field("read_eof", &self.read_eof)
            .field("closed", &self.closed)
            .field("reading_paused", &self.reading_paused)
            .field(
                "producer",
                &self.producer.as_ref().map(|p| p.is_streaming()),
            )
            .field("producer_paused", &self.producer_paused)
            .field("read_backlogged", &self.read_backlogged)
            .finish()
    }
}
