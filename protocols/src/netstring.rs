//! [`NetstringReceiver`]: Twisted's `basic.NetstringReceiver`.

use std::fmt;

use torsion_reactor::{Failure, Protocol, TransportRef};

use crate::error::NetstringParseError;
use crate::int_n::DEFAULT_MAX_STRING_LENGTH;
use crate::string_core::StringCore;
use crate::string_handler::{Framing, StringHandler};

/// A protocol that sends and receives netstrings, `<decimal length>:<payload>,`
/// (<http://cr.yp.to/proto/netstrings.txt>): Twisted's `NetstringReceiver`.
///
/// Parsing is strict. The length must be `0` or have no leading zero, be made
/// of digits only, be followed by `:`, and not exceed `max_length`; the
/// payload must be followed by `,`. Anything else loses the connection,
/// records why ([`broken_peer`](NetstringReceiver::broken_peer)) and ignores
/// whatever the peer sends afterwards. Errors are caught at the offending
/// byte, so a hostile length is never buffered.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::{NetstringParseError, NetstringReceiver, StringControl, StringHandler};
/// use torsion_reactor::{Protocol, Transport};
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
/// let mut receiver = NetstringReceiver::new(Collect::default());
/// receiver.make_connection(transport.clone());
/// receiver.data_received(b"3:abc,0:,");
/// assert_eq!(receiver.handler().0, [b"abc".to_vec(), Vec::new()]);
///
/// receiver.data_received(b"03:abc,");
/// assert_eq!(receiver.broken_peer(), Some(&NetstringParseError::LeadingZero));
/// assert!(transport.is_disconnecting());
/// ```
///
/// # Twisted
///
/// * `brokenPeer` is [`broken_peer`](NetstringReceiver::broken_peer), the
///   typed reason rather than a flag. Twisted re-parses (and re-fails on)
///   the bad bytes with every later chunk; this ignores later chunks.
/// * Twisted reports every malformed length as "does not start with a
///   length specification"; the variants here say which rule was broken.
///   A length followed by a newline waits for the next byte in Twisted
///   (its `$` matches before a final newline); here it fails at once.
/// * Pausing ([`StringControl::pause_producing`](crate::StringControl::pause_producing))
///   is honoured, although Twisted's netstring receiver cannot pause.
pub struct NetstringReceiver<H> {
    core: StringCore<H>,
}

impl<H> NetstringReceiver<H> {
    /// A receiver with a maximum length of 99999, delivering to `handler`.
    pub fn new(handler: H) -> NetstringReceiver<H> {
        NetstringReceiver {
            core: StringCore::new(handler, Framing::Netstring, DEFAULT_MAX_STRING_LENGTH),
        }
    }

    /// Sets the longest netstring accepted (Twisted's `MAX_LENGTH`).
    pub fn with_max_length(mut self, max_length: usize) -> NetstringReceiver<H> {
        self.core.max_length = max_length;
        self
    }

    /// The longest netstring accepted.
    pub fn max_length(&self) -> usize {
        self.core.max_length
    }

    receiver_accessors!(handler: core.handler, flow: core.flow);

    receiver_flow_controls!(flow: core.flow);

    /// Bytes received but not yet delivered.
    pub fn buffered(&self) -> &[u8] {
        &self.core.buffer
    }

    /// Why the peer was dropped, if it sent a malformed netstring
    /// (Twisted's `brokenPeer`).
    pub fn broken_peer(&self) -> Option<&NetstringParseError> {
        self.core.broken.as_ref()
    }

    /// Sends `string` as a netstring (Twisted's `sendString`); the maximum
    /// length is not enforced on sending.
    pub fn send_string(&self, string: &[u8]) {
        // Netstrings have no length limit: this cannot fail.
        let _ = self.core.send_string(string);
    }
}

impl<H: StringHandler> NetstringReceiver<H> {
    /// Resumes the transport and delivers the netstrings buffered while paused.
    pub fn resume_producing(&mut self) {
        self.core.flow.resume();
        self.core.receive(b"");
    }
}

impl<H: StringHandler> Protocol for NetstringReceiver<H> {
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
        "NetstringReceiver"
    }
}

impl<H> fmt::Debug for NetstringReceiver<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.debug("NetstringReceiver", f)
    }
}
