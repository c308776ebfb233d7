//! The delivery loop shared by the length-prefixed and netstring receivers.

use std::fmt;
use std::rc::Rc;

use torsion_reactor::{Failure, TransportRef};

use crate::error::{NetstringParseError, StringTooLong};
use crate::flow::Flow;
use crate::string_handler::{Framing, StringControl, StringHandler};

/// What the start of the unparsed bytes holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Not a whole frame yet.
    Incomplete,
    /// A frame: the payload is `[start, end)`, the next frame starts at `next`.
    Complete {
        start: usize,
        end: usize,
        next: usize,
    },
    /// A length prefix above the maximum.
    LimitExceeded(usize),
    /// A malformed netstring.
    Broken(NetstringParseError),
}

/// Parses one frame at the start of `data`.
pub(crate) fn parse(framing: Framing, data: &[u8], max_length: usize) -> Frame {
    match framing {
        Framing::Prefix(bytes) => parse_prefixed(bytes, data, max_length),
        Framing::Netstring => parse_netstring(data, max_length),
    }
}

fn parse_prefixed(bytes: usize, data: &[u8], max_length: usize) -> Frame {
    let Some(prefix) = data.get(..bytes) else {
        return Frame::Incomplete;
    };
    let length = prefix.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > max_length {
        return Frame::LimitExceeded(length);
    }
    match bytes.checked_add(length) {
        Some(end) if end <= data.len() => Frame::Complete {
            start: bytes,
            end,
            next: end,
        },
        _ => Frame::Incomplete,
    }
}

/// Netstrings, strictly (Twisted's `_LENGTH` and `_LENGTH_PREFIX` patterns,
/// `(0|[1-9]\d*):`): errors are reported as soon as the offending byte
/// arrives, so a peer cannot make us buffer a bogus length.
fn parse_netstring(data: &[u8], max_length: usize) -> Frame {
    let mut length: usize = 0;
    let mut digits = 0;
    loop {
        let Some(&byte) = data.get(digits) else {
            return Frame::Incomplete;
        };
        if byte.is_ascii_digit() {
            if digits == 1 && data[0] == b'0' {
                return Frame::Broken(NetstringParseError::LeadingZero);
            }
            digits += 1;
            // Without leading zeros, more digits always means a larger
            // value, so this also bounds how many digits are read.
            length = match length
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(byte - b'0')))
            {
                Some(n) if n <= max_length => n,
                _ => {
                    return Frame::Broken(NetstringParseError::TooLong { max: max_length });
                }
            };
        } else if digits == 0 {
            return Frame::Broken(NetstringParseError::MissingLength { found: byte });
        } else if byte == b':' {
            break;
        } else {
            return Frame::Broken(NetstringParseError::MissingColon { found: byte });
        }
    }
    let start = digits + 1;
    // `length <= max_length <= usize::MAX`; only the sums could overflow.
    let Some(end) = start.checked_add(length) else {
        return Frame::Incomplete;
    };
    match data.get(end) {
        None => Frame::Incomplete,
        Some(b',') => Frame::Complete {
            start,
            end,
            next: end + 1,
        },
        Some(&found) => Frame::Broken(NetstringParseError::MissingComma { found }),
    }
}

/// Whether a delivery pass may go on after the handler replaced the
/// unparsed bytes.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Continue,
    Stop,
}

/// A string receiver without its framing-specific surface.
pub(crate) struct StringCore<H> {
    pub(crate) handler: H,
    pub(crate) flow: Rc<Flow>,
    pub(crate) framing: Framing,
    pub(crate) max_length: usize,
    pub(crate) buffer: Vec<u8>,
    pub(crate) broken: Option<NetstringParseError>,
}

impl<H> StringCore<H> {
    pub(crate) fn new(handler: H, framing: Framing, max_length: usize) -> StringCore<H> {
        StringCore {
            handler,
            flow: Flow::new(),
            framing,
            max_length,
            buffer: Vec::new(),
            broken: None,
        }
    }

    pub(crate) fn send_string(&self, string: &[u8]) -> Result<(), StringTooLong> {
        self.framing.send(&self.flow, string)
    }

    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("handler", &std::any::type_name::<H>())
            .field("max_length", &self.max_length)
            .field("paused", &self.flow.is_paused())
            .field("buffered", &self.buffer.len())
            .field("broken_peer", &self.broken)
            .finish()
    }
}

impl<H: StringHandler> StringCore<H> {
    pub(crate) fn connection_made(&mut self, transport: TransportRef) {
        self.flow.set_transport(Some(transport));
        let mut replacement = None;
        let remaining = std::mem::take(&mut self.buffer);
        let mut ctl = StringControl {
            flow: &self.flow,
            framing: self.framing,
            remaining: &remaining,
            replacement: &mut replacement,
        };
        self.handler.connection_made(&mut ctl);
        self.buffer = replacement.unwrap_or(remaining);
    }

    pub(crate) fn connection_lost(&mut self, reason: Failure) {
        self.flow.set_transport(None);
        self.handler.connection_lost(reason);
    }

