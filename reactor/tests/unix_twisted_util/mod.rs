//! What the ports of Twisted's UNIX socket tests (`unix_twisted.rs`,
//! `unix_twisted_fds.rs`) share: unique socket paths and abstract names,
//! bounded waits on the real mio reactor, a one-connection factory that
//! hands back its typed protocol, Twisted's `SendFileDescriptor` and a
//! recording receiver, `runProtocolsWithReactor`, and a captured log.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};
use torsion_reactor::{
    Address, FileDescriptorReceiver, Protocol, ProtocolFactory, Reactor, ReactorUnix, TransportRef,
    DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT, DEFAULT_UNIX_MODE,
};

/// How long any one wait may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// Iterates `reactor` until `done` or [`DEADLINE`] (then fails the test).
#[track_caller]
pub(crate) fn run_until(reactor: &Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `torsion-ut-<pid>-<n>-<name>`: unique within the machine and the run.
fn unique(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("torsion-ut-{}-{n}-{name}", std::process::id())
}

/// A socket path in the temporary directory, removed when dropped.
pub(crate) struct SocketPath(pub(crate) PathBuf);

impl SocketPath {
    pub(crate) fn new(name: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("{}.sock", unique(name)));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A Linux abstract-namespace name (a leading NUL byte), unique per call:
/// Twisted's `"\0" + _abstractPath(self)`.
pub(crate) fn abstract_name(name: &str) -> PathBuf {
    PathBuf::from(format!("\0{}", unique(name)))
}

/// A UNIX stream socket bound to `bind` and connected (blocking) to `to`:
/// a peer with a name, which `std`'s `UnixStream::connect` cannot make.
pub(crate) fn bound_client(bind: &Path, to: &Path) -> UnixStream {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    socket.bind(&SockAddr::unix(bind).unwrap()).unwrap();
    socket.connect(&SockAddr::unix(to).unwrap()).unwrap();
    UnixStream::from(OwnedFd::from(socket))
}

/// The reactor's own end of the connection from `peer_path`, duplicated
/// into this test: found among this process's sockets by its peer's name
/// and copied with `pidfd_getfd` (no unsafe `from_raw_fd`).
pub(crate) fn reactor_side_of(peer_path: &Path) -> OwnedFd {
    use rustix::process::{getpid, pidfd_getfd, pidfd_open, PidfdFlags, PidfdGetfdFlags};
    let me = pidfd_open(getpid(), PidfdFlags::empty()).expect("pidfd_open");
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(number) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        let Ok(copy) = pidfd_getfd(&me, number, PidfdGetfdFlags::empty()) else {
            continue;
        };
        let stream = UnixStream::from(copy);
        let peer = stream.peer_addr().ok();
        if peer.as_ref().and_then(|p| p.as_pathname()) == Some(peer_path) {
            return OwnedFd::from(stream);
        }
    }
    panic!(
        "no socket of this process has the peer {}",
        peer_path.display()
    );
}

/// A factory for one connection: it records every address it is asked to
/// build for (Twisted's `MyServerFactory.peerAddresses`), builds its one
/// protocol once, and keeps the reactor's handle to it.
pub(crate) struct OneShot<P> {
    protocol: RefCell<Option<P>>,
    built: RefCell<Option<Rc<RefCell<P>>>>,
    pub(crate) addresses: RefCell<Vec<Address>>,
}

impl<P: Protocol> OneShot<P> {
    pub(crate) fn new(protocol: P) -> Rc<OneShot<P>> {
        Rc::new(OneShot {
            protocol: RefCell::new(Some(protocol)),
            built: RefCell::new(None),
            addresses: RefCell::new(Vec::new()),
        })
    }

    /// The protocol, once the connection built it.
    pub(crate) fn built(&self) -> Option<Rc<RefCell<P>>> {
        self.built.borrow().clone()
    }

    #[track_caller]
    pub(crate) fn protocol(&self) -> Rc<RefCell<P>> {
        self.built().expect("the connection built the protocol")
    }
}

impl<P: Protocol> ProtocolFactory for OneShot<P> {
    type Protocol = P;
    fn build_protocol(&self, addr: &Address) -> Option<P> {
        self.addresses.borrow_mut().push(addr.clone());
        self.protocol.borrow_mut().take()
    }
    fn protocol_built(&self, protocol: &Rc<RefCell<P>>) {
        *self.built.borrow_mut() = Some(protocol.clone());
    }
}

/// A protocol that knows whether its connection ended (what
/// `runProtocolsWithReactor` waits for on both sides).
pub(crate) trait Finished {
    fn finished(&self) -> bool;
}

/// What a [`Recorder`] heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Fd,
    Data(Vec<u8>),
}

