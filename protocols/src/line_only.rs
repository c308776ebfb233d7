//! [`LineOnlyReceiver`]: lines only, Twisted's `basic.LineOnlyReceiver`.

use std::fmt;
use std::rc::Rc;

use torsion_reactor::{Failure, Protocol, TransportRef};

use crate::error::EmptyDelimiter;
use crate::flow::Flow;
use crate::line_handler::{find, LineConfig};
use crate::line_receiver::{DEFAULT_DELIMITER, DEFAULT_MAX_LINE_LENGTH};

/// The user's half of a [`LineOnlyReceiver`]: Twisted's `lineReceived` and
/// `lineLengthExceeded` overrides.
///
/// # Implementing
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::{LineOnlyControl, LineOnlyHandler, LineOnlyReceiver};
/// use torsion_reactor::Protocol;
/// use torsion_testing::StringTransport;
///
/// /// Shouts every line back.
/// struct Shout;
///
/// impl LineOnlyHandler for Shout {
///     fn line_received(&mut self, line: &[u8], ctl: &mut LineOnlyControl<'_>) {
///         ctl.send_line(&line.to_ascii_uppercase());
///     }
/// }
///
/// let transport = Rc::new(StringTransport::new());
/// let mut receiver = LineOnlyReceiver::new(Shout);
/// receiver.make_connection(transport.clone());
/// receiver.data_received(b"hi\r\nthere\r\n");
/// assert_eq!(transport.value(), b"HI\r\nTHERE\r\n");
/// ```
pub trait LineOnlyHandler: 'static {
    /// The connection is up (Twisted's `connectionMade`).
    fn connection_made(&mut self, ctl: &mut LineOnlyControl<'_>) {
        let _ = ctl;
    }

    /// A line arrived, delimiter stripped (Twisted's `lineReceived`). The
    /// slice borrows the input; copy what you keep.
    fn line_received(&mut self, line: &[u8], ctl: &mut LineOnlyControl<'_>);

    /// A line, or an unfinished tail, longer than the maximum arrived
    /// (Twisted's `lineLengthExceeded`). The default loses the connection.
    fn line_length_exceeded(&mut self, line: &[u8], ctl: &mut LineOnlyControl<'_>) {
        let _ = line;
        ctl.lose_connection();
    }

    /// The connection is gone (Twisted's `connectionLost`).
    fn connection_lost(&mut self, reason: Failure) {
        let _ = reason;
    }
}

/// A [`LineOnlyHandler`]'s grip on its receiver during a callback.
pub struct LineOnlyControl<'a> {
    flow: &'a Flow,
    config: &'a LineConfig,
}

impl LineOnlyControl<'_> {
    connection_controls!(": no further line of this chunk is delivered");

    line_controls!();
}

impl fmt::Debug for LineOnlyControl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineOnlyControl")
            .field("delimiter", &self.config.delimiter)
            .field("max_length", &self.config.max_length)
            .finish()
    }
}

/// A protocol that only receives lines: Twisted's `LineOnlyReceiver`, a
/// faster [`LineReceiver`](crate::LineReceiver) without raw mode, pausing,
/// or mode switches.
///
/// # Examples
///
/// See [`LineOnlyHandler`].
///
/// # The algorithm
///
/// Each chunk (after what was buffered) is split at every delimiter; lines
/// are cut straight out of the chunk when nothing was buffered. For each
/// complete line: if the transport is disconnecting, stop (a line that said
/// "quit" ends the chunk); a line longer than `max_length` goes to
/// `line_length_exceeded` and ends the chunk; otherwise `line_received`.
/// The unfinished tail is kept, and if it is itself longer than
/// `max_length`, `line_length_exceeded(tail)` is called.
///
/// # Twisted
///
/// Twisted keeps the over-long tail buffered after calling
/// `lineLengthExceeded` (the default closes the connection, so it never
/// matters); so does this, and a hook that does not close sees the tail
/// again, grown, with the next chunk.
pub struct LineOnlyReceiver<H> {
    handler: H,
    flow: Rc<Flow>,
    config: LineConfig,
    buffer: Vec<u8>,
    /// Bytes at the start of `buffer` known to hold no delimiter start.
    scanned: usize,
}

