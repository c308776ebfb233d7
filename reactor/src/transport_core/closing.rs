//! The closing half of [`TransportCore`]: `lose_connection`,
//! `abort_connection`, half-close (`lose_write_connection`, the peer's
//! end-of-file) and the close itself.

use super::{CloseReason, Closing, Effects, TransportCore, WriteSide};

impl TransportCore {
    /// `lose_connection`: marks the transport disconnecting; closes with
    /// `ConnectionDone` at once if nothing is buffered and no producer is
    /// registered (else [`flushed`](TransportCore::flushed) does later).
    pub fn lose_connection(&mut self) -> Effects {
        if self.disconnecting || self.closed {
            return Effects::default();
        }
        self.disconnecting = true;
        if self.buffer.is_empty() && self.producer.is_none() {
            Effects::close(CloseReason::Done)
        } else {
            Effects::default()
        }
    }

    /// Marks the transport disconnecting and nothing else: for an owner
    /// that closes on its own schedule (the in-memory pump).
    pub fn set_disconnecting(&mut self) {
        self.disconnecting = true;
    }

    /// `abort_connection`: drops the buffer and closes with
    /// `ConnectionAborted`; nothing if aborting already, and no close if
    /// closed already (the transport still reports itself aborting).
    pub fn abort(&mut self) -> Effects {
        if self.aborting {
            return Effects::default();
        }
        self.aborting = true;
        self.buffer.clear();
        if self.closed {
            return Effects::default();
        }
        Effects::close(CloseReason::Aborted)
    }

    /// `lose_write_connection`: the write side shuts once the buffer is
    /// empty (at once if it is); nothing if closed or already asked.
    pub fn lose_write_connection(&mut self) -> Effects {
        if self.write_side != WriteSide::Open || self.closed {
            return Effects::default();
        }
        self.write_side = WriteSide::Closing;
        Effects {
            shutdown_write: self.buffer.is_empty(),
            ..Effects::default()
        }
    }

    /// The owner shut the write side: closes with `ConnectionDone` if the
    /// read side is shut too.
    pub fn write_shut(&mut self) -> Effects {
        self.write_side = WriteSide::Closed;
        if self.read_eof {
            Effects::close(CloseReason::Done)
        } else {
            Effects::default()
        }
    }

    /// The peer's end-of-file arrived. Returns whether the write side is
    /// shut already, i.e. whether a half-closeable protocol's connection
    /// closes (with `ConnectionDone`) once told `read_connection_lost`.
    pub fn eof_received(&mut self) -> bool {
        self.read_eof = true;
        self.write_side == WriteSide::Closed
    }

    /// Whether the owner should schedule a close now: `false` if one is
    /// scheduled already or the connection closed.
    pub fn schedule_close(&mut self) -> bool {
        if self.close_scheduled || self.closed {
            return false;
        }
        self.close_scheduled = true;
        true
    }

    /// The connection closes: `None` if it had closed already; else the
    /// producer to stop and whether it is an abort. The buffer is kept
    /// until [`discard_buffer`](TransportCore::discard_buffer).
    pub fn close(&mut self) -> Option<Closing> {
        if self.closed {
            return None;
        }
        self.closed = true;
        self.producer_paused = false;
        Some(Closing {
            producer: self.producer.take(),
            aborting: self.aborting,
        })
    }
}