    /// Buffers `data` and delivers every complete frame. Frames are cut
    /// straight out of `data` when nothing was buffered; only an unfinished
    /// tail is copied.
    pub(crate) fn receive(&mut self, data: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        let mut buf = std::mem::take(&mut self.buffer);
        let mut input = data;
        loop {
            let from_buffer = !buf.is_empty();
            if from_buffer {
                buf.extend_from_slice(input);
                input = &[];
            }
            let source: &[u8] = if from_buffer { &buf } else { input };
            let mut replacement = None;
            let (consumed, after) = self.deliver(source, &mut replacement);
            if let Some(replacement) = replacement {
                // Twisted: "if 'recvd' in self.__dict__", parse the new bytes.
                buf = replacement;
                input = &[];
                if after == After::Continue {
                    continue;
                }
                break;
            }
            if from_buffer {
                buf.drain(..consumed);
            } else {
                buf.extend_from_slice(&input[consumed..]);
            }
            break;
        }
        if self.broken.is_some() {
            buf = Vec::new();
        }
        self.buffer = buf;
    }

    fn deliver(&mut self, source: &[u8], replacement: &mut Option<Vec<u8>>) -> (usize, After) {
        let mut pos = 0;
        while pos < source.len() && !self.flow.is_paused() {
            let rest = &source[pos..];
            match parse(self.framing, rest, self.max_length) {
                Frame::Incomplete => break,
                Frame::LimitExceeded(length) => {
                    let mut ctl = StringControl {
                        flow: &self.flow,
                        framing: self.framing,
                        remaining: rest,
                        replacement: &mut *replacement,
                    };
                    self.handler.length_limit_exceeded(length, &mut ctl);
                    return (pos, After::Stop);
                }
                Frame::Broken(error) => {
                    log::info!("dropping a peer that sent a malformed netstring: {error}");
                    self.broken = Some(error);
                    self.flow.lose_connection();
                    return (source.len(), After::Stop);
                }
                Frame::Complete { start, end, next } => {
                    pos += next;
                    let mut ctl = StringControl {
                        flow: &self.flow,
                        framing: self.framing,
                        remaining: &source[pos..],
                        replacement: &mut *replacement,
                    };
                    self.handler.string_received(&rest[start..end], &mut ctl);
                    if replacement.is_some() {
                        return (pos, After::Continue);
                    }
                }
            }
        }
        (pos, After::Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_netstring, parse_prefixed, Frame};
    use crate::NetstringParseError as E;

    #[test]
    fn netstring_frames() {
        assert_eq!(
            parse_netstring(b"3:abc,0:,", 99999),
            Frame::Complete {
                start: 2,
                end: 5,
                next: 6
            }
        );
        assert_eq!(
            parse_netstring(b"0:,", 0),
            Frame::Complete {
                start: 2,
                end: 2,
                next: 3
            }
        );
        for partial in [
            &b""[..],
            b"1",
            b"12",
            b"12:",
            b"3:ab",
            b"3:abc",
            b"0",
            b"0:",
        ] {
            assert_eq!(
                parse_netstring(partial, 99999),
                Frame::Incomplete,
                "{partial:?}"
            );
        }
    }

    #[test]
    fn netstring_errors() {
        let cases: &[(&[u8], usize, E)] = &[
            (b"03:abc,", 99999, E::LeadingZero),
            (b"00", 99999, E::LeadingZero),
            (b":aaa,", 99999, E::MissingLength { found: b':' }),
            (b"aaa", 99999, E::MissingLength { found: b'a' }),
            (b"3aaa,", 99999, E::MissingColon { found: b'a' }),
            (b"2:aaa,", 99999, E::MissingComma { found: b'a' }),
            (b"0:a,", 99999, E::MissingComma { found: b'a' }),
            (b"12", 11, E::TooLong { max: 11 }),
            (b"1000:", 11, E::TooLong { max: 11 }),
            (
                b"9999999999999999999999999",
                usize::MAX,
                E::TooLong { max: usize::MAX },
            ),
        ];
        for (input, max, error) in cases {
            assert_eq!(
                parse_netstring(input, *max),
                Frame::Broken(*error),
                "{input:?}"
            );
        }
        // The border: exactly the maximum is fine.
        assert_eq!(parse_netstring(b"12:", 12), Frame::Incomplete);
    }

    #[test]
    fn prefixed_frames() {
        assert_eq!(parse_prefixed(4, b"\x00\x00\x00", 10), Frame::Incomplete);
        assert_eq!(parse_prefixed(2, b"\x00\x0b", 10), Frame::LimitExceeded(11));
        assert_eq!(
            parse_prefixed(1, b"\x02ab", 10),
            Frame::Complete {
                start: 1,
                end: 3,
                next: 3
            }
        );
        assert_eq!(
            parse_prefixed(4, b"\xff\xff\xff\xff", usize::MAX),
            Frame::Incomplete
        );
    }
}
