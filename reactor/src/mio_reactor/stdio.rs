//! [`StandardIO`]: the process's own stdin and stdout as a transport
//! (Twisted's `twisted.internet.stdio.StandardIO`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use super::pipe::{OnClose, PipeOwner, PipeReader};
use super::pipe_writer::{register_producer_on, unregister_producer_on, PipeWriter};
use super::reactor::ReactorState;
use crate::error::{ConnectionDone, PanicError, ProducerError};
use crate::interfaces::{
    Consumer, Producer, ProducerRef, Protocol, ProtocolRef, PushProducer, TcpTransport, Transport,
    TransportRef,
};
use crate::{borrow_protocol, deliver_connection_lost, Address, Failure, Reactor};

/// Standard input and output as a [`Transport`] for any [`Protocol`], on
/// the reactor (Twisted's `StandardIO`): what arrives on stdin goes to
/// `data_received`, what the protocol writes goes to stdout with flow
/// control (a producer is paused past the high-water mark), and
/// `pause_producing` stops reading stdin.
///
/// End-of-file on stdin calls a half-closeable protocol's
/// `read_connection_lost` (it may go on writing, then `lose_connection`);
/// any other protocol's transport closes once what it wrote went out.
/// `lose_write_connection` closes stdout (after the flush). The
/// protocol's `connection_lost` comes once both are closed.
///
/// stdin and stdout may be pipes, terminals or regular files: epoll
/// refuses regular files, so those are read (and written) in turns of the
/// loop instead of on readiness, as Twisted does.
///
/// # Examples
///
/// Echo stdin to stdout until end-of-file (here on socket pairs, as a
/// test would; [`StandardIO::new`] takes the real ones):
///
/// ```
/// use std::io::{Read, Write};
/// use torsion_reactor::{Reactor, StandardIO, TransportRef};
///
/// struct Echo(Option<TransportRef>);
/// impl torsion_reactor::Protocol for Echo {
///     fn connection_made(&mut self, transport: TransportRef) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         if let Some(t) = &self.0 {
///             t.write(data);
///         }
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// let (stdin_read, mut stdin_write) = std::os::unix::net::UnixStream::pair()?;
/// let (mut stdout_read, stdout_write) = std::os::unix::net::UnixStream::pair()?;
/// let stdio = StandardIO::with_fds(
///     &reactor,
///     std::rc::Rc::new(std::cell::RefCell::new(Echo(None))),
///     stdin_read.into(),
///     stdout_write.into(),
/// )?;
/// stdin_write.write_all(b"hello")?;
/// drop(stdin_write);
/// while !stdio.is_closed() {
///     reactor.iterate(Some(std::time::Duration::from_millis(100)))?;
/// }
/// let mut out = String::new();
/// stdout_read.read_to_string(&mut out)?;
/// assert_eq!(out, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// `StandardIO(protocol, stdin=0, stdout=1, reactor)` is
/// [`StandardIO::new`] (descriptors 0 and 1, duplicated) or
/// [`StandardIO::with_fds`]; the descriptors are put in non-blocking mode
/// while in use, as Twisted does, and back in blocking mode when closed
/// (they share that mode with the shell's terminal).
#[derive(Clone)]
pub struct StandardIO {
    inner: Rc<Stdio>,
}

struct Stdio {
    me: Weak<Stdio>,
    reactor: Weak<ReactorState>,
    protocol: RefCell<Option<ProtocolRef>>,
    reader: RefCell<Option<Rc<PipeReader>>>,
    writer: RefCell<Option<Rc<PipeWriter>>>,
    disconnecting: Cell<bool>,
    closed: Cell<bool>,
}

impl StandardIO {
    /// Connects `protocol` to this process's stdin and stdout (calls its
    /// `make_connection`).
    ///
    /// # Errors
    ///
    /// If the descriptors cannot be duplicated or registered.
    pub fn new(reactor: &Reactor, protocol: ProtocolRef) -> io::Result<StandardIO> {
        let stdin = io::stdin().as_fd().try_clone_to_owned()?;
        let stdout = io::stdout().as_fd().try_clone_to_owned()?;
        StandardIO::with_fds(reactor, protocol, stdin, stdout)
    }

    /// Connects `protocol` to `stdin` and `stdout` as given (pipes, a
    /// terminal, files).
    ///
    /// # Errors
    ///
    /// If a descriptor cannot be registered.
    pub fn with_fds(
        reactor: &Reactor,
        protocol: ProtocolRef,
        stdin: OwnedFd,
        stdout: OwnedFd,
    ) -> io::Result<StandardIO> {
        let shared = &reactor.shared;
        let inner = Rc::new_cyclic(|me| Stdio {
            me: me.clone(),
            reactor: Rc::downgrade(shared),
            protocol: RefCell::new(Some(protocol.clone())),
            reader: RefCell::new(None),
            writer: RefCell::new(None),
            disconnecting: Cell::new(false),
            closed: Cell::new(false),
        });
        let writer = PipeWriter::start(shared, 1, stdout, inner.clone(), OnClose::RestoreBlocking)?;
        *inner.writer.borrow_mut() = Some(writer);
        let reader =
            match PipeReader::start(shared, 0, stdin, inner.clone(), OnClose::RestoreBlocking) {
                Ok(reader) => reader,
                Err(e) => {
                    if let Some(writer) = inner.writer.borrow_mut().take() {
                        writer.abort();
                    }
                    return Err(e);
                }
            };
        *inner.reader.borrow_mut() = Some(reader);
        let transport: TransportRef = inner.clone();
        inner.with_protocol("connection_made", |p| p.make_connection(transport));
        Ok(StandardIO { inner })
    }

