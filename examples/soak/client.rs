//! The clients: one `ClientService` each, all on one reactor, each keeping
//! its unacknowledged messages to send again after a reconnection.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion::application::{ClientService, RetryPolicy, Service, TimerService};
use torsion::endpoints::Tcp4ClientEndpoint;
use torsion::protocols::{LineControl, LineHandler, LineReceiver};
use torsion::{
    Deferred, DynProtocolFactory, Factory, Failure, ProtocolRef, Reactor, ReactorTime,
    StreamClientEndpoint, TransportRef,
};

use super::{payload, two_numbers, Event, SoakConfig};

/// One client's messages, counters and connection history.
pub(super) struct ClientState {
    id: u32,
    /// The next new message's sequence number (the first is 1).
    next_seq: u64,
    /// Sent, not yet acknowledged.
    unacked: BTreeSet<u64>,
    resent: u64,
    unexpected_acks: u64,
    bad_lines: u64,
    transport: Option<TransportRef>,
    events: Vec<(Instant, Event)>,
    /// Stamps the events (the real clock, or the simulation's).
    now: Rc<dyn Fn() -> Instant>,
}

/// What the analysis needs of one client once the run is over.
pub(super) struct History {
    pub(super) id: u32,
    /// Messages 1..next_seq were sent.
    pub(super) next_seq: u64,
    pub(super) unacked: Vec<u64>,
    pub(super) resent: u64,
    pub(super) unexpected_acks: u64,
    pub(super) bad_lines: u64,
    pub(super) events: Vec<(Instant, Event)>,
}

impl ClientState {
    fn record(&mut self, event: Event) {
        let at = (self.now)();
        self.events.push((at, event));
    }

    fn send(&self, seq: u64) {
        if let Some(transport) = &self.transport {
            let line = format!("{} {seq} {}\n", self.id, payload(self.id, seq));
            transport.write(line.as_bytes());
        }
    }

    fn send_new(&mut self) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked.insert(seq);
        self.send(seq);
    }
}

/// The protocol's handler: re-sends on connecting, counts acks.
struct Sender {
    state: Rc<RefCell<ClientState>>,
}

impl LineHandler for Sender {
    fn connection_made(&mut self, ctl: &mut LineControl<'_>) {
        let mut state = self.state.borrow_mut();
        state.record(Event::Connected);
        state.transport = ctl.transport();
        let again: Vec<u64> = state.unacked.iter().copied().collect();
        for &seq in &again {
            state.send(seq);
        }
        state.resent += again.len() as u64;
    }

    fn line_received(&mut self, line: &[u8], _ctl: &mut LineControl<'_>) {
        let mut state = self.state.borrow_mut();
        let ack = line
            .strip_prefix(b"ack ")
            .and_then(two_numbers)
            .filter(|(client, _, rest)| *client == state.id && rest.is_empty());
        match ack {
            Some((_, seq, _)) => {
                if !state.unacked.remove(&seq) {
                    state.unexpected_acks += 1;
                }
            }
            None => state.bad_lines += 1,
        }
    }

    fn connection_lost(&mut self, _reason: Failure) {
        let mut state = self.state.borrow_mut();
        state.record(Event::Lost);
        state.transport = None;
    }
}

/// The TCP endpoint, recording each attempt and each failed attempt in the
/// client's history before `ClientService` hears of it.
struct RecordingEndpoint {
    inner: Rc<dyn StreamClientEndpoint>,
    state: Rc<RefCell<ClientState>>,
}

