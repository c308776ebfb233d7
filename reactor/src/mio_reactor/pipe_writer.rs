//! [`PipeWriter`]: the writing end of a pipe (or a terminal, or a regular
//! file) on the reactor, on a [`TransportCore`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};

use mio::Interest;

use super::pipe::{OnClose, PipeEnd, PipeOwner};
use super::reactor::{IoSource, ReactorState};
use crate::error::{ConnectionDone, ConnectionLost, ProducerError};
use crate::interfaces::ProducerRef;
use crate::transport_core::{ProducerCall, TransportCore};
use crate::Failure;

/// Registers `producer` on `writer`; with no writer (closed, or never a
/// pipe) the transport acts closed: the producer is stopped.
pub(crate) fn register_producer_on(
    writer: Option<Rc<PipeWriter>>,
    producer: ProducerRef,
) -> Result<(), ProducerError> {
    match writer {
        Some(writer) => writer.register_producer(producer),
        None => {
            producer.stop_producing();
            Ok(())
        }
    }
}

/// Unregisters the producer of `writer`.
pub(crate) fn unregister_producer_on(writer: Option<Rc<PipeWriter>>) -> Result<(), ProducerError> {
    match writer {
        Some(writer) => writer.unregister_producer(),
        None => Err(ProducerError::NotRegistered),
    }
}

/// The writing end of a pipe, on a [`TransportCore`] (buffer, water
/// marks, producer, close after flush).
pub(crate) struct PipeWriter {
    me: Weak<PipeWriter>,
    end: PipeEnd,
    core: RefCell<TransportCore>,
    /// A write is queued for the next turn (a polled file).
    continues: Cell<bool>,
}

impl PipeWriter {
    /// Starts writing `file` (reported as descriptor `fd`) for `owner`.
    pub(crate) fn start(
        reactor: &Rc<ReactorState>,
        fd: i32,
        file: OwnedFd,
        owner: Rc<dyn PipeOwner>,
        on_close: OnClose,
    ) -> io::Result<Rc<PipeWriter>> {
        let writer = Rc::new_cyclic(|me| PipeWriter {
            me: me.clone(),
            end: PipeEnd::new(reactor, fd, owner, on_close),
            core: RefCell::new(TransportCore::new()),
            continues: Cell::new(false),
        });
        // Edge-triggered writability: an event each time the reader makes
        // room, so the interest never needs changing.
        writer
            .end
            .open(reactor, file, Interest::WRITABLE, writer.clone())?;
        Ok(writer)
    }

    fn soon(&self, work: impl FnOnce(Rc<PipeWriter>) + 'static) {
        if let (Some(reactor), Some(me)) = (self.end.reactor.upgrade(), self.me.upgrade()) {
            reactor.soon(move || work(me));
        }
    }

    /// Whether a write is still taken.
    pub(crate) fn accepting_writes(&self) -> bool {
        self.core.borrow().accepting_writes() && self.end.is_open()
    }

