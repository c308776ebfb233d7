//! [`StringHandler`], what the length-prefixed and netstring receivers call,
//! and [`StringControl`], what the handler gets to act with.

use std::fmt;

use torsion_reactor::{Failure, TransportRef};

use crate::error::StringTooLong;
use crate::flow::Flow;

/// The user's half of an [`IntNStringReceiver`](crate::IntNStringReceiver)
/// or a [`NetstringReceiver`](crate::NetstringReceiver): Twisted's
/// `stringReceived` and `lengthLimitExceeded` overrides.
///
/// # Implementing
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::{Int16StringReceiver, StringControl, StringHandler, StringTooLong};
/// use torsion_reactor::Protocol;
/// use torsion_testing::StringTransport;
///
/// /// Answers each string with it reversed.
/// struct Reverse;
///
/// impl StringHandler for Reverse {
///     fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>) {
///         let reversed: Vec<u8> = string.iter().rev().copied().collect();
///         // Cannot fail: it is as long as what the peer sent.
///         let _ = ctl.send_string(&reversed);
///     }
/// }
///
/// # fn main() -> Result<(), StringTooLong> {
/// let transport = Rc::new(StringTransport::new());
/// let mut receiver = Int16StringReceiver::new(Reverse);
/// receiver.make_connection(transport.clone());
/// receiver.data_received(b"\x00\x03abc\x00");
/// receiver.data_received(b"\x01z");
/// assert_eq!(transport.value(), b"\x00\x03cba\x00\x01z");
/// receiver.send_string(b"hi")?;
/// # Ok(())
/// # }
/// ```
pub trait StringHandler: 'static {
    /// The connection is up (Twisted's `connectionMade`).
    fn connection_made(&mut self, ctl: &mut StringControl<'_>) {
        let _ = ctl;
    }

    /// A complete string arrived, framing removed (Twisted's
    /// `stringReceived`). The slice borrows the receive buffer; copy what
    /// you keep.
    fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>);

    /// A length prefix above the maximum arrived (Twisted's
    /// `lengthLimitExceeded`); nothing more is parsed from this chunk. The
    /// default loses the connection. Only the `IntN` receivers call it: a
    /// netstring too long is a [`NetstringParseError`](crate::NetstringParseError).
    fn length_limit_exceeded(&mut self, length: usize, ctl: &mut StringControl<'_>) {
        let _ = length;
        ctl.lose_connection();
    }

    /// The connection is gone (Twisted's `connectionLost`).
    fn connection_lost(&mut self, reason: Failure) {
        let _ = reason;
    }
}

/// How strings are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A big-endian unsigned length of this many bytes, then the payload.
    Prefix(usize),
    /// `<decimal length>:<payload>,`.
    Netstring,
}

impl Framing {
    /// Writes `string` framed; the length prefix and payload go out in one
    /// `write_sequence`, without concatenating.
    pub(crate) fn send(self, flow: &Flow, string: &[u8]) -> Result<(), StringTooLong> {
        match self {
            Framing::Prefix(bytes) => {
                let max = u64::MAX >> (64 - 8 * bytes);
                let length = string.len() as u64;
                if length > max {
                    return Err(StringTooLong {
                        length: string.len(),
                        max: usize::try_from(max).unwrap_or(usize::MAX),
                    });
                }
                let prefix = length.to_be_bytes();
                flow.write(&[&prefix[8 - bytes..], string]);
            }
            Framing::Netstring => {
                let length = string.len().to_string();
                flow.write(&[length.as_bytes(), b":", string, b","]);
            }
        }
        Ok(())
    }
}

/// A [`StringHandler`]'s grip on its receiver during a callback: Twisted's
/// `self.sendString`, `self.transport`, `self.recvd`, ... on a receiver
/// subclass.
pub struct StringControl<'a> {
    pub(crate) flow: &'a Flow,
    pub(crate) framing: Framing,
    pub(crate) remaining: &'a [u8],
    pub(crate) replacement: &'a mut Option<Vec<u8>>,
}

impl StringControl<'_> {
    connection_controls!("");

    /// Sends `string` framed as this receiver frames (Twisted's `sendString`).
    /// The receiver's maximum length is not enforced on sending.
    ///
    /// # Errors
    ///
    /// [`StringTooLong`] if a length prefix cannot describe it; never for
    /// netstrings.
    pub fn send_string(&self, string: &[u8]) -> Result<(), StringTooLong> {
        self.framing.send(self.flow, string)
    }

    /// The received bytes not parsed yet, after the current string (in
    /// `length_limit_exceeded`: from the offending prefix on). Twisted's
    /// `recvd`.
    pub fn remaining(&self) -> &[u8] {
        self.replacement.as_deref().unwrap_or(self.remaining)
    }

    /// Replaces the unparsed bytes with `data` (Twisted's assignment to
    /// `recvd`): parsing goes on from `data` once the callback returns. A
    /// protocol that switches to another framing takes its bytes this way.
    pub fn replace_remaining(&mut self, data: Vec<u8>) {
        *self.replacement = Some(data);
    }

    flow_controls!("strings");
}

impl fmt::Debug for StringControl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StringControl")
            .field("framing", &self.framing)
            .field("remaining", &self.remaining().len())
            .field("paused", &self.flow.is_paused())
            .finish()
    }
}
