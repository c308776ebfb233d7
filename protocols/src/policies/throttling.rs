//! [`ThrottlingFactory`]: Twisted's `policies.ThrottlingFactory` and
//! `ThrottlingProtocol`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::{
    Address, DelayedCall, DynProtocolFactory, Failure, ProducerRef, ReactorTime, ReactorTimeExt,
    Transport, TransportRef,
};

use super::wrapper::{Admission, Policy, PolicyHooks, Slot, WrappingFactory};

const SECOND: Duration = Duration::from_secs(1);

/// One connection as the throttle sees it.
#[derive(Default)]
struct Connection {
    transport: RefCell<Option<Weak<dyn Transport>>>,
    /// The wrapped protocol's registered producer, paused to throttle writes.
    producer: RefCell<Option<ProducerRef>>,
}

#[derive(Default)]
struct Calls {
    unthrottle_reads: Option<DelayedCall>,
    check_read: Option<DelayedCall>,
    unthrottle_writes: Option<DelayedCall>,
    check_write: Option<DelayedCall>,
}

struct Shared {
    clock: Rc<dyn ReactorTime>,
    max_connections: Cell<usize>,
    read_limit: Cell<Option<u64>>,
    write_limit: Cell<Option<u64>>,
    connection_count: Cell<usize>,
    read_this_second: Cell<u64>,
    written_this_second: Cell<u64>,
    calls: RefCell<Calls>,
    /// Connected protocols (Twisted's `protocols`).
    connections: RefCell<Vec<Rc<Connection>>>,
}

/// The policy of a [`ThrottlingFactory`]: the shared counters and timers.
#[derive(Clone)]
pub struct ThrottlingPolicy {
    shared: Rc<Shared>,
}

impl ThrottlingPolicy {
    /// Bytes read since the last once-a-second check (Twisted's `readThisSecond`).
    pub fn read_this_second(&self) -> u64 {
        self.shared.read_this_second.get()
    }

    /// Bytes written since the last check (Twisted's `writtenThisSecond`).
    pub fn written_this_second(&self) -> u64 {
        self.shared.written_this_second.get()
    }

    /// Connections built and not yet lost (Twisted's `connectionCount`).
    pub fn connection_count(&self) -> usize {
        self.shared.connection_count.get()
    }

    /// Connections made and not yet lost (Twisted's `len(protocols)`).
    pub fn connected(&self) -> usize {
        self.shared.connections.borrow().len()
    }

    fn each_connection(&self, f: impl Fn(&Connection)) {
        // A copy: pausing a producer runs user code, which may connect or close.
        let connections = self.shared.connections.borrow().clone();
        for connection in &connections {
            f(connection);
        }
    }

    fn later(&self, delay: Duration, f: fn(&ThrottlingPolicy)) -> DelayedCall {
        let weak = Rc::downgrade(&self.shared);
        self.shared.clock.call_later(delay, move || {
            if let Some(shared) = weak.upgrade() {
                f(&ThrottlingPolicy { shared });
            }
        })
    }

    /// Twisted's `checkReadBandwidth`.
    fn check_read_bandwidth(&self) {
        let read = self.shared.read_this_second.replace(0);
        if let Some(limit) = self.shared.read_limit.get().filter(|&l| read > l) {
            self.throttle_reads();
            let call = self.later(over_for(read, limit), ThrottlingPolicy::unthrottle_reads);
            self.shared.calls.borrow_mut().unthrottle_reads = Some(call);
        }
        let call = self.later(SECOND, ThrottlingPolicy::check_read_bandwidth);
        self.shared.calls.borrow_mut().check_read = Some(call);
    }

    /// Twisted's `checkWriteBandwidth`.
    fn check_write_bandwidth(&self) {
        let written = self.shared.written_this_second.replace(0);
        if let Some(limit) = self.shared.write_limit.get().filter(|&l| written > l) {
            self.throttle_writes();
            let call = self.later(
                over_for(written, limit),
                ThrottlingPolicy::unthrottle_writes,
            );
            self.shared.calls.borrow_mut().unthrottle_writes = Some(call);
        }
        let call = self.later(SECOND, ThrottlingPolicy::check_write_bandwidth);
        self.shared.calls.borrow_mut().check_write = Some(call);
    }

