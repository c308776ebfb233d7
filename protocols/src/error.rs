//! The typed errors of the receivers: Twisted's `StringTooLongError` and
//! `NetstringParseError`, and a bad delimiter.

use std::error::Error;
use std::fmt;

/// A string too long for its length prefix was given to `send_string`:
/// Twisted's `StringTooLongError`.
///
/// # Examples
///
/// ```
/// use torsion_protocols::{StringTooLong, Int8StringReceiver, StringControl, StringHandler};
///
/// struct Quiet;
/// impl StringHandler for Quiet {
///     fn string_received(&mut self, _string: &[u8], _ctl: &mut StringControl<'_>) {}
/// }
///
/// let receiver = Int8StringReceiver::new(Quiet);
/// let error: StringTooLong = receiver.send_string(&[0; 256]).unwrap_err();
/// assert_eq!(error.length, 256);
/// assert_eq!(error.max, 255);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StringTooLong {
    /// How many bytes were to be sent.
    pub length: usize,
    /// The most the prefix can describe (`2^(8 * prefix bytes) - 1`).
    pub max: usize,
}

impl fmt::Display for StringTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot send a {}-byte string: the length prefix holds at most {}",
            self.length, self.max
        )
    }
}

impl Error for StringTooLong {}

/// Why a [`NetstringReceiver`](crate::NetstringReceiver) gave up on its
/// peer: Twisted's `NetstringParseError`, one variant per malformation.
///
/// The wire format is `<decimal length>:<payload>,` with the length `0` or
/// free of leading zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetstringParseError {
    /// The netstring does not start with a decimal digit.
    MissingLength {
        /// The byte found where a digit was expected.
        found: u8,
    },
    /// The length has a leading zero (`03:abc,`); only `0` itself may
    /// start with `0`.
    LeadingZero,
    /// The length digits are followed by something other than `:`.
    MissingColon {
        /// The byte found where `:` was expected.
        found: u8,
    },
    /// The length is larger than the receiver's maximum (or has more digits
    /// than the maximum could need).
    TooLong {
        /// The receiver's maximum length.
        max: usize,
    },
    /// The payload is not followed by `,`.
    MissingComma {
        /// The byte found where `,` was expected.
        found: u8,
    },
}

impl fmt::Display for NetstringParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetstringParseError::MissingLength { found } => write!(
                f,
                "the received netstring does not start with a length specification \
                 (found byte {found:#04x}, expected a decimal digit)"
            ),
            NetstringParseError::LeadingZero => {
                f.write_str("the length specification of the received netstring has a leading zero")
            }
            NetstringParseError::MissingColon { found } => write!(
                f,
                "the length specification of the received netstring is not followed by ':' \
                 (found byte {found:#04x})"
            ),
            NetstringParseError::TooLong { max } => {
                write!(f, "the received netstring is longer than the maximum {max}")
            }
            NetstringParseError::MissingComma { found } => write!(
                f,
                "the received netstring is not terminated by a comma (found byte {found:#04x})"
            ),
        }
    }
}

impl Error for NetstringParseError {}

/// A line delimiter must not be empty (Python's `split` refuses an empty
/// separator too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EmptyDelimiter;

impl fmt::Display for EmptyDelimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a line delimiter must be at least one byte long")
    }
}

impl Error for EmptyDelimiter {}
