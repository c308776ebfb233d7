//! Connection set-up in the simulation: [`SimConnector`] (the client's
//! SYN, its answer, the connect time-out) and [`SimPort`] (a listener).

use std::cell::Cell;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use torsion_reactor::error::{
    CannotListenError, ConnectionDone, ConnectionRefused, DnsLookupError, NoProtocol,
    NotConnectingError, TimeoutError,
};
use torsion_reactor::{
    Address, Connector, ConnectorBase, ConnectorState, Deferred, DynProtocolFactory, Failure,
    ListeningPort, ReactorTime,
};

use super::host::{HostInner, SimHost};
use super::network::{Net, SYN_RETRY};
use super::stream::{Ends, Segment, SimStream};

/// What a connector aims at or a port listens on.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A TCP host (a name or an address; for a port, the interface) and port.
    Tcp { host: String, port: u16 },
    /// A UNIX socket path, on the connecting host.
    Unix(PathBuf),
}

impl Target {
    fn address(&self) -> Address {
        match self {
            Target::Tcp { host, port } => match host.parse::<IpAddr>() {
                Ok(ip) => Address::Tcp(SocketAddr::new(ip, *port)),
                Err(_) => Address::Hostname {
                    host: host.clone(),
                    port: *port,
                },
            },
            Target::Unix(path) => Address::Unix(Some(path.clone())),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Tcp { port, .. } => format!("tcp port {port}"),
            Target::Unix(path) => format!("unix {}", path.display()),
        }
    }
}

/// A client connection attempt (the simulation's `Connector`).
pub(crate) struct SimConnector {
    me: Weak<SimConnector>,
    host: SimHost,
    target: Target,
    base: ConnectorBase<SimStream>,
    timeout: Duration,
    attempt: Cell<u64>,
    epoch: Cell<u64>,
}

