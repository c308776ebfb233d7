//! [`SimStream`]: one end of a simulated TCP (or UNIX) connection, its
//! state kept in the reactor's `TransportCore`, its bytes carried as
//! timed segments over the simulated link.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::error::{ConnectionDone, ConnectionLost};
use torsion_reactor::{
    Address, CloseReason, DelayedCall, Effects, Failure, ProtocolRef, ReactorTime, TransportCore,
    TransportRef, WriteSide,
};

use super::network::{Block, Net};

mod receive;
mod transport;

/// The most data bytes one direction has on the wire (sent, not yet
/// delivered), like a TCP window: the rest waits in the sender's
/// `TransportCore` buffer, so its water marks pause and resume a streaming
/// producer as on a real socket.
pub const WINDOW: usize = 256 * 1024;

/// What travels on the wire, in order.
#[derive(Debug)]
pub(crate) enum Segment {
    Data(Vec<u8>),
    Fin,
    Rst,
}

/// The sending direction of one end: segments on the wire and when each
/// arrives.
#[derive(Default)]
struct Pipe {
    in_flight: VecDeque<(Duration, Segment)>,
    /// Data bytes on the wire, not yet delivered (at most [`WINDOW`]).
    in_flight_bytes: usize,
    free_at: Duration,
    last_arrival: Duration,
    delivery: Option<DelayedCall>,
    stalled_since: Option<Duration>,
    fin_sent: bool,
}

struct State {
    core: TransportCore,
    pipe: Pipe,
    inbox: Vec<u8>,
    pending_fin: bool,
    transmit_scheduled: bool,
    no_delay: bool,
    keep_alive: bool,
}

/// Told when the connection ends (a connector's `client_connection_lost`).
pub(crate) type OnClose = Box<dyn FnOnce(Failure)>;

/// One end of a simulated stream connection.
pub(crate) struct SimStream {
    pub(crate) id: u64,
    me: Weak<SimStream>,
    net: Weak<Net>,
    pub(crate) host: usize,
    pub(crate) peer_host: usize,
    local: Address,
    remote: Address,
    unix: bool,
    protocol: RefCell<Option<ProtocolRef>>,
    peer: RefCell<Weak<SimStream>>,
    state: RefCell<State>,
    on_close: RefCell<Option<OnClose>>,
}

pub(crate) struct Ends {
    /// The connection's number, shared by both ends.
    pub(crate) conn: u64,
    pub(crate) host: usize,
    pub(crate) peer_host: usize,
    pub(crate) local: Address,
    pub(crate) remote: Address,
    pub(crate) unix: bool,
}

impl SimStream {
    pub(crate) fn new(net: &Rc<Net>, ends: Ends, first_arrival: Duration) -> Rc<SimStream> {
        let stream = Rc::new_cyclic(|me| SimStream {
            id: ends.conn,
            me: me.clone(),
            net: Rc::downgrade(net),
            host: ends.host,
            peer_host: ends.peer_host,
            local: ends.local,
            remote: ends.remote,
            unix: ends.unix,
            protocol: RefCell::new(None),
            peer: RefCell::new(Weak::new()),
            state: RefCell::new(State {
                core: TransportCore::new(),
                pipe: Pipe {
                    free_at: first_arrival,
                    last_arrival: first_arrival,
                    ..Pipe::default()
                },
                inbox: Vec::new(),
                pending_fin: false,
                transmit_scheduled: false,
                no_delay: false,
                keep_alive: false,
            }),
            on_close: RefCell::new(None),
        });
        net.register_stream(&stream);
        stream
    }

    pub(crate) fn link(&self, peer: &Rc<SimStream>) {
        *self.peer.borrow_mut() = Rc::downgrade(peer);
    }

    pub(crate) fn set_on_close(&self, on_close: OnClose) {
        *self.on_close.borrow_mut() = Some(on_close);
    }

    pub(crate) fn peer_address(&self) -> Address {
        self.remote.clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.borrow().core.is_closed()
    }

    fn label(&self, net: &Net) -> String {
        format!(
            "conn#{} {}->{}",
            self.id,
            net.host_name(self.host),
            net.host_name(self.peer_host)
        )
    }

    /// Hands the protocol its transport (`make_connection`).
    pub(crate) fn start(self: &Rc<Self>, protocol: ProtocolRef) {
        *self.protocol.borrow_mut() = Some(protocol.clone());
        let transport: TransportRef = self.clone();
        protocol.borrow_mut().make_connection(transport);
    }

    // ---- sending -------------------------------------------------------

    fn schedule_transmit(&self) {
        let Some(net) = self.net.upgrade() else {
            return;
        };
        {
            let mut state = self.state.borrow_mut();
            if state.transmit_scheduled {
                return;
            }
            state.transmit_scheduled = true;
        }
        let me = self.me.upgrade().expect("a stream is alive when used");
        net.later(Duration::ZERO, move |_| me.transmit());
    }

