//! Twisted's `LineOnlyReceiverTests` (`twisted/protocols/test/test_basic.py`).

mod util;

use torsion_protocols::{LineOnlyControl, LineOnlyHandler, LineOnlyReceiver};
use torsion_reactor::{Protocol, Transport};
use util::connect;

/// Twisted's `LineOnlyTester`: a buffering line only receiver.
#[derive(Default)]
struct LineOnlyTester {
    received: Vec<Vec<u8>>,
    quit_on: Option<&'static [u8]>,
}

impl LineOnlyHandler for LineOnlyTester {
    /// Save received data.
    fn line_received(&mut self, line: &[u8], ctl: &mut LineOnlyControl<'_>) {
        self.received.push(line.to_vec());
        if self.quit_on == Some(line) {
            ctl.lose_connection();
        }
    }
}

fn tester() -> LineOnlyReceiver<LineOnlyTester> {
    LineOnlyReceiver::new(LineOnlyTester::default())
        .with_delimiter("\n")
        .unwrap()
        .with_max_length(64)
}

const BUFFER: &[u8] = b"foo
    bleakness
    desolation
    plastic forks
    ";

/// Test buffering over line protocol: data received should match buffer.
#[test]
fn buffer() {
    let (mut a, _t) = connect(tester());
    for byte in BUFFER {
        a.data_received(std::slice::from_ref(byte));
    }
    let mut expected: Vec<Vec<u8>> = BUFFER.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    expected.pop();
    assert_eq!(a.handler().received, expected);
}

/// `LineOnlyReceiver` disconnects the transport if it receives a line
/// longer than its `MAX_LENGTH` + len(delimiter).
#[test]
fn greater_than_maximum_line_length() {
    let (mut proto, transport) = connect(tester());
    let mut data = vec![b'x'; 64 + 1 + 1];
    data.extend_from_slice(b"\r\nr");
    proto.data_received(&data);
    assert!(transport.is_disconnecting());
}

// `test_lineReceivedNotImplemented`: `line_received` is a required method.

// ---- Beyond Twisted's tests. ----

/// Once the transport is disconnecting, the following lines of the chunk
/// are disregarded, and the unfinished tail is kept.
#[test]
fn stops_delivering_once_disconnecting() {
    let handler = LineOnlyTester {
        quit_on: Some(b"quit"),
        ..LineOnlyTester::default()
    };
    let (mut proto, t) = connect(LineOnlyReceiver::new(handler));
    proto.data_received(b"a\r\nquit\r\nb\r\ntail");
    assert_eq!(proto.handler().received, [b"a".to_vec(), b"quit".to_vec()]);
    assert!(t.is_disconnecting());
    assert_eq!(proto.buffered(), b"tail");
}

/// A complete line of exactly the maximum is delivered; one byte more is not.
#[test]
fn maximum_is_inclusive() {
    let (mut proto, t) = connect(tester());
    let line = vec![b'x'; 64];
    proto.data_received(&[&line[..], b"\n"].concat());
    assert_eq!(proto.handler().received, [line]);
    assert!(!t.is_disconnecting());
    proto.data_received(&[b'y'; 65]);
    assert!(t.is_disconnecting());
}

/// `send_line` writes the line then the delimiter.
#[test]
fn send_line() {
    let (proto, t) = connect(tester());
    proto.send_line(b"hello");
    assert_eq!(t.value(), b"hello\n");
}
