//! Twisted's error classes (`twisted.internet.error`, `twisted.internet.defer`)
//! as Rust types.
//!
//! Each is a distinct type so that a [`Failure`](crate::Failure) can be
//! checked and trapped by type, as Twisted checks by class:
//! `failure.check::<ConnectionDone>()`.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::Address;

/// Declares a field-less error type with a fixed message.
macro_rules! unit_error {
    ($(#[$doc:meta])* $name:ident, $message:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($message)
            }
        }

        impl Error for $name {}
    };
}

unit_error!(
    /// A [`Deferred`](crate::Deferred) was cancelled (`defer.CancelledError`).
    CancelledError,
    "the Deferred was cancelled"
);
unit_error!(
    /// A [`Deferred`](crate::Deferred) was fired twice (`defer.AlreadyCalledError`).
    AlreadyCalledError,
    "the Deferred has already been fired"
);
unit_error!(
    /// The connection was closed cleanly (`error.ConnectionDone`): the normal
    /// reason given to `connection_lost` after `lose_connection` or a peer's FIN.
    ConnectionDone,
    "connection was closed cleanly"
);
unit_error!(
    /// The connection was aborted by `abort_connection` (`error.ConnectionAborted`).
    ConnectionAborted,
    "connection was aborted locally"
);
unit_error!(
    /// A factory refused to build a protocol (`error.NoProtocol`).
    NoProtocol,
    "the factory did not build a protocol for this connection"
);
unit_error!(
    /// `stop_connecting` on a connector that is not connecting (`error.NotConnectingError`).
    NotConnectingError,
    "the connector is not connecting"
);
unit_error!(
    /// A listening port was asked to stop while not listening (`error.NotListeningError`).
    NotListeningError,
    "the port is not listening"
);
unit_error!(
    /// The user stopped a connection attempt (`error.UserError`).
    UserError,
    "the connection attempt was stopped by the user"
);
/// An error that is only a message: Twisted's bare `Exception("...")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    message: String,
}

impl Message {
    /// An error whose `Display` is `message`.
    pub fn new(message: impl Into<String>) -> Message {
        Message {
            message: message.into(),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Message {}

/// Something timed out (`error.TimeoutError` / `defer.TimeoutError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutError {
    /// How long was waited, when known.
    pub timeout: Option<Duration>,
    /// What timed out, e.g. `"Deferred"` or `"connect to 127.0.0.1:80"`.
    pub what: String,
}

impl TimeoutError {
    /// `what` timed out after `timeout`.
    pub fn new(timeout: Option<Duration>, what: impl Into<String>) -> TimeoutError {
        TimeoutError {
            timeout,
            what: what.into(),
        }
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.timeout {
            Some(t) => write!(f, "{} timed out after {:?}", self.what, t),
            None => write!(f, "{} timed out", self.what),
        }
    }
}

impl Error for TimeoutError {}

/// Declares an error wrapping an optional `io::Error` cause.
macro_rules! io_error {
    ($(#[$doc:meta])* $name:ident, $message:literal) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub struct $name {
            /// The operating-system error behind it, if any.
            pub source: Option<io::Error>,
        }

        impl $name {
            /// With no OS error attached.
            pub fn new() -> $name {
                $name { source: None }
            }

            /// Caused by the OS error `error`.
            pub fn from_io(error: io::Error) -> $name {
                $name { source: Some(error) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($message)
            }
        }

        impl Error for $name {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.source.as_ref().map(|e| e as &(dyn Error + 'static))
            }
        }
    };
}

mod defer;
mod task;
mod udp;
pub use defer::{
    CircularChainError, DeferredTypeError, FailureGroup, FirstError, InvalidTokens, PanicError,
    QueueOverflow, QueueUnderflow,
};
pub use task::{LoopingCallError, SchedulerError};
pub use udp::{MulticastJoinError, UdpError};

io_error!(
    /// The connection was lost uncleanly (`error.ConnectionLost`): a reset, a
    /// read or write error, or the reactor shutting down.
    ConnectionLost,
    "connection to the other side was lost in a non-clean fashion"
);
io_error!(
    /// The peer refused the connection (`error.ConnectionRefusedError`).
    ConnectionRefused,
    "connection was refused by other side"
);
io_error!(
    /// A connection attempt failed for another reason (`error.ConnectError`).
    ConnectError,
    "an error occurred while connecting"
);

/// A connection attempt was cancelled (`error.ConnectingCancelledError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectingCancelledError {
    /// Where the cancelled attempt was going.
    pub address: Address,
}

impl fmt::Display for ConnectingCancelledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connecting to {} was cancelled", self.address)
    }
}

impl Error for ConnectingCancelledError {}

/// A host name did not resolve (`error.DNSLookupError`).
#[derive(Debug)]
pub struct DnsLookupError {
    /// The name that was looked up.
    pub host: String,
    /// The resolver's error, if any (none means "no addresses").
    pub source: Option<io::Error>,
}

impl fmt::Display for DnsLookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DNS lookup of {:?} failed", self.host)?;
        if self.source.is_none() {
            f.write_str(": no addresses")?;
        }
        Ok(())
    }
}