impl StreamClientEndpoint for RecordingEndpoint {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        self.state.borrow_mut().record(Event::Attempt);
        let state = self.state.clone();
        self.inner.connect_dyn(factory).add_errback(move |failure| {
            state.borrow_mut().record(Event::AttemptFailed);
            Err(failure)
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// All the clients.
#[derive(Clone)]
pub(super) struct Clients {
    states: Rc<Vec<Rc<RefCell<ClientState>>>>,
    services: Rc<Vec<Rc<dyn Service>>>,
    sending: Rc<Cell<bool>>,
    window: usize,
    per_tick: u32,
    step: Duration,
}

impl Clients {
    /// `config.clients` clients of 127.0.0.1:`port`, each a `ClientService`
    /// with the default retry policy (Twisted's `backoffPolicy()`).
    pub(super) fn new(reactor: &Reactor, config: &SoakConfig, port: u16) -> Clients {
        let clock: Rc<dyn ReactorTime> = Rc::new(reactor.clone());
        let endpoint = |_| -> Rc<dyn StreamClientEndpoint> {
            Rc::new(Tcp4ClientEndpoint::new(reactor.clone(), "127.0.0.1", port))
        };
        Clients::build(clock, Rc::new(Instant::now), config, endpoint, None)
    }

    /// The clients on `clock`, their events stamped by `now`, each
    /// connecting through `endpoint(id)`, retrying by `policy` (by default
    /// `ClientService`'s own). The simulated soak gives a simulated host.
    pub(super) fn build(
        clock: Rc<dyn ReactorTime>,
        now: Rc<dyn Fn() -> Instant>,
        config: &SoakConfig,
        endpoint: impl Fn(u32) -> Rc<dyn StreamClientEndpoint>,
        policy: Option<RetryPolicy>,
    ) -> Clients {
        let mut states = Vec::new();
        let mut services: Vec<Rc<dyn Service>> = Vec::new();
        for id in 0..config.clients {
            let state = Rc::new(RefCell::new(ClientState {
                id,
                next_seq: 1,
                unacked: BTreeSet::new(),
                resent: 0,
                unexpected_acks: 0,
                bad_lines: 0,
                transport: None,
                events: Vec::new(),
                now: now.clone(),
            }));
            let endpoint = RecordingEndpoint {
                inner: endpoint(id),
                state: state.clone(),
            };
            let for_protocol = state.clone();
            let factory = Factory::for_protocol(move || {
                LineReceiver::new(Sender {
                    state: for_protocol.clone(),
                })
                .with_delimiter(b"\n".to_vec())
                .expect("the delimiter is not empty")
            });
            let mut builder = ClientService::builder(Rc::new(endpoint), factory)
                .clock(clock.clone())
                .name(format!("soak client {id}"));
            if let Some(policy) = &policy {
                let policy = policy.clone();
                builder = builder.retry_policy(move |n| policy(n));
            }
            let service = builder.build();
            services.push(Rc::new(service));
            states.push(state);
        }
        // About 20 ticks a second, each sending a small burst: bursts keep
        // messages in flight, so outages catch some unacknowledged.
        let rate = config.rate.max(1);
        let per_tick = (rate / 20).max(1);
        Clients {
            states: Rc::new(states),
            services: Rc::new(services),
            sending: Rc::new(Cell::new(true)),
            window: config.window.max(1),
            per_tick,
            step: Duration::from_secs_f64(f64::from(per_tick) / f64::from(rate)),
        }
    }

    /// The `ClientService`s.
    pub(super) fn services(&self) -> Vec<Rc<dyn Service>> {
        self.services.to_vec()
    }

    /// A `TimerService` that, on each tick, has each connected client send
    /// a burst of new messages, as many as its window has room for.
    pub(super) fn load_service(&self, clock: Rc<dyn ReactorTime>) -> TimerService {
        let clients = self.clone();
        TimerService::new(self.step, clock, move || {
            if clients.sending.get() {
                for state in clients.states.iter() {
                    let mut state = state.borrow_mut();
                    for _ in 0..clients.per_tick {
                        if state.transport.is_none() || state.unacked.len() >= clients.window {
                            break;
                        }
                        state.send_new();
                    }
                }
            }
            Ok::<_, Failure>(())
        })
    }

    /// No new messages from now on.
    pub(super) fn stop_sending(&self) {
        self.sending.set(false);
    }

    /// Messages sent and not yet acknowledged, over all clients.
    pub(super) fn unacknowledged(&self) -> usize {
        self.states.iter().map(|s| s.borrow().unacked.len()).sum()
    }

    /// Every client's history.
    pub(super) fn histories(&self) -> Vec<History> {
        self.states
            .iter()
            .map(|state| {
                let state = state.borrow();
                History {
                    id: state.id,
                    next_seq: state.next_seq,
                    unacked: state.unacked.iter().copied().collect(),
                    resent: state.resent,
                    unexpected_acks: state.unexpected_acks,
                    bad_lines: state.bad_lines,
                    events: state.events.clone(),
                }
            })
            .collect()
    }
}
