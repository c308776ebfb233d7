//! Twisted's `IntNTestCaseMixin` and `RecvdAttributeMixin` cases, run by
//! `Int32Tests`, `Int16Tests` and `Int8Tests`
//! (`twisted/protocols/test/test_basic.py`), one module per width.

mod util;

use std::rc::Rc;

use torsion_protocols::{IntNStringReceiver, PrefixWidth, StringControl, StringHandler};
use torsion_reactor::{Failure, Protocol, Transport};
use torsion_testing::StringTransport;

type OnString = Box<dyn FnMut(&[u8], &mut StringControl<'_>)>;
type OnLimit = Box<dyn FnMut(usize, &mut StringControl<'_>)>;

/// Twisted's `TestInt32`/`TestInt16`/`TestInt8` (with `TestMixin`): stores
/// received strings; the tests' monkey-patched `stringReceived` and
/// `lengthLimitExceeded` become optional closures.
#[derive(Default)]
struct TestInt {
    received: Vec<Vec<u8>>,
    closed: bool,
    on_string: Option<OnString>,
    on_limit: Option<OnLimit>,
}

impl StringHandler for TestInt {
    fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>) {
        match &mut self.on_string {
            Some(f) => f(string, ctl),
            None => self.received.push(string.to_vec()),
        }
    }

    fn length_limit_exceeded(&mut self, length: usize, ctl: &mut StringControl<'_>) {
        match &mut self.on_limit {
            Some(f) => f(length, ctl),
            None => ctl.lose_connection(),
        }
    }

    fn connection_lost(&mut self, _reason: Failure) {
        self.closed = true;
    }
}

/// `TestMixin.MAX_LENGTH`.
const MAX_LENGTH: usize = 50;

/// `getProtocol`: a new receiver connected to a new `StringTransport`.
fn get_protocol<P: PrefixWidth>() -> (IntNStringReceiver<P, TestInt>, Rc<StringTransport>) {
    util::connect(IntNStringReceiver::new(TestInt::default()).with_max_length(MAX_LENGTH))
}

/// `struct.pack(structFormat, length)`.
fn pack<P: PrefixWidth>(length: usize) -> Vec<u8> {
    (length as u64).to_be_bytes()[8 - P::BYTES..].to_vec()
}

/// `makeMessage`: `data` prefixed with its length.
fn make_message<P: PrefixWidth>(data: &[u8]) -> Vec<u8> {
    [pack::<P>(data.len()), data.to_vec()].concat()
}

const STRINGS: &[&[u8]] = &[b"a", b"bbbbbbbbbbbbbbbb"];

fn shared<T: Default>() -> Rc<std::cell::RefCell<T>> {
    Rc::default()
}

macro_rules! int_n_tests {
    ($module:ident, $prefix:ty, illegal: $illegal:expr, partial: $partial:expr, data: $data:expr) => {
        mod $module {
            use super::*;

            type P = $prefix;

            /// Assert that illegal strings cause the transport to be closed.
            #[test]
            fn illegal() {
                let illegal: &[&[u8]] = $illegal;
                for s in illegal {
                    let (mut r, t) = get_protocol::<P>();
                    for byte in *s {
                        r.data_received(std::slice::from_ref(byte));
                    }
                    assert!(t.is_disconnecting(), "{s:?}");
                }
            }

            /// Test receiving data find the same data send.
            #[test]
            fn receive() {
                let (mut r, _t) = get_protocol::<P>();
                for s in STRINGS {
                    for byte in &make_message::<P>(s) {
                        r.data_received(std::slice::from_ref(byte));
                    }
                }
                assert_eq!(r.handler().received, STRINGS);
            }

            /// Send partial data, nothing should be definitely received.
            #[test]
            fn partial() {
                let partial: &[&[u8]] = $partial;
                for s in partial {
                    let (mut r, _t) = get_protocol::<P>();
                    for byte in *s {
                        r.data_received(std::slice::from_ref(byte));
                    }
                    assert!(r.handler().received.is_empty(), "{s:?}");
                }
            }

            /// Test sending data over protocol.
            #[test]
            fn send() {
                let (r, t) = get_protocol::<P>();
                r.send_string(&[b'b'; 16]).unwrap();
                assert_eq!(t.value(), make_message::<P>(&[b'b'; 16]));
            }

            /// When a length prefix is received which is greater than the
            /// protocol's `MAX_LENGTH` attribute, the `lengthLimitExceeded`
            /// method is called with the received length prefix.
            #[test]
            fn length_limit_exceeded() {
                let length = shared::<Vec<usize>>();
                let (r, _t) = get_protocol::<P>();
                let mut r = IntNStringReceiver::<P, _>::new(r.into_handler()).with_max_length(10);
                let sink = length.clone();
                r.handler_mut().on_limit = Some(Box::new(move |n, _| sink.borrow_mut().push(n)));
                r.data_received(&pack::<P>(11));
                assert_eq!(*length.borrow(), [11]);
            }

            /// If a length prefix for a string longer than `MAX_LENGTH` is
            /// delivered to `dataReceived` at the same time as the entire
            /// string, the string is not passed to `stringReceived`.
            #[test]
            fn long_string_not_delivered() {
                let (mut r, t) = util::connect(
                    IntNStringReceiver::<P, _>::new(TestInt::default()).with_max_length(10),
                );
                r.data_received(&[pack::<P>(11), vec![b'x'; 11]].concat());
                assert!(r.handler().received.is_empty());
                assert!(t.is_disconnecting());
            }

            // `test_stringReceivedNotImplemented`: a required method.

            /// In stringReceived, recvd contains the remaining data that was
            /// passed to dataReceived that was not part of the current
            /// message.
            #[test]
            fn recvd_contains_remaining_data() {
                let result = shared::<Vec<Vec<u8>>>();
                let (mut r, _t) = get_protocol::<P>();
                let sink = result.clone();
                r.handler_mut().on_string = Some(Box::new(move |_, ctl| {
                    sink.borrow_mut().push(ctl.remaining().to_vec())
                }));
                let complete = [pack::<P>(5), vec![b'a'; 5]].concat();
                let incomplete = [pack::<P>(5), vec![b'b'; 4]].concat();
                // Receive a complete message, followed by an incomplete one.
                r.data_received(&[&complete[..], &incomplete[..]].concat());
                assert_eq!(*result.borrow(), [incomplete]);
            }

            /// In stringReceived, if recvd is changed, messages should be
            /// parsed from it rather than the input to dataReceived.
            #[test]
            fn recvd_changed() {
                let result = shared::<Vec<Vec<u8>>>();
                let (mut r, _t) = get_protocol::<P>();
                let payload_c = [b'c'; 5];
                let message_c = make_message::<P>(&payload_c);
                let sink = result.clone();
                r.handler_mut().on_string = Some(Box::new(move |s, ctl| {
                    if sink.borrow().is_empty() {
                        ctl.replace_remaining(message_c.clone());
                    }
                    sink.borrow_mut().push(s.to_vec());
                }));
                let message_a = make_message::<P>(&[b'a'; 5]);
                let message_b = make_message::<P>(&[b'b'; 5]);
                r.data_received(&[message_a, message_b].concat());
                assert_eq!(*result.borrow(), [vec![b'a'; 5], payload_c.to_vec()]);
            }

            /// Data already parsed by `IntNStringReceiver.dataReceived` is
            /// not reparsed if `stringReceived` consumes some of the
            /// `IntNStringReceiver.recvd` buffer.
            #[test]
            fn switching() {
                const SWITCH: &[u8] = b"\x00\x00\x00\x00";
                let (mut proto, _t) = get_protocol::<P>();
                let mix: Vec<u8> = STRINGS
                    .iter()
                    .flat_map(|s| [make_message::<P>(s), SWITCH.to_vec()].concat())
                    .collect();
                let result = shared::<Vec<Vec<u8>>>();
                let sink = result.clone();
                proto.handler_mut().on_string = Some(Box::new(move |s, ctl| {
                    sink.borrow_mut().push(s.to_vec());
                    let rest = ctl.remaining()[SWITCH.len()..].to_vec();
                    ctl.replace_remaining(rest);
                }));
                proto.data_received(&mix);
                // Just another byte, to trigger processing of anything that
                // might have been left in the buffer (should be nothing).
                proto.data_received(b"\x01");
                assert_eq!(*result.borrow(), STRINGS);
                // And verify that another way.
                assert_eq!(proto.buffered(), b"\x01");
            }

            /// The `IntNStringReceiver.recvd` buffer contains all data not
            /// yet processed by `IntNStringReceiver.dataReceived` if the
            /// `lengthLimitExceeded` event occurs.
            #[test]
            fn recvd_in_length_limit_exceeded() {
                const DATA: &[u8] = b"too long";
                let (mut proto, _t) = util::connect(
                    IntNStringReceiver::<P, _>::new(TestInt::default())
                        .with_max_length(DATA.len() - 1),
                );
                let message = make_message::<P>(DATA);
                let result = shared::<Vec<(usize, Vec<u8>)>>();
                let sink = result.clone();
                proto.handler_mut().on_limit = Some(Box::new(move |length, ctl| {
                    sink.borrow_mut().push((length, ctl.remaining().to_vec()))
                }));
                proto.data_received(&message);
                assert_eq!(*result.borrow(), [(DATA.len(), message)]);
            }

            /// Test specific behavior of the N-bits length.
            #[test]
            fn data() {
                let (expected_sent, incoming): (&[u8], &[u8]) = $data;
                let (mut r, t) = get_protocol::<P>();
                r.send_string(b"foo").unwrap();
                assert_eq!(t.value(), expected_sent);
                r.data_received(incoming);
                assert_eq!(r.handler().received, [b"ubar"]);
            }

            /// The handler sees the end of the connection.
            #[test]
            fn connection_lost() {
                let (mut r, _t) = get_protocol::<P>();
                r.connection_lost(Failure::new(torsion_reactor::error::ConnectionDone));
                assert!(r.handler().closed);
                assert!(r.transport().is_none());
            }
        }
    };
}

int_n_tests!(int32, torsion_protocols::Prefix32,
    illegal: &[b"\x10\x00\x00\x00aaaaaa"],
    partial: &[b"\x00\x00\x00", b"hello there", b""],
    data: (b"\x00\x00\x00\x03foo", b"\x00\x00\x00\x04ubar"));
int_n_tests!(int16, torsion_protocols::Prefix16,
    illegal: &[b"\x10\x00aaaaaa"],
    partial: &[b"\x00", b"hello there", b""],
    data: (b"\x00\x03foo", b"\x00\x04ubar"));
int_n_tests!(int8, torsion_protocols::Prefix8,
    illegal: &[b"\x00\x00aaaaaa"],
    partial: &[b"\x08", b"dzadz", b""],
    data: (b"\x03foo", b"\x04ubar"));

/// Send too much data: that should cause an error. (`Int16Tests`)
#[test]
fn int16_too_long_send() {
    let (r, t) = get_protocol::<torsion_protocols::Prefix16>();
    let error = r.send_string(&vec![b'b'; (1 << 16) + 1]).unwrap_err();
    assert_eq!((error.length, error.max), ((1 << 16) + 1, (1 << 16) - 1));
    assert!(t.value().is_empty());
}

/// Send too much data: that should cause an error. (`Int8Tests`)
#[test]
fn int8_too_long_send() {
    let (r, t) = get_protocol::<torsion_protocols::Prefix8>();
    assert!(r.send_string(&[b'b'; 256 + 1]).is_err());
    // The border: 255 bytes fit, 256 do not.
    assert!(r.send_string(&[b'b'; 256]).is_err());
    assert!(r.send_string(&[b'b'; 255]).is_ok());
    assert_eq!(t.value().len(), 256);
}

/// Pausing from a handler stops delivery; resuming delivers what waited.
#[test]
fn pause_and_resume() {
    let (mut r, t) = get_protocol::<torsion_protocols::Prefix8>();
    r.handler_mut().on_string = Some(Box::new(|s, ctl| {
        ctl.transport().unwrap().write(s);
        ctl.pause_producing();
    }));
    r.data_received(b"\x01a\x01b\x01c");
    assert_eq!(t.value(), b"a");
    assert!(r.is_paused());
    r.resume_producing();
    assert_eq!(t.value(), b"ab");
    r.resume_producing();
    assert_eq!(t.value(), b"abc");
    assert_eq!(r.prefix_length(), 1);
}
