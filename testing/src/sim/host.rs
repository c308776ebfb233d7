//! [`SimHost`]: one host's reactor face (time, TCP, UDP, UNIX, core) in a
//! [`Simulation`](super::Simulation).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::error::{CannotListenError, ReactorError, UdpError};
use torsion_reactor::{
    Connector, DatagramProtocolRef, DelayedCall, DynProtocolFactory, ListeningPort,
    MulticastTransport, Phase, ReactorCore, ReactorTcp, ReactorTime, ReactorUdp, ReactorUnix,
    SystemTriggers, Trigger, TriggerId, UdpTransportRef,
};

use super::connector::{SimConnector, SimPort, Target};
use super::datagram::SimUdpPort;
use super::network::Net;

pub(crate) struct HostInner {
    pub(crate) id: usize,
    name: String,
    ip: IpAddr,
    pub(crate) net: Weak<Net>,
    /// Bumped by each crash: timers and attempts of an older life are void.
    pub(crate) epoch: Cell<u64>,
    up: Cell<bool>,
    timers: RefCell<Vec<DelayedCall>>,
    pub(crate) tcp_ports: RefCell<BTreeMap<u16, Rc<SimPort>>>,
    pub(crate) unix_ports: RefCell<BTreeMap<PathBuf, Rc<SimPort>>>,
    /// UDP sockets by port; several only for multicast `listen_multiple`.
    udp_ports: RefCell<BTreeMap<u16, Vec<Rc<SimUdpPort>>>>,
    next_port: Cell<u16>,
    triggers: RefCell<Rc<SystemTriggers>>,
    running: Cell<bool>,
    when_running: RefCell<VecDeque<Box<dyn FnOnce()>>>,
}

/// One host of a [`Simulation`](super::Simulation): the reactor its
/// applications are given. It implements the same traits as the mio
/// reactor for time ([`ReactorTime`], on the simulation's one clock),
/// TCP ([`ReactorTcp`]), UDP and multicast ([`ReactorUdp`], IPv4),
/// UNIX sockets ([`ReactorUnix`], host-local) and the core
/// ([`ReactorCore`], triggers by [`SystemTriggers`]).
///
/// Names resolve inside the simulation: `connect_tcp("db", ...)` reaches the
/// host named `db`; `localhost`, `127.0.0.1` and the host's own address
/// reach the host itself; each host has the address `10.0.x.y` in order of
/// creation. A name no host has fails with `DnsLookupError`.
///
/// Cheap to clone (a handle).
///
/// # Twisted
///
/// `ReactorCore::run` does not block: the [`Simulation`](super::Simulation)
/// drives time for every host. `run` marks the host running, runs the
/// `call_when_running` hooks and fires `startup`; `stop` fires `shutdown`.
#[derive(Clone)]
pub struct SimHost {
    pub(crate) inner: Rc<HostInner>,
}

