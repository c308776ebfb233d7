//! [`IntNStringReceiver`] and its three widths: Twisted's
//! `Int8StringReceiver`, `Int16StringReceiver`, `Int32StringReceiver`.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

use torsion_reactor::{Failure, Protocol, TransportRef};

use crate::error::StringTooLong;
use crate::flow::ReceiverProducer;
use crate::string_core::StringCore;
use crate::string_handler::{Framing, StringHandler};

/// Twisted's default `IntNStringReceiver.MAX_LENGTH` (and the netstring one).
pub const DEFAULT_MAX_STRING_LENGTH: usize = 99999;

mod sealed {
    pub trait Sealed {}
}

/// The width of a big-endian length prefix: [`Prefix8`], [`Prefix16`] or
/// [`Prefix32`] (sealed: no other widths exist).
pub trait PrefixWidth: sealed::Sealed + 'static {
    /// The prefix length in bytes (Twisted's `prefixLength`).
    const BYTES: usize;
}

/// A one-byte length prefix (Twisted's `"!B"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefix8;
/// A two-byte big-endian length prefix (Twisted's `"!H"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefix16;
/// A four-byte big-endian length prefix (Twisted's `"!I"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefix32;

impl sealed::Sealed for Prefix8 {}
impl sealed::Sealed for Prefix16 {}
impl sealed::Sealed for Prefix32 {}

impl PrefixWidth for Prefix8 {
    const BYTES: usize = 1;
}
impl PrefixWidth for Prefix16 {
    const BYTES: usize = 2;
}
impl PrefixWidth for Prefix32 {
    const BYTES: usize = 4;
}

/// Strings prefixed by a one-byte length (Twisted's `Int8StringReceiver`).
pub type Int8StringReceiver<H> = IntNStringReceiver<Prefix8, H>;
/// Strings prefixed by a two-byte big-endian length (Twisted's `Int16StringReceiver`).
pub type Int16StringReceiver<H> = IntNStringReceiver<Prefix16, H>;
/// Strings prefixed by a four-byte big-endian length (Twisted's `Int32StringReceiver`).
pub type Int32StringReceiver<H> = IntNStringReceiver<Prefix32, H>;

/// A protocol that receives strings framed by a big-endian unsigned length
/// of `P::BYTES` bytes: Twisted's `IntNStringReceiver`. Use the aliases
/// [`Int8StringReceiver`], [`Int16StringReceiver`], [`Int32StringReceiver`].
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::{Int32StringReceiver, StringControl, StringHandler};
/// use torsion_reactor::Protocol;
/// use torsion_testing::StringTransport;
///
/// #[derive(Default)]
/// struct Collect(Vec<Vec<u8>>);
///
/// impl StringHandler for Collect {
///     fn string_received(&mut self, string: &[u8], _ctl: &mut StringControl<'_>) {
///         self.0.push(string.to_vec());
///     }
/// }
///
/// let transport = Rc::new(StringTransport::new());
/// let mut receiver = Int32StringReceiver::new(Collect::default()).with_max_length(1024);
/// receiver.make_connection(transport.clone());
/// receiver.data_received(b"\x00\x00\x00\x04ubar\x00\x00");
/// receiver.data_received(b"\x00\x00");
/// assert_eq!(receiver.into_handler().0, [b"ubar".to_vec(), Vec::new()]);
/// ```
///
/// # The algorithm
///
/// While a whole prefix is buffered and the receiver is not paused: read the
/// length; above `max_length`, call `length_limit_exceeded(length)` and stop
/// (the bytes from that prefix on stay buffered); if the payload is not all
/// there, wait; else `string_received(payload)`, a slice of the buffer (or
/// of the incoming chunk, when nothing was buffered).
///
/// # Twisted
///
/// `recvd` is [`StringControl::remaining`](crate::StringControl::remaining) and assigning it is
/// [`StringControl::replace_remaining`](crate::StringControl::replace_remaining). After `lengthLimitExceeded` Twisted
/// keeps even the strings already delivered from that chunk in its buffer
/// (they would be delivered again if the hook kept the connection); here
/// only the bytes from the offending prefix on are kept.
pub struct IntNStringReceiver<P, H> {
    core: StringCore<H>,
    width: PhantomData<P>,
}

impl<P: PrefixWidth, H> IntNStringReceiver<P, H> {
    /// A receiver with a maximum length of 99999, delivering to `handler`.
    pub fn new(handler: H) -> IntNStringReceiver<P, H> {
        IntNStringReceiver {
            core: StringCore::new(
                handler,
                Framing::Prefix(P::BYTES),
                DEFAULT_MAX_STRING_LENGTH,
            ),
            width: PhantomData,
        }
    }

    /// Sets the longest string accepted (Twisted's `MAX_LENGTH`).
    pub fn with_max_length(mut self, max_length: usize) -> IntNStringReceiver<P, H> {
        self.core.max_length = max_length;
        self
    }

    /// The longest string accepted.
    pub fn max_length(&self) -> usize {
        self.core.max_length
    }

    /// The prefix length in bytes (Twisted's `prefixLength`).
    pub fn prefix_length(&self) -> usize {
        P::BYTES
    }

    receiver_accessors!(handler: core.handler, flow: core.flow);

    /// Bytes received but not yet delivered (Twisted's `recvd`).
    pub fn buffered(&self) -> &[u8] {
        &self.core.buffer
    }

    /// Sends `string` after its length prefix (Twisted's `sendString`).
    /// The maximum length is not enforced on sending.
    ///
    /// # Errors
    ///
    /// [`StringTooLong`] if the prefix cannot describe its length
    /// (`2^(8 * prefix bytes)` bytes or more).
    pub fn send_string(&self, string: &[u8]) -> Result<(), StringTooLong> {
        self.core.send_string(string)
    }

    receiver_flow_controls!(flow: core.flow);
}

impl<P: PrefixWidth, H: StringHandler> IntNStringReceiver<P, H> {
    /// Resumes the transport and delivers the strings buffered while paused
    /// (Twisted's `resumeProducing`).
    pub fn resume_producing(&mut self) {
        self.core.flow.resume();
        self.core.receive(b"");
    }

    /// A producer handle for `this`: pausing it pauses delivery and the
    /// transport, resuming it delivers what was buffered.
    pub fn producer(this: &Rc<RefCell<IntNStringReceiver<P, H>>>) -> Rc<ReceiverProducer> {
        let flow = this.borrow().core.flow.clone();
        let receiver: Rc<RefCell<dyn Protocol>> = this.clone();
        Rc::new(ReceiverProducer::new(flow, Rc::downgrade(&receiver)))
    }
}

impl<P: PrefixWidth, H: StringHandler> Protocol for IntNStringReceiver<P, H> {
    fn connection_made(&mut self, transport: TransportRef) {
        self.core.connection_made(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.core.receive(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.core.connection_lost(reason);
    }

    fn log_prefix(&self) -> &'static str {
        match P::BYTES {
            1 => "Int8StringReceiver",
            2 => "Int16StringReceiver",
            _ => "Int32StringReceiver",
        }
    }
}

impl<P: PrefixWidth, H> fmt::Debug for IntNStringReceiver<P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match P::BYTES {
            1 => self.core.debug("Int8StringReceiver", f),
            2 => self.core.debug("Int16StringReceiver", f),
            _ => self.core.debug("Int32StringReceiver", f),
        }
    }
}
