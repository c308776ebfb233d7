//! [`Transport`] and its TCP and UNIX extras: Twisted's `ITransport`,
//! `ITCPTransport`, `IUNIXTransport`.

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use crate::interfaces::{Consumer, PushProducer, StartTlsTransport, TlsTransport};
use crate::Address;

/// A transport as protocols hold it.
pub type TransportRef = Rc<dyn Transport>;

/// One connection's byte pipe, as its protocol sees it: Twisted's
/// `ITransport` (with `IConsumer` and `IPushProducer`, as every Twisted
/// stream transport provides them).
///
/// All methods take `&self` and never call into the protocol before
/// returning: closing from inside `data_received` delivers `connection_lost`
/// after it returns.
///
/// As a [`Consumer`] it buffers what is written and flow-controls a
/// registered producer; as a [`PushProducer`] it is the source of incoming
/// data: `pause_producing` stops reading, `resume_producing` reads again,
/// `stop_producing` loses the connection.
///
/// # Examples
///
/// A protocol writes and closes through the transport it was given:
///
/// ```
/// use torsion_reactor::{Protocol, TransportRef};
///
/// struct Greeter(Option<TransportRef>);
///
/// impl Protocol for Greeter {
///     fn connection_made(&mut self, transport: TransportRef) {
///         transport.write_sequence(&[b"hello, ", b"world\r\n"]);
///         if let Some(tcp) = transport.as_tcp() {
///             let _ = tcp.set_tcp_no_delay(true);
///         }
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, _data: &[u8]) {
///         if let Some(t) = &self.0 {
///             t.lose_connection(); // flushes "hello, world" first
///         }
///     }
/// }
/// # let _ = Greeter(None);
/// ```
pub trait Transport: Consumer + PushProducer {
    /// Writes several buffers, in order, as one (vectored where the
    /// transport can).
    fn write_sequence(&self, data: &[&[u8]]) {
        for chunk in data {
            self.write(chunk);
        }
    }

    /// Closes after everything written so far was sent (and, with a
    /// registered producer, once it unregisters); the protocol then gets
    /// `connection_lost(ConnectionDone)`. Idempotent.
    fn lose_connection(&self);

    /// Closes at once, dropping unsent data; the protocol gets
    /// `connection_lost(ConnectionAborted)` on the next reactor iteration.
    /// Idempotent.
    fn abort_connection(&self);

    /// Half-closes: after everything written so far was sent, shuts down the
    /// writing side (`shutdown(SHUT_WR)`) and tells a half-closeable protocol
    /// through `write_connection_lost` (Twisted's `loseWriteConnection`).
    fn lose_write_connection(&self);

    /// Whether `lose_connection` or `abort_connection` was called (Twisted's
    /// `disconnecting`).
    fn is_disconnecting(&self) -> bool;

    /// The other side's address (Twisted's `getPeer`).
    fn peer(&self) -> Address;

    /// This side's address (Twisted's `getHost`).
    fn host(&self) -> Address;

    /// The TCP extras, when this is a TCP transport.
    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        None
    }

    /// The UNIX-socket extras, when this is a UNIX transport.
    fn as_unix(&self) -> Option<&dyn UnixTransport> {
        None
    }

    /// The TLS session's details, when this transport is TLS (Twisted's
    /// `ISSLTransport.providedBy`).
    fn as_tls(&self) -> Option<&dyn TlsTransport> {
        None
    }

    /// The STARTTLS capability, when this connection can switch to TLS in
    /// place (Twisted's `ITLSTransport.providedBy`).
    fn as_start_tls(&self) -> Option<&dyn StartTlsTransport> {
        None
    }
}

/// TCP socket options: Twisted's `ITCPTransport`.
pub trait TcpTransport: Transport {
    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    ///
    /// # Errors
    ///
    /// The OS error, e.g. on a closed socket.
    fn set_tcp_no_delay(&self, enabled: bool) -> io::Result<()>;

    /// Reads `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn tcp_no_delay(&self) -> io::Result<bool>;

    /// Sets `SO_KEEPALIVE`.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn set_tcp_keep_alive(&self, enabled: bool) -> io::Result<()>;

    /// Reads `SO_KEEPALIVE`.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn tcp_keep_alive(&self) -> io::Result<bool>;

    /// Flow control: a registered streaming producer is paused once more
    /// than `high` bytes wait to be sent, and resumed once `low` or fewer
    /// do (defaults: `DEFAULT_HIGH_WATER`, `DEFAULT_LOW_WATER`). The same
    /// marks stop the reactor's connections from reading while more than
    /// `high` bytes wait and let them read on at `low` (read
    /// backpressure: memory stays bounded when the peer does not read what
    /// the protocol answers); `high = usize::MAX` turns both off. Transports
    /// without a send buffer (test doubles) ignore it.
    ///
    /// # Twisted
    ///
    /// Twisted's transports read on however much waits to be sent; see
    /// `TransportCore`'s read backpressure for why Torsion's do not.
    fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let _ = (high, low);
    }
}

/// UNIX socket extras: Twisted's `IUNIXTransport`.
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// use torsion_reactor::TransportRef;
///
/// /// Hands the peer a descriptor, with a byte for it to travel with.
/// fn pass(transport: &TransportRef, fd: OwnedFd) -> std::io::Result<()> {
///     let unix = transport
///         .as_unix()
///         .ok_or_else(|| std::io::Error::other("not a UNIX connection"))?;
///     unix.send_file_descriptor(fd)?;
///     transport.write(b"f");
///     Ok(())
/// }
/// # let _ = pass;
/// ```
pub trait UnixTransport: Transport {
    /// Sends `descriptor` to the peer with the next bytes written
    /// (`SCM_RIGHTS`); the peer's protocol needs the
    /// [`FileDescriptorReceiver`](crate::FileDescriptorReceiver) capability.
    ///
    /// # Errors
    ///
    /// The OS error, e.g. when the connection is closed.
    fn send_file_descriptor(&self, descriptor: OwnedFd) -> io::Result<()>;
}

impl std::fmt::Debug for dyn Transport {
    /// `Transport { host, peer, disconnecting }`, so that protocols holding
    /// their transport can `#[derive(Debug)]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("host", &self.host())
            .field("peer", &self.peer())
            .field("disconnecting", &self.is_disconnecting())
            .finish()
    }
}
