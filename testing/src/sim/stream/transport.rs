//! The transport interfaces of a [`SimStream`]: `Consumer`, `Producer`,
//! `PushProducer`, `Transport`, `TcpTransport`, each a thin call into the
//! stream's `TransportCore` and its wire.

use std::io;
use std::time::Duration;

use torsion_reactor::error::ProducerError;
use torsion_reactor::{
    Address, Consumer, Producer, ProducerCall, ProducerRef, PushProducer, TcpTransport, Transport,
};

use super::SimStream;

impl Consumer for SimStream {
    fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let pause = {
            let mut state = self.state.borrow_mut();
            if !state.core.accepting_writes() {
                return;
            }
            state.core.buffer(data).producer
        };
        if let Some(call) = pause {
            call.perform();
        }
        self.schedule_transmit();
    }

    fn register_producer(&self, producer: ProducerRef) -> Result<(), ProducerError> {
        let call = self.state.borrow_mut().core.register_producer(producer)?;
        if let Some(call) = call {
            call.perform();
        }
        Ok(())
    }

    fn unregister_producer(&self) -> Result<(), ProducerError> {
        self.state.borrow_mut().core.unregister_producer()?;
        // A lose_connection waiting for the producer finishes now.
        self.schedule_transmit();
        Ok(())
    }
}

impl Producer for SimStream {
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl PushProducer for SimStream {
    fn pause_producing(&self) {
        self.state.borrow_mut().core.set_reading_paused(true);
    }

    fn resume_producing(&self) {
        self.state.borrow_mut().core.set_reading_paused(false);
        if let (Some(net), Some(me)) = (self.net.upgrade(), self.me.upgrade()) {
            net.later(Duration::ZERO, move |net| me.drain_inbox(net));
        }
    }
}

impl Transport for SimStream {
    fn lose_connection(&self) {
        let effects = self.state.borrow_mut().core.lose_connection();
        match effects.close {
            Some(reason) => self.close_soon(reason),
            None => self.schedule_transmit(),
        }
    }

    fn abort_connection(&self) {
        let effects = self.state.borrow_mut().core.abort();
        if let Some(reason) = effects.close {
            self.close_soon(reason);
        }
    }

    fn lose_write_connection(&self) {
        let effects = self.state.borrow_mut().core.lose_write_connection();
        if effects.shutdown_write || !effects.is_empty() {
            self.schedule_transmit();
        }
    }

    fn is_disconnecting(&self) -> bool {
        self.state.borrow().core.is_disconnecting()
    }

    fn peer(&self) -> Address {
        self.remote.clone()
    }

    fn host(&self) -> Address {
        self.local.clone()
    }

    fn as_tcp(&self) -> Option<&dyn TcpTransport> {
        if self.unix {
            None
        } else {
            Some(self)
        }
    }
}

impl TcpTransport for SimStream {
    fn set_tcp_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.state.borrow_mut().no_delay = enabled;
        Ok(())
    }

    fn tcp_no_delay(&self) -> io::Result<bool> {
        Ok(self.state.borrow().no_delay)
    }

    fn set_tcp_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.state.borrow_mut().keep_alive = enabled;
        Ok(())
    }

    fn tcp_keep_alive(&self) -> io::Result<bool> {
        Ok(self.state.borrow().keep_alive)
    }

    fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let call = {
            let mut state = self.state.borrow_mut();
            state.core.set_water_marks(high, low.min(high));
            let backlog = state.core.buffered();
            state.core.pause_if_above_high(backlog)
        };
        if let Some(call) = call {
            ProducerCall::perform(call);
        }
    }
}
