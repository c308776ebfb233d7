//! Framing helpers: Twisted's `twisted.protocols.basic`.
//!
//! Each receiver is a [`Protocol`](torsion_reactor::Protocol) that cuts the
//! byte stream into frames and hands them to a handler you write and the
//! receiver owns:
//!
//! | receiver | handler trait | Twisted |
//! |---|---|---|
//! | [`LineReceiver`] | [`LineHandler`] | `LineReceiver` (lines and raw mode) |
//! | [`LineOnlyReceiver`] | [`LineOnlyHandler`] | `LineOnlyReceiver` |
//! | [`Int8StringReceiver`], [`Int16StringReceiver`], [`Int32StringReceiver`] | [`StringHandler`] | `Int8StringReceiver`, ... |
//! | [`NetstringReceiver`] | [`StringHandler`] | `NetstringReceiver` |
//!
//! Handler methods get the frame as a slice of the receive buffer (or of the
//! incoming chunk itself, when nothing was buffered) and a control handle
//! ([`LineControl`], [`LineOnlyControl`], [`StringControl`]) to send, switch
//! modes, pause or reach the transport. Get your handler back with
//! `handler()`, `handler_mut()` or `into_handler()`.
//!
//! Also here: [`FileSender`], a pull producer that streams any `Read` to a
//! consumer, and [`policies`] (Twisted's `twisted.protocols.policies`):
//! idle timeouts, throttling, connection limits and traffic logging that
//! wrap any factory without its protocols knowing.
//!
//! # Example
//!
//! A line-based key/value protocol whose `PUT key len` command switches to
//! raw mode for the value, tested over a
//! `torsion_testing::StringTransport`:
//!
//! ```
//! use std::{collections::HashMap, rc::Rc};
//! use torsion_protocols::{LineControl, LineHandler, LineReceiver};
//! use torsion_reactor::Protocol;
//! use torsion_testing::StringTransport;
//!
//! #[derive(Default)]
//! struct Store {
//!     values: HashMap<Vec<u8>, Vec<u8>>,
//!     /// The key being written and how many bytes are still expected.
//!     putting: Option<(Vec<u8>, usize)>,
//! }
//!
//! impl LineHandler for Store {
//!     fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
//!         let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
//!         match words.as_slice() {
//!             [b"GET", key] => match self.values.get(*key) {
//!                 Some(value) => ctl.send_line(value),
//!                 None => ctl.send_line(b"NOT FOUND"),
//!             },
//!             [b"PUT", key, len] => {
//!                 let len = std::str::from_utf8(len).ok().and_then(|l| l.parse().ok());
//!                 match len {
//!                     Some(len) => {
//!                         self.values.insert(key.to_vec(), Vec::new());
//!                         self.putting = Some((key.to_vec(), len));
//!                         ctl.set_raw_mode();
//!                     }
//!                     None => ctl.send_line(b"BAD LENGTH"),
//!                 }
//!             }
//!             [b"QUIT"] => ctl.lose_connection(),
//!             _ => ctl.send_line(b"UNKNOWN"),
//!         }
//!     }
//!
//!     fn raw_data_received(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
//!         let Some((key, missing)) = &mut self.putting else {
//!             return ctl.lose_connection();
//!         };
//!         let take = (*missing).min(data.len());
//!         self.values.entry(key.clone()).or_default().extend_from_slice(&data[..take]);
//!         *missing -= take;
//!         if *missing == 0 {
//!             self.putting = None;
//!             ctl.send_line(b"STORED");
//!             ctl.set_line_mode(&data[take..]);
//!         }
//!     }
//! }
//!
//! let transport = Rc::new(StringTransport::new());
//! let mut store = LineReceiver::new(Store::default());
//! store.make_connection(transport.clone());
//!
//! // Split anywhere: the frames are the same.
//! store.data_received(b"PUT greeting 11\r\nhello");
//! store.data_received(b" worldGET greeting\r\nGET nothing\r\nQUIT\r\nGET greeting\r\n");
//! assert_eq!(transport.value_str(), "STORED\r\nhello world\r\nNOT FOUND\r\n");
//! assert_eq!(store.handler().values[&b"greeting"[..]], b"hello world");
//! ```
//!
//! # Twisted
//!
//! Python subclasses `LineReceiver` and overrides `lineReceived`; here the
//! receiver is generic over a handler trait, and what the subclass reached
//! through `self` (`sendLine`, `setRawMode`, `transport`, `recvd`) is on the
//! control handle. Twisted's re-entrant `dataReceived` (from
//! `setLineMode(extra)` inside a callback) is the control's
//! [`set_line_mode`](LineControl::set_line_mode), which only buffers, as
//! Twisted does. Per-type differences are under `# Twisted` on each type.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

#[macro_use]
mod accessors;
mod error;
mod file_sender;
mod flow;
mod int_n;
mod line_handler;
mod line_only;
mod line_receiver;
mod netstring;
pub mod policies;
mod string_core;
mod string_handler;

pub use error::{EmptyDelimiter, NetstringParseError, StringTooLong};
pub use file_sender::{FileSender, CHUNK_SIZE};
pub use flow::ReceiverProducer;
pub use int_n::{
    Int16StringReceiver, Int32StringReceiver, Int8StringReceiver, IntNStringReceiver, Prefix16,
    Prefix32, Prefix8, PrefixWidth, DEFAULT_MAX_STRING_LENGTH,
};
pub use line_handler::{LineControl, LineHandler};
pub use line_only::{LineOnlyControl, LineOnlyHandler, LineOnlyReceiver};
pub use line_receiver::{LineReceiver, DEFAULT_DELIMITER, DEFAULT_MAX_LINE_LENGTH};
pub use netstring::NetstringReceiver;
pub use string_handler::{StringControl, StringHandler};
