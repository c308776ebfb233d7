//! [`MemoryReactor`]: a reactor that records what it is asked to do.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{CannotListenError, ReactorError};
use torsion_reactor::{
    thread_channel, Address, Connector, DynProtocolFactory, ListeningPort, Phase, ReactorCore,
    ReactorFromThreads, ReactorTcp, ReactorUnix, SystemTriggers, ThreadCalls, ThreadHandle,
    Trigger, TriggerId,
};

use super::records::{FakeConnector, FakePort, TcpClient, TcpServer, UnixClient, UnixServer};
use super::udp::UdpServer;

/// A fake reactor for tests: it records every `listen_*` and `connect_*`
/// call and never touches a socket (Twisted's
/// `twisted.internet.testing.MemoryReactor`).
///
/// Clones share one reactor, so code under test can own one clone (or an
/// `Rc<dyn ReactorTcp>` of it) while the test inspects another.
///
/// # Recording
///
/// Each call is appended, in call order, to a list a test reads back:
/// [`tcp_servers`](MemoryReactor::tcp_servers),
/// [`tcp_clients`](MemoryReactor::tcp_clients),
/// [`unix_servers`](MemoryReactor::unix_servers),
/// [`unix_clients`](MemoryReactor::unix_clients), with every argument,
/// the factory included. `listen_*` return a [`FakePort`]; `connect_*`
/// create a [`FakeConnector`], call the factory's `started_connecting` with
/// it, append it to [`connectors`](MemoryReactor::connectors) and return it.
/// Nothing ever connects, and nothing calls the factory's `do_start` or
/// `build_protocol`: the test drives the factory itself.
///
/// # Lifecycle
///
/// * [`run`](ReactorCore::run) marks it running and [`has_run`](MemoryReactor::has_run),
///   calls every hook queued by [`call_when_running`](ReactorCore::call_when_running)
///   in order, then calls [`stop`](ReactorCore::stop) and returns. It does
///   not fire `startup` or `shutdown`.
/// * [`stop`](ReactorCore::stop) marks it not running and
///   [`has_stopped`](MemoryReactor::has_stopped); it never fails.
/// * [`crash`](ReactorCore::crash) marks it not running and
///   [`has_crashed`](MemoryReactor::has_crashed).
/// * [`call_when_running`](ReactorCore::call_when_running) calls at once if it
///   is running or has run, else queues the call and returns its id, which
///   [`remove_system_event_trigger`](ReactorCore::remove_system_event_trigger)
///   accepts.
/// * [`add_system_event_trigger`](ReactorCore::add_system_event_trigger)
///   only records the trigger, by phase and event name
///   ([`triggers`](MemoryReactor::triggers));
///   [`fire_system_event`](ReactorCore::fire_system_event) runs them.
///
/// # Threads
///
/// [`thread_handle`](ReactorFromThreads::thread_handle) gives a real
/// [`ThreadHandle`]; the calls it queues wait until the test calls
/// [`run_thread_calls`](MemoryReactor::run_thread_calls). Once every clone
/// of the reactor is dropped, queuing fails with `ReactorGone`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::{Factory, ReactorTcp, DEFAULT_BACKLOG};
/// use torsion_testing::{AccumulatingProtocol, MemoryReactor};
///
/// /// The code under test: serves on a port.
/// fn serve(reactor: &dyn ReactorTcp, port: u16) -> Result<(), torsion_reactor::error::CannotListenError> {
///     let factory = Rc::new(Factory::for_protocol(AccumulatingProtocol::new));
///     reactor.listen_tcp(port, factory, DEFAULT_BACKLOG, "")?;
///     Ok(())
/// }
///
/// let reactor = MemoryReactor::new();
/// serve(&reactor, 8080)?;
/// let servers = reactor.tcp_servers();
/// assert_eq!(servers.len(), 1);
/// assert_eq!(servers[0].port, 8080);
/// assert_eq!(servers[0].listening_port.host().to_string(), "0.0.0.0:8080");
/// # use torsion_reactor::ListeningPort;
/// # Ok::<(), torsion_reactor::error::CannotListenError>(())
/// ```
///
/// # Twisted
///
/// * Twisted's `fireSystemEvent` and `removeSystemEventTrigger` raise
///   `NotImplementedError`. Here `fire_system_event` runs the event's
///   triggers as the real reactor does (`Before`, then, once the Deferreds
///   they returned have fired, `During` and `After`; a panic is logged and
///   the rest still run), so that a test can drive a shutdown; and
///   `remove_system_event_trigger` removes a trigger or a queued
///   `call_when_running` hook. Triggers stay registered after firing.
/// * Twisted's `__init__` sets `hasRun`, `hasStopped` and `hasCrashed` to
///   `True`; here they start `false`, so that they say something.
/// * Twisted's `run` keeps `whenRunningHooks` and would call them again on
///   a second `run`; the hooks here are `FnOnce`, so `run` drains them.
/// * Twisted's `crash` sets `running` to `None`, which makes a later `run`
///   fail its `assert self.running is False`; here `run` after `crash` works,
///   as on the real reactor.
/// * `stop` never fails, unlike the real reactor's, which returns
///   `NotRunning` when not running; `run` can be called again after it
///   returned, unlike the real reactor's `NotRestartable`.
/// * Connector destinations for a host name are [`Address::Hostname`]
///   (Twisted: an `IPv4Address` holding the name).
/// * `install`, `resolve`, `iterate`, SSL, socket adoption and the FD set
///   have no counterpart in Torsion's traits.
#[derive(Clone)]
pub struct MemoryReactor {
    pub(super) inner: Rc<Inner>,
}

