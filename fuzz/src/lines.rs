//! `LineReceiver` and `LineOnlyReceiver`, fed in arbitrary chunks.

use std::rc::Rc;

use arbitrary::Arbitrary;
use torsion_protocols::{
    LineControl, LineHandler, LineOnlyControl, LineOnlyHandler, LineOnlyReceiver, LineReceiver,
    DEFAULT_MAX_LINE_LENGTH,
};
use torsion_reactor::{Protocol, Transport};
use torsion_testing::StringTransport;

use crate::{chaos_plan, feed, naive_find, split, MaxLength};

/// The line delimiter: the usual ones, or any short byte string (an empty
/// one must be refused).
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum Delimiter {
    /// `\r\n`.
    CrLf,
    /// `\n`.
    Lf,
    /// Up to 4 arbitrary bytes.
    Bytes(Vec<u8>),
}

impl Delimiter {
    /// The bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Delimiter::CrLf => b"\r\n".to_vec(),
            Delimiter::Lf => b"\n".to_vec(),
            Delimiter::Bytes(bytes) => bytes.iter().copied().take(4).collect(),
        }
    }
}

/// A fuzz input for the line receivers.
#[derive(Arbitrary, Debug, Clone)]
pub struct LineInput {
    /// The delimiter.
    pub delimiter: Delimiter,
    /// The maximum line length.
    pub max_length: MaxLength,
    /// Scripted (checked exactly) or chaos (every control, checked for
    /// panics and conservation of bytes).
    pub chaos: bool,
    /// Chunk sizes (in chaos mode the top 3 bits pick an action between
    /// chunks).
    pub sizes: Vec<u8>,
    /// The bytes received.
    pub data: Vec<u8>,
}

/// What a scripted handler saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// `line_received`.
    Line(Vec<u8>),
    /// `raw_data_received`, consecutive calls merged.
    Raw(Vec<u8>),
    /// `line_length_exceeded` (its data depends on the chunking).
    Exceeded,
}

/// A handler whose behaviour depends only on the lines, so its events must
/// not depend on the chunking. A line starting with `R` switches to raw
/// mode for the next `line[1]` bytes (then back to line mode with what
/// follows them), `Q` loses the connection, `S` sends the line back.
#[derive(Debug, Default)]
struct Scripted {
    events: Vec<LineEvent>,
    /// The bytes accounted for, delimiters included: a prefix of the input.
    consumed: Vec<u8>,
    raw_left: usize,
    max_length: usize,
    delimiter: Vec<u8>,
}

impl Scripted {
    fn line(&mut self, line: &[u8]) {
        assert!(
            line.len() <= self.max_length,
            "a {}-byte line with max_length {}",
            line.len(),
            self.max_length
        );
        assert_eq!(
            naive_find(line, &self.delimiter),
            None,
            "a delimiter inside {line:?}"
        );
        self.events.push(LineEvent::Line(line.to_vec()));
        self.consumed.extend_from_slice(line);
        self.consumed.extend_from_slice(&self.delimiter);
    }
}

impl LineHandler for Scripted {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        assert!(ctl.is_line_mode());
        self.line(line);
        match line.first() {
            Some(b'R') => {
                self.raw_left = usize::from(line.get(1).copied().unwrap_or(0));
                ctl.set_raw_mode();
            }
            Some(b'Q') => ctl.lose_connection(),
            Some(b'S') => ctl.send_line(line),
            _ => {}
        }
    }

    fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        assert!(!data.is_empty(), "raw_data_received with nothing");
        let take = self.raw_left.min(data.len());
        let raw = &data[..take];
        self.consumed.extend_from_slice(raw);
        self.raw_left -= take;
        if !raw.is_empty() {
            match self.events.last_mut() {
                Some(LineEvent::Raw(seen)) => seen.extend_from_slice(raw),
                _ => self.events.push(LineEvent::Raw(raw.to_vec())),
            }
        }
        if self.raw_left == 0 {
            ctl.set_line_mode(&data[take..]);
        }
    }

    fn line_length_exceeded(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        assert!(data.len() > self.max_length, "exceeded by {data:?}");
        self.events.push(LineEvent::Exceeded);
        ctl.lose_connection();
    }
}

/// A `LineReceiver` with `delimiter` and `max_length`, or `None` (checked)
/// when the delimiter is refused.
fn line_receiver<H: LineHandler>(
    handler: H,
    delimiter: &[u8],
    max_length: usize,
) -> Option<LineReceiver<H>> {
    match LineReceiver::new(handler).with_delimiter(delimiter) {
        Ok(receiver) => Some(receiver.with_max_length(max_length)),
        Err(_) => {
            assert!(delimiter.is_empty(), "{delimiter:?} refused");
            None
        }
    }
}