    /// Moves what the user wrote onto the wire, if the link carries it,
    /// and performs what the core asks once its buffer emptied.
    fn transmit(self: &Rc<Self>) {
        let Some(net) = self.net.upgrade() else {
            return;
        };
        let effects = {
            let mut state = self.state.borrow_mut();
            state.transmit_scheduled = false;
            if state.core.is_closed() {
                return;
            }
            if let Some(block) = net.blocked(self.host, self.peer_host) {
                let waiting = state.core.buffered() > 0;
                drop(state);
                if waiting && block == Block::Partition {
                    self.stall(&net);
                }
                return;
            }
            let room = WINDOW.saturating_sub(state.pipe.in_flight_bytes);
            let bytes: Vec<u8> = {
                let (front, back) = state.core.slices();
                let from_front = front.len().min(room);
                let from_back = back.len().min(room - from_front);
                [&front[..from_front], &back[..from_back]].concat()
            };
            state.core.sink_accepted(bytes.len());
            let pending_close =
                state.core.is_disconnecting() || state.core.write_side() == WriteSide::Closing;
            if bytes.is_empty() && !pending_close {
                return;
            }
            if !bytes.is_empty() {
                state.pipe.in_flight_bytes += bytes.len();
                self.push_locked(&net, &mut state, Segment::Data(bytes));
            }
            state.core.flushed()
        };
        self.perform(&net, effects);
    }

    fn perform(self: &Rc<Self>, net: &Rc<Net>, effects: Effects) {
        if let Some(call) = effects.producer {
            call.perform();
        }
        if effects.shutdown_write {
            let close = {
                let mut state = self.state.borrow_mut();
                state.pipe.fin_sent = true;
                self.push_locked(net, &mut state, Segment::Fin);
                state.core.write_shut().close
            };
            net.record(format!("{}: half-close (FIN)", self.label(net)));
            let protocol = self.protocol.borrow().clone();
            if let Some(protocol) = protocol {
                if let Some(half) = protocol.borrow_mut().as_half_closeable() {
                    half.write_connection_lost();
                }
            }
            if close.is_some() {
                self.close(Failure::new(ConnectionDone), Some(Segment::Fin));
            }
        }
        if let Some(reason) = effects.close {
            let segment = match reason {
                CloseReason::Aborted => Segment::Rst,
                _ => Segment::Fin,
            };
            self.close(reason.failure(), Some(segment));
        }
    }

    /// Puts `segment` on the wire behind what is there, timed by the
    /// link's bandwidth, latency and jitter.
    fn push_locked(&self, net: &Net, state: &mut State, segment: Segment) {
        let now = net.clock.now();
        let link = net.link(self.host, self.peer_host);
        let size = match &segment {
            Segment::Data(bytes) => bytes.len() as u64,
            _ => 0,
        };
        let sending = link.bandwidth.map_or(Duration::ZERO, |bandwidth| {
            Duration::from_nanos(size.saturating_mul(1_000_000_000) / bandwidth)
        });
        let pipe = &mut state.pipe;
        let departs = pipe.free_at.max(now) + sending;
        pipe.free_at = departs;
        let arrives = (departs + net.delay(self.host, self.peer_host)).max(pipe.last_arrival);
        pipe.last_arrival = arrives;
        pipe.in_flight.push_back((arrives, segment));
        self.ensure_delivery(net, pipe);
    }

    fn ensure_delivery(&self, net: &Net, pipe: &mut Pipe) {
        if pipe.delivery.as_ref().is_some_and(DelayedCall::active) {
            return;
        }
        let Some((arrives, _)) = pipe.in_flight.front() else {
            return;
        };
        let me = self.me.upgrade().expect("a stream is alive when used");
        let delay = arrives.saturating_sub(net.clock.now());
        pipe.delivery = Some(net.later(delay, move |net| me.deliver(net)));
    }

    /// Hands the peer every segment due, in order, unless the link is cut.
    fn deliver(self: &Rc<Self>, net: &Rc<Net>) {
        loop {
            let segment = {
                let mut state = self.state.borrow_mut();
                state.pipe.delivery = None;
                let now = net.clock.now();
                match state.pipe.in_flight.front() {
                    None => return,
                    Some((arrives, _)) if *arrives > now => {
                        self.ensure_delivery(net, &mut state.pipe);
                        return;
                    }
                    Some(_) => {}
                }
                if let Some(block) = net.blocked(self.host, self.peer_host) {
                    drop(state);
                    if block == Block::Partition {
                        self.stall(net);
                    }
                    return;
                }
                let (_, segment) = state.pipe.in_flight.pop_front().expect("checked");
                if let Segment::Data(bytes) = &segment {
                    state.pipe.in_flight_bytes -= bytes.len();
                }
                if state.pipe.in_flight.is_empty() && state.core.buffered() == 0 {
                    state.pipe.stalled_since = None;
                }
                let more = state.core.buffered() > 0;
                drop(state);
                if more {
                    // The window opened: send what waits.
                    self.schedule_transmit();
                }
                segment
            };
            let peer = self.peer.borrow().upgrade();
            if let Some(peer) = peer {
                peer.receive(net, segment, self);
            }
        }
    }

