//! `Int8/16/32StringReceiver` and `NetstringReceiver`, fed in arbitrary
//! chunks.

use std::rc::Rc;

use arbitrary::Arbitrary;
use torsion_protocols::{
    IntNStringReceiver, NetstringParseError, NetstringReceiver, PrefixWidth, StringControl,
    StringHandler, DEFAULT_MAX_STRING_LENGTH,
};
use torsion_reactor::{Protocol, Transport};
use torsion_testing::StringTransport;

use crate::{chaos_plan, feed, split, MaxLength};

/// A fuzz input for the string receivers.
#[derive(Arbitrary, Debug, Clone)]
pub struct StringInput {
    /// The maximum string length.
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

/// How strings are framed, for the reference encoder and parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Prefix(usize),
    Netstring,
}

impl Framing {
    fn encode(self, string: &[u8]) -> Vec<u8> {
        match self {
            Framing::Prefix(bytes) => {
                let prefix = (string.len() as u64).to_be_bytes();
                [&prefix[8 - bytes..], string].concat()
            }
            Framing::Netstring => {
                [string.len().to_string().as_bytes(), b":", string, b","].concat()
            }
        }
    }
}

/// What a scripted handler saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StringEvent {
    String(Vec<u8>),
    Exceeded(usize),
}

/// Records strings; a string starting with `S` is sent back. (None loses
/// the connection: as in Twisted, the strings after it in the same chunk
/// are still delivered, so that would depend on the chunking.)
#[derive(Debug)]
struct Scripted {
    framing: Framing,
    events: Vec<StringEvent>,
    /// The frames received, re-encoded: a prefix of the input.
    consumed: Vec<u8>,
}

impl Scripted {
    fn new(framing: Framing) -> Scripted {
        Scripted {
            framing,
            events: Vec::new(),
            consumed: Vec::new(),
        }
    }
}

impl StringHandler for Scripted {
    fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>) {
        self.events.push(StringEvent::String(string.to_vec()));
        self.consumed
            .extend_from_slice(&self.framing.encode(string));
        if string.first() == Some(&b'S') {
            ctl.send_string(string).expect("a received string fits");
        }
    }

    fn length_limit_exceeded(&mut self, length: usize, ctl: &mut StringControl<'_>) {
        self.events.push(StringEvent::Exceeded(length));
        ctl.lose_connection();
    }
}

/// The receivers under test, behind one interface.
trait Receiver: Protocol {
    type Handler;
    fn handler(&self) -> &Self::Handler;
    fn buffered(&self) -> &[u8];
    fn broken(&self) -> Option<NetstringParseError>;
    fn resume(&mut self);
    fn pause(&mut self);
}

/// Implements [`Receiver`] for a receiver type (`broken` is the only
/// difference, the rest are the inherent methods of the same names).
macro_rules! receiver {
    ([$($generics:tt)*] $type:ty, $broken:expr) => {
        impl<$($generics)*> Receiver for $type {
            type Handler = H;
            fn handler(&self) -> &H {
                <$type>::handler(self)
            }
            fn buffered(&self) -> &[u8] {
                <$type>::buffered(self)
            }
            fn broken(&self) -> Option<NetstringParseError> {
                $broken(self)
            }
            fn resume(&mut self) {
                self.resume_producing();
            }
            fn pause(&mut self) {
                self.pause_producing();
            }
        }
    };
}

receiver!([P: PrefixWidth, H: StringHandler] IntNStringReceiver<P, H>, |_| None);
receiver!([H: StringHandler] NetstringReceiver<H>, |r: &NetstringReceiver<H>| r
    .broken_peer()
    .copied());

/// What the start of `data` holds, by a simple reference parser.
#[derive(Debug, PartialEq, Eq)]
enum Reference {
    Incomplete,
    Exceeded(usize),
    Broken(NetstringParseError),
}

fn reference(framing: Framing, data: &[u8], max: usize) -> Reference {
    match framing {
        Framing::Prefix(bytes) => {
            let Some(prefix) = data.get(..bytes) else {
                return Reference::Incomplete;
            };
            let length = prefix.iter().fold(0u128, |n, &b| n * 256 + u128::from(b));
            if length > max as u128 {
                return Reference::Exceeded(length as usize);
            }
            assert!(
                (data.len() as u128) < bytes as u128 + length,
                "a whole frame left"
            );
            Reference::Incomplete
        }
        Framing::Netstring => {
            let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
            let broken = |e| Reference::Broken(e);
            if digits == 0 {
                return match data.first() {
                    None => Reference::Incomplete,
                    Some(&found) => broken(NetstringParseError::MissingLength { found }),
                };
            }
            if data[0] == b'0' && digits > 1 {
                return broken(NetstringParseError::LeadingZero);
            }
            // The value of the digits, saturated well above any maximum.
            let value = data[..digits].iter().fold(0u128, |n, &d| {
                (n * 10 + u128::from(d - b'0')).min(u128::from(u64::MAX) * 16)
            });
            if value > max as u128 {
                return broken(NetstringParseError::TooLong { max });
            }
            match data.get(digits) {
                None => return Reference::Incomplete,
                Some(b':') => {}
                Some(&found) => return broken(NetstringParseError::MissingColon { found }),
            }
            match data.get(digits + 1 + value as usize) {
                None => Reference::Incomplete,
                Some(b',') => panic!("a whole netstring left in {data:?}"),
                Some(&found) => broken(NetstringParseError::MissingComma { found }),
            }
        }
    }
}