/// A `call_when_running` hook waiting for `run`, with the id that removes it.
type Hook = (TriggerId, Box<dyn FnOnce()>);

pub(super) struct Inner {
    running: Cell<bool>,
    has_run: Cell<bool>,
    has_stopped: Cell<bool>,
    has_crashed: Cell<bool>,
    next_id: Cell<u64>,
    when_running: RefCell<VecDeque<Hook>>,
    triggers: Rc<SystemTriggers>,
    tcp_servers: RefCell<Vec<TcpServer>>,
    tcp_clients: RefCell<Vec<TcpClient>>,
    unix_servers: RefCell<Vec<UnixServer>>,
    unix_clients: RefCell<Vec<UnixClient>>,
    connectors: RefCell<Vec<Rc<FakeConnector>>>,
    udp_servers: RefCell<Vec<UdpServer>>,
    thread_handle: ThreadHandle,
    thread_calls: ThreadCalls,
    /// `spawn_process` calls (`process.rs`).
    pub(super) processes: RefCell<Vec<crate::ProcessSpawn>>,
}

impl Default for MemoryReactor {
    fn default() -> Self {
        MemoryReactor::new()
    }
}

impl MemoryReactor {
    /// A reactor that has not run, with nothing recorded.
    pub fn new() -> MemoryReactor {
        // Nothing to wake: the test runs queued calls with `run_thread_calls`.
        let (thread_handle, thread_calls) = thread_channel(|| {});
        MemoryReactor {
            inner: Rc::new(Inner {
                running: Cell::new(false),
                has_run: Cell::new(false),
                has_stopped: Cell::new(false),
                has_crashed: Cell::new(false),
                next_id: Cell::new(0),
                when_running: RefCell::default(),
                triggers: Rc::default(),
                tcp_servers: RefCell::default(),
                tcp_clients: RefCell::default(),
                unix_servers: RefCell::default(),
                unix_clients: RefCell::default(),
                connectors: RefCell::default(),
                udp_servers: RefCell::default(),
                thread_handle,
                thread_calls,
                processes: RefCell::default(),
            }),
        }
    }

    /// Whether [`run`](ReactorCore::run) was ever called (Twisted's `hasRun`).
    pub fn has_run(&self) -> bool {
        self.inner.has_run.get()
    }

    /// Whether [`stop`](ReactorCore::stop) was ever called (Twisted's `hasStopped`).
    pub fn has_stopped(&self) -> bool {
        self.inner.has_stopped.get()
    }

    /// Whether [`crash`](ReactorCore::crash) was ever called (Twisted's `hasCrashed`).
    pub fn has_crashed(&self) -> bool {
        self.inner.has_crashed.get()
    }

