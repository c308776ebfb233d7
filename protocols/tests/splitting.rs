//! Every receiver, fed the same input split at every byte boundary (and
//! byte by byte), delivers the same frames as when fed it whole.

mod util;

use torsion_protocols::{
    Int16StringReceiver, Int32StringReceiver, Int8StringReceiver, LineControl, LineHandler,
    LineOnlyControl, LineOnlyHandler, LineOnlyReceiver, LineReceiver, NetstringParseError,
    NetstringReceiver, StringControl, StringHandler,
};
use torsion_reactor::{Protocol, Transport};
use util::{all_splits, connect, feed};

/// A frame as a handler saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Line(Vec<u8>),
    Body(Vec<u8>),
    String(Vec<u8>),
}

/// `len N` announces an N-byte raw body; the rest of the raw chunk is fed
/// back as lines. Raw chunks differ with the split; bodies must not.
#[derive(Default)]
struct Put {
    events: Vec<Event>,
    body: Vec<u8>,
    missing: usize,
}

impl LineHandler for Put {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        self.events.push(Event::Line(line.to_vec()));
        if let Some(n) = line.strip_prefix(b"len ") {
            self.missing = std::str::from_utf8(n).unwrap().parse().unwrap();
            if self.missing == 0 {
                self.events.push(Event::Body(Vec::new()));
            } else {
                ctl.set_raw_mode();
            }
        }
    }

    fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        let take = self.missing.min(data.len());
        self.body.extend_from_slice(&data[..take]);
        self.missing -= take;
        if self.missing == 0 {
            self.events
                .push(Event::Body(std::mem::take(&mut self.body)));
            ctl.set_line_mode(&data[take..]);
        }
    }
}

#[derive(Default)]
struct Lines(Vec<Event>);

impl LineOnlyHandler for Lines {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineOnlyControl<'_>) {
        self.0.push(Event::Line(line.to_vec()));
    }
}

#[derive(Default)]
struct Strings(Vec<Event>);

impl StringHandler for Strings {
    fn string_received(&mut self, string: &[u8], _ctl: &mut StringControl<'_>) {
        self.0.push(Event::String(string.to_vec()));
    }
}

/// Feeds every split of `input` to a fresh protocol from `make`, and checks
/// that `observe` (frames, disconnection, ...) matches the whole-input run.
fn check_splits<P: Protocol, O: PartialEq + std::fmt::Debug>(
    input: &[u8],
    make: impl Fn() -> P,
    observe: impl Fn(&P, bool) -> O,
) -> O {
    let (mut whole, transport) = connect(make());
    feed(&mut whole, &transport, &[input]);
    let expected = observe(&whole, transport.is_disconnecting());
    for split in all_splits(input) {
        let (mut protocol, transport) = connect(make());
        feed(&mut protocol, &transport, &split);
        let seen = observe(&protocol, transport.is_disconnecting());
        assert_eq!(seen, expected, "split {split:?}");
    }
    expected
}

fn lines(items: &[&[u8]]) -> Vec<Event> {
    items.iter().map(|l| Event::Line(l.to_vec())).collect()
}

#[test]
fn line_receiver_with_mode_switches() {
    let input = b"hello\r\nlen 5\r\n12345world\r\n\r\nlen 0\r\nlen 3\r\n\r\n\rx\r\nend\r\npartial";
    let events = check_splits(
        input,
        || LineReceiver::new(Put::default()),
        |p, d| (p.handler().events.clone(), p.buffered().to_vec(), d),
    );
    let expected = vec![
        Event::Line(b"hello".to_vec()),
        Event::Line(b"len 5".to_vec()),
        Event::Body(b"12345".to_vec()),
        Event::Line(b"world".to_vec()),
        Event::Line(b"".to_vec()),
        Event::Line(b"len 0".to_vec()),
        Event::Body(Vec::new()),
        Event::Line(b"len 3".to_vec()),
        Event::Body(b"\r\n\r".to_vec()),
        Event::Line(b"x".to_vec()),
        Event::Line(b"end".to_vec()),
    ];
    assert_eq!(events, (expected, b"partial".to_vec(), false));
}

#[test]
fn line_receiver_too_long_line() {
    let input = b"ok\r\n123456789\r\nnever\r\n";
    let seen = check_splits(
        input,
        || LineReceiver::new(Put::default()).with_max_length(8),
        |p, d| (p.handler().events.clone(), d),
    );
    assert_eq!(seen, (lines(&[b"ok"]), true));
}

#[test]
fn line_receiver_multibyte_delimiter_overlap() {
    // A delimiter whose prefix repeats: "ab" inside "aab" must still match.
    let input = b"xaab\nyaaab\nzab\n";
    let seen = check_splits(
        input,
        || {
            LineReceiver::new(Put::default())
                .with_delimiter("ab\n")
                .unwrap()
        },
        |p, _| p.handler().events.clone(),
    );
    assert_eq!(seen, lines(&[b"xa", b"yaa", b"z"]));
}

