//! [`Connection`]: one TCP or UNIX stream and its transport. Reading,
//! writing and closing stay in this one file (a little over 500 lines): they
//! are one sequence of borrows of the same state, read together; what the
//! protocol calls is in `connection/transport.rs`.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use mio::{Interest, Token};

use super::reactor::{IoSource, ReactorState};
use super::stream::Stream;
use crate::error::{ConnectionAborted, ConnectionDone, ConnectionLost, PanicError};
use crate::interfaces::{ProtocolRef, Transport, TransportRef};
use crate::transport_core::{TransportCore, WriteSide};
use crate::{Address, Failure};

#[cfg(test)]
mod tests;
mod transport;

/// Reads handled per readiness event before yielding to other connections.
const READS_PER_TURN: usize = 16;
/// The most descriptors sent in one message: what Twisted's receiver takes
/// per `recvmsg` (64; the kernel would close the rest there, and refuses
/// more than 253 in a message, `SCM_MAX_FD`). More wait for the next byte.
const MAX_FDS_PER_MESSAGE: usize = 64;
/// Queued descriptors past which a streaming producer is paused (Twisted's
/// unix transport pauses at 64).
const MAX_QUEUED_FDS: usize = 64;

/// The first byte of `data`, if it has one.
fn first_byte<'a>(data: &'a [IoSlice<'_>]) -> Option<&'a [u8]> {
    data.iter().find(|s| !s.is_empty()).map(|s| &s[..1])
}

/// Told when the connection ends (a connector's `client_connection_lost`).
pub(crate) type OnClose = Box<dyn FnOnce(Failure)>;

/// The transport's state: the shared sans-I/O core plus what only a socket
/// has.
#[derive(Default)]
struct State {
    core: TransportCore,
    /// A read continuation is queued for the next iteration (this
    /// connection used its share); readiness events until then add nothing.
    read_continues: bool,
    error: Option<io::Error>,
    /// Descriptors to pass with the next bytes written (UNIX only).
    pending_fds: Vec<OwnedFd>,
}

/// One connection: the socket, its protocol, and the transport state the
/// protocol drives. `Rc`-shared between the reactor's table and the
/// protocol's transport handle; the socket is closed (and the protocol let
/// go) when the connection ends, whoever still holds the handle.
pub(crate) struct Connection {
    me: Weak<Connection>,
    token: Cell<Token>,
    stream: RefCell<Option<Stream>>,
    reactor: Weak<ReactorState>,
    protocol: RefCell<Option<ProtocolRef>>,
    state: RefCell<State>,
    peer: Address,
    host: Address,
    on_close: RefCell<Option<OnClose>>,
}

impl Connection {
    /// Registers `stream` and connects `protocol` to it (calls its
    /// `make_connection`).
    pub(crate) fn start(
        reactor: &Rc<ReactorState>,
        mut stream: Stream,
        peer: Option<Address>,
        host: Option<Address>,
        protocol: ProtocolRef,
        on_close: Option<OnClose>,
    ) -> io::Result<Rc<Connection>> {
        // An accepted connection already knows its peer: one syscall less.
        let peer = match peer {
            Some(peer) => peer,
            None => stream.peer()?,
        };
        let host = match host {
            Some(host) => host,
            None => stream.host()?,
        };
        let connection = Rc::new_cyclic(|me| Connection {
            me: me.clone(),
            token: Cell::new(Token(usize::MAX)),
            stream: RefCell::new(None),
            reactor: Rc::downgrade(reactor),
            protocol: RefCell::new(Some(protocol.clone())),
            state: RefCell::new(State::default()),
            peer,
            host,
            on_close: RefCell::new(on_close),
        });
        let source = connection.clone();
        let token = reactor.register(&mut stream, Interest::READABLE, move |_| source)?;
        connection.token.set(token);
        *connection.stream.borrow_mut() = Some(stream);
        let transport: TransportRef = connection.clone();
        let made = catch_unwind(AssertUnwindSafe(|| {
            protocol.borrow_mut().make_connection(transport)
        }));
        if let Err(payload) = made {
            connection.protocol_panicked("connection_made", payload.as_ref());
        }
        Ok(connection)
    }

    fn reactor(&self) -> Option<Rc<ReactorState>> {
        self.reactor.upgrade()
    }

    /// Queues `work` on this connection after the current callback.
    fn soon(&self, work: impl FnOnce(Rc<Connection>) + 'static) {
        if let (Some(reactor), Some(me)) = (self.reactor(), self.me.upgrade()) {
            reactor.soon(move || work(me));
        }
    }

    fn protocol(&self) -> Option<ProtocolRef> {
        self.protocol.borrow().clone()
    }

    fn protocol_panicked(&self, method: &str, payload: &(dyn std::any::Any + Send)) {
        let error = PanicError::from_payload(payload);
        log::error!(
            "protocol panicked in {method} on connection {} -> {}: {}; aborting the connection",
            self.host,
            self.peer,
            error.message
        );
        self.state.borrow_mut().error = None;
        self.abort_with(Failure::new(error));
    }

    /// Calls into the protocol, containing a panic to this connection.
    fn with_protocol(&self, method: &str, call: impl FnOnce(&mut dyn crate::Protocol)) {
        let Some(protocol) = self.protocol() else {
            return;
        };
        // Issue 20: a borrowed protocol panics naming the cause (held across
        // `.await`?) and the connection aborts, rather than a silent skip.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            call(&mut *crate::borrowed::borrow_protocol(&protocol, method))
        }));
        if let Err(payload) = outcome {
            self.protocol_panicked(method, payload.as_ref());
        }
    }

    /// Makes the write interest the core asked for.
    fn reregister(&self, writable: bool) {
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let (Some(reactor), Some(stream)) = (self.reactor(), self.stream.borrow_mut().as_mut()) {
            if let Err(e) = reactor
                .registry()
                .reregister(stream, self.token.get(), interest)
            {
                self.state.borrow_mut().error = Some(e);
                self.schedule_close();
            }
        }
    }

    // ---- reading -------------------------------------------------------

    /// Reads and delivers. Edge-triggered readiness is normally drained
    /// until `WouldBlock`; but a read shorter than the buffer means the
    /// socket was empty, so unless `drain` (the event reported the peer's
    /// FIN or an error, which must be read now) the next read waits for the
    /// next edge: one `recv` per message instead of two, as tokio does.
    fn do_read(&self, drain: bool) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        let mut buffer = reactor.take_read_buffer();
        let mut reads = 0;
        loop {
            {
                // An aborted connection reads no more (Twisted's
                // abortConnection stops reading): after a panic in
                // data_received, bytes already in the socket never reach
                // the protocol.
                // Nor while more than the high-water mark waits to be sent
                // (TransportCore's read backpressure): the bytes wait in
                // the kernel, whose window slows the peer, until the
                // buffer drains (`after_write` reads on).
                let core = &mut self.state.borrow_mut().core;
                if core.is_closed()
                    || core.is_disconnecting()
                    || core.is_aborting()
                    || core.is_read_eof()
                    || core.is_reading_paused()
                    || core.read_backlogged()
                {
                    break;
                }
            }
            if reads == READS_PER_TURN {
                // Fairness: let other connections and timers in, then go
                // on in the next iteration (not `soon`, which runs before
                // the next poll and would starve everyone else).
                if let Some(me) = self.me.upgrade() {
                    self.state.borrow_mut().read_continues = true;
                    reactor.next_turn(move || {
                        me.state.borrow_mut().read_continues = false;
                        me.do_read(true);
                    });
                }
                break;
            }
            let mut fds = Vec::new();
            let read = match self.stream.borrow().as_ref() {
                Some(stream) => stream.read_with_fds(&mut buffer, &mut fds),
                None => break,
            };
            // A message with descriptors ends a read early (the kernel does
            // not read past it), so a short read then says nothing about
            // what else waits: read on.
            let short_means_drained = fds.is_empty();
            // Descriptors arrive before the bytes they came with, as in Twisted.
            self.deliver_fds(fds);
            match read {
                Ok(0) => {
                    self.read_eof();
                    break;
                }
                Ok(n) => {
                    reads += 1;
                    let data = &buffer[..n];
                    self.with_protocol("data_received", |p| p.data_received(data));
                    if n < buffer.len() && !drain && short_means_drained {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close(Failure::new(ConnectionLost::from_io(e)));
                    break;
                }
            }
        }
        reactor.return_read_buffer(buffer);
    }

    /// The peer shut down its writing side.
    fn read_eof(&self) {
        self.state.borrow_mut().core.eof_received();
        let half_closeable = self.protocol().is_some_and(|p| {
            p.try_borrow_mut()
                .is_ok_and(|mut p| p.as_half_closeable().is_some())
        });
        if half_closeable {
            self.with_protocol("read_connection_lost", |p| {
                if let Some(p) = p.as_half_closeable() {
                    p.read_connection_lost();
                }
            });
            if self.state.borrow().core.write_side() == WriteSide::Closed {
                self.close(Failure::new(ConnectionDone));
            }
        } else {
            // Twisted closes at once and drops unsent data; we flush what
            // the protocol wrote first, then close with ConnectionDone.
            self.lose_connection();
        }
    }

    // ---- writing -------------------------------------------------------

    fn buffer(&self, data: &[u8]) {
        let effects = self.state.borrow_mut().core.buffer(data);
        if let Some(writable) = effects.writable {
            self.reregister(writable);
        }
        if let Some(call) = effects.producer {
            call.perform();
        }
    }

    fn check_high_water(&self) {
        let call = {
            let core = &mut self.state.borrow_mut().core;
            let backlog = core.buffered();
            core.pause_if_above_high(backlog)
        };
        if let Some(call) = call {
            call.perform();
        }
    }

    fn write_error(&self, error: io::Error) {
        let mut state = self.state.borrow_mut();
        state.core.discard_buffer();
        state.error = Some(error);
        drop(state);
        self.schedule_close();
    }

    /// Writes `data` straight to the socket; returns how much went out.
    fn write_now(&self, data: &[IoSlice<'_>]) -> Option<usize> {
        let result = loop {
            let guard = self.stream.borrow();
            let stream = guard.as_ref()?;
            match self.write_passing_fds(stream, data) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match result {
            Ok(n) => Some(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(0),
            Err(e) => {
                self.write_error(e);
                None
            }
        }
    }

    /// Writes, passing pending descriptors with the first byte.
    fn write_passing_fds(&self, stream: &Stream, data: &[IoSlice<'_>]) -> io::Result<usize> {
        let (fds, more) = self.take_fd_batch();
        match first_byte(data) {
            Some(one) if more => self.finish_fd_write(stream, &[IoSlice::new(one)], fds),
            _ => self.finish_fd_write(stream, data, fds),
        }
    }

    /// The pending descriptors one message can carry (the kernel takes at
    /// most [`MAX_FDS_PER_MESSAGE`]), and whether more wait after them
    /// (then the message carries one byte, so the next byte can carry the
    /// next batch).
    fn take_fd_batch(&self) -> (Vec<OwnedFd>, bool) {
        let mut state = self.state.borrow_mut();
        let pending = &mut state.pending_fds;
        if pending.len() <= MAX_FDS_PER_MESSAGE {
            return (std::mem::take(pending), false);
        }
        (pending.drain(..MAX_FDS_PER_MESSAGE).collect(), true)
    }

    fn finish_fd_write(
        &self,
        stream: &Stream,
        data: &[IoSlice<'_>],
        fds: Vec<OwnedFd>,
    ) -> io::Result<usize> {
        if fds.is_empty() || !stream.is_unix() {
            return stream.write_vectored(data);
        }
        let result = stream.write_with_fds(data, &fds);
        if matches!(result, Ok(n) if n > 0) {
            self.resume_after_fds_later();
        } else {
            // Not sent: they wait for the next write.
            self.state.borrow_mut().pending_fds.splice(0..0, fds);
        }
        result
    }

    /// Descriptors went out: a producer paused for more than
    /// [`MAX_QUEUED_FDS`] queued ones resumes on the next turn once no more
    /// than that wait and the bytes are at the low-water mark. A flush of
    /// the byte buffer resumes it too, but a write that went straight out
    /// leaves nothing to flush.
    fn resume_after_fds_later(&self) {
        if !self.state.borrow().core.is_producer_paused() {
            return;
        }
        if let (Some(reactor), Some(me)) = (self.reactor(), self.me.upgrade()) {
            reactor.next_turn(move || {
                let call = {
                    let mut state = me.state.borrow_mut();
                    if state.pending_fds.len() > MAX_QUEUED_FDS {
                        return;
                    }
                    let backlog = state.core.buffered();
                    state.core.resume_if_at_low(backlog)
                };
                if let Some(call) = call {
                    call.perform();
                }
            });
        }
    }

    fn deliver_fds(&self, fds: Vec<OwnedFd>) {
        for fd in fds {
            let mut delivered = false;
            self.with_protocol("file_descriptor_received", |p| {
                if let Some(receiver) = p.as_file_descriptor_receiver() {
                    receiver.file_descriptor_received(fd);
                    delivered = true;
                }
            });
            if !delivered {
                let name = self.protocol().map_or("<gone>", |p| {
                    p.try_borrow().map_or("<busy>", |p| p.log_prefix())
                });
                log::warn!(
                    "{name} on {} received a file descriptor from {} but does not receive \
                     them (not a FileDescriptorReceiver); closed it",
                    self.host,
                    self.peer
                );
            }
        }
    }

    fn accepting_writes(&self) -> bool {
        let state = self.state.borrow();
        state.core.accepting_writes() && state.error.is_none()
    }

    /// Flushes what the socket takes; returns whether reading, stopped for
    /// the backlog, is to go on now (the caller reads).
    fn do_write(&self) -> bool {
        loop {
            // Descriptors go out with the first byte of this write; taken
            // out first so the buffer can stay borrowed during the syscall.
            let (fds, more) = self.take_fd_batch();
            let written = {
                let state = self.state.borrow();
                if state.core.buffered() == 0 || state.core.is_closed() {
                    drop(state);
                    self.state.borrow_mut().pending_fds = fds;
                    break;
                }
                let (a, b) = state.core.slices();
                let stream = self.stream.borrow();
                let Some(stream) = stream.as_ref() else {
                    break;
                };
                let data = [IoSlice::new(a), IoSlice::new(b)];
                if fds.is_empty() {
                    stream.write_vectored(&data)
                } else if let (true, Some(one)) = (more, first_byte(&data)) {
                    stream.write_with_fds(&[IoSlice::new(one)], &fds)
                } else {
                    stream.write_with_fds(&data, &fds)
                }
            };
            if !matches!(written, Ok(n) if n > 0) && !fds.is_empty() {
                self.state.borrow_mut().pending_fds.splice(0..0, fds);
            }
            match written {
                Ok(0) => break,
                Ok(n) => self.state.borrow_mut().core.sink_accepted(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.write_error(e);
                    return false;
                }
            }
        }
        self.after_write()
    }

    /// What follows a flush: resume the producer, finish a close or a
    /// half-close; returns whether reading, stopped for the backlog, is to
    /// go on now (the caller reads).
    fn after_write(&self) -> bool {
        let (effects, read_resumes) = {
            let core = &mut self.state.borrow_mut().core;
            (core.flushed(), core.read_resumes())
        };
        if let Some(writable) = effects.writable {
            self.reregister(writable);
        }
        if let Some(call) = effects.producer {
            call.perform();
        } else if let Some(reason) = effects.close {
            self.close(reason.failure());
        } else if effects.shutdown_write {
            self.shutdown_write();
        }
        read_resumes
    }

    fn shutdown_write(&self) {
        if let Some(stream) = self.stream.borrow().as_ref() {
            let _ = stream.shutdown(Shutdown::Write);
        }
        let effects = self.state.borrow_mut().core.write_shut();
        self.with_protocol("write_connection_lost", |p| {
            if let Some(p) = p.as_half_closeable() {
                p.write_connection_lost();
            }
        });
        if let Some(reason) = effects.close {
            self.close(reason.failure());
        }
    }

    // ---- closing -------------------------------------------------------

    fn schedule_close(&self) {
        if !self.state.borrow_mut().core.schedule_close() {
            return;
        }
        self.soon(|me| {
            let failure = {
                let mut state = me.state.borrow_mut();
                if let Some(error) = state.error.take() {
                    Failure::new(ConnectionLost::from_io(error))
                } else if state.core.is_aborting() {
                    Failure::new(ConnectionAborted)
                } else if !state.pending_fds.is_empty() {
                    // Twisted's FileDescriptorOverrun (a ConnectionLost):
                    // descriptors were queued with no byte left to carry them.
                    Failure::new(ConnectionLost::from_io(io::Error::other(format!(
                        "{} file descriptor(s) queued with send_file_descriptor had no \
                         byte written after them to go with (FileDescriptorOverrun)",
                        state.pending_fds.len()
                    ))))
                } else {
                    Failure::new(ConnectionDone)
                }
            };
            me.close(failure);
        });
    }

    fn abort_with(&self, reason: Failure) {
        // The core's own close reason is replaced by `reason`; the close
        // is scheduled even if one is already (a second one does nothing).
        let _ = self.state.borrow_mut().core.abort();
        let me = self.me.upgrade();
        if let (Some(reactor), Some(me)) = (self.reactor(), me) {
            reactor.soon(move || me.close(reason));
        }
    }

    /// Ends the connection: closes the socket, stops the producer, tells the
    /// protocol (once), and lets it go.
    pub(crate) fn close(&self, reason: Failure) {
        let closing = {
            let core = &mut self.state.borrow_mut().core;
            let closing = core.close();
            core.discard_buffer();
            closing
        };
        let Some(closing) = closing else {
            return;
        };
        let (producer, aborting) = (closing.producer, closing.aborting);
        if let Some(mut stream) = self.stream.borrow_mut().take() {
            if aborting {
                // An abort resets the connection (RST), as Twisted's does.
                stream.reset_on_close();
            }
            if let Some(reactor) = self.reactor() {
                reactor.deregister(self.token.get(), &mut stream);
            }
        }
        if let Some(producer) = producer {
            producer.stop_producing();
        }
        let reason_for_hook = reason.clone();
        // Issue 20: delivered even to a borrowed protocol, once the borrow ends.
        if let Some(protocol) = self.protocol() {
            if let Err(payload) = crate::borrowed::deliver_connection_lost(&protocol, reason) {
                self.protocol_panicked("connection_lost", payload.as_ref());
            }
        }
        self.protocol.borrow_mut().take();
        let on_close = self.on_close.borrow_mut().take();
        if let Some(on_close) = on_close {
            on_close(reason_for_hook);
        }
    }
}

impl IoSource for Connection {
    fn ready(self: Rc<Self>, event: &mio::event::Event) {
        // Reading that stopped for the backlog goes on to the end: the
        // readiness seen while stopped is not reported again.
        let read_resumes = event.is_writable() && self.do_write();
        let continues = self.state.borrow().read_continues;
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        if (readable || read_resumes) && !continues {
            self.do_read(read_resumes || event.is_read_closed() || event.is_error());
        }
    }

    fn shutdown(self: Rc<Self>) {
        self.close(Failure::new(ConnectionLost::new()));
    }
}
