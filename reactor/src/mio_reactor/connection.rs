//! [`Connection`]: one TCP or UNIX stream and its transport.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use mio::{Interest, Token};

use super::reactor::{IoSource, Shared};
use super::stream::Stream;
use crate::error::{ConnectionAborted, ConnectionDone, ConnectionLost, PanicError, ProducerError};
use crate::interfaces::{
    Consumer, Producer, ProducerRef, ProtocolRef, PushProducer, TcpTransport, Transport,
    TransportRef, UnixTransport,
};
use crate::{Address, Failure};

/// Default high-water mark: past it a streaming producer is paused.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// Default low-water mark: at or below it a paused producer is resumed.
pub const DEFAULT_LOW_WATER: usize = 16 * 1024;

/// Reads handled per readiness event before yielding to other connections.
const READS_PER_TURN: usize = 16;

/// Told when the connection ends (a connector's `client_connection_lost`).
pub(crate) type OnClose = Box<dyn FnOnce(Failure)>;

#[derive(Default)]
struct State {
    write_buf: VecDeque<u8>,
    want_writable: bool,
    reading_paused: bool,
    /// A read continuation is queued for the next iteration (this
    /// connection used its share); readiness events until then add nothing.
    read_continues: bool,
    read_eof: bool,
    disconnecting: bool,
    aborting: bool,
    write_shutdown_requested: bool,
    write_shutdown_done: bool,
    close_scheduled: bool,
    closed: bool,
    producer: Option<ProducerRef>,
    producer_paused: bool,
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
    reactor: Weak<Shared>,
    protocol: RefCell<Option<ProtocolRef>>,
    state: RefCell<State>,
    peer: Address,
    host: Address,
    high_water: Cell<usize>,
    low_water: Cell<usize>,
    on_close: RefCell<Option<OnClose>>,
}