/// Runs a `LineReceiver` over the input: scripted (exact checks) or chaos.
pub fn check_line_receiver(input: &LineInput) {
    let delimiter = input.delimiter.bytes();
    let max_length = input.max_length.get(DEFAULT_MAX_LINE_LENGTH);
    if input.chaos {
        if let Some(receiver) = line_receiver(Chaos::new(&delimiter), &delimiter, max_length) {
            chaos_line_receiver(receiver, input);
        }
        return;
    }
    let scripted = || {
        let handler = Scripted {
            max_length,
            delimiter: delimiter.clone(),
            ..Scripted::default()
        };
        line_receiver(handler, &delimiter, max_length)
    };
    let (Some(whole), Some(split_up)) = (scripted(), scripted()) else {
        return;
    };
    check_whole_and_split(whole, split_up, input, &delimiter, max_length);
}

/// A handler that uses every control, picked by the first byte of a line.
struct Chaos {
    /// Bytes that left the receiver: lines with their delimiters, raw
    /// data, `line_length_exceeded` data, cleared buffers.
    out: usize,
    /// Bytes handed back with `set_line_mode(extra)`.
    back: usize,
    delimiter_len: usize,
}

impl Chaos {
    fn new(delimiter: &[u8]) -> Chaos {
        Chaos {
            out: 0,
            back: 0,
            delimiter_len: delimiter.len(),
        }
    }

    fn feed_back(&mut self, extra: &[u8], ctl: &mut LineControl<'_>) {
        self.back += extra.len();
        ctl.set_line_mode(extra);
    }
}

impl LineHandler for Chaos {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        assert!(line.len() <= ctl.max_length());
        self.out += line.len() + self.delimiter_len;
        match line.first().map(|b| b % 12) {
            Some(0) => ctl.set_raw_mode(),
            Some(1) => ctl.pause_producing(),
            Some(2) => self.out += ctl.clear_line_buffer().len(),
            Some(3) => ctl.send_line(line),
            Some(4) => self.feed_back(line, ctl),
            Some(5) => ctl.resume_producing(),
            Some(6) => ctl.lose_connection(),
            Some(7) => ctl.stop_producing(),
            Some(8) => {
                self.feed_back(&line[1..], ctl);
                self.out += ctl.clear_line_buffer().len();
            }
            Some(9) => {
                ctl.set_raw_mode();
                self.feed_back(line, ctl);
                ctl.set_raw_mode();
            }
            _ => {}
        }
    }

    fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        assert!(!data.is_empty(), "raw_data_received with nothing");
        self.out += data.len();
        match data[0] % 6 {
            0 => self.feed_back(&data[1..], ctl),
            1 => ctl.pause_producing(),
            2 => {
                self.feed_back(data, ctl);
                self.out += ctl.clear_line_buffer().len();
            }
            3 => {
                // Rounded up, so a single byte is not fed back for ever.
                let half = data.len().div_ceil(2);
                self.feed_back(&data[half..], ctl);
                ctl.set_raw_mode();
            }
            _ => {}
        }
    }

    fn line_length_exceeded(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        assert!(data.len() > ctl.max_length());
        self.out += data.len();
        match data[0] % 3 {
            0 => ctl.lose_connection(),
            1 => self.feed_back(&data[data.len().min(3)..], ctl),
            _ => {}
        }
    }
}

fn chaos_line_receiver(mut receiver: LineReceiver<Chaos>, input: &LineInput) {
    // Lenient: pausing a disconnecting transport must not panic here.
    let transport = Rc::new(StringTransport::lenient());
    receiver.make_connection(transport);
    let mut fed = 0;
    let mut cleared = 0;
    for (chunk, action) in chaos_plan(&input.data, &input.sizes) {
        receiver.data_received(chunk);
        fed += chunk.len();
        match action {
            1 => receiver.resume_producing(),
            2 => cleared += receiver.clear_line_buffer().len(),
            3 => {
                receiver.set_line_mode(chunk);
                fed += chunk.len();
            }
            4 => receiver.pause_producing(),
            5 => receiver.set_raw_mode(),
            _ => {}
        }
    }
    receiver.resume_producing();
    let handler = receiver.handler();
    assert_eq!(
        fed + handler.back,
        handler.out + cleared + receiver.buffered().len(),
        "bytes in (fed {fed} + fed back {}) != bytes out ({} + cleared {cleared} + buffered {})",
        handler.back,
        handler.out,
        receiver.buffered().len()
    );
}

/// What a `LineOnlyReceiver` handler saw.
#[derive(Debug, Default)]
struct LinesOnly {
    events: Vec<LineEvent>,
    consumed: Vec<u8>,
    /// Whether `line_length_exceeded` keeps the connection.
    tolerant: bool,
}