fn check<R: Receiver<Handler = Scripted>>(
    framing: Framing,
    max_length: usize,
    build: impl Fn() -> R,
    input: &StringInput,
) {
    let data = &input.data[..];
    let (mut whole, mut split_up) = (build(), build());
    let (whole_transport, _) = feed(&mut whole, &[data]);
    let (split_transport, fed) = feed(&mut split_up, &split(data, &input.sizes));
    assert_eq!(whole.handler().events, split_up.handler().events);
    assert_eq!(whole.broken(), split_up.broken());
    assert_eq!(whole_transport.value(), split_transport.value());
    for (receiver, transport, fed) in [
        (&whole, &whole_transport, data.len()),
        (&split_up, &split_transport, fed),
    ] {
        let handler = receiver.handler();
        let consumed = &handler.consumed;
        assert_eq!(&data[..consumed.len()], &consumed[..], "not a prefix");
        for event in &handler.events {
            match event {
                StringEvent::String(s) => assert!(s.len() <= max_length),
                StringEvent::Exceeded(n) => assert!(*n > max_length),
            }
        }
        let rest = &data[consumed.len()..];
        let expected = reference(framing, rest, max_length);
        if let Some(error) = receiver.broken() {
            assert_eq!(expected, Reference::Broken(error), "{rest:?}");
            assert!(transport.is_disconnecting());
            assert!(receiver.buffered().is_empty());
            continue;
        }
        if let Some(StringEvent::Exceeded(n)) = handler.events.last() {
            assert_eq!(expected, Reference::Exceeded(*n), "{rest:?}");
            assert!(rest.starts_with(receiver.buffered()));
            continue;
        }
        assert_eq!(receiver.buffered(), &rest[..fed - consumed.len()]);
        if !transport.is_disconnecting() {
            // Only an unfinished frame is left.
            assert_eq!(
                reference(framing, receiver.buffered(), max_length),
                Reference::Incomplete
            );
        }
    }
}

/// Uses every control: the first byte of a string picks one.
#[derive(Debug)]
struct Chaos {
    framing: Framing,
    /// Frame bytes delivered (re-encoded) and bytes skipped with
    /// `replace_remaining`.
    out: usize,
}

impl Chaos {
    fn act(&mut self, byte: u8, ctl: &mut StringControl<'_>) {
        match byte % 8 {
            0 => ctl.pause_producing(),
            1 => ctl.resume_producing(),
            2 => {
                let skip = ctl.remaining().len().min(usize::from(byte >> 3));
                let rest = ctl.remaining()[skip..].to_vec();
                self.out += skip;
                ctl.replace_remaining(rest);
            }
            3 => {
                let same = ctl.remaining().to_vec();
                ctl.replace_remaining(same);
            }
            4 => ctl.lose_connection(),
            5 => ctl.stop_producing(),
            6 => {
                let _ = ctl.send_string(&[byte]);
            }
            _ => {}
        }
    }
}

impl StringHandler for Chaos {
    fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>) {
        self.out += self.framing.encode(string).len();
        if let Some(&byte) = string.first() {
            self.act(byte, ctl);
        }
    }

    fn length_limit_exceeded(&mut self, length: usize, ctl: &mut StringControl<'_>) {
        self.act(length as u8, ctl);
    }
}

fn chaos<R: Receiver<Handler = Chaos>>(mut receiver: R, input: &StringInput) {
    let transport = Rc::new(StringTransport::lenient());
    receiver.make_connection(transport);
    for (chunk, action) in chaos_plan(&input.data, &input.sizes) {
        receiver.data_received(chunk);
        match action {
            1 => receiver.resume(),
            2 => receiver.pause(),
            _ => {}
        }
    }
    receiver.resume();
    if receiver.broken().is_some() {
        assert!(receiver.buffered().is_empty());
        return;
    }
    assert_eq!(
        receiver.handler().out + receiver.buffered().len(),
        input.data.len(),
        "bytes lost or made up"
    );
}

/// Runs an `Int{8,16,32}StringReceiver` (prefix width `P`) over the input.
pub fn check_int_n<P: PrefixWidth>(input: &StringInput) {
    let framing = Framing::Prefix(P::BYTES);
    let max_length = input.max_length.get(DEFAULT_MAX_STRING_LENGTH);
    if input.chaos {
        let handler = Chaos { framing, out: 0 };
        let receiver = IntNStringReceiver::<P, _>::new(handler).with_max_length(max_length);
        return chaos(receiver, input);
    }
    let build = || {
        let handler = Scripted::new(framing);
        IntNStringReceiver::<P, _>::new(handler).with_max_length(max_length)
    };
    check(framing, max_length, build, input);
}

/// Runs a `NetstringReceiver` over the input.
pub fn check_netstring(input: &StringInput) {
    let framing = Framing::Netstring;
    let max_length = input.max_length.get(DEFAULT_MAX_STRING_LENGTH);
    if input.chaos {
        let handler = Chaos { framing, out: 0 };
        let receiver = NetstringReceiver::new(handler).with_max_length(max_length);
        return chaos(receiver, input);
    }
    let build = || {
        let handler = Scripted::new(framing);
        NetstringReceiver::new(handler).with_max_length(max_length)
    };
    check(framing, max_length, build, input);
}
