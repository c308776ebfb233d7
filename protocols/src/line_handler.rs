//! [`LineHandler`], what a [`LineReceiver`](crate::LineReceiver) calls, and
//! [`LineControl`], what the handler gets to act with.

use std::fmt;

use torsion_reactor::{Failure, TransportRef};

use crate::flow::Flow;

/// The user's half of a [`LineReceiver`](crate::LineReceiver): Twisted's
/// `lineReceived`, `rawDataReceived` and `lineLengthExceeded` overrides.
///
/// Every method gets a [`LineControl`] to send lines, switch modes, pause,
/// or reach the transport while the receiver is delivering.
///
/// # Implementing
///
/// A tiny "PUT" protocol: a `len N` line announces `N` raw bytes.
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::{LineControl, LineHandler, LineReceiver};
/// use torsion_reactor::Protocol;
/// use torsion_testing::StringTransport;
///
/// #[derive(Default)]
/// struct Put {
///     expected: usize,
///     body: Vec<u8>,
/// }
///
/// impl LineHandler for Put {
///     fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
///         let n = line.strip_prefix(b"len ").and_then(|n| std::str::from_utf8(n).ok());
///         match n.and_then(|n| n.parse().ok()) {
///             Some(n) => {
///                 self.expected = n;
///                 ctl.set_raw_mode();
///             }
///             None => ctl.send_line(b"ERR expected: len N"),
///         }
///     }
///
///     fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
///         let take = self.expected.min(data.len());
///         self.body.extend_from_slice(&data[..take]);
///         self.expected -= take;
///         if self.expected == 0 {
///             ctl.send_line(b"OK");
///             // Whatever followed the body is parsed as lines again.
///             ctl.set_line_mode(&data[take..]);
///         }
///     }
/// }
///
/// let transport = Rc::new(StringTransport::new());
/// let mut receiver = LineReceiver::new(Put::default());
/// receiver.make_connection(transport.clone());
/// receiver.data_received(b"len 5\r\nhel");
/// receiver.data_received(b"lohey\r\n");
/// assert_eq!(receiver.handler().body, b"hello");
/// assert_eq!(transport.value(), b"OK\r\nERR expected: len N\r\n");
/// ```
pub trait LineHandler: 'static {
    /// The connection is up (Twisted's `connectionMade`).
    fn connection_made(&mut self, ctl: &mut LineControl<'_>) {
        let _ = ctl;
    }

    /// A line arrived, delimiter stripped (Twisted's `lineReceived`). The
    /// slice borrows the receive buffer; copy what you keep.
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>);

    /// Raw-mode bytes arrived (Twisted's `rawDataReceived`).
    ///
    /// # Twisted
    ///
    /// Twisted's default raises `NotImplementedError`, which ends the
    /// connection; this default logs an error and loses the connection.
    fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        log::error!(
            "{} bytes of raw data for a line handler without raw_data_received; closing",
            data.len()
        );
        ctl.lose_connection();
    }

    /// A line longer than the maximum arrived (Twisted's
    /// `lineLengthExceeded`). `data` is the rest of the buffer from the
    /// start of the offending line: possibly several lines, possibly only
    /// the start of one. The buffer is already empty when this is called.
    /// The default loses the connection.
    fn line_length_exceeded(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        let _ = data;
        ctl.lose_connection();
    }

    /// The connection is gone (Twisted's `connectionLost`).
    fn connection_lost(&mut self, reason: Failure) {
        let _ = reason;
    }
}

/// The receiver's settings, fixed once data flows.
#[derive(Debug, Clone)]
pub(crate) struct LineConfig {
    pub(crate) delimiter: Vec<u8>,
    pub(crate) max_length: usize,
}

