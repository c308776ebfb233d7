//! Property tests: no input, however chunked, makes a receiver panic; and
//! for receivers whose handlers only collect, chunking never changes the
//! frames delivered.

mod util;

use std::rc::Rc;

use proptest::prelude::*;
use torsion_protocols::{
    Int16StringReceiver, Int32StringReceiver, Int8StringReceiver, LineControl, LineHandler,
    LineOnlyControl, LineOnlyHandler, LineOnlyReceiver, LineReceiver, NetstringReceiver,
    StringControl, StringHandler,
};
use torsion_reactor::{Protocol, Transport};
use torsion_testing::StringTransport;

/// Cuts `data` into chunks of the given sizes, cycling through them.
fn chunk<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut pos = 0;
    for size in sizes.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        let end = (pos + size).min(data.len());
        chunks.push(&data[pos..end]);
        pos = end;
    }
    chunks
}

/// A handler that does everything a handler can, driven by the input.
#[derive(Default)]
struct Chaos {
    count: usize,
}

impl LineHandler for Chaos {
    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        self.count += 1;
        match line.first().map(|b| b % 8) {
            Some(0) => ctl.set_raw_mode(),
            Some(1) => ctl.pause_producing(),
            Some(2) => {
                let _ = ctl.clear_line_buffer();
            }
            Some(3) => ctl.send_line(line),
            Some(4) => ctl.set_line_mode(line),
            Some(5) => ctl.resume_producing(),
            _ => {}
        }
    }

    fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        if data.len() > 1 {
            ctl.set_line_mode(&data[1..]);
        } else if data.first() == Some(&0) {
            ctl.lose_connection();
        }
    }

    fn line_length_exceeded(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        // Feeds part of the data back rather than closing.
        if data.len() > 3 {
            ctl.set_line_mode(&data[3..]);
        }
    }
}

#[derive(Default)]
struct Lines(Vec<Vec<u8>>);

impl LineHandler for Lines {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineControl<'_>) {
        self.0.push(line.to_vec());
    }
}

impl LineOnlyHandler for Lines {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineOnlyControl<'_>) {
        self.0.push(line.to_vec());
    }
}

/// Collects strings; with `replace`, also skips a byte through
/// `replace_remaining` now and then.
#[derive(Default)]
struct Strings {
    seen: Vec<Vec<u8>>,
    replace: bool,
}

impl StringHandler for Strings {
    fn string_received(&mut self, string: &[u8], ctl: &mut StringControl<'_>) {
        self.seen.push(string.to_vec());
        if self.replace && string.first() == Some(&1) {
            let rest = ctl.remaining().get(1..).unwrap_or_default().to_vec();
            ctl.replace_remaining(rest);
        }
        if string.first() == Some(&2) {
            ctl.pause_producing();
        }
    }
}

/// Feeds chunks, resuming between chunks, on a lenient transport (pausing a
/// disconnecting transport is allowed, as a real one would not complain).
fn hammer<P: Protocol>(mut protocol: P, chunks: &[&[u8]]) -> P {
    let transport = Rc::new(StringTransport::lenient());
    protocol.make_connection(transport);
    for chunk in chunks {
        protocol.data_received(chunk);
    }
    protocol
}

/// Feeds chunks until the transport is disconnecting; returns the protocol.
fn collect<P: Protocol>(mut protocol: P, chunks: &[&[u8]]) -> P {
    let transport = Rc::new(StringTransport::lenient());
    protocol.make_connection(transport.clone());
    for chunk in chunks {
        if transport.is_disconnecting() {
            break;
        }
        protocol.data_received(chunk);
    }
    protocol
}

fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet, so that delimiters and short lines are common.
    prop::collection::vec(
        prop::sample::select(vec![b'\r', b'\n', b'a', b'\0', 1, 2, 3, 4, 5]),
        0..400,
    )
}

fn netstring_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"0123:,a9".to_vec()), 0..200)
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..24, 1..8)
}

proptest! {
    #[test]
    fn line_receiver_never_panics(data in any::<Vec<u8>>(), lines in line_bytes(), sizes in sizes()) {
        for input in [&data, &lines] {
            let mut receiver = LineReceiver::new(Chaos::default()).with_max_length(7);
            receiver = hammer(receiver, &chunk(input, &sizes));
            receiver.resume_producing();
            receiver.set_line_mode(b"\r\n");
            let _ = receiver.clear_line_buffer();
            let _ = LineReceiver::new(Chaos::default()).with_delimiter("\n\n").map(|r| hammer(r, &chunk(input, &sizes)));
        }
    }

    #[test]
    fn string_receivers_never_panic(data in any::<Vec<u8>>(), nets in netstring_bytes(), sizes in sizes()) {
        for input in [&data, &nets] {
            let chunks = chunk(input, &sizes);
            let strings = || Strings { seen: Vec::new(), replace: true };
            hammer(Int8StringReceiver::new(strings()).with_max_length(20), &chunks).resume_producing();
            hammer(Int16StringReceiver::new(strings()), &chunks).resume_producing();
            hammer(Int32StringReceiver::new(strings()).with_max_length(usize::MAX), &chunks).resume_producing();
            hammer(NetstringReceiver::new(strings()).with_max_length(9), &chunks).resume_producing();
            hammer(NetstringReceiver::new(strings()).with_max_length(usize::MAX), &chunks);
            hammer(LineOnlyReceiver::new(Lines::default()).with_max_length(5), &chunks);
        }
    }

    #[test]
    fn line_frames_do_not_depend_on_chunking(data in line_bytes(), sizes in sizes()) {
        let whole = collect(LineReceiver::new(Lines::default()).with_max_length(6), &[&data]);
        let split = collect(LineReceiver::new(Lines::default()).with_max_length(6), &chunk(&data, &sizes));
        prop_assert_eq!(&whole.handler().0, &split.handler().0);

        let whole = collect(LineOnlyReceiver::new(Lines::default()).with_max_length(6), &[&data]);
        let split = collect(LineOnlyReceiver::new(Lines::default()).with_max_length(6), &chunk(&data, &sizes));
        prop_assert_eq!(&whole.handler().0, &split.handler().0);
    }

    #[test]
    fn string_frames_do_not_depend_on_chunking(data in any::<Vec<u8>>(), nets in netstring_bytes(), sizes in sizes()) {
        let chunks = chunk(&data, &sizes);
        let whole = collect(Int8StringReceiver::new(Strings::default()).with_max_length(30), &[&data]);
        let split = collect(Int8StringReceiver::new(Strings::default()).with_max_length(30), &chunks);
        prop_assert_eq!(&whole.handler().seen, &split.handler().seen);

        let whole = collect(Int16StringReceiver::new(Strings::default()), &[&data]);
        let split = collect(Int16StringReceiver::new(Strings::default()), &chunks);
        prop_assert_eq!(&whole.handler().seen, &split.handler().seen);

        let chunks = chunk(&nets, &sizes);
        let whole = collect(NetstringReceiver::new(Strings::default()).with_max_length(99), &[&nets]);
        let split = collect(NetstringReceiver::new(Strings::default()).with_max_length(99), &chunks);
        prop_assert_eq!(&whole.handler().seen, &split.handler().seen);
        prop_assert_eq!(whole.broken_peer(), split.broken_peer());
    }
}