impl<H> LineOnlyReceiver<H> {
    /// A receiver with delimiter `"\r\n"` and a maximum line length of
    /// 16384, delivering to `handler`.
    pub fn new(handler: H) -> LineOnlyReceiver<H> {
        LineOnlyReceiver {
            handler,
            flow: Flow::new(),
            config: LineConfig {
                delimiter: DEFAULT_DELIMITER.to_vec(),
                max_length: DEFAULT_MAX_LINE_LENGTH,
            },
            buffer: Vec::new(),
            scanned: 0,
        }
    }

    line_config_builders!();

    receiver_accessors!(handler: handler, flow: flow);

    /// Bytes received but not yet delivered (the unfinished line).
    pub fn buffered(&self) -> &[u8] {
        &self.buffer
    }

    /// Writes `line` and the delimiter with one `write_sequence` (Twisted's
    /// `sendLine`); dropped, with a warning, when not connected.
    pub fn send_line(&self, line: &[u8]) {
        self.flow.write(&[line, &self.config.delimiter]);
    }
}

impl<H: LineOnlyHandler> LineOnlyReceiver<H> {
    fn receive(&mut self, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.buffer);
        let from_buffer = !buf.is_empty();
        let mut skip = 0;
        if from_buffer {
            buf.extend_from_slice(data);
            skip = self.scanned;
        }
        let source: &[u8] = if from_buffer { &buf } else { data };
        let delimiter = &self.config.delimiter[..];
        let mut ctl = LineOnlyControl {
            flow: &self.flow,
            config: &self.config,
        };
        let mut pos = 0;
        let mut stopped = false;
        skip = skip.min(source.len());
        while let Some(i) = find(&source[pos + skip..], delimiter) {
            let line = &source[pos..pos + skip + i];
            skip = 0;
            pos += line.len() + delimiter.len();
            // Twisted splits the whole chunk first, so even after stopping
            // the rest is scanned to find where the unfinished tail starts.
            if stopped {
                continue;
            }
            if self.flow.is_disconnecting() {
                stopped = true;
            } else if line.len() > self.config.max_length {
                self.handler.line_length_exceeded(line, &mut ctl);
                stopped = true;
            } else {
                self.handler.line_received(line, &mut ctl);
            }
        }
        let tail = &source[pos..];
        // The tail may end in the first bytes of a delimiter: only a tail
        // of max_length + delimiter length is surely too long (Twisted
        // checks `> MAX_LENGTH`, so its verdict depended on where the
        // chunks were cut; its own test says "+ len(delimiter)").
        if !stopped && tail.len() >= self.config.max_length.saturating_add(delimiter.len()) {
            self.handler.line_length_exceeded(tail, &mut ctl);
        }
        let scanned = tail.len().saturating_sub(delimiter.len() - 1);
        if from_buffer {
            buf.drain(..pos);
        } else {
            // `source` is `data` here.
            buf.extend_from_slice(&data[pos..]);
        }
        self.scanned = scanned;
        self.buffer = buf;
    }
}

impl<H: LineOnlyHandler> Protocol for LineOnlyReceiver<H> {
    fn connection_made(&mut self, transport: TransportRef) {
        self.flow.set_transport(Some(transport));
        let mut ctl = LineOnlyControl {
            flow: &self.flow,
            config: &self.config,
        };
        self.handler.connection_made(&mut ctl);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.receive(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        self.flow.set_transport(None);
        self.handler.connection_lost(reason);
    }

    fn log_prefix(&self) -> &'static str {
        "LineOnlyReceiver"
    }
}

impl<H> fmt::Debug for LineOnlyReceiver<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineOnlyReceiver")
            .field("handler", &std::any::type_name::<H>())
            .field("delimiter", &self.config.delimiter)
            .field("max_length", &self.config.max_length)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}