/// What a handler may change while a line is being delivered.
#[derive(Debug)]
pub(crate) struct Modes {
    pub(crate) line_mode: bool,
    /// Bytes fed back with `set_line_mode(extra)` during a callback; they go
    /// after everything already buffered (Twisted's re-entrant
    /// `dataReceived` appends to `_buffer`).
    pub(crate) pending: Vec<u8>,
    /// `clear_line_buffer` was called: drop the rest of the current input.
    pub(crate) cleared: bool,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            line_mode: true,
            pending: Vec::new(),
            cleared: false,
        }
    }
}

/// A [`LineHandler`]'s grip on its receiver during a callback: Twisted's
/// `self.sendLine`, `self.setRawMode`, `self.transport`, ... on a
/// `LineReceiver` subclass.
///
/// Mode switches take effect for the very next byte: after
/// [`set_raw_mode`](LineControl::set_raw_mode) in `line_received`, the rest
/// of the same chunk goes to `raw_data_received`.
pub struct LineControl<'a> {
    pub(crate) flow: &'a Flow,
    pub(crate) config: &'a LineConfig,
    pub(crate) modes: &'a mut Modes,
    /// The unprocessed input after the current line (empty in raw mode and
    /// in `line_length_exceeded`, where Twisted's buffer is empty too).
    pub(crate) rest: &'a [u8],
}

impl LineControl<'_> {
    connection_controls!(": no further line is delivered from this chunk");

    /// Sends the following bytes to `raw_data_received` (Twisted's `setRawMode`).
    pub fn set_raw_mode(&mut self) {
        self.modes.line_mode = false;
    }

    /// Parses the following bytes as lines again (Twisted's
    /// `setLineMode(extra)`): `extra`, typically the unused tail of raw
    /// data, is parsed first.
    ///
    /// # Twisted
    ///
    /// As in Twisted, `extra` goes *after* whatever is still buffered; from
    /// `raw_data_received` that is nothing, from `line_received` it is the
    /// rest of the chunk, so do not pass `extra` there.
    pub fn set_line_mode(&mut self, extra: &[u8]) {
        self.modes.line_mode = true;
        self.modes.pending.extend_from_slice(extra);
    }

    /// Whether the receiver is in line mode.
    pub fn is_line_mode(&self) -> bool {
        self.modes.line_mode
    }

    /// Empties the receive buffer and returns what it held (Twisted's
    /// `clearLineBuffer`): the bytes after the current line.
    pub fn clear_line_buffer(&mut self) -> Vec<u8> {
        let mut cleared = Vec::new();
        if !self.modes.cleared {
            cleared.extend_from_slice(self.rest);
            self.modes.cleared = true;
        }
        cleared.append(&mut self.modes.pending);
        cleared
    }

    line_controls!();

    flow_controls!("lines");
}

impl fmt::Debug for LineControl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineControl")
            .field("line_mode", &self.modes.line_mode)
            .field("paused", &self.flow.is_paused())
            .field("rest", &self.rest.len())
            .field("pending", &self.modes.pending.len())
            .finish()
    }
}

/// Finds `needle` (non-empty) in `haystack`: `memchr` for its first byte
/// (SIMD, where a byte-by-byte `position` was 70% of a line's cost), then
/// the rest compared in place (a `memcmp` call costs more than the one or
/// two bytes a delimiter has left).
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let i = from + memchr::memchr(first, &haystack[from..=last_start])?;
        let after = &haystack[i + 1..i + needle.len()];
        if after.iter().zip(tail).all(|(a, b)| a == b) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn find_matches_naive_search() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b"\r\n"),
            (b"\r", b"\r\n"),
            (b"\r\n", b"\r\n"),
            (b"ab\r\r\ncd", b"\r\n"),
            (b"aaa", b"aa"),
            (b"xyz", b"z"),
            (b"xyz", b"q"),
            (b"ab", b"abc"),
            (b"xxabcabdab", b"abd"),
            (b"\r\r\r", b"\r\r"),
        ];
        for &(haystack, needle) in cases {
            let naive = haystack.windows(needle.len()).position(|w| w == needle);
            assert_eq!(find(haystack, needle), naive, "{haystack:?} {needle:?}");
        }
    }
}