#[test]
fn line_only_receiver() {
    let input = b"a\r\n\r\nbb\r\r\n\n\rccc\r\ntail";
    let seen = check_splits(
        input,
        || LineOnlyReceiver::new(Lines::default()),
        |p, d| (p.handler().0.clone(), p.buffered().to_vec(), d),
    );
    assert_eq!(
        seen,
        (
            lines(&[b"a", b"", b"bb\r", b"\n\rccc"]),
            b"tail".to_vec(),
            false
        )
    );
}

#[test]
fn line_only_receiver_too_long_line() {
    let input = b"ok\r\n123456789\r\nnever\r\n";
    let seen = check_splits(
        input,
        || LineOnlyReceiver::new(Lines::default()).with_max_length(8),
        |p, d| (p.handler().0.clone(), d),
    );
    assert_eq!(seen, (lines(&[b"ok"]), true));
}

fn prefixed(width: usize, sizes: &[usize]) -> (Vec<u8>, Vec<Event>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..size).map(|j| (i * 7 + j) as u8).collect();
        wire.extend_from_slice(&(size as u64).to_be_bytes()[8 - width..]);
        wire.extend_from_slice(&payload);
        events.push(Event::String(payload));
    }
    (wire, events)
}

const SIZES: &[usize] = &[0, 1, 5, 200, 0, 3];

#[test]
fn int8_receiver() {
    let (wire, expected) = prefixed(1, SIZES);
    let seen = check_splits(
        &wire,
        || Int8StringReceiver::new(Strings::default()),
        |p, _| p.handler().0.clone(),
    );
    assert_eq!(seen, expected);
}

#[test]
fn int16_receiver() {
    let (wire, expected) = prefixed(2, SIZES);
    let seen = check_splits(
        &wire,
        || Int16StringReceiver::new(Strings::default()),
        |p, _| p.handler().0.clone(),
    );
    assert_eq!(seen, expected);
}

#[test]
fn int32_receiver() {
    let (wire, expected) = prefixed(4, SIZES);
    let seen = check_splits(
        &wire,
        || Int32StringReceiver::new(Strings::default()),
        |p, _| p.handler().0.clone(),
    );
    assert_eq!(seen, expected);
}

#[test]
fn int16_receiver_length_limit() {
    let input = b"\x00\x02hi\x00\x0bxxxxxxxxxxx\x00\x01z";
    let seen = check_splits(
        input,
        || Int16StringReceiver::new(Strings::default()).with_max_length(10),
        |p, d| (p.handler().0.clone(), d),
    );
    assert_eq!(seen, (vec![Event::String(b"hi".to_vec())], true));
}

#[test]
fn netstring_receiver() {
    let input = b"3:abc,0:,10:0123456789,4:1:a,,";
    let seen = check_splits(
        input,
        || NetstringReceiver::new(Strings::default()),
        |p, _| p.handler().0.clone(),
    );
    let expected: Vec<Event> = [&b"abc"[..], b"", b"0123456789", b"1:a,"]
        .iter()
        .map(|s| Event::String(s.to_vec()))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn netstring_receiver_errors() {
    let cases: &[(&[u8], NetstringParseError)] = &[
        (
            b"3:abc,2:abc,",
            NetstringParseError::MissingComma { found: b'c' },
        ),
        (b"3:abc,03:abc,", NetstringParseError::LeadingZero),
        (
            b"3:abc,3x",
            NetstringParseError::MissingColon { found: b'x' },
        ),
        (
            b"3:abc,x",
            NetstringParseError::MissingLength { found: b'x' },
        ),
        (
            b"3:abc,100000:",
            NetstringParseError::TooLong { max: 99999 },
        ),
    ];
    for (input, error) in cases {
        let seen = check_splits(
            input,
            || NetstringReceiver::new(Strings::default()),
            |p, d| (p.handler().0.clone(), p.broken_peer().copied(), d),
        );
        assert_eq!(
            seen,
            (vec![Event::String(b"abc".to_vec())], Some(*error), true),
            "{input:?}"
        );
    }
}

/// Regression (found by the chunking property test): a line of exactly
/// `max_length` whose delimiter is split across chunks is delivered, not
/// taken for an over-long line because of the delimiter's first byte.
#[test]
fn line_only_receiver_max_length_line_with_split_delimiter() {
    let input = b"\n\r\r\ra\r\r\n";
    let seen = check_splits(
        input,
        || LineOnlyReceiver::new(Lines::default()).with_max_length(6),
        |p, d| (p.handler().0.clone(), d),
    );
    assert_eq!(seen, (lines(&[b"\n\r\r\ra\r"]), false));
}
