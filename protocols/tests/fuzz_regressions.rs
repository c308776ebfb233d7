//! Inputs the fuzz targets (`fuzz/`, see `fuzz/README.md`) found, kept as
//! ordinary tests.

mod util;

use torsion_protocols::{LineOnlyControl, LineOnlyHandler, LineOnlyReceiver};
use torsion_reactor::{Protocol, Transport};
use util::connect;

#[derive(Default)]
struct Lines(Vec<Vec<u8>>);

impl LineOnlyHandler for Lines {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineOnlyControl<'_>) {
        self.0.push(line.to_vec());
    }
}

/// `line_only_receiver`: with `max_length` near `usize::MAX`, the check on
/// the unfinished tail computed `max_length + delimiter.len()` and
/// overflowed (a panic with debug assertions, and in release a wrapped
/// limit that called every tail too long and dropped the connection).
#[test]
fn line_only_max_length_near_usize_max() {
    for max_length in [usize::MAX, usize::MAX - 1] {
        let receiver = LineOnlyReceiver::new(Lines::default())
            .with_delimiter([197])
            .unwrap()
            .with_max_length(max_length);
        let (mut receiver, transport) = connect(receiver);
        receiver.data_received(b"");
        receiver.data_received(b"ab\xc5cd");
        receiver.data_received(b"e\xc5f");
        assert_eq!(receiver.handler().0, [b"ab".to_vec(), b"cde".to_vec()]);
        assert_eq!(receiver.buffered(), b"f");
        assert!(!transport.is_disconnecting());
    }
}