/// Twisted's `ConnectableProtocol`, `ReceiveFileDescriptor` and
/// `RecordEvents` in one: records descriptors (only with `receives_fds`:
/// Twisted's `IFileDescriptorReceiver.providedBy`), bytes, and the reason
/// the connection ended. With `pause_on_connect` it stops reading at once
/// (Twisted's `DoesNotRead`).
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) receives_fds: bool,
    pub(crate) pause_on_connect: bool,
    pub(crate) transport: Option<TransportRef>,
    pub(crate) events: Vec<Event>,
    pub(crate) fds: Vec<OwnedFd>,
    pub(crate) lost: Option<torsion_reactor::Failure>,
}

impl Recorder {
    pub(crate) fn receiving() -> Recorder {
        Recorder {
            receives_fds: true,
            ..Recorder::default()
        }
    }

    /// Every byte received, in order.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for event in &self.events {
            if let Event::Data(data) = event {
                all.extend_from_slice(data);
            }
        }
        all
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: TransportRef) {
        if self.pause_on_connect {
            transport.pause_producing();
        }
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.events.push(Event::Data(data.to_vec()));
    }
    fn connection_lost(&mut self, reason: torsion_reactor::Failure) {
        self.lost = Some(reason);
        self.transport = None;
    }
    fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
        if self.receives_fds {
            Some(self)
        } else {
            None
        }
    }
}

impl FileDescriptorReceiver for Recorder {
    fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
        self.events.push(Event::Fd);
        self.fds.push(descriptor);
    }
}

impl Finished for Recorder {
    fn finished(&self) -> bool {
        self.lost.is_some()
    }
}

/// Twisted's `SendFileDescriptor`: on connection, sends `fd`, writes `data`
/// if there is any, and closes; records its addresses (Twisted's
/// `RecordEndpointAddresses`) and why the connection ended.
pub(crate) struct SendFileDescriptor {
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) data: Vec<u8>,
    pub(crate) host: Option<Address>,
    pub(crate) peer: Option<Address>,
    pub(crate) lost: Option<torsion_reactor::Failure>,
}

impl SendFileDescriptor {
    pub(crate) fn new(fd: OwnedFd, data: &[u8]) -> SendFileDescriptor {
        SendFileDescriptor {
            fd: Some(fd),
            data: data.to_vec(),
            host: None,
            peer: None,
            lost: None,
        }
    }
}

impl Protocol for SendFileDescriptor {
    fn connection_made(&mut self, transport: TransportRef) {
        self.host = Some(transport.host());
        self.peer = Some(transport.peer());
        let unix = transport.as_unix().expect("a UNIX transport");
        unix.send_file_descriptor(self.fd.take().unwrap()).unwrap();
        if !self.data.is_empty() {
            transport.write(&self.data);
        }
        transport.lose_connection();
    }
    fn data_received(&mut self, _: &[u8]) {}
    fn connection_lost(&mut self, reason: torsion_reactor::Failure) {
        self.lost = Some(reason);
    }
}

impl Finished for SendFileDescriptor {
    fn finished(&self) -> bool {
        self.lost.is_some()
    }
}

fn ended<P: Finished>(protocol: Option<Rc<RefCell<P>>>) -> bool {
    protocol.is_some_and(|p| p.borrow().finished())
}

/// Twisted's `runProtocolsWithReactor`: listens on a fresh socket path
/// with `server`, connects `client` to it, and runs until both connections
/// have ended. Returns both factories (and their protocols).
pub(crate) fn run_protocols<S, C>(
    reactor: &Reactor,
    name: &str,
    server: S,
    client: C,
) -> (Rc<OneShot<S>>, Rc<OneShot<C>>)
where
    S: Protocol + Finished,
    C: Protocol + Finished,
{
    let path = SocketPath::new(name);
    let (server, client) = (OneShot::new(server), OneShot::new(client));
    let port = reactor
        .listen_unix(&path.0, server.clone(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
        .unwrap();
    reactor.connect_unix(&path.0, client.clone(), DEFAULT_CONNECT_TIMEOUT);
    run_until(reactor, "both connections to end", || {
        ended(server.built()) && ended(client.built())
    });
    let stopped = port.stop_listening();
    run_until(reactor, "the port to stop", || stopped.is_called());
    (server, client)
}

/// Log lines this test binary emitted (Twisted's `addObserver`).
static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = record.args().to_string();
        LOGGED.lock().unwrap().push((record.level(), line));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Captures every log line from now on, but trace lines (once per test
/// binary).
pub(crate) fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// The captured lines so far.
pub(crate) fn logged() -> Vec<(log::Level, String)> {
    LOGGED.lock().unwrap().clone()
}