    /// The transport the protocol got.
    pub fn transport(&self) -> TransportRef {
        self.inner.clone()
    }

    /// Whether both ends closed and the protocol was told.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }
}

impl fmt::Debug for StandardIO {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardIO")
            .field("reading", &self.inner.reader.borrow().is_some())
            .field("writing", &self.inner.writer.borrow().is_some())
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

impl Stdio {
    /// Calls the protocol: if user code holds it borrowed, the call
    /// panics naming the cause (as on a TCP connection), which like any
    /// panic in the protocol aborts standard I/O; no data is skipped unseen.
    fn with_protocol(&self, method: &str, call: impl FnOnce(&mut dyn Protocol)) {
        let Some(protocol) = self.protocol.borrow().clone() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            call(&mut *borrow_protocol(&protocol, method))
        }));
        self.contain(method, outcome);
    }

    fn contain(&self, method: &str, outcome: Result<(), Box<dyn Any + Send>>) {
        if let Err(payload) = outcome {
            log::error!(
                "stdio protocol panicked in {method}: {}; closing standard I/O",
                PanicError::from_payload(payload.as_ref()).message
            );
            self.abort_connection();
        }
    }

    fn is_half_closeable(&self) -> bool {
        self.protocol.borrow().clone().is_some_and(|p| {
            p.try_borrow_mut()
                .is_ok_and(|mut p| p.as_half_closeable().is_some())
        })
    }

    fn writer(&self) -> Option<Rc<PipeWriter>> {
        self.writer.borrow().clone()
    }

    fn connection_lost(&self, reason: Failure) {
        if self.closed.replace(true) {
            return;
        }
        // Never lost, even to a protocol held borrowed across `.await`.
        let protocol = self.protocol.borrow_mut().take();
        if let Some(protocol) = protocol {
            self.contain(
                "connection_lost",
                deliver_connection_lost(&protocol, reason),
            );
        }
    }

    fn soon(&self, work: impl FnOnce(Rc<Stdio>) + 'static) {
        if let (Some(reactor), Some(me)) = (self.reactor.upgrade(), self.me.upgrade()) {
            reactor.soon(move || work(me));
        }
    }
}

impl PipeOwner for Stdio {
    fn pipe_data(&self, _fd: i32, data: &[u8]) {
        self.with_protocol("data_received", |p| p.data_received(data));
    }

    fn pipe_closed(&self, fd: i32, reason: Failure) {
        if fd == 0 {
            let reader = self.reader.borrow_mut().take();
            drop(reader);
            if self.writer.borrow().is_none() {
                self.connection_lost(reason);
            } else if self.disconnecting.get() {
                // lose_connection: the close comes with the writer's.
            } else if self.is_half_closeable() {
                self.with_protocol("read_connection_lost", |p| {
                    if let Some(p) = p.as_half_closeable() {
                        p.read_connection_lost();
                    }
                });
            } else {
                self.lose_connection();
            }
        } else {
            let writer = self.writer.borrow_mut().take();
            drop(writer);
            let reader = self.reader.borrow().clone();
            match reader {
                None => self.connection_lost(reason),
                Some(_) if !self.disconnecting.get() && self.is_half_closeable() => {
                    self.with_protocol("write_connection_lost", |p| {
                        if let Some(p) = p.as_half_closeable() {
                            p.write_connection_lost();
                        }
                    });
                }
                Some(reader) => {
                    // Nothing can be written any more: the transport is done.
                    self.reader.borrow_mut().take();
                    drop(reader.close_quietly());
                    self.connection_lost(reason);
                }
            }
        }
    }
}

impl Consumer for Stdio {
    fn write(&self, data: &[u8]) {
        if let Some(writer) = self.writer() {
            writer.write(data);
        }
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        register_producer_on(self.writer(), producer)
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        unregister_producer_on(self.writer())
    }
}

impl Producer for Stdio {
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl PushProducer for Stdio {
    fn pause_producing(&self) {
        if let Some(reader) = self.reader.borrow().as_ref() {
            reader.pause();
        }
    }

    fn resume_producing(&self) {
        let reader = self.reader.borrow().clone();
        if let Some(reader) = reader {
            reader.resume();
        }
    }
}

impl Transport for Stdio {
    fn lose_connection(&self) {
        if self.disconnecting.replace(true) {
            return;
        }
        let reader = self.reader.borrow_mut().take();
        if let Some(reader) = reader {
            drop(reader.close_quietly());
        }
        match self.writer() {
            Some(writer) => writer.lose_connection(),
            None => self.soon(|me| me.connection_lost(Failure::new(ConnectionDone))),
        }
    }

    fn abort_connection(&self) {
        self.disconnecting.set(true);
        let reader = self.reader.borrow_mut().take();
        if let Some(reader) = reader {
            drop(reader.close_quietly());
        }
        match self.writer() {
            Some(writer) => writer.abort(),
            None => self.soon(|me| me.connection_lost(Failure::new(ConnectionDone))),
        }
    }

    fn lose_write_connection(&self) {
        if let Some(writer) = self.writer() {
            writer.lose_connection();
        }
    }

    fn is_disconnecting(&self) -> bool {
        self.disconnecting.get()
    }

    fn peer(&self) -> Address {
        Address::Pipe
    }

    fn host(&self) -> Address {
        Address::Pipe
    }

    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        None
    }
}
