//! `LineReceiver` against a plain `memchr` split (issue 8 item 3): 1 MiB of
//! 40-byte `\r\n`-terminated lines fed in 4 KiB chunks (so lines straddle
//! chunk ends), once through a connected `LineReceiver` whose handler
//! counts the lines, once through a minimal splitter: `memchr::memmem` for
//! the delimiter and a carry-over buffer for the unfinished tail. The
//! throughput is in lines.
//!
//! Run: `cargo bench -p torsion-protocols --bench line_receiver`
#![allow(missing_docs)] // criterion_group! generates undocumented public functions

use std::hint::black_box;
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use torsion_protocols::{LineControl, LineHandler, LineReceiver};
use torsion_reactor::Protocol;
use torsion_testing::StringTransport;

const TOTAL: usize = 1024 * 1024;
const LINE: usize = 40;
const CHUNK: usize = 4096;

/// `TOTAL / LINE` lines of `LINE` bytes, delimiter included.
fn input() -> Vec<u8> {
    let mut data = Vec::with_capacity(TOTAL);
    for i in 0..TOTAL / LINE {
        let body = format!("line {i:>10} of the benchmark input");
        data.extend_from_slice(&body.as_bytes()[..LINE - 2]);
        data.extend_from_slice(b"\r\n");
    }
    data
}

/// Counts lines and their bytes, so neither side can skip the work.
#[derive(Default)]
struct Count {
    lines: usize,
    bytes: usize,
}

impl LineHandler for Count {
    fn line_received(&mut self, line: &[u8], _ctl: &mut LineControl<'_>) {
        self.lines += 1;
        self.bytes += black_box(line).len();
    }
}

/// The baseline: the delimiter found with memchr's `memmem`, lines cut
/// straight out of the chunk, an unfinished tail carried to the next one.
struct Split {
    finder: memchr::memmem::Finder<'static>,
    carry: Vec<u8>,
    count: Count,
}

impl Split {
    fn new() -> Split {
        Split {
            finder: memchr::memmem::Finder::new(b"\r\n"),
            carry: Vec::new(),
            count: Count::default(),
        }
    }

    fn line(count: &mut Count, line: &[u8]) {
        count.lines += 1;
        count.bytes += black_box(line).len();
    }

    fn feed(&mut self, mut chunk: &[u8]) {
        if !self.carry.is_empty() {
            // Finish the carried line: its end is in this chunk (or not).
            // The delimiter may straddle: look from the carry's last byte.
            let from = self.carry.len() - 1;
            self.carry.extend_from_slice(chunk);
            let Some(i) = self.finder.find(&self.carry[from..]) else {
                return;
            };
            let end = from + i;
            Split::line(&mut self.count, &self.carry[..end]);
            chunk = &chunk[end + 2 - (self.carry.len() - chunk.len())..];
            self.carry.clear();
        }
        let mut start = 0;
        for i in self.finder.find_iter(chunk) {
            Split::line(&mut self.count, &chunk[start..i]);
            start = i + 2;
        }
        self.carry.extend_from_slice(&chunk[start..]);
    }
}

fn lines(c: &mut Criterion) {
    let data = input();
    let expected = TOTAL / LINE;
    let mut group = c.benchmark_group("lines_1MiB_in_4KiB_chunks");
    group.throughput(Throughput::Elements(expected as u64));
    group.bench_function("memchr_split", |b| {
        b.iter(|| {
            let mut split = Split::new();
            for chunk in data.chunks(CHUNK) {
                split.feed(black_box(chunk));
            }
            assert_eq!(split.count.lines, expected);
            split.count.bytes
        })
    });
    group.bench_function("line_receiver", |b| {
        let transport = Rc::new(StringTransport::new());
        b.iter(|| {
            let mut receiver = LineReceiver::new(Count::default());
            receiver.make_connection(transport.clone());
            for chunk in data.chunks(CHUNK) {
                receiver.data_received(black_box(chunk));
            }
            assert_eq!(receiver.handler().lines, expected);
            receiver.handler().bytes
        })
    });
    group.finish();
}

criterion_group!(benches, lines);
criterion_main!(benches);
