//! Twisted's `NetstringReceiverTests` (`twisted/protocols/test/test_basic.py`).

mod util;

use std::rc::Rc;

use torsion_protocols::{NetstringParseError, NetstringReceiver, StringControl, StringHandler};
use torsion_reactor::{Failure, Protocol, Transport};
use torsion_testing::StringTransport;
use util::{connect, twisted_chunks};

/// Twisted's `TestNetstring` (with `TestMixin`): records strings, echoes
/// them, and notes the connection closing.
#[derive(Default)]
struct TestNetstring {
    received: Vec<Vec<u8>>,
    closed: bool,
}

impl StringHandler for TestNetstring {
    fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>) {
        self.received.push(string.to_vec());
        ctl.transport().unwrap().write(string);
    }

    fn connection_lost(&mut self, _reason: Failure) {
        self.closed = true;
    }
}

/// `TestMixin.MAX_LENGTH`.
const MAX_LENGTH: usize = 50;

fn set_up() -> (NetstringReceiver<TestNetstring>, Rc<StringTransport>) {
    connect(NetstringReceiver::new(TestNetstring::default()).with_max_length(MAX_LENGTH))
}

fn received(r: &NetstringReceiver<TestNetstring>) -> Vec<Vec<u8>> {
    r.handler().received.clone()
}

const STRINGS: &[&[u8]] = &[b"hello", b"world", b"how", b"are", b"you123", b":today"];

const ILLEGAL_STRINGS: &[&[u8]] = &[
    b"9999999999999999999999",
    b"abc",
    b"4:abcde",
    b"51:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,",
];

/// Assert that illegal strings cause the transport to be closed.
#[test]
fn illegal() {
    for s in ILLEGAL_STRINGS {
        let (mut r, t) = set_up();
        for byte in *s {
            r.data_received(std::slice::from_ref(byte));
        }
        assert!(t.is_disconnecting(), "{s:?}");
        assert!(r.broken_peer().is_some(), "{s:?}");
    }
}

/// Strings can be received in chunks of different lengths.
#[test]
fn buffer() {
    let mut strings: Vec<Vec<u8>> = STRINGS.iter().map(|s| s.to_vec()).collect();
    strings.push(vec![b'a'; 515]);
    for packet_size in 1..10 {
        let (mut a, t) =
            connect(NetstringReceiver::new(TestNetstring::default()).with_max_length(699));
        for s in &strings {
            a.send_string(s);
        }
        let out = t.take();
        for chunk in twisted_chunks(&out, packet_size) {
            if !chunk.is_empty() {
                a.data_received(chunk);
            }
        }
        assert_eq!(received(&a), strings, "packet size {packet_size}");
    }
}

/// Empty netstrings (with length '0') can be received.
#[test]
fn receive_empty_netstring() {
    let (mut r, _t) = set_up();
    r.data_received(b"0:,");
    assert_eq!(received(&r), [b""]);
}

/// One-character netstrings can be received.
#[test]
fn receive_one_character() {
    let (mut r, _t) = set_up();
    r.data_received(b"1:a,");
    assert_eq!(received(&r), [b"a"]);
}

/// Two-character netstrings can be received.
#[test]
fn receive_two_characters() {
    let (mut r, _t) = set_up();
    r.data_received(b"2:ab,");
    assert_eq!(received(&r), [b"ab"]);
}

/// Netstrings with embedded netstrings. This test makes sure that the
/// parser does not become confused about the ',' and ':' characters
/// appearing inside the data portion of the netstring.
#[test]
fn receive_nested_netstring() {
    let (mut r, _t) = set_up();
    r.data_received(b"4:1:a,,");
    assert_eq!(received(&r), [b"1:a,"]);
}

/// Netstrings containing more data than expected are refused.
#[test]
fn more_data_than_specified() {
    let (mut r, t) = set_up();
    r.data_received(b"2:aaa,");
    assert!(t.is_disconnecting());
    assert_eq!(
        r.broken_peer(),
        Some(&NetstringParseError::MissingComma { found: b'a' })
    );
}

/// Netstrings that should be empty according to their length specification
/// are refused if they contain data.
#[test]
fn more_data_than_specified_border_case() {
    let (mut r, t) = set_up();
    r.data_received(b"0:a,");
    assert!(t.is_disconnecting());
}

/// Netstrings without leading digits that specify the length are refused.
#[test]
fn missing_number() {
    let (mut r, t) = set_up();
    r.data_received(b":aaa,");
    assert!(t.is_disconnecting());
    assert_eq!(
        r.broken_peer(),
        Some(&NetstringParseError::MissingLength { found: b':' })
    );
}

/// Netstrings without a colon between length specification and data are
/// refused.
#[test]
fn missing_colon() {
    let (mut r, t) = set_up();
    r.data_received(b"3aaa,");
    assert!(t.is_disconnecting());
    assert_eq!(
        r.broken_peer(),
        Some(&NetstringParseError::MissingColon { found: b'a' })
    );
}

/// Netstrings that have no leading digits nor a colon are refused.
#[test]
fn missing_number_and_colon() {
    let (mut r, t) = set_up();
    r.data_received(b"aaa,");
    assert!(t.is_disconnecting());
}

/// Netstrings consisting only of data are refused.
#[test]
fn only_data() {
    let (mut r, t) = set_up();
    r.data_received(b"aaa");
    assert!(t.is_disconnecting());
}