    /// Pauses reading on every connection.
    pub fn throttle_reads(&self) {
        log::info!("Throttling reads on {self:?}");
        self.each_connection(|c| with_transport(c, |t| t.pause_producing()));
    }

    /// Resumes reading on every connection.
    pub fn unthrottle_reads(&self) {
        self.shared.calls.borrow_mut().unthrottle_reads = None;
        log::info!("Stopped throttling reads on {self:?}");
        self.each_connection(|c| with_transport(c, |t| t.resume_producing()));
    }

    /// Pauses every connection's registered push producer.
    pub fn throttle_writes(&self) {
        log::info!("Throttling writes on {self:?}");
        self.each_connection(|c| with_push_producer(c, |p| p.pause_producing()));
    }

    /// Resumes every connection's registered push producer.
    pub fn unthrottle_writes(&self) {
        self.shared.calls.borrow_mut().unthrottle_writes = None;
        log::info!("Stopped throttling writes on {self:?}");
        self.each_connection(|c| with_push_producer(c, |p| p.resume_producing()));
    }

    /// A connection is gone: with none left, the timers stop.
    fn connection_released(&self) {
        let count = self.shared.connection_count.get() - 1;
        self.shared.connection_count.set(count);
        if count == 0 {
            let calls = std::mem::take(&mut *self.shared.calls.borrow_mut());
            for call in [
                calls.unthrottle_reads,
                calls.check_read,
                calls.unthrottle_writes,
                calls.check_write,
            ]
            .into_iter()
            .flatten()
            {
                let _ = call.cancel();
            }
        }
    }
}

/// How long to pause after `amount` bytes in a second against `limit`
/// per second (Twisted's `amount / limit - 1` seconds).
fn over_for(amount: u64, limit: u64) -> Duration {
    Duration::from_secs_f64(amount as f64 / limit as f64 - 1.0)
}

fn with_transport(connection: &Connection, f: impl FnOnce(&dyn Transport)) {
    let transport = connection
        .transport
        .borrow()
        .as_ref()
        .and_then(Weak::upgrade);
    if let Some(transport) = transport {
        f(&*transport);
    }
}

fn with_push_producer(connection: &Connection, f: impl FnOnce(&dyn torsion_reactor::PushProducer)) {
    let producer = connection.producer.borrow().clone();
    if let Some(ProducerRef::Push(producer)) = producer {
        f(&*producer);
    }
}

impl Policy for ThrottlingPolicy {
    type Hooks = ThrottlingHooks;

    fn admit(&self, _addr: &Address) -> Admission<ThrottlingHooks> {
        let shared = &self.shared;
        if shared.connection_count.get() == 0 {
            if shared.read_limit.get().is_some() {
                self.check_read_bandwidth();
            }
            if shared.write_limit.get().is_some() {
                self.check_write_bandwidth();
            }
        }
        if shared.connection_count.get() >= shared.max_connections.get() {
            log::info!("Max connection count reached!");
            return Admission::Refuse;
        }
        shared
            .connection_count
            .set(shared.connection_count.get() + 1);
        let policy = self.clone();
        Admission::Wrap(ThrottlingHooks {
            policy: self.clone(),
            connection: Rc::default(),
            slot: Slot::new((), Rc::new(move |()| policy.connection_released())),
        })
    }

    fn name(&self) -> &'static str {
        "ThrottlingFactory"
    }
}

impl fmt::Debug for ThrottlingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottlingPolicy")
            .field("max_connections", &self.shared.max_connections.get())
            .field("read_limit", &self.shared.read_limit.get())
            .field("write_limit", &self.shared.write_limit.get())
            .field("connection_count", &self.shared.connection_count.get())
            .finish()
    }
}

/// One connection under a [`ThrottlingFactory`] (Twisted's
/// `ThrottlingProtocol`): counts its bytes into the factory's totals.
pub struct ThrottlingHooks {
    policy: ThrottlingPolicy,
    connection: Rc<Connection>,
    slot: Slot<()>,
}