    /// How many `call_when_running` hooks wait for [`run`](ReactorCore::run)
    /// (Twisted's `len(whenRunningHooks)`).
    pub fn when_running_hooks(&self) -> usize {
        self.inner.when_running.borrow().len()
    }

    /// The ids of the triggers registered for `phase` of `event`, in
    /// registration order (Twisted's `triggers[phase][eventType]`).
    pub fn triggers(&self, phase: Phase, event: &str) -> Vec<TriggerId> {
        self.inner.triggers.ids(phase, event)
    }

    /// Every `listen_tcp` call, in order (Twisted's `tcpServers`).
    pub fn tcp_servers(&self) -> Vec<TcpServer> {
        self.inner.tcp_servers.borrow().clone()
    }

    /// Every `connect_tcp` call, in order (Twisted's `tcpClients`).
    pub fn tcp_clients(&self) -> Vec<TcpClient> {
        self.inner.tcp_clients.borrow().clone()
    }

    /// Every `listen_unix` call, in order (Twisted's `unixServers`).
    pub fn unix_servers(&self) -> Vec<UnixServer> {
        self.inner.unix_servers.borrow().clone()
    }

    /// Every `connect_unix` call, in order (Twisted's `unixClients`).
    pub fn unix_clients(&self) -> Vec<UnixClient> {
        self.inner.unix_clients.borrow().clone()
    }

    /// The `listen_udp`/`listen_multicast` calls so far (Twisted's `udpServers`).
    pub fn udp_servers(&self) -> Vec<UdpServer> {
        self.inner.udp_servers.borrow().clone()
    }

    pub(super) fn record_udp_server(&self, server: UdpServer) {
        self.inner.udp_servers.borrow_mut().push(server);
    }

    /// The connectors `connect_tcp` and `connect_unix` returned, in order
    /// (Twisted's `connectors`).
    pub fn connectors(&self) -> Vec<Rc<FakeConnector>> {
        self.inner.connectors.borrow().clone()
    }

    /// Removes and returns the `index`th recorded `connect_tcp` call, and
    /// drops its connector from [`connectors`](MemoryReactor::connectors):
    /// what Twisted's `ConnectionCompleter` does to a connection it
    /// completes or fails. `None` if there is no such call.
    pub fn remove_tcp_client(&self, index: usize) -> Option<TcpClient> {
        let client = {
            let mut clients = self.inner.tcp_clients.borrow_mut();
            (index < clients.len()).then(|| clients.remove(index))?
        };
        self.forget_connector(&client.connector);
        Some(client)
    }

    /// Removes and returns the `index`th recorded `connect_unix` call, and
    /// drops its connector from [`connectors`](MemoryReactor::connectors).
    /// `None` if there is no such call.
    pub fn remove_unix_client(&self, index: usize) -> Option<UnixClient> {
        let client = {
            let mut clients = self.inner.unix_clients.borrow_mut();
            (index < clients.len()).then(|| clients.remove(index))?
        };
        self.forget_connector(&client.connector);
        Some(client)
    }

    fn forget_connector(&self, connector: &Rc<FakeConnector>) {
        self.inner
            .connectors
            .borrow_mut()
            .retain(|c| !Rc::ptr_eq(c, connector));
    }

    /// Runs every call queued so far through a
    /// [`thread_handle`](ReactorFromThreads::thread_handle), in order, on
    /// this thread; returns how many ran. A panicking call is logged and the
    /// rest still run, as on the real reactor.
    pub fn run_thread_calls(&self) -> usize {
        self.inner.thread_calls.run_pending()
    }

    fn next_id(&self) -> TriggerId {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        TriggerId(id)
    }

    /// Records a connector, tells the factory, then lists it, in Twisted's
    /// order (`startedConnecting` runs before `connectors.append`).
    fn started(
        &self,
        factory: &Rc<dyn DynProtocolFactory>,
        connector: Rc<FakeConnector>,
    ) -> Rc<dyn Connector> {
        factory.started_connecting(&*connector);
        self.inner.connectors.borrow_mut().push(connector.clone());
        connector
    }
}