impl SimConnector {
    pub(crate) fn start(
        host: &SimHost,
        target: Target,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<SimConnector> {
        let connector = Rc::new_cyclic(|me| SimConnector {
            me: me.clone(),
            host: host.clone(),
            target,
            base: ConnectorBase::new(factory),
            timeout,
            attempt: Cell::new(0),
            epoch: Cell::new(host.inner.epoch.get()),
        });
        connector.start_attempt();
        connector
    }

    fn me(&self) -> Rc<SimConnector> {
        self.me.upgrade().expect("a connector is alive when used")
    }

    fn current(&self, attempt: u64) -> bool {
        self.attempt.get() == attempt
            && self.base.is_connecting()
            && self.epoch.get() == self.host.inner.epoch.get()
    }

    fn start_attempt(&self) {
        self.epoch.set(self.host.inner.epoch.get());
        if !self.base.begin_attempt(self) {
            return; // the hook stopped it
        }
        let attempt = self.attempt.get() + 1;
        self.attempt.set(attempt);
        let (me, timeout, what) = (self.me(), self.timeout, self.target.address());
        let call = self.host.call_later_boxed(
            timeout,
            Box::new(move || {
                me.fail(Failure::new(TimeoutError::new(
                    Some(timeout),
                    format!("connect to {what}"),
                )))
            }),
        );
        self.base.set_timeout(call);
        let net = self.host.net();
        let from = self.host.inner.id;
        let destination = match &self.target {
            Target::Tcp { host, .. } => net.resolve(from, host),
            Target::Unix(_) => Some(from),
        };
        let Some(destination) = destination else {
            let (me, name) = (self.me(), self.target.clone());
            net.record(format!("{}: no host named {name:?}", self.host.name()));
            let host = match name {
                Target::Tcp { host, .. } => host,
                Target::Unix(path) => path.display().to_string(),
            };
            net.later(Duration::ZERO, move |_| {
                if me.current(attempt) {
                    me.fail(Failure::new(DnsLookupError { host, source: None }));
                }
            });
            return;
        };
        net.record(format!(
            "{} -> {}: connect ({})",
            self.host.name(),
            net.host_name(destination),
            self.target.describe()
        ));
        self.send_syn(&net, destination, attempt);
    }

    /// Sends the SYN; while the link is cut it is sent again every second
    /// until the connect time-out.
    fn send_syn(&self, net: &Rc<Net>, destination: usize, attempt: u64) {
        let from = self.host.inner.id;
        let me = self.me();
        if net.blocked(from, destination).is_some() {
            net.later(SYN_RETRY, move |net| {
                if me.current(attempt) {
                    me.send_syn(net, destination, attempt);
                }
            });
            return;
        }
        let delay = net.delay(from, destination);
        net.later(delay, move |net| {
            if me.current(attempt) {
                me.syn_arrives(net, destination, attempt);
            }
        });
    }

    fn syn_arrives(&self, net: &Rc<Net>, destination: usize, attempt: u64) {
        let from = self.host.inner.id;
        let server = net.host(destination);
        let port = match &self.target {
            Target::Tcp { port, .. } => server.inner.tcp_ports.borrow().get(port).cloned(),
            Target::Unix(path) => server.inner.unix_ports.borrow().get(path).cloned(),
        };
        let back = net.delay(destination, from);
        let Some(port) = port else {
            net.record(format!(
                "{} -> {}: connection refused ({})",
                server.name(),
                self.host.name(),
                self.target.describe()
            ));
            let me = self.me();
            net.later(back, move |net| me.refused(net, destination, attempt));
            return;
        };
        let (client_addr, server_addr, unix) = match &self.target {
            Target::Tcp { port, .. } => (
                Address::Tcp(SocketAddr::new(self.host.ip(), self.host.ephemeral_port())),
                Address::Tcp(SocketAddr::new(server.ip(), *port)),
                false,
            ),
            Target::Unix(path) => (Address::Unix(None), Address::Unix(Some(path.clone())), true),
        };
        let established = net.clock.now() + back;
        let conn = net.next_stream.get();
        net.next_stream.set(conn + 1);
        let server_end = SimStream::new(
            net,
            Ends {
                conn,
                host: destination,
                peer_host: from,
                local: server_addr.clone(),
                remote: client_addr.clone(),
                unix,
            },
            established,
        );
        let client_end = SimStream::new(
            net,
            Ends {
                conn,
                host: from,
                peer_host: destination,
                local: client_addr.clone(),
                remote: server_addr,
                unix,
            },
            established,
        );
        server_end.link(&client_end);
        client_end.link(&server_end);
        net.record(format!(
            "{} <- {}: accepted conn#{} ({})",
            server.name(),
            self.host.name(),
            server_end.id,
            self.target.describe()
        ));
        match port.factory.build_protocol(&client_addr) {
            Some(protocol) => server_end.start(protocol),
            None => server_end.close(Failure::new(ConnectionDone), Some(Segment::Fin)),
        }
        let me = self.me();
        net.later(back, move |net| {
            me.syn_ack(net, destination, attempt, client_end)
        });
    }

    /// The refusal (RST) arrives, unless the link was cut meanwhile: then
    /// the SYN is retransmitted and refused again a second later.
    fn refused(&self, net: &Rc<Net>, destination: usize, attempt: u64) {
        if !self.current(attempt) {
            return;
        }
        if net.blocked(destination, self.host.inner.id).is_some() {
            let me = self.me();
            net.later(SYN_RETRY, move |net| me.refused(net, destination, attempt));
            return;
        }
        self.fail(Failure::new(ConnectionRefused::new()));
    }

    /// The SYN-ACK arrives, unless the link was cut meanwhile: then the
    /// server retransmits it a second later (until the client gives up).
    fn syn_ack(&self, net: &Rc<Net>, destination: usize, attempt: u64, client_end: Rc<SimStream>) {
        if !self.current(attempt) {
            // The client gave up meanwhile: its kernel resets.
            client_end.kill();
            return;
        }
        if net.blocked(destination, self.host.inner.id).is_some() {
            let me = self.me();
            net.later(SYN_RETRY, move |net| {
                me.syn_ack(net, destination, attempt, client_end)
            });
            return;
        }
        self.connected(client_end);
    }

    fn connected(&self, stream: Rc<SimStream>) {
        self.base.cancel_timeout();
        let peer = stream.peer_address();
        let Some(protocol) = self.base.factory().build_protocol(&peer) else {
            stream.kill();
            return self.fail(Failure::new(NoProtocol));
        };
        // The stream keeps its connector, as the mio reactor's connection
        // does: the factory hears of the end even if the caller dropped it.
        let me = self.me();
        stream.set_on_close(Box::new(move |reason: Failure| {
            me.base.connection_lost(&*me, reason);
        }));
        self.base.connected(&stream);
        stream.start(protocol);
    }

    fn fail(&self, reason: Failure) {
        if !self.base.is_connecting() {
            return;
        }
        self.attempt.set(self.attempt.get() + 1);
        if let Some(net) = self.host.inner.net.upgrade() {
            net.record(format!(
                "{}: connect ({}) failed: {}",
                self.host.name(),
                self.target.describe(),
                reason.error_message()
            ));
        }
        self.base.connection_failed(self, reason);
    }
}

impl Connector for SimConnector {
    fn stop_connecting(&self) -> Result<(), NotConnectingError> {
        self.base.stop_connecting(|reason| self.fail(reason))
    }

