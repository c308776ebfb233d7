//! The network's shared state: hosts, link settings, partitions and holds,
//! live streams, the RNG and the trace.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::{DelayedCall, ReactorTime};

use super::host::SimHost;
use super::rng::SimRng;
use super::stream::SimStream;
use crate::Clock;

/// How long a sender keeps retransmitting to an unreachable peer before
/// its connection fails with a time-out: Linux's default (`tcp_retries2`
/// = 15, about 924.6 s). Change it with
/// [`Simulation::set_tcp_timeout`](super::Simulation::set_tcp_timeout).
pub const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_millis(924_600);

/// How often a SYN is sent again while the link is partitioned or held
/// (until the connector's own time-out).
pub(crate) const SYN_RETRY: Duration = Duration::from_secs(1);

/// The settings of a link between two hosts (both directions).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_testing::sim::Link;
///
/// let wan = Link::new(Duration::from_millis(40))
///     .jitter(Duration::from_millis(10))
///     .bandwidth(1_000_000);
/// assert_eq!(wan.latency, Duration::from_millis(40));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// One-way delay of every segment.
    pub latency: Duration,
    /// Up to this much more delay, drawn from the simulation's RNG per
    /// segment (delivery stays in order).
    pub jitter: Duration,
    /// Bytes per second each direction carries; `None` for no limit.
    pub bandwidth: Option<u64>,
    /// Datagrams lost, in parts per million (streams resend, so only UDP
    /// sees it): see [`Link::datagram_loss`].
    loss_ppm: u32,
}

impl Link {
    /// A link with `latency`, no jitter and no bandwidth limit.
    pub fn new(latency: Duration) -> Link {
        Link {
            latency,
            jitter: Duration::ZERO,
            bandwidth: None,
            loss_ppm: 0,
        }
    }

    /// Adds up to `jitter` of random delay per segment.
    pub fn jitter(mut self, jitter: Duration) -> Link {
        self.jitter = jitter;
        self
    }

    /// Limits each direction to `bytes_per_second`.
    pub fn bandwidth(mut self, bytes_per_second: u64) -> Link {
        self.bandwidth = Some(bytes_per_second.max(1));
        self
    }

    /// Loses this fraction (0 to 1) of the datagrams sent over the link,
    /// each drawn from the simulation's seed.
    pub fn datagram_loss(mut self, fraction: f64) -> Link {
        self.loss_ppm = (fraction.clamp(0.0, 1.0) * 1_000_000.0).round() as u32;
        self
    }

    /// The fraction of datagrams lost.
    pub fn loss(&self) -> f64 {
        f64::from(self.loss_ppm) / 1_000_000.0
    }
}

impl Default for Link {
    /// 1 ms latency, no jitter, no bandwidth limit.
    fn default() -> Link {
        Link::new(Duration::from_millis(1))
    }
}

/// Why a link carries nothing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// `partition`: segments are lost and retransmitted; a sender gives up
    /// after the TCP time-out.
    Partition,
    /// `hold`: segments wait for `release`, with no time-out.
    Hold,
}

/// An unordered pair of host ids.
pub(crate) fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

pub(crate) struct Net {
    pub(crate) me: Weak<Net>,
    pub(crate) seed: u64,
    pub(crate) clock: Clock,
    pub(crate) rng: SimRng,
    pub(crate) hosts: RefCell<Vec<SimHost>>,
    pub(crate) default_link: Cell<Link>,
    pub(crate) links: RefCell<BTreeMap<(usize, usize), Link>>,
    pub(crate) partitions: RefCell<BTreeSet<(usize, usize)>>,
    pub(crate) holds: RefCell<BTreeSet<(usize, usize)>>,
    /// Every stream end until it closes (pruned now and then): the
    /// simulation holds open connections as a reactor does, whoever else
    /// keeps them.
    pub(crate) streams: RefCell<Vec<Rc<SimStream>>>,
    pub(crate) next_stream: Cell<u64>,
    pub(crate) tcp_timeout: Cell<Duration>,
    pub(crate) trace: RefCell<Vec<String>>,
    pub(crate) echo: Cell<bool>,
}

