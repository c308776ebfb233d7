//! Framing helpers (Twisted's `twisted.protocols.basic`): the receivers are
//! being written; see the protocols issue.
//!
//! ```
//! // The crate is empty for now; this keeps its doc test honest.
//! assert_eq!(1 + 1, 2);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]