impl LineOnlyHandler for LinesOnly {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineOnlyControl<'_>) {
        assert!(line.len() <= ctl.max_length(), "{line:?} too long");
        assert_eq!(
            naive_find(line, ctl.delimiter()),
            None,
            "delimiter in {line:?}"
        );
        self.events.push(LineEvent::Line(line.to_vec()));
        self.consumed.extend_from_slice(line);
        self.consumed.extend_from_slice(ctl.delimiter());
        match line.first() {
            Some(b'Q') => ctl.lose_connection(),
            Some(b'S') => ctl.send_line(line),
            _ => {}
        }
    }

    fn line_length_exceeded(&mut self, line: &[u8], ctl: &mut LineOnlyControl<'_>) {
        assert!(line.len() > ctl.max_length(), "{line:?} is not too long");
        self.events.push(LineEvent::Exceeded);
        if !self.tolerant {
            ctl.lose_connection();
        }
    }
}

/// Runs a `LineOnlyReceiver` over the input, whole and chunked. `chaos`
/// here means a `line_length_exceeded` that keeps the connection (checked
/// for panics and line validity only).
pub fn check_line_only_receiver(input: &LineInput) {
    let delimiter = input.delimiter.bytes();
    let max_length = input.max_length.get(DEFAULT_MAX_LINE_LENGTH);
    let handler = || LinesOnly {
        tolerant: input.chaos,
        ..LinesOnly::default()
    };
    let build = || match LineOnlyReceiver::new(handler()).with_delimiter(delimiter.clone()) {
        Ok(receiver) => Some(receiver.with_max_length(max_length)),
        Err(_) => {
            assert!(delimiter.is_empty(), "{delimiter:?} refused");
            None
        }
    };
    let (Some(whole), Some(mut split_up)) = (build(), build()) else {
        return;
    };
    if input.chaos {
        let transport = Rc::new(StringTransport::new());
        split_up.make_connection(transport);
        for chunk in split(&input.data, &input.sizes) {
            split_up.data_received(chunk);
        }
        return;
    }
    check_whole_and_split(whole, split_up, input, &delimiter, max_length);
}

/// What a scripted line receiver delivered and kept.
trait Leftover: Protocol {
    /// What the handler saw.
    fn events(&self) -> &[LineEvent];
    /// The bytes delivered, delimiters included.
    fn consumed(&self) -> &[u8];
    fn buffered(&self) -> &[u8];
    fn is_line_mode(&self) -> bool;
}

impl Leftover for LineReceiver<Scripted> {
    fn events(&self) -> &[LineEvent] {
        &self.handler().events
    }
    fn consumed(&self) -> &[u8] {
        &self.handler().consumed
    }
    fn buffered(&self) -> &[u8] {
        LineReceiver::buffered(self)
    }
    fn is_line_mode(&self) -> bool {
        LineReceiver::is_line_mode(self)
    }
}

impl Leftover for LineOnlyReceiver<LinesOnly> {
    fn events(&self) -> &[LineEvent] {
        &self.handler().events
    }
    fn consumed(&self) -> &[u8] {
        &self.handler().consumed
    }
    fn buffered(&self) -> &[u8] {
        LineOnlyReceiver::buffered(self)
    }
    fn is_line_mode(&self) -> bool {
        true
    }
}

/// Feeds the input to `whole` in one call and to `split_up` in chunks:
/// the handlers and the peer must see the same; then, for each: what was
/// delivered is a prefix of the input; unless the connection was lost,
/// everything fed is delivered or buffered, in order, and only an
/// unfinished line (in line mode) or nothing (in raw mode) is buffered.
fn check_whole_and_split<R: Leftover>(
    mut whole: R,
    mut split_up: R,
    input: &LineInput,
    delimiter: &[u8],
    max_length: usize,
) {
    let data = &input.data[..];
    let (whole_transport, _) = feed(&mut whole, &[data]);
    let (split_transport, fed) = feed(&mut split_up, &split(data, &input.sizes));
    assert_eq!(whole.events(), split_up.events());
    assert_eq!(whole_transport.value(), split_transport.value());
    for (receiver, transport, fed) in [
        (&whole, &whole_transport, data.len()),
        (&split_up, &split_transport, fed),
    ] {
        let consumed = receiver.consumed();
        assert_eq!(&data[..consumed.len()], consumed, "not a prefix");
        if transport.is_disconnecting() {
            continue;
        }
        let buffered = receiver.buffered();
        assert_eq!(
            [consumed, buffered].concat(),
            &data[..fed],
            "lost or reordered bytes"
        );
        if receiver.is_line_mode() {
            assert_eq!(naive_find(buffered, delimiter), None);
            assert!(buffered.len() < max_length.saturating_add(delimiter.len()));
        } else {
            assert!(buffered.is_empty(), "raw bytes left buffered");
        }
    }
}