impl ReactorCore for MemoryReactor {
    fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// # Panics
    ///
    /// Propagates a panic from a `call_when_running` hook (the reactor then
    /// stays marked running), as Twisted's fake propagates the exception.
    fn run(&self) -> Result<(), ReactorError> {
        if self.inner.running.get() {
            return Err(ReactorError::AlreadyRunning);
        }
        self.inner.running.set(true);
        self.inner.has_run.set(true);
        loop {
            let hook = self.inner.when_running.borrow_mut().pop_front();
            match hook {
                Some((_, hook)) => hook(),
                None => break,
            }
        }
        self.stop()
    }

    fn stop(&self) -> Result<(), ReactorError> {
        self.inner.running.set(false);
        self.inner.has_stopped.set(true);
        Ok(())
    }

    fn crash(&self) {
        self.inner.running.set(false);
        self.inner.has_crashed.set(true);
    }

    fn call_when_running(&self, call: Box<dyn FnOnce()>) -> Option<TriggerId> {
        if self.inner.running.get() || self.inner.has_run.get() {
            call();
            return None;
        }
        let id = self.next_id();
        self.inner.when_running.borrow_mut().push_back((id, call));
        Some(id)
    }

    fn add_system_event_trigger(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId {
        let id = self.next_id();
        self.inner.triggers.insert(id, phase, event, trigger);
        id
    }

    fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        if self.inner.triggers.remove(id) {
            return true;
        }
        let mut hooks = self.inner.when_running.borrow_mut();
        let found = hooks.iter().position(|(hook, _)| *hook == id);
        // Dropped after the borrow ends: a hook's captures may run code on drop.
        let removed = found.and_then(|index| hooks.remove(index));
        drop(hooks);
        removed.is_some()
    }

    fn fire_system_event(&self, event: &str) {
        drop(self.inner.triggers.fire(event));
    }
}

impl ReactorTcp for MemoryReactor {
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let server = TcpServer::new(port, factory, backlog, interface);
        let listening_port = server.listening_port.clone();
        self.inner.tcp_servers.borrow_mut().push(server);
        Ok(listening_port)
    }

    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        let client = TcpClient::new(host, port, factory.clone(), timeout, bind_address);
        let connector = client.connector.clone();
        self.inner.tcp_clients.borrow_mut().push(client);
        self.started(&factory, connector)
    }
}

impl ReactorUnix for MemoryReactor {
    fn listen_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        mode: u32,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let listening_port = Rc::new(FakePort::new(Address::Unix(Some(path.to_path_buf()))));
        self.inner.unix_servers.borrow_mut().push(UnixServer {
            path: path.to_path_buf(),
            factory,
            backlog,
            mode,
            listening_port: listening_port.clone(),
        });
        Ok(listening_port)
    }

    fn connect_unix(
        &self,
        path: &Path,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<dyn Connector> {
        let connector = Rc::new(FakeConnector::new(Address::Unix(Some(path.to_path_buf()))));
        self.inner.unix_clients.borrow_mut().push(UnixClient {
            path: path.to_path_buf(),
            factory: factory.clone(),
            timeout,
            connector: connector.clone(),
        });
        self.started(&factory, connector)
    }
}

impl ReactorFromThreads for MemoryReactor {
    fn thread_handle(&self) -> ThreadHandle {
        self.inner.thread_handle.clone()
    }
}

impl fmt::Debug for MemoryReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("MemoryReactor")
            .field("running", &inner.running.get())
            .field("has_run", &inner.has_run.get())
            .field("has_stopped", &inner.has_stopped.get())
            .field("has_crashed", &inner.has_crashed.get())
            .field("when_running_hooks", &inner.when_running.borrow().len())
            .field("triggers", &inner.triggers.len())
            .field("tcp_servers", &inner.tcp_servers.borrow().len())
            .field("tcp_clients", &inner.tcp_clients.borrow().len())
            .field("unix_servers", &inner.unix_servers.borrow().len())
            .field("unix_clients", &inner.unix_clients.borrow().len())
            .field("connectors", &inner.connectors.borrow().len())
            .finish()
    }
}
