//! The transport side of a [`Connection`]: what its protocol calls
//! (`Consumer`, `Producer`, `Transport`, `TcpTransport`, `UnixTransport`).

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;

use super::{Connection, Stream, MAX_QUEUED_FDS};
use crate::error::ProducerError;
use crate::interfaces::{
    Consumer, Producer, ProducerRef, PushProducer, TcpTransport, Transport, UnixTransport,
};
use crate::transport_core::ProducerCall;
use crate::Address;

impl Connection {
    /// After a write that went straight out, a registered pull producer is
    /// asked for its next chunk on the next turn (Twisted asks it each time
    /// the buffer is written out; nothing was buffered here).
    fn pull_later(&self) {
        if !self.state.borrow_mut().core.pull_after_write_through() {
            return;
        }
        if let (Some(reactor), Some(me)) = (self.reactor(), self.me.upgrade()) {
            reactor.next_turn(move || {
                let call = me.state.borrow_mut().core.take_pull();
                if let Some(call) = call {
                    call.perform();
                }
            });
        }
    }
}

impl Consumer for Connection {
    fn write(&self, data: &[u8]) {
        if data.is_empty() || !self.accepting_writes() {
            return;
        }
        if self.state.borrow().core.buffered() != 0 {
            return self.buffer(data);
        }
        match self.write_now(&[IoSlice::new(data)]) {
            Some(n) if n == data.len() => self.pull_later(),
            Some(n) => self.buffer(&data[n..]),
            None => {}
        }
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        let call = self.state.borrow_mut().core.register_producer(producer)?;
        match call {
            Some(ProducerCall::Resume(_)) => {
                // A pull producer is asked for its first chunk after the
                // caller returns (whichever producer is registered then).
                self.soon(|me| {
                    let producer = me.state.borrow().core.producer().cloned();
                    if let Some(producer) = producer {
                        producer.resume_producing();
                    }
                });
            }
            Some(call) => call.perform(),
            None => {}
        }
        Ok(())
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        // Dropped after the borrow is released (its drop may call us).
        let removed = self.state.borrow_mut().core.unregister_producer();
        let _removed = removed?;
        // A close waiting for the producer to go can finish now.
        self.soon(|me| {
            if me.state.borrow().core.buffered() == 0 && me.after_write() {
                me.do_read(true);
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
        self.state.borrow_mut().core.set_reading_paused(true);
    }

    fn resume_producing(&self) {
        let was_paused = self.state.borrow_mut().core.set_reading_paused(false);
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
        if self.state.borrow().core.buffered() != 0 {
            for chunk in data {
                self.buffer(chunk);
            }
            return;
        }
        let slices: Vec<IoSlice<'_>> = data.iter().map(|d| IoSlice::new(d)).collect();
        let Some(mut written) = self.write_now(&slices) else {
            return;
        };
        if written == data.iter().map(|d| d.len()).sum::<usize>() {
            return self.pull_later();
        }
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
        let effects = self.state.borrow_mut().core.lose_connection();
        if effects.close.is_some() {
            self.schedule_close();
        }
    }

    fn abort_connection(&self) {
        if self.state.borrow().core.is_closed() {
            // Already closed: nothing to abort, and not reported aborting.
            return;
        }
        let effects = self.state.borrow_mut().core.abort();
        if let Some(reason) = effects.close {
            let me = self.me.upgrade();
            if let (Some(reactor), Some(me)) = (self.reactor(), me) {
                // On the next turn, as Twisted's `callLater(0,
                // connectionLost)`: the events already polled are handled
                // first (a peer on this reactor whose connect just
                // completed sees it complete, then the reset).
                reactor.next_turn(move || me.close(reason.failure()));
            }
        }
    }

    fn lose_write_connection(&self) {
        let effects = self.state.borrow_mut().core.lose_write_connection();
        if effects.shutdown_write {
            self.soon(|me| me.shutdown_write());
        }
    }

    fn is_disconnecting(&self) -> bool {
        let core = &self.state.borrow().core;
        core.is_disconnecting() || core.is_aborting()
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
        self.state
            .borrow_mut()
            .core
            .set_water_marks(high, low.min(high));
        self.check_high_water();
    }
}

impl UnixTransport for Connection {
    fn send_file_descriptor(&self, descriptor: OwnedFd) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        if state.core.is_closed() || state.core.is_aborting() {
            return Err(closed());
        }
        // Sent with the next byte that goes out (a write must follow).
        state.pending_fds.push(descriptor);
        // Too many waiting: a streaming producer pauses (Twisted's unix
        // transport does past 64); it resumes once the buffer drains.
        let pause = if state.pending_fds.len() > MAX_QUEUED_FDS {
            state.core.pause_if_above_high(usize::MAX)
        } else {
            None
        };
        drop(state);
        if let Some(call) = pause {
            call.perform();
        }
        Ok(())
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("peer", &self.peer)
            .field("buffered", &state.core.buffered())
            .field("disconnecting", &state.core.is_disconnecting())
            .field("closed", &state.core.is_closed())
            .finish()
    }
}