impl Connection {
    /// Registers `stream` and connects `protocol` to it (calls its
    /// `make_connection`).
    pub(crate) fn start(
        reactor: &Rc<Shared>,
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
            high_water: Cell::new(DEFAULT_HIGH_WATER),
            low_water: Cell::new(DEFAULT_LOW_WATER),
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

    fn reactor(&self) -> Option<Rc<Shared>> {
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
            call(&mut *crate::borrowed::borrow(&protocol, method))
        }));
        if let Err(payload) = outcome {
            self.protocol_panicked(method, payload.as_ref());
        }
    }

    fn set_writable_interest(&self, writable: bool) {
        let mut state = self.state.borrow_mut();
        if state.want_writable == writable || state.closed {
            return;
        }
        state.want_writable = writable;
        drop(state);
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
                let state = self.state.borrow();
                if state.closed
                    || state.disconnecting
                    || state.aborting
                    || state.read_eof
                    || state.reading_paused
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
                    if n < buffer.len() && !drain {
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
        self.state.borrow_mut().read_eof = true;
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
            if self.state.borrow().write_shutdown_done {
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
        self.state.borrow_mut().write_buf.extend(data);
        self.set_writable_interest(true);
        self.check_high_water();
    }

    fn check_high_water(&self) {
        let producer = {
            let mut state = self.state.borrow_mut();
            match state.producer.clone() {
                Some(ProducerRef::Push(p))
                    if !state.producer_paused && state.write_buf.len() > self.high_water.get() =>
                {
                    state.producer_paused = true;
                    Some(p)
                }
                _ => None,
            }
        };
        if let Some(producer) = producer {
            producer.pause_producing();
        }
    }

    fn write_error(&self, error: io::Error) {
        let mut state = self.state.borrow_mut();
        state.write_buf.clear();
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
        let fds = std::mem::take(&mut self.state.borrow_mut().pending_fds);
        self.finish_fd_write(stream, data, fds)
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
        if !matches!(result, Ok(n) if n > 0) {
            // Not sent: they wait for the next write.
            self.state.borrow_mut().pending_fds.splice(0..0, fds);
        }
        result
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
                log::warn!(
                    "{} sent a file descriptor but the protocol does not receive them; closed it",
                    self.peer
                );
            }
        }
    }

    fn accepting_writes(&self) -> bool {
        let state = self.state.borrow();
        !(state.closed || state.aborting || state.write_shutdown_requested || state.error.is_some())
    }

    fn do_write(&self) {
        loop {
            // Descriptors go out with the first byte of this write; taken
            // out first so the buffer can stay borrowed during the syscall.
            let fds = std::mem::take(&mut self.state.borrow_mut().pending_fds);
            let written = {
                let state = self.state.borrow();
                if state.write_buf.is_empty() || state.closed {
                    drop(state);
                    self.state.borrow_mut().pending_fds = fds;
                    break;
                }
                let (a, b) = state.write_buf.as_slices();
                let stream = self.stream.borrow();
                let Some(stream) = stream.as_ref() else {
                    break;
                };
                let data = [IoSlice::new(a), IoSlice::new(b)];
                if fds.is_empty() {
                    stream.write_vectored(&data)
                } else {
                    stream.write_with_fds(&data, &fds)
                }
            };
            if !matches!(written, Ok(n) if n > 0) && !fds.is_empty() {
                self.state.borrow_mut().pending_fds.splice(0..0, fds);
            }
            match written {
                Ok(0) => break,
                Ok(n) => {
                    self.state.borrow_mut().write_buf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.write_error(e);
                    return;
                }
            }
        }
        self.after_write();
    }

    /// What follows a flush: resume the producer, finish a close or a
    /// half-close.
    fn after_write(&self) {
        let (empty, resume) = {
            let mut state = self.state.borrow_mut();
            let len = state.write_buf.len();
            let resume = match state.producer.clone() {
                Some(push @ ProducerRef::Push(_))
                    if state.producer_paused && len <= self.low_water.get() =>
                {
                    state.producer_paused = false;
                    Some(push)
                }
                Some(pull @ ProducerRef::Pull(_)) if len == 0 => Some(pull),
                _ => None,
            };
            (len == 0, resume)
        };
        if empty {
            self.set_writable_interest(false);
        }
        if let Some(producer) = resume {
            producer.resume_producing();
            return;
        }
        if !empty {
            return;
        }
        let (close, shut_write) = {
            let state = self.state.borrow();
            (
                state.disconnecting && state.producer.is_none(),
                state.write_shutdown_requested && !state.write_shutdown_done,
            )
        };
        if close {
            self.close(Failure::new(ConnectionDone));
        } else if shut_write {
            self.shutdown_write();
        }
    }

    fn shutdown_write(&self) {
        if let Some(stream) = self.stream.borrow().as_ref() {
            let _ = stream.shutdown(Shutdown::Write);
        }
        let both = {
            let mut state = self.state.borrow_mut();
            state.write_shutdown_done = true;
            state.read_eof
        };
        self.with_protocol("write_connection_lost", |p| {
            if let Some(p) = p.as_half_closeable() {
                p.write_connection_lost();
            }
        });
        if both {
            self.close(Failure::new(ConnectionDone));
        }
    }

    // ---- closing -------------------------------------------------------

    fn schedule_close(&self) {
        let mut state = self.state.borrow_mut();
        if state.close_scheduled || state.closed {
            return;
        }
        state.close_scheduled = true;
        drop(state);
        self.soon(|me| {
            let failure = {
                let mut state = me.state.borrow_mut();
                if let Some(error) = state.error.take() {
                    Failure::new(ConnectionLost::from_io(error))
                } else if state.aborting {
                    Failure::new(ConnectionAborted)
                } else {
                    Failure::new(ConnectionDone)
                }
            };
            me.close(failure);
        });
    }

    fn abort_with(&self, reason: Failure) {
        {
            let mut state = self.state.borrow_mut();
            state.aborting = true;
            state.write_buf.clear();
        }
        let me = self.me.upgrade();
        if let (Some(reactor), Some(me)) = (self.reactor(), me) {
            reactor.soon(move || me.close(reason));
        }
    }

    /// Ends the connection: closes the socket, stops the producer, tells the
    /// protocol (once), and lets it go.
    pub(crate) fn close(&self, reason: Failure) {
        let (producer, aborting) = {
            let mut state = self.state.borrow_mut();
            if state.closed {
                return;
            }
            state.closed = true;
            state.write_buf = VecDeque::new();
            (state.producer.take(), state.aborting)
        };
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
            if let Err(payload) = crate::borrowed::connection_lost(&protocol, reason) {
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
        if event.is_writable() {
            self.do_write();
        }
        let continues = self.state.borrow().read_continues;
        if (event.is_readable() || event.is_read_closed() || event.is_error()) && !continues {
            self.do_read(event.is_read_closed() || event.is_error());
        }
    }

    fn shutdown(self: Rc<Self>) {
        self.close(Failure::new(ConnectionLost::new()));
    }
}

impl Consumer for Connection {
    fn write(&self, data: &[u8]) {
        if data.is_empty() || !self.accepting_writes() {
            return;
        }
        if !self.state.borrow().write_buf.is_empty() {
            return self.buffer(data);
        }
        match self.write_now(&[IoSlice::new(data)]) {
            Some(n) if n == data.len() => {}
            Some(n) => self.buffer(&data[n..]),
            None => {}
        }
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        let mut state = self.state.borrow_mut();
        if state.producer.is_some() {
            return Err(ProducerError::AlreadyRegistered);
        }
        if state.closed {
            drop(state);
            producer.stop_producing();
            return Ok(());
        }
        let pull = !producer.is_streaming();
        state.producer = Some(producer);
        state.producer_paused = false;
        drop(state);
        if pull {
            // Asked for its first chunk after the caller returns.
            self.soon(|me| {
                let producer = me.state.borrow().producer.clone();
                if let Some(producer) = producer {
                    producer.resume_producing();
                }
            });
        }
        Ok(())
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        let removed = self.state.borrow_mut().producer.take();
        if removed.is_none() {
            return Err(ProducerError::NotRegistered);
        }
        // A close waiting for the producer to go can finish now.
        self.soon(|me| {
            if me.state.borrow().write_buf.is_empty() {
                me.after_write();
            }
        });
        Ok(())
    }
}

