//! [`LineReceiver`]: lines and raw data, Twisted's `basic.LineReceiver`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use torsion_reactor::{Failure, Protocol, TransportRef};

use crate::error::EmptyDelimiter;
use crate::flow::{Flow, ReceiverProducer};
use crate::line_handler::{find, LineConfig, LineControl, LineHandler, Modes};

/// Twisted's default delimiter.
pub const DEFAULT_DELIMITER: &[u8] = b"\r\n";
/// Twisted's default `LineReceiver.MAX_LENGTH`.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 16384;

/// A protocol that splits its input into lines, or passes it on raw,
/// depending on its mode: Twisted's `LineReceiver`, with the user's code in
/// a [`LineHandler`] `H` that the receiver owns.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::{LineControl, LineHandler, LineReceiver};
/// use torsion_reactor::Protocol;
/// use torsion_testing::StringTransport;
///
/// /// Answers every line with its length.
/// struct Measure;
///
/// impl LineHandler for Measure {
///     fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
///         ctl.send_line(line.len().to_string().as_bytes());
///     }
/// }
///
/// # fn main() -> Result<(), torsion_protocols::EmptyDelimiter> {
/// let transport = Rc::new(StringTransport::new());
/// let mut receiver = LineReceiver::new(Measure).with_delimiter("\n")?;
/// receiver.make_connection(transport.clone());
/// receiver.data_received(b"abc\nde");
/// receiver.data_received(b"f\n");
/// assert_eq!(transport.value(), b"3\n3\n");
/// # Ok(())
/// # }
/// ```
///
/// # The algorithm
///
/// Incoming bytes are appended to a buffer (skipped when the buffer is
/// empty: lines are then cut straight out of the incoming chunk, and only an
/// unfinished tail is copied). While the buffer is not empty and the
/// receiver is not paused:
///
/// * in **line mode**, cut at the first delimiter. Without one, wait, unless
///   the buffer already holds `max_length + delimiter.len()` bytes: then
///   empty it and call `line_length_exceeded(buffer)`. A line longer than
///   `max_length` (exactly `max_length` is fine) empties the buffer and
///   calls `line_length_exceeded(line + delimiter + rest)`. Otherwise
///   `line_received(line)`; if the transport is now disconnecting, stop,
///   leaving the rest buffered.
/// * in **raw mode**, hand the whole buffer to `raw_data_received`.
///
/// The mode is re-read for every line, so a switch inside a callback applies
/// to the very next byte; bytes fed back by `set_line_mode(extra)` during a
/// callback are appended to the buffer and parsed in the same call (Twisted's
/// re-entrant `dataReceived` only buffers). Nothing is lost or reordered.
///
/// A line slice borrows the buffer; nothing is borrowed from a `RefCell`
/// while the handler runs.
///
/// # Twisted
///
/// * `lineReceived` returning a true value to stop and report an error has
///   no equivalent: lose the connection (or pause) instead.
/// * `sendLine` is one `write_sequence(&[line, delimiter])`, not a
///   concatenation: the same bytes, without the copy.
/// * Pausing is Twisted's `_PausableMixin`; to register the receiver as a
///   producer, use [`LineReceiver::producer`].
pub struct LineReceiver<H> {
    handler: H,
    flow: Rc<Flow>,
    config: LineConfig,
    modes: Modes,
    buffer: Vec<u8>,
    /// How many bytes at the start of `buffer` are known not to start a
    /// delimiter, so a long line arriving in small chunks is not rescanned
    /// from its start every time.
    scanned: usize,
}

impl<H> LineReceiver<H> {
    /// A receiver in line mode with delimiter `"\r\n"` and a maximum line
    /// length of 16384, delivering to `handler`.
    pub fn new(handler: H) -> LineReceiver<H> {
        LineReceiver {
            handler,
            flow: Flow::new(),
            config: LineConfig {
                delimiter: DEFAULT_DELIMITER.to_vec(),
                max_length: DEFAULT_MAX_LINE_LENGTH,
            },
            modes: Modes::default(),
            buffer: Vec::new(),
            scanned: 0,
        }
    }