impl PolicyHooks for ThrottlingHooks {
    fn connection_made(&self, transport: &TransportRef) {
        *self.connection.transport.borrow_mut() = Some(Rc::downgrade(transport));
        let shared = &self.policy.shared;
        shared
            .connections
            .borrow_mut()
            .push(self.connection.clone());
    }

    fn data_received(&self, data: &[u8]) {
        let read = &self.policy.shared.read_this_second;
        read.set(read.get() + data.len() as u64);
    }

    fn write(&self, data: &[u8]) {
        let written = &self.policy.shared.written_this_second;
        written.set(written.get() + data.len() as u64);
    }

    fn register_producer(&self, producer: &ProducerRef) {
        *self.connection.producer.borrow_mut() = Some(producer.clone());
    }

    fn unregister_producer(&self) {
        self.connection.producer.borrow_mut().take();
    }

    fn connection_lost(&self, _reason: &Failure) {
        let shared = &self.policy.shared;
        shared
            .connections
            .borrow_mut()
            .retain(|each| !Rc::ptr_eq(each, &self.connection));
        self.connection.producer.borrow_mut().take();
        self.slot.release();
    }
}

impl fmt::Debug for ThrottlingHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottlingHooks").finish_non_exhaustive()
    }
}

/// Limits the bandwidth and the number of connections of the wrapped
/// factory (Twisted's `policies.ThrottlingFactory`).
///
/// Once a second it compares the bytes read and written by all its
/// connections with the limits; over a limit, it pauses every
/// connection's reading (the transport's
/// [`pause_producing`](torsion_reactor::PushProducer::pause_producing)) or
/// writing (the wrapped protocol's registered push producer) for as long as
/// the excess would take at the limit, then resumes it. Write throttling
/// needs a registered producer, as in Twisted.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_protocols::policies::ThrottlingFactory;
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory, Timers};
///
/// struct Upload;
/// impl Protocol for Upload {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let clock = Rc::new(Timers::manual());
/// let factory = ThrottlingFactory::new(Rc::new(Factory::for_protocol(|| Upload)), clock)
///     .max_connections(2)
///     .read_limit(64 * 1024);
/// let peer = Address::Unix(None);
/// let (_a, _b) = (factory.build_protocol(&peer), factory.build_protocol(&peer));
/// assert!(factory.build_protocol(&peer).is_none()); // a third is refused
/// ```
///
/// # Twisted
///
/// The clock is given rather than reached through an overridable
/// `callLater`; limits are bytes per second. Write throttling pauses push
/// producers only (a pull producer has nothing to pause).
pub type ThrottlingFactory = WrappingFactory<ThrottlingPolicy>;

impl WrappingFactory<ThrottlingPolicy> {
    /// Wraps `wrapped`, timing on `clock`, with no limits yet.
    pub fn new(
        wrapped: Rc<dyn DynProtocolFactory>,
        clock: Rc<dyn ReactorTime>,
    ) -> ThrottlingFactory {
        WrappingFactory::with_policy(
            wrapped,
            ThrottlingPolicy {
                shared: Rc::new(Shared {
                    clock,
                    max_connections: Cell::new(usize::MAX),
                    read_limit: Cell::new(None),
                    write_limit: Cell::new(None),
                    connection_count: Cell::new(0),
                    read_this_second: Cell::new(0),
                    written_this_second: Cell::new(0),
                    calls: RefCell::default(),
                    connections: RefCell::default(),
                }),
            },
        )
    }

    /// At most `count` connections at once (Twisted's `maxConnectionCount`).
    pub fn max_connections(self, count: usize) -> ThrottlingFactory {
        self.policy().shared.max_connections.set(count);
        self
    }

    /// At most `bytes_per_second` read (Twisted's `readLimit`).
    pub fn read_limit(self, bytes_per_second: u64) -> ThrottlingFactory {
        self.policy()
            .shared
            .read_limit
            .set(Some(bytes_per_second.max(1)));
        self
    }

    /// At most `bytes_per_second` written (Twisted's `writeLimit`).
    pub fn write_limit(self, bytes_per_second: u64) -> ThrottlingFactory {
        self.policy()
            .shared
            .write_limit
            .set(Some(bytes_per_second.max(1)));
        self
    }
}