    fn disconnect(&self) {
        self.base.disconnect(|reason| self.fail(reason));
    }

    fn connect(&self) {
        if self.base.state() == ConnectorState::Disconnected {
            self.start_attempt();
        }
    }

    fn destination(&self) -> Address {
        self.target.address()
    }

    fn state(&self) -> ConnectorState {
        self.base.state()
    }
}

impl fmt::Debug for SimConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConnector")
            .field("host", &self.host.name())
            .field("target", &self.target)
            .field("state", &self.base.state())
            .finish()
    }
}

/// A listening port on a simulated host.
pub(crate) struct SimPort {
    host: Weak<HostInner>,
    target: Target,
    pub(crate) factory: Rc<dyn DynProtocolFactory>,
    listening: Cell<bool>,
    me: Weak<SimPort>,
}

impl SimPort {
    pub(crate) fn new(
        host: &SimHost,
        target: Target,
        factory: Rc<dyn DynProtocolFactory>,
    ) -> Rc<SimPort> {
        Rc::new_cyclic(|me| SimPort {
            host: Rc::downgrade(&host.inner),
            target,
            factory,
            listening: Cell::new(false),
            me: me.clone(),
        })
    }

    pub(crate) fn started(&self) {
        self.listening.set(true);
        self.factory.do_start();
        if let Some(host) = self.host.upgrade() {
            if let Some(net) = host.net.upgrade() {
                net.record(format!(
                    "{}: listening ({})",
                    net.host_name(host.id),
                    self.target.describe()
                ));
            }
        }
    }
}

impl ListeningPort for SimPort {
    /// # Errors
    ///
    /// [`CannotListenError`] (address in use) if something else listens
    /// there now.
    fn start_listening(&self) -> Result<(), CannotListenError> {
        if self.listening.get() {
            return Ok(());
        }
        let (Some(host), Some(me)) = (self.host.upgrade(), self.me.upgrade()) else {
            return Ok(());
        };
        let taken = || CannotListenError {
            interface: String::new(),
            port: 0,
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use"),
        };
        match &self.target {
            Target::Tcp { port, .. } => {
                let mut ports = host.tcp_ports.borrow_mut();
                if ports.contains_key(port) {
                    return Err(taken());
                }
                ports.insert(*port, me);
            }
            Target::Unix(path) => {
                let mut ports = host.unix_ports.borrow_mut();
                if ports.contains_key(path) {
                    return Err(taken());
                }
                ports.insert(path.clone(), me);
            }
        }
        self.started();
        Ok(())
    }

    fn stop_listening(&self) -> Deferred<()> {
        if self.listening.replace(false) {
            if let Some(host) = self.host.upgrade() {
                let removed = match &self.target {
                    Target::Tcp { port, .. } => host.tcp_ports.borrow_mut().remove(port),
                    Target::Unix(path) => host.unix_ports.borrow_mut().remove(path),
                };
                drop(removed);
            }
            self.factory.do_stop();
        }
        Deferred::succeeded(())
    }

    fn host(&self) -> Address {
        match &self.target {
            Target::Tcp { port, .. } => {
                let ip = self
                    .host
                    .upgrade()
                    .map_or(IpAddr::from([0, 0, 0, 0]), |host| {
                        SimHost { inner: host }.ip()
                    });
                Address::Tcp(SocketAddr::new(ip, *port))
            }
            Target::Unix(path) => Address::Unix(Some(path.clone())),
        }
    }
}

impl fmt::Debug for SimPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPort")
            .field("target", &self.target)
            .field("listening", &self.listening.get())
            .finish()
    }
}