    line_config_builders!();

    receiver_accessors!(handler: handler, flow: flow);

    /// The line delimiter.
    pub fn delimiter(&self) -> &[u8] {
        &self.config.delimiter
    }

    /// The longest line delivered.
    pub fn max_length(&self) -> usize {
        self.config.max_length
    }

    /// Whether the receiver is in line mode (Twisted's `line_mode`).
    pub fn is_line_mode(&self) -> bool {
        self.modes.line_mode
    }

    /// Sends the following bytes to `raw_data_received` (Twisted's `setRawMode`).
    pub fn set_raw_mode(&mut self) {
        self.modes.line_mode = false;
    }

    /// Bytes received but not yet delivered.
    pub fn buffered(&self) -> &[u8] {
        &self.buffer
    }

    /// Empties the receive buffer and returns it (Twisted's `clearLineBuffer`).
    pub fn clear_line_buffer(&mut self) -> Vec<u8> {
        self.scanned = 0;
        std::mem::take(&mut self.buffer)
    }

    /// Writes `line` and the delimiter (Twisted's `sendLine`); dropped, with
    /// a warning, when not connected.
    pub fn send_line(&self, line: &[u8]) {
        self.flow.write(&[line, &self.config.delimiter]);
    }

    receiver_flow_controls!(flow: flow);
}

impl<H: LineHandler> LineReceiver<H> {
    /// Parses the following bytes as lines (Twisted's `setLineMode`);
    /// `extra` is parsed at once, after anything buffered.
    pub fn set_line_mode(&mut self, extra: &[u8]) {
        self.modes.line_mode = true;
        if !extra.is_empty() {
            self.receive(extra);
        }
    }

    /// Resumes the transport and delivers the lines buffered while paused
    /// (Twisted's `resumeProducing`).
    pub fn resume_producing(&mut self) {
        self.flow.resume();
        self.receive(b"");
    }

    /// Runs `f` with the handler and a [`LineControl`], as if inside a
    /// callback, then applies what it asked for: for timers and other code
    /// that holds the receiver rather than being called by it.
    pub fn with_control<R>(&mut self, f: impl FnOnce(&mut H, &mut LineControl<'_>) -> R) -> R {
        let rest = std::mem::take(&mut self.buffer);
        let result = {
            let mut ctl = LineControl {
                flow: &self.flow,
                config: &self.config,
                modes: &mut self.modes,
                rest: &rest,
            };
            f(&mut self.handler, &mut ctl)
        };
        if self.modes.cleared {
            self.modes.cleared = false;
            self.scanned = 0;
        } else {
            self.buffer = rest;
        }
        let pending = std::mem::take(&mut self.modes.pending);
        if !pending.is_empty() {
            self.receive(&pending);
        }
        result
    }

    /// A producer handle for `this`: pausing it pauses delivery and the
    /// transport, resuming it delivers what was buffered.
    pub fn producer(this: &Rc<RefCell<LineReceiver<H>>>) -> Rc<ReceiverProducer> {
        let flow = this.borrow().flow.clone();
        let receiver: Rc<RefCell<dyn Protocol>> = this.clone();
        Rc::new(ReceiverProducer::new(flow, Rc::downgrade(&receiver)))
    }

    fn receive(&mut self, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.buffer);
        let mut input = data;
        let mut skip = self.scanned;
        loop {
            let from_buffer = !buf.is_empty();
            if from_buffer {
                buf.extend_from_slice(input);
                input = &[];
            } else {
                skip = 0;
            }
            let source: &[u8] = if from_buffer { &buf } else { input };
            let (consumed, end) = deliver(
                &mut self.handler,
                &self.flow,
                &self.config,
                &mut self.modes,
                source,
                skip,
            );
            skip = 0;
            if from_buffer {
                buf.drain(..consumed);
            } else {
                buf.extend_from_slice(&input[consumed..]);
                input = &[];
            }
            self.modes.cleared = false;
            if buf.is_empty() {
                std::mem::swap(&mut buf, &mut self.modes.pending);
            } else {
                buf.append(&mut self.modes.pending);
            }
            match end {
                End::Restart => continue,
                End::Wait => {
                    let keep = self.config.delimiter.len() - 1;
                    self.scanned = buf.len().saturating_sub(keep);
                }
                End::Stop => self.scanned = 0,
            }
            break;
        }
        self.buffer = buf;
    }
}