impl Producer for Connection {
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl PushProducer for Connection {
    fn pause_producing(&self) {
        self.state.borrow_mut().reading_paused = true;
    }

    fn resume_producing(&self) {
        let was_paused = std::mem::replace(&mut self.state.borrow_mut().reading_paused, false);
        if was_paused {
            // Edge-triggered: readiness seen while paused is not reported
            // again, so read now (after the caller returns), to the end.
            self.soon(|me| me.do_read(true));
        }
    }
}

impl Transport for Connection {
    fn write_sequence(&self, data: &[&[u8]]) {
        if !self.accepting_writes() {
            return;
        }
        if !self.state.borrow().write_buf.is_empty() {
            for chunk in data {
                self.buffer(chunk);
            }
            return;
        }
        let slices: Vec<IoSlice<'_>> = data.iter().map(|d| IoSlice::new(d)).collect();
        let Some(mut written) = self.write_now(&slices) else {
            return;
        };
        for chunk in data {
            if written >= chunk.len() {
                written -= chunk.len();
                continue;
            }
            self.buffer(&chunk[written..]);
            written = 0;
        }
    }

    fn lose_connection(&self) {
        let close_now = {
            let mut state = self.state.borrow_mut();
            if state.disconnecting || state.closed {
                return;
            }
            state.disconnecting = true;
            state.write_buf.is_empty() && state.producer.is_none()
        };
        if close_now {
            self.schedule_close();
        }
    }

    fn abort_connection(&self) {
        if self.state.borrow().closed || self.state.borrow().aborting {
            return;
        }
        self.abort_with(Failure::new(ConnectionAborted));
    }

    fn lose_write_connection(&self) {
        let shut_now = {
            let mut state = self.state.borrow_mut();
            if state.write_shutdown_requested || state.closed {
                return;
            }
            state.write_shutdown_requested = true;
            state.write_buf.is_empty()
        };
        if shut_now {
            self.soon(|me| me.shutdown_write());
        }
    }

    fn is_disconnecting(&self) -> bool {
        let state = self.state.borrow();
        state.disconnecting || state.aborting
    }

    fn peer(&self) -> Address {
        self.peer.clone()
    }

    fn host(&self) -> Address {
        self.host.clone()
    }

    fn as_unix(&self) -> Option<&dyn UnixTransport> {
        let is_unix = self.stream.borrow().as_ref().is_some_and(Stream::is_unix);
        if is_unix {
            Some(self)
        } else {
            None
        }
    }

    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        let is_tcp = self
            .stream
            .borrow()
            .as_ref()
            .is_some_and(|s| s.tcp().is_some());
        if is_tcp {
            Some(self)
        } else {
            None
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

impl Connection {
    fn with_tcp<T>(&self, f: impl FnOnce(&mio::net::TcpStream) -> io::Result<T>) -> io::Result<T> {
        let stream = self.stream.borrow();
        let stream = stream.as_ref().ok_or_else(closed)?;
        f(stream
            .tcp()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "not a TCP connection"))?)
    }
}

impl TcpTransport for Connection {
    fn set_tcp_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.with_tcp(|s| s.set_nodelay(enabled))
    }

    fn tcp_no_delay(&self) -> io::Result<bool> {
        self.with_tcp(|s| s.nodelay())
    }

    fn set_tcp_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.with_tcp(|s| socket2::SockRef::from(s).set_keepalive(enabled))
    }

    fn tcp_keep_alive(&self) -> io::Result<bool> {
        self.with_tcp(|s| socket2::SockRef::from(s).keepalive())
    }

    fn set_write_buffer_limits(&self, high: usize, low: usize) {
        self.high_water.set(high);
        self.low_water.set(low.min(high));
        self.check_high_water();
    }
}

impl UnixTransport for Connection {
    fn send_file_descriptor(&self, descriptor: OwnedFd) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        if state.closed || state.aborting {
            return Err(closed());
        }
        // Sent with the next byte that goes out (a write must follow).
        state.pending_fds.push(descriptor);
        Ok(())
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("peer", &self.peer)
            .field("buffered", &state.write_buf.len())
            .field("disconnecting", &state.disconnecting)
            .field("closed", &state.closed)
            .finish()
    }
}