/// Netstrings can be received in two portions.
#[test]
fn receive_netstring_portions_1() {
    let (mut r, _t) = set_up();
    r.data_received(b"4:aa");
    r.data_received(b"aa,");
    assert_eq!(received(&r), [b"aaaa"]);
    // Twisted checks `_payloadComplete()`: nothing is left over.
    assert!(r.buffered().is_empty());
}

/// Netstrings can be received in more than two portions, even if the
/// length specification is split across two portions.
#[test]
fn receive_netstring_portions_2() {
    let (mut r, _t) = set_up();
    for part in [&b"1"[..], b"0:01234", b"56789", b","] {
        r.data_received(part);
    }
    assert_eq!(received(&r), [b"0123456789"]);
}

/// Netstrings can be received one character at a time.
#[test]
fn receive_netstring_portions_3() {
    let (mut r, _t) = set_up();
    for part in [b"2", b":", b"a", b"b", b","] {
        r.data_received(part);
    }
    assert_eq!(received(&r), [b"ab"]);
}

/// A stream of two netstrings can be received in two portions, where the
/// first portion contains the complete first netstring and the length
/// specification of the second netstring.
#[test]
fn receive_two_netstrings() {
    let (mut r, _t) = set_up();
    r.data_received(b"1:a,1");
    assert_eq!(r.buffered(), b"1");
    assert_eq!(received(&r), [b"a"]);
    r.data_received(b":b,");
    assert_eq!(received(&r), [b"a", b"b"]);
}

/// Netstrings with a length specification exceeding the specified
/// `MAX_LENGTH` are refused.
///
/// (Twisted builds the length with `bytes(tooLong)`, which on Python 3 is
/// 51 NUL bytes; the decimal length is what the test means.)
#[test]
fn max_receive_limit() {
    let (mut r, t) = set_up();
    let too_long = MAX_LENGTH + 1;
    r.data_received(&[format!("{too_long}:").as_bytes(), &vec![b'a'; too_long]].concat());
    assert!(t.is_disconnecting());
    assert_eq!(
        r.broken_peer(),
        Some(&NetstringParseError::TooLong { max: MAX_LENGTH })
    );
}

/// `_consumeLength` returns the expected length of the netstring, including
/// the trailing comma.
///
/// (The private helper is observed through its effect: after `12:` the
/// receiver waits for exactly twelve bytes and a comma.)
#[test]
fn consume_length() {
    let (mut r, t) = set_up();
    r.data_received(b"12:");
    r.data_received(b"abcdefghijk");
    assert!(received(&r).is_empty());
    r.data_received(b"l,");
    assert_eq!(received(&r), [b"abcdefghijkl"]);
    assert!(!t.is_disconnecting());
}

/// `_consumeLength` works as expected if the length specification contains
/// the value of `MAX_LENGTH` (border case).
#[test]
fn consume_length_border_case1() {
    let (mut r, t) = connect(NetstringReceiver::new(TestNetstring::default()).with_max_length(12));
    r.data_received(b"12:");
    assert!(!t.is_disconnecting());
    assert_eq!(r.broken_peer(), None);
}

/// `_consumeLength` raises a `basic.NetstringParseError` if the length
/// specification exceeds the value of `MAX_LENGTH` by 1 (border case).
#[test]
fn consume_length_border_case2() {
    let (mut r, t) = connect(NetstringReceiver::new(TestNetstring::default()).with_max_length(11));
    r.data_received(b"12:");
    assert!(t.is_disconnecting());
    assert_eq!(
        r.broken_peer(),
        Some(&NetstringParseError::TooLong { max: 11 })
    );
}

/// `_consumeLength` raises a `basic.NetstringParseError` if the length
/// specification exceeds the value of `MAX_LENGTH` by more than 1.
#[test]
fn consume_length_border_case3() {
    let (mut r, t) = connect(NetstringReceiver::new(TestNetstring::default()).with_max_length(11));
    r.data_received(b"1000:");
    assert!(t.is_disconnecting());
    assert_eq!(
        r.broken_peer(),
        Some(&NetstringParseError::TooLong { max: 11 })
    );
}

// `test_stringReceivedNotImplemented`: `string_received` is a required method.

// ---- Beyond Twisted's tests. ----

/// The spec's example, and a leading zero.
#[test]
fn spec_examples() {
    let (mut r, t) = set_up();
    r.data_received(b"3:abc,0:,");
    assert_eq!(received(&r), [&b"abc"[..], b""]);
    r.data_received(b"03:abc,");
    assert_eq!(r.broken_peer(), Some(&NetstringParseError::LeadingZero));
    assert!(t.is_disconnecting());
    // A broken peer is ignored from then on.
    r.data_received(b"1:a,");
    assert_eq!(received(&r).len(), 2);
}

/// `send_string` frames with the decimal length and a comma; the received
/// strings are echoed by the tester, and `connection_lost` reaches it.
#[test]
fn send_string_and_connection_lost() {
    let (mut r, t) = set_up();
    r.send_string(b"hello");
    r.send_string(b"");
    assert_eq!(t.take(), b"5:hello,0:,");
    r.data_received(b"2:hi,");
    assert_eq!(t.value(), b"hi");
    r.connection_lost(Failure::new(torsion_reactor::error::ConnectionDone));
    assert!(r.handler().closed);
}