impl SimHost {
    pub(crate) fn new(net: &Rc<Net>, id: usize, name: &str) -> SimHost {
        SimHost {
            inner: Rc::new(HostInner {
                id,
                name: name.to_string(),
                ip: Net::address_of(id),
                net: Rc::downgrade(net),
                epoch: Cell::new(0),
                up: Cell::new(true),
                timers: RefCell::new(Vec::new()),
                tcp_ports: RefCell::new(BTreeMap::new()),
                unix_ports: RefCell::new(BTreeMap::new()),
                udp_ports: RefCell::new(BTreeMap::new()),
                next_port: Cell::new(49152),
                triggers: RefCell::new(Rc::new(SystemTriggers::new())),
                running: Cell::new(false),
                when_running: RefCell::new(VecDeque::new()),
            }),
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The host's address in the simulation (`10.0.x.y`).
    pub fn ip(&self) -> IpAddr {
        self.inner.ip
    }

    /// Whether the host is up (not crashed, or restarted since).
    pub fn is_up(&self) -> bool {
        self.inner.up.get()
    }

    /// The address `name` has as seen from this host (a host's name, an
    /// address, `localhost`): what a `NameResolver` over the simulation
    /// answers, e.g. for `torsion_endpoints::HostnameEndpoint`.
    pub fn resolve(&self, name: &str) -> Option<IpAddr> {
        let net = self.net();
        let id = net.resolve(self.inner.id, name)?;
        Some(net.host(id).ip())
    }

    /// Adds `event` to the simulation's trace, as this host's.
    pub fn note(&self, event: impl AsRef<str>) {
        self.net()
            .record(format!("{}: {}", self.inner.name, event.as_ref()));
    }

    pub(crate) fn net(&self) -> Rc<Net> {
        self.inner
            .net
            .upgrade()
            .expect("the simulation outlives its hosts' use")
    }

    /// The next free ephemeral port.
    pub(crate) fn ephemeral_port(&self) -> u16 {
        let port = self.inner.next_port.get();
        self.inner
            .next_port
            .set(if port == u16::MAX { 49152 } else { port + 1 });
        port
    }

    /// The process dies: timers cancelled, listeners closed, connections
    /// reset by the kernel (the callers do that), nothing told.
    pub(crate) fn crash(&self) {
        self.inner.up.set(false);
        self.inner.running.set(false);
        self.inner.epoch.set(self.inner.epoch.get() + 1);
        let timers = std::mem::take(&mut *self.inner.timers.borrow_mut());
        for call in timers {
            if call.active() {
                let _ = call.cancel();
            }
        }
        let tcp = std::mem::take(&mut *self.inner.tcp_ports.borrow_mut());
        let unix = std::mem::take(&mut *self.inner.unix_ports.borrow_mut());
        let old = std::mem::replace(
            &mut *self.inner.triggers.borrow_mut(),
            Rc::new(SystemTriggers::new()),
        );
        let hooks = std::mem::take(&mut *self.inner.when_running.borrow_mut());
        let udp = std::mem::take(&mut *self.inner.udp_ports.borrow_mut());
        for port in udp.values().flatten() {
            port.crashed();
        }
        drop((tcp, unix, old, hooks, udp));
    }

    /// The UDP sockets bound to `port`, oldest first.
    pub(crate) fn udp_ports(&self, port: u16) -> Vec<Rc<SimUdpPort>> {
        self.inner
            .udp_ports
            .borrow()
            .get(&port)
            .cloned()
            .unwrap_or_default()
    }

    /// Unbinds `port` (it stopped listening).
    pub(crate) fn forget_udp_port(&self, port: &SimUdpPort) {
        let mut ports = self.inner.udp_ports.borrow_mut();
        if let Some(bound) = ports.get_mut(&port.port()) {
            bound.retain(|p| !std::ptr::eq(Rc::as_ptr(p), port));
            if bound.is_empty() {
                ports.remove(&port.port());
            }
        }
    }

    fn bind_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        multicast: Option<bool>,
    ) -> Result<Rc<SimUdpPort>, UdpError> {
        let ip: IpAddr = if interface.is_empty() {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            interface.parse().map_err(|_| UdpError::InvalidAddress {
                address: interface.to_string(),
                reason: "not an IP address",
            })?
        };
        if ip.is_ipv6() {
            return Err(UdpError::InvalidAddress {
                address: interface.to_string(),
                reason: "the simulated network has IPv4 addresses only",
            });
        }
        let cannot = |kind: std::io::ErrorKind, why: &str| {
            UdpError::CannotListen(CannotListenError {
                interface: interface.to_string(),
                port,
                source: std::io::Error::new(kind, why.to_string()),
            })
        };
        if !(ip.is_unspecified() || ip.is_loopback() || ip == self.ip()) {
            return Err(cannot(
                std::io::ErrorKind::AddrNotAvailable,
                "not an address of this host",
            ));
        }
        let number = if port == 0 {
            self.ephemeral_port()
        } else {
            port
        };
        let bound = self.udp_ports(number);
        let shared = multicast == Some(true) && bound.iter().all(|p| p.is_multicast());
        if !bound.is_empty() && !shared {
            return Err(cannot(std::io::ErrorKind::AddrInUse, "address in use"));
        }
        let socket = SimUdpPort::new(self, number, protocol, max_packet_size, multicast.is_some());
        self.inner
            .udp_ports
            .borrow_mut()
            .entry(number)
            .or_default()
            .push(socket.clone());
        socket.started();
        Ok(socket)
    }

    pub(crate) fn restart(&self) {
        self.inner.up.set(true);
    }

    fn listen(
        &self,
        target: Target,
        factory: Rc<dyn DynProtocolFactory>,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let in_use = |interface: String, port: u16| CannotListenError {
            interface,
            port,
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use"),
        };
        let port = SimPort::new(self, target.clone(), factory);
        match &target {
            Target::Tcp { port: number, .. } => {
                if self.inner.tcp_ports.borrow().contains_key(number) {
                    return Err(in_use(String::new(), *number));
                }
                self.inner
                    .tcp_ports
                    .borrow_mut()
                    .insert(*number, port.clone());
            }
            Target::Unix(path) => {
                if self.inner.unix_ports.borrow().contains_key(path) {
                    return Err(in_use(path.display().to_string(), 0));
                }
                self.inner
                    .unix_ports
                    .borrow_mut()
                    .insert(path.clone(), port.clone());
            }
        }
        port.started();
        Ok(port)
    }
}

impl ReactorTime for SimHost {
    fn now(&self) -> Duration {
        self.net().clock.now()
    }

    /// Schedules on the simulation's clock; a crash of this host cancels it.
    fn call_later_boxed(&self, delay: Duration, call: Box<dyn FnOnce()>) -> DelayedCall {
        let net = self.net();
        let call = net.clock.call_later_boxed(delay, call);
        let mut timers = self.inner.timers.borrow_mut();
        if timers.len() >= 32 && timers.len().is_power_of_two() {
            timers.retain(DelayedCall::active);
        }
        timers.push(call.clone());
        call
    }