impl Error for DnsLookupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

/// A port could not be listened on (`error.CannotListenError`).
#[derive(Debug)]
pub struct CannotListenError {
    /// The interface asked for (`""` for all).
    pub interface: String,
    /// The port (or, for UNIX sockets, 0).
    pub port: u16,
    /// The OS error.
    pub source: io::Error,
}

impl fmt::Display for CannotListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let interface = if self.interface.is_empty() {
            "any"
        } else {
            &self.interface
        };
        write!(f, "couldn't listen on {interface}:{}", self.port)
    }
}

impl Error for CannotListenError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Misuse of the producer/consumer API (Twisted raises `RuntimeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProducerError {
    /// `register_producer` while a producer is already registered.
    AlreadyRegistered,
    /// `unregister_producer` with none registered.
    NotRegistered,
    /// `pause_producing`/`resume_producing` on a stopped or disconnecting producer.
    NotProducing,
}

impl fmt::Display for ProducerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProducerError::AlreadyRegistered => "a producer is already registered",
            ProducerError::NotRegistered => "no producer is registered",
            ProducerError::NotProducing => "the producer is stopped or disconnecting",
        })
    }
}

impl Error for ProducerError {}

/// A [`DelayedCall`](crate::DelayedCall) can no longer be changed
/// (`error.AlreadyCalled` / `error.AlreadyCancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DelayedCallError {
    /// It already ran.
    AlreadyCalled,
    /// It was already cancelled.
    AlreadyCancelled,
}

impl fmt::Display for DelayedCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DelayedCallError::AlreadyCalled => "the delayed call has already been called",
            DelayedCallError::AlreadyCancelled => "the delayed call has already been cancelled",
        })
    }
}

impl Error for DelayedCallError {}

/// Misuse of the reactor's lifecycle, or the event loop's own failure
/// (Twisted's `ReactorAlreadyRunning`, `ReactorNotRunning`,
/// `ReactorNotRestartable`).
#[derive(Debug)]
#[non_exhaustive]
pub enum ReactorError {
    /// `run()` while it is running.
    AlreadyRunning,
    /// `stop()` while it is not running, or already stopping.
    NotRunning,
    /// `run()` after it ran and stopped.
    NotRestartable,
    /// The event loop itself failed.
    Io(io::Error),
}

impl fmt::Display for ReactorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReactorError::AlreadyRunning => f.write_str("the reactor is already running"),
            ReactorError::NotRunning => f.write_str("the reactor is not running"),
            ReactorError::NotRestartable => f.write_str("the reactor cannot be restarted"),
            ReactorError::Io(e) => write!(f, "the event loop failed: {e}"),
        }
    }
}

impl Error for ReactorError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ReactorError::Io(e) => Some(e),
            _ => None,
        }
    }
}

unit_error!(
    /// A call was queued from another thread after the reactor went away.
    ReactorGone,
    "the reactor is gone; the call was not queued"
);

pub use crate::process_error::{
    ChildFdError, ProcessDone, ProcessTerminated, SignalError, SpawnError,
};