    /// The peer is unreachable with data to send: start the TCP time-out.
    fn stall(self: &Rc<Self>, net: &Rc<Net>) {
        let since = {
            let mut state = self.state.borrow_mut();
            if state.pipe.stalled_since.is_some() || state.core.is_closed() {
                return;
            }
            let now = net.clock.now();
            state.pipe.stalled_since = Some(now);
            now
        };
        let me = self.clone();
        let timeout = net.tcp_timeout.get();
        net.later(timeout, move |net| {
            let still = me.state.borrow().pipe.stalled_since == Some(since);
            if still && !me.is_closed() {
                net.record(format!(
                    "{}: retransmission time-out after {:?}",
                    me.label(net),
                    timeout
                ));
                let error = io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
                me.close(Failure::new(ConnectionLost::from_io(error)), None);
            }
        });
    }

    /// The link is back: what waited is retransmitted.
    pub(crate) fn kick(self: &Rc<Self>) {
        let Some(net) = self.net.upgrade() else {
            return;
        };
        let waiting = {
            let mut state = self.state.borrow_mut();
            state.pipe.stalled_since = None;
            let now = net.clock.now();
            let mut floor = now;
            let host = (self.host, self.peer_host);
            for (arrives, _) in state.pipe.in_flight.iter_mut() {
                if *arrives < now {
                    floor = floor.max(now + net.delay(host.0, host.1));
                    *arrives = floor;
                } else {
                    floor = floor.max(*arrives);
                }
            }
            state.pipe.last_arrival = state.pipe.last_arrival.max(floor);
            if let Some(call) = state.pipe.delivery.take() {
                let _ = call.cancel();
            }
            let State { pipe, .. } = &mut *state;
            self.ensure_delivery(&net, pipe);
            state.core.buffered() > 0
        };
        if waiting {
            self.schedule_transmit();
        }
    }

    // ---- closing -------------------------------------------------------

    /// Closes this end: `send` goes to the peer (FIN after what is on the
    /// wire, or RST); the producer is stopped; the protocol is told.
    pub(crate) fn close(&self, reason: Failure, send: Option<Segment>) {
        let Some(net) = self.net.upgrade() else {
            return;
        };
        let producer = {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            let Some(closing) = state.core.close() else {
                return;
            };
            state.core.discard_buffer();
            state.inbox.clear();
            state.pipe.stalled_since = None;
            match send {
                Some(Segment::Fin) if state.pipe.fin_sent => {}
                Some(segment) => {
                    state.pipe.fin_sent = true;
                    self.push_locked(&net, state, segment);
                }
                None => {}
            }
            closing.producer
        };
        net.record(format!(
            "{}: closed: {}",
            self.label(&net),
            reason.error_message()
        ));
        if let Some(producer) = producer {
            producer.stop_producing();
        }
        let protocol = self.protocol.borrow_mut().take();
        if let Some(protocol) = protocol {
            protocol.borrow_mut().connection_lost(reason.clone());
        }
        let on_close = self.on_close.borrow_mut().take();
        if let Some(on_close) = on_close {
            on_close(reason);
        }
    }

    /// The host crashed: no callbacks (the process is gone); the kernel
    /// resets the connection.
    pub(crate) fn kill(&self) {
        let Some(net) = self.net.upgrade() else {
            return;
        };
        {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            if state.core.close().is_none() {
                return;
            }
            state.core.discard_buffer();
            state.inbox.clear();
            state.pipe.stalled_since = None;
            self.push_locked(&net, state, Segment::Rst);
        }
        // Dropped outside the borrow: the protocol's drop may run code.
        let protocol = self.protocol.borrow_mut().take();
        let on_close = self.on_close.borrow_mut().take();
        drop((protocol, on_close));
    }

    fn close_soon(&self, reason: CloseReason) {
        let Some(net) = self.net.upgrade() else {
            return;
        };
        let me = self.me.upgrade().expect("a stream is alive when used");
        net.later(Duration::ZERO, move |net| {
            me.perform(
                net,
                Effects {
                    close: Some(reason),
                    ..Effects::default()
                },
            )
        });
    }
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream")
            .field("id", &self.id)
            .field("host", &self.local)
            .field("peer", &self.remote)
            .field("core", &self.state.borrow().core)
            .finish()
    }
}