    fn delayed_calls(&self) -> Vec<DelayedCall> {
        let mut timers = self.inner.timers.borrow_mut();
        timers.retain(DelayedCall::active);
        timers.clone()
    }
}

impl ReactorTcp for SimHost {
    /// Listens on `port` (0: an ephemeral one) of this host; `interface`
    /// and `backlog` are recorded nowhere (every interface, no limit).
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] (address in use) if something listens there.
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        _backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let port = if port == 0 {
            self.ephemeral_port()
        } else {
            port
        };
        let target = Target::Tcp {
            host: interface.to_string(),
            port,
        };
        self.listen(target, factory)
    }

    /// Connects to `host:port` resolved in the simulation; `bind_address`
    /// is ignored.
    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        _bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        let target = Target::Tcp {
            host: host.to_string(),
            port,
        };
        SimConnector::start(self, target, factory, timeout)
    }
}

impl ReactorUdp for SimHost {
    /// Binds UDP `port` (0: an ephemeral one) on this host; `interface` is
    /// `""`, `0.0.0.0`, `127.0.0.1` or the host's address (the simulated
    /// network is IPv4). See the module docs of `sim` for how datagrams
    /// travel.
    ///
    /// # Errors
    ///
    /// [`UdpError::InvalidAddress`] for an interface that is not an IPv4
    /// address; [`UdpError::CannotListen`] if the port is bound already or
    /// the address is not this host's.
    fn listen_udp(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
    ) -> Result<UdpTransportRef, UdpError> {
        let socket = self.bind_udp(port, protocol, interface, max_packet_size, None)?;
        Ok(socket)
    }

    /// As [`listen_udp`](ReactorUdp::listen_udp), joining groups through
    /// the returned [`MulticastTransport`]; with `listen_multiple`, several
    /// multicast ports share the number and each gets the group's
    /// datagrams.
    ///
    /// # Errors
    ///
    /// As [`listen_udp`](ReactorUdp::listen_udp).
    fn listen_multicast(
        &self,
        port: u16,
        protocol: DatagramProtocolRef,
        interface: &str,
        max_packet_size: usize,
        listen_multiple: bool,
    ) -> Result<Rc<dyn MulticastTransport>, UdpError> {
        let socket = self.bind_udp(
            port,
            protocol,
            interface,
            max_packet_size,
            Some(listen_multiple),
        )?;
        Ok(socket)
    }
}

impl ReactorUnix for SimHost {
    /// Listens on `path`, on this host only (`mode` is not recorded).
    ///
    /// # Errors
    ///
    /// [`CannotListenError`] (address in use) if something listens there.
    fn listen_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        _backlog: u32,
        _mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        self.listen(Target::Unix(path.to_path_buf()), factory)
    }

    /// Connects to `path` on this host (no latency, never partitioned).
    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<dyn Connector> {
        SimConnector::start(self, Target::Unix(path.to_path_buf()), factory, timeout)
    }
}

impl ReactorCore for SimHost {
    fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// Marks the host running, runs the `call_when_running` hooks and
    /// fires `startup`; returns at once (the simulation drives time).
    ///
    /// # Errors
    ///
    /// [`ReactorError::AlreadyRunning`] if it runs already.
    fn run(&self) -> Result<(), ReactorError> {
        if self.inner.running.replace(true) {
            return Err(ReactorError::AlreadyRunning);
        }
        loop {
            let hook = self.inner.when_running.borrow_mut().pop_front();
            match hook {
                Some(hook) => hook(),
                None => break,
            }
        }
        let triggers = self.inner.triggers.borrow().clone();
        drop(triggers.fire(torsion_reactor::events::STARTUP));
        Ok(())
    }

    /// Fires `shutdown` and marks the host stopped.
    ///
    /// # Errors
    ///
    /// [`ReactorError::NotRunning`] if it is not running.
    fn stop(&self) -> Result<(), ReactorError> {
        if !self.inner.running.replace(false) {
            return Err(ReactorError::NotRunning);
        }
        let triggers = self.inner.triggers.borrow().clone();
        drop(triggers.fire(torsion_reactor::events::SHUTDOWN));
        Ok(())
    }

    fn crash(&self) {
        self.inner.running.set(false);
    }

    fn call_when_running(&self, call: Box<dyn FnOnce()>) -> Option<TriggerId> {
        if self.inner.running.get() {
            call();
            return None;
        }
        self.inner.when_running.borrow_mut().push_back(call);
        None
    }

    fn add_system_event_trigger(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        self.inner.triggers.borrow().add(phase, event, trigger)
    }

    fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        self.inner.triggers.borrow().remove(id)
    }

    fn fire_system_event(&self, event: &str) {
        let triggers = self.inner.triggers.borrow().clone();
        drop(triggers.fire(event));
    }
}

impl fmt::Debug for SimHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHost")
            .field("name", &self.inner.name)
            .field("ip", &self.inner.ip)
            .field("up", &self.inner.up.get())
            .finish()
    }
}