    /// Writes what the pipe takes now; returns how much, or `None` after
    /// an error (the pipe is then closing).
    fn write_now(&self, data: &[u8]) -> Option<usize> {
        let mut written = 0;
        while written < data.len() {
            let result = self.end.with_file(|file| file.write(&data[written..]))?;
            match result {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.core.borrow_mut().discard_buffer();
                    self.fail_soon(e);
                    return None;
                }
            }
        }
        Some(written)
    }

    fn fail_soon(&self, error: io::Error) {
        if self.core.borrow_mut().schedule_close() {
            self.soon(move |me| me.close(Failure::new(ConnectionLost::from_io(error))));
        }
    }

    /// Writes `data`, buffering what the pipe does not take now.
    pub(crate) fn write(&self, data: &[u8]) {
        if data.is_empty() || !self.accepting_writes() {
            return;
        }
        let rest = if self.core.borrow().buffered() == 0 {
            match self.write_now(data) {
                Some(n) => &data[n..],
                None => return,
            }
        } else {
            data
        };
        if rest.is_empty() {
            return self.pull_later();
        }
        let effects = self.core.borrow_mut().buffer(rest);
        if effects.writable == Some(true) && self.end.is_polled() {
            self.write_next_turn();
        }
        if let Some(call) = effects.producer {
            call.perform();
        }
    }

    /// After a write that went straight out, a registered pull producer is
    /// asked for its next chunk on the next turn (as the mio connection).
    fn pull_later(&self) {
        if !self.core.borrow_mut().pull_after_write_through() {
            return;
        }
        if let (Some(reactor), Some(me)) = (self.end.reactor.upgrade(), self.me.upgrade()) {
            reactor.next_turn(move || {
                let call = me.core.borrow_mut().take_pull();
                if let Some(call) = call {
                    call.perform();
                }
            });
        }
    }

    fn write_next_turn(&self) {
        if self.continues.replace(true) {
            return;
        }
        if let (Some(reactor), Some(me)) = (self.end.reactor.upgrade(), self.me.upgrade()) {
            reactor.next_turn(move || {
                me.continues.set(false);
                me.flush();
            });
        }
    }

    /// Writes out the buffer as far as the pipe takes it, then does what
    /// the core asks.
    fn flush(&self) {
        loop {
            let result = {
                let core = self.core.borrow();
                if core.buffered() == 0 || core.is_closed() {
                    break;
                }
                let (front, _) = core.slices();
                match self.end.with_file(|file| file.write(front)) {
                    Some(result) => result,
                    None => return,
                }
            };
            match result {
                Ok(0) => break,
                Ok(n) => self.core.borrow_mut().sink_accepted(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.core.borrow_mut().discard_buffer();
                    self.close(Failure::new(ConnectionLost::from_io(e)));
                    return;
                }
            }
        }
        let effects = self.core.borrow_mut().flushed();
        if self.end.is_polled() && self.core.borrow().buffered() != 0 {
            self.write_next_turn();
        }
        if let Some(call) = effects.producer {
            call.perform();
        } else if let Some(reason) = effects.close {
            self.close(reason.failure());
        } else if effects.shutdown_write {
            self.close(Failure::new(ConnectionDone));
        }
    }

    /// Registers a producer on the write buffer.
    pub(crate) fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        let call = self.core.borrow_mut().register_producer(producer)?;
        match call {
            Some(ProducerCall::Resume(_)) => self.soon(|me| {
                let producer = me.core.borrow().producer().cloned();
                if let Some(producer) = producer {
                    producer.resume_producing();
                }
            }),
            Some(call) => call.perform(),
            None => {}
        }
        Ok(())
    }

    /// Unregisters the producer; a close waiting for it goes on.
    pub(crate) fn unregister_producer(&self) -> Result<(), ProducerError> {
        let removed = self.core.borrow_mut().unregister_producer();
        let _removed = removed?;
        self.soon(|me| me.flush());
        Ok(())
    }

    /// Closes once everything written went out and no producer is left.
    pub(crate) fn lose_connection(&self) {
        let effects = self.core.borrow_mut().lose_connection();
        if effects.close.is_some() && self.core.borrow_mut().schedule_close() {
            self.soon(|me| me.close(Failure::new(ConnectionDone)));
        }
    }

    /// Drops the buffer and closes.
    pub(crate) fn abort(&self) {
        let effects = self.core.borrow_mut().abort();
        if let Some(reason) = effects.close {
            self.soon(move |me| me.close(reason.failure()));
        }
    }

    /// Closes the pipe, stops the producer, tells the owner (once).
    pub(crate) fn close(&self, reason: Failure) {
        let closing = {
            let mut core = self.core.borrow_mut();
            let closing = core.close();
            core.discard_buffer();
            closing
        };
        let Some(closing) = closing else {
            return;
        };
        let owner = self.end.close();
        if let Some(producer) = closing.producer {
            producer.stop_producing();
        }
        if let Some(owner) = owner {
            owner.pipe_closed(self.end.fd, reason);
        }
    }
}

impl IoSource for PipeWriter {
    fn ready(self: Rc<Self>, event: &mio::event::Event) {
        if event.is_write_closed() || event.is_error() {
            // The reader went away (a child closed its stdin or exited):
            // nothing more can be written. Twisted's ProcessWriter learns
            // it the same way, from the poller rather than a failed write.
            self.core.borrow_mut().discard_buffer();
            self.close(Failure::new(ConnectionLost::new()));
            return;
        }
        self.flush();
    }

    fn shutdown(self: Rc<Self>) {
        // What the pipe takes now still goes out (the last lines a program
        // printed to stdout before stopping the reactor).
        self.flush();
        self.close(Failure::new(ConnectionLost::new()));
    }
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeWriter")
            .field("fd", &self.end.fd)
            .field("core", &*self.core.borrow())
            .finish()
    }
}