/// Why a delivery pass ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Out of bytes, or of complete lines (the rest is buffered as is).
    Wait,
    /// Stopped early (too long, disconnecting, paused).
    Stop,
    /// The handler fed bytes back: append them and go on.
    Restart,
}

/// Delivers what `source` holds; returns how much of it was consumed.
/// `skip` bytes at the start are known to hold no delimiter start.
fn deliver<H: LineHandler>(
    handler: &mut H,
    flow: &Flow,
    config: &LineConfig,
    modes: &mut Modes,
    source: &[u8],
    mut skip: usize,
) -> (usize, End) {
    let delimiter = &config.delimiter[..];
    let mut pos = 0;
    while pos < source.len() {
        if flow.is_paused() {
            return (pos, End::Stop);
        }
        let rest = &source[pos..];
        if !modes.line_mode {
            let mut ctl = LineControl {
                flow,
                config,
                modes,
                rest: &[],
            };
            handler.raw_data_received(rest, &mut ctl);
            pos = source.len();
            if !modes.pending.is_empty() {
                return (pos, End::Restart);
            }
            continue;
        }
        let found = find(&rest[skip.min(rest.len())..], delimiter).map(|i| i + skip);
        skip = 0;
        let exceeded = match found {
            Some(i) => i > config.max_length,
            None => rest.len() >= config.max_length.saturating_add(delimiter.len()),
        };
        if exceeded {
            // Twisted empties the buffer before calling the hook; bytes the
            // hook feeds back stay buffered for the next data_received.
            let mut ctl = LineControl {
                flow,
                config,
                modes,
                rest: &[],
            };
            handler.line_length_exceeded(rest, &mut ctl);
            return (source.len(), End::Stop);
        }
        let Some(i) = found else {
            return (pos, End::Wait);
        };
        let line = &rest[..i];
        pos += i + delimiter.len();
        let mut ctl = LineControl {
            flow,
            config,
            modes,
            rest: &source[pos..],
        };
        handler.line_received(line, &mut ctl);
        if modes.cleared {
            pos = source.len();
        }
        if flow.is_disconnecting() {
            return (pos, End::Stop);
        }
        if !modes.pending.is_empty() {
            return (pos, End::Restart);
        }
    }
    (pos, End::Wait)
}

impl<H: LineHandler> Protocol for LineReceiver<H> {
    fn connection_made(&mut self, transport: TransportRef) {
        self.flow.set_transport(Some(transport));
        self.with_control(|handler, ctl| handler.connection_made(ctl));
    }

    fn data_received(&mut self, data: &[u8]) {
        self.receive(data);
    }

    fn connection_lost(&mut self, reason: Failure) {
        // Dropping the transport breaks the transport <-> protocol cycle.
        self.flow.set_transport(None);
        self.handler.connection_lost(reason);
    }

    fn log_prefix(&self) -> &'static str {
        "LineReceiver"
    }
}

impl<H> fmt::Debug for LineReceiver<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineReceiver")
            .field("handler", &std::any::type_name::<H>())
            .field("delimiter", &self.config.delimiter)
            .field("max_length", &self.config.max_length)
            .field("line_mode", &self.modes.line_mode)
            .field("paused", &self.flow.is_paused())
            .field("buffered", &self.buffer.len())
            .finish()
    }
}