impl Net {
    pub(crate) fn new(seed: u64) -> Rc<Net> {
        Rc::new_cyclic(|me| Net {
            me: me.clone(),
            seed,
            clock: Clock::new(),
            rng: SimRng::new(seed),
            hosts: RefCell::new(Vec::new()),
            default_link: Cell::new(Link::default()),
            links: RefCell::new(BTreeMap::new()),
            partitions: RefCell::new(BTreeSet::new()),
            holds: RefCell::new(BTreeSet::new()),
            streams: RefCell::new(Vec::new()),
            next_stream: Cell::new(1),
            tcp_timeout: Cell::new(DEFAULT_TCP_TIMEOUT),
            trace: RefCell::new(Vec::new()),
            echo: Cell::new(false),
        })
    }

    /// Adds a line to the trace, stamped with the simulated time.
    pub(crate) fn record(&self, event: impl AsRef<str>) {
        let line = format!(
            "{:>12.6}s {}",
            self.clock.now().as_secs_f64(),
            event.as_ref()
        );
        if self.echo.get() {
            println!("{line}");
        }
        self.trace.borrow_mut().push(line);
    }

    pub(crate) fn host(&self, id: usize) -> SimHost {
        self.hosts.borrow()[id].clone()
    }

    pub(crate) fn host_name(&self, id: usize) -> String {
        self.hosts.borrow()[id].name().to_string()
    }

    /// The host a name or an address names, as seen from `from`.
    pub(crate) fn resolve(&self, from: usize, name: &str) -> Option<usize> {
        if name == "localhost" || name.is_empty() {
            return Some(from);
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            if ip.is_loopback() || ip.is_unspecified() {
                return Some(from);
            }
            return self.hosts.borrow().iter().position(|h| h.ip() == ip);
        }
        self.hosts
            .borrow()
            .iter()
            .position(|h| h.name().eq_ignore_ascii_case(name))
    }

    /// The address of the `index`th host: 10.0.x.y.
    pub(crate) fn address_of(index: usize) -> IpAddr {
        let n = index + 1;
        IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, (n & 0xff) as u8))
    }

    pub(crate) fn link(&self, a: usize, b: usize) -> Link {
        if a == b {
            return Link::new(Duration::ZERO);
        }
        self.links
            .borrow()
            .get(&pair(a, b))
            .copied()
            .unwrap_or(self.default_link.get())
    }

    /// What stops `a` and `b` from talking, if anything.
    pub(crate) fn blocked(&self, a: usize, b: usize) -> Option<Block> {
        if a == b {
            return None;
        }
        let key = pair(a, b);
        if self.partitions.borrow().contains(&key) {
            Some(Block::Partition)
        } else if self.holds.borrow().contains(&key) {
            Some(Block::Hold)
        } else {
            None
        }
    }

    /// One-way delay of a segment from `a` to `b` (latency plus jitter).
    pub(crate) fn delay(&self, a: usize, b: usize) -> Duration {
        let link = self.link(a, b);
        link.latency + self.rng.duration_below(link.jitter)
    }

    /// Schedules `call` after `delay` on the shared clock (network events
    /// belong to no host: a crash does not cancel them).
    pub(crate) fn later(
        &self,
        delay: Duration,
        call: impl FnOnce(&Rc<Net>) + 'static,
    ) -> DelayedCall {
        let me = self.me.clone();
        self.clock.call_later_boxed(
            delay,
            Box::new(move || {
                if let Some(net) = me.upgrade() {
                    call(&net);
                }
            }),
        )
    }

    pub(crate) fn register_stream(&self, stream: &Rc<SimStream>) {
        let mut streams = self.streams.borrow_mut();
        if streams.len() >= 64 && streams.len().is_power_of_two() {
            streams.retain(|s| !s.is_closed());
        }
        streams.push(stream.clone());
    }

    /// The live streams, in creation order.
    pub(crate) fn live_streams(&self) -> Vec<Rc<SimStream>> {
        let mut streams = self.streams.borrow_mut();
        streams.retain(|s| !s.is_closed());
        streams.clone()
    }

    /// A link came back: every stalled stream resends.
    pub(crate) fn unblocked(&self) {
        for stream in self.live_streams() {
            stream.kick();
        }
    }
}
