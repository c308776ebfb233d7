//! The checks behind Torsion's fuzz targets.
//!
//! Each target in `fuzz_targets/` turns libFuzzer's bytes into one of the
//! input types here (with `arbitrary`) and calls the matching `check_*`
//! function, which panics when an invariant breaks. Keeping the checks in a
//! library lets `cargo test` replay the committed corpus on a stable
//! toolchain, without libFuzzer (see `tests/corpus.rs`).

#![forbid(unsafe_code)]

pub mod endpoint;
pub mod lines;
pub mod strings;
pub mod tls;

use std::rc::Rc;

use arbitrary::Arbitrary;
use torsion_reactor::{Protocol, Transport};
use torsion_testing::StringTransport;

/// Cuts `data` into the chunks `data_received` is called with: `sizes` are
/// cycled through until `data` is used up. A size of 0 is an empty call.
/// No sizes means one call with everything; only zeros means that many
/// empty calls, then everything.
pub fn split<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.iter().all(|&s| s == 0) {
        let mut chunks: Vec<&[u8]> = sizes.iter().map(|_| &data[..0]).collect();
        chunks.push(data);
        return chunks;
    }
    let mut chunks = Vec::new();
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        let end = (pos + usize::from(size)).min(data.len());
        chunks.push(&data[pos..end]);
        pos = end;
    }
    chunks
}

/// Feeds `chunks` to `protocol` on a fresh transport until the transport
/// is disconnecting (a real one stops reading then); returns the transport
/// and how many bytes were fed.
pub fn feed<P: Protocol>(protocol: &mut P, chunks: &[&[u8]]) -> (Rc<StringTransport>, usize) {
    let transport = Rc::new(StringTransport::new());
    protocol.make_connection(transport.clone());
    let mut fed = 0;
    for chunk in chunks {
        if transport.is_disconnecting() {
            break;
        }
        protocol.data_received(chunk);
        fed += chunk.len();
    }
    (transport, fed)
}

/// The chaos drivers' plan: chunks cut by the low 5 bits of each size,
/// each followed by the action in its top 3 bits (0 after the sizes run
/// out).
pub fn chaos_plan<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<(&'a [u8], u8)> {
    let low: Vec<u8> = sizes.iter().map(|s| s & 0x1f).collect();
    let actions = sizes.iter().map(|s| s >> 5).chain(std::iter::repeat(0));
    split(data, &low).into_iter().zip(actions).collect()
}

/// A receiver's maximum frame length, biased towards the interesting ones:
/// tiny, the default, and right at the top of `usize` (overflow checks).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxLength {
    /// A small limit that inputs easily exceed.
    Small(u8),
    /// The receiver's default.
    Default,
    /// `usize::MAX - n`.
    NearMax(u8),
}

impl MaxLength {
    /// The limit, given the receiver's default.
    pub fn get(self, default: usize) -> usize {
        match self {
            MaxLength::Small(n) => usize::from(n),
            MaxLength::Default => default,
            MaxLength::NearMax(n) => usize::MAX - usize::from(n),
        }
    }
}

/// Where `needle` first occurs in `haystack` (a naive reference search).
pub fn naive_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_covers_the_input() {
        let data = b"abcdefg";
        for sizes in [&[][..], &[0], &[0, 0], &[1], &[3, 0], &[200], &[2, 5, 0]] {
            let chunks = split(data, sizes);
            assert_eq!(chunks.concat(), data, "{sizes:?}");
        }
        assert_eq!(split(b"abc", &[0, 0]), [&b""[..], b"", b"abc"]);
        assert_eq!(split(b"abcd", &[0, 3]), [&b""[..], b"abc", b"", b"d"]);
    }
}
