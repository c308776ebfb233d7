//! [`StreamPort`]: a listening TCP or UNIX socket (Twisted's `tcp.Port` /
//! `unix.Port`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use mio::event::Source;
use mio::{Interest, Registry, Token};

use super::connection::Connection;
use super::reactor::{IoSource, ReactorState};
use super::stream::Stream;
use crate::error::{CannotListenError, PanicError};
use crate::interfaces::{DynProtocolFactory, ListeningPort, ProtocolRef};
use crate::{fail, succeed, Address, Deferred, Failure, ReactorTimeExt};

/// Accepts handled per readiness event before yielding to other sources.
const ACCEPTS_PER_TURN: usize = 64;
/// How long to wait before accepting again after `accept` failed for lack
/// of resources (EMFILE, ENFILE, ENOBUFS...): the queued connections stay in
/// the backlog, and no new edge may come to wake us for them.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// Builds a protocol, containing a factory's panic.
pub(crate) fn build(factory: &dyn DynProtocolFactory, addr: &Address) -> Option<ProtocolRef> {
    match catch_unwind(AssertUnwindSafe(|| factory.build_protocol(addr))) {
        Ok(protocol) => protocol,
        Err(payload) => {
            log::error!(
                "factory {} panicked in build_protocol for {addr}: {}",
                factory.describe(),
                PanicError::from_payload(payload.as_ref())
            );
            None
        }
    }
}

/// A bound, listening socket of either family.
pub(crate) enum Listener {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl Listener {
    fn accept(&self) -> io::Result<(Stream, Address)> {
        match self {
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (Stream::Tcp(s), Address::Tcp(peer))),
            Listener::Unix(l) => l.accept().map(|(s, peer)| {
                let peer = Address::Unix(peer.as_pathname().map(|p| p.to_path_buf()));
                (Stream::Unix(s), peer)
            }),
        }
    }
}

impl Source for Listener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(registry, token, interests),
            Listener::Unix(l) => l.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(registry, token, interests),
            Listener::Unix(l) => l.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(registry),
            Listener::Unix(l) => l.deregister(registry),
        }
    }
}

/// How a port binds (again, after `stop_listening`), and what it cleans up.
pub(crate) trait Bind {
    /// Binds and listens; returns the listener and the address it got.
    fn bind(&self) -> Result<(Listener, Address), CannotListenError>;
    /// Runs once the listener is closed (e.g. removes a socket file).
    fn closed(&self) {}
}

/// A listening socket serving one factory.
pub(crate) struct StreamPort {
    me: Weak<StreamPort>,
    reactor: Weak<ReactorState>,
    factory: Rc<dyn DynProtocolFactory>,
    bind: Box<dyn Bind>,
    listener: RefCell<Option<(Token, Listener)>>,
    host: RefCell<Address>,
    exhausted_logged: Cell<bool>,
    /// An accept retry after a resource error is already scheduled.
    retry_scheduled: Cell<bool>,
}

impl StreamPort {
    /// Binds, listens and registers; the factory's `do_start` runs.
    pub(crate) fn listen(
        reactor: &Rc<ReactorState>,
        factory: Rc<dyn DynProtocolFactory>,
        bind: Box<dyn Bind>,
        requested: Address,
    ) -> Result<Rc<StreamPort>, CannotListenError> {
        let port = Rc::new_cyclic(|me| StreamPort {
            me: me.clone(),
            reactor: Rc::downgrade(reactor),
            factory,
            bind,
            listener: RefCell::new(None),
            host: RefCell::new(requested),
            exhausted_logged: Cell::new(false),
            retry_scheduled: Cell::new(false),
        });
        port.start()?;
        Ok(port)
    }

    fn start(&self) -> Result<(), CannotListenError> {
        let (mut listener, host) = self.bind.bind()?;
        let reactor = self.reactor.upgrade().ok_or_else(|| CannotListenError {
            interface: host.to_string(),
            port: host.port().unwrap_or(0),
            source: io::Error::other("the reactor is gone"),
        })?;
        let me = self.me.upgrade().expect("a port is alive while it listens");
        let token = reactor
            .register(&mut listener, Interest::READABLE, move |_| me)
            .map_err(|source| CannotListenError {
                interface: host.to_string(),
                port: host.port().unwrap_or(0),
                source,
            })?;
        *self.host.borrow_mut() = host;
        *self.listener.borrow_mut() = Some((token, listener));
        self.factory.do_start();
        Ok(())
    }

    /// The local address of a connection this port accepted, when the
    /// port's own address tells it (a specific IP, or a UNIX path): one
    /// `getsockname` per connection less. `None` for a wildcard listener.
    fn accepted_host(&self) -> Option<Address> {
        match &*self.host.borrow() {
            Address::Tcp(address) if address.ip().is_unspecified() => None,
            host @ (Address::Tcp(_) | Address::Unix(_)) => Some(host.clone()),
            Address::Hostname { .. } | Address::Pipe => None,
        }
    }

    /// One `accept` on the listener; `None` once it is closed.
    fn accept_one(&self) -> Option<io::Result<(Stream, Address)>> {
        self.listener
            .borrow()
            .as_ref()
            .map(|(_, listener)| listener.accept())
    }

    fn accept(&self) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(accepted) = self.accept_one() else {
                return;
            };
            match accepted {
                Ok((stream, peer)) => {
                    self.exhausted_logged.set(false);
                    let Some(protocol) = build(&*self.factory, &peer) else {
                        continue; // refused: dropping the stream closes it
                    };
                    if let Err(e) = Connection::start(
                        &reactor,
                        stream,
                        Some(peer.clone()),
                        self.accepted_host(),
                        protocol,
                        None,
                    ) {
                        log::warn!("could not set up a connection from {peer}: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_descriptor_exhaustion(&e) => {
                    // The backlog holds connections we cannot take. As
                    // libev and nginx do: free the reserve descriptor,
                    // accept and close what is pending (the peers learn at
                    // once instead of hanging), take the reserve again.
                    let shed = self.shed_pending(&reactor);
                    if !self.exhausted_logged.replace(true) {
                        log::error!(
                            "accept on {} failed: {e}; closed {shed} pending connection(s) \
                             until descriptors are free again",
                            self.host.borrow()
                        );
                    }
                    self.retry_later(&reactor);
                    return;
                }
                Err(e) => {
                    // ENOBUFS, ENOMEM and the like: log once, retry later
                    // (edge-triggered: no new event may come for what waits).
                    if !self.exhausted_logged.replace(true) {
                        log::error!(
                            "accept on {} failed: {e}; retrying every {ACCEPT_RETRY:?}",
                            self.host.borrow()
                        );
                    }
                    self.retry_later(&reactor);
                    return;
                }
            }
        }
        // More may be pending; edge-triggered, so come back for them in the
        // next iteration, after other sources and timers.
        if let Some(me) = self.me.upgrade() {
            reactor.next_turn(move || me.accept());
        }
    }

    /// With descriptors exhausted: frees the reactor's reserve descriptor,
    /// accepts and closes every pending connection, then reserves again.
    /// Returns how many connections were closed.
    fn shed_pending(&self, reactor: &ReactorState) -> usize {
        if !reactor.release_reserve_fd() {
            return 0;
        }
        let mut shed = 0;
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(accepted) = self.accept_one() else {
                break;
            };
            match accepted {
                Ok((stream, _)) => {
                    drop(stream);
                    shed += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // If someone else took the freed descriptor, the retry timer
        // tries again.
        reactor.restore_reserve_fd();
        shed
    }

    /// Comes back to `accept` after [`ACCEPT_RETRY`] (once at a time).
    fn retry_later(&self, reactor: &ReactorState) {
        if self.retry_scheduled.replace(true) {
            return;
        }
        let me = self.me.clone();
        drop(reactor.timers.call_later(ACCEPT_RETRY, move || {
            if let Some(me) = me.upgrade() {
                me.retry_scheduled.set(false);
                if let Some(reactor) = me.reactor.upgrade() {
                    reactor.restore_reserve_fd();
                }
                me.accept();
            }
        }));
    }
}

/// `accept` failed because this process or the system has no descriptor
/// left (EMFILE, ENFILE).
fn is_descriptor_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

impl IoSource for StreamPort {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        self.accept();
    }

    fn shutdown(self: Rc<Self>) {
        drop(ListeningPort::stop_listening(&*self));
    }
}

impl ListeningPort for StreamPort {
    fn start_listening(&self) -> Result<(), CannotListenError> {
        if self.listener.borrow().is_some() {
            return Ok(());
        }
        self.start()
    }

    fn stop_listening(&self) -> Deferred<()> {
        let listener = self.listener.borrow_mut().take();
        if let Some((token, mut listener)) = listener {
            if let Some(reactor) = self.reactor.upgrade() {
                reactor.deregister(token, &mut listener);
            }
            drop(listener);
            self.bind.closed();
            // A panicking `do_stop` fails the Deferred (Twisted's
            // `stopListening` Deferred fails with `stopFactory`'s error);
            // the port is closed either way and can listen again.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.factory.do_stop())) {
                return fail(Failure::new(PanicError::from_payload(payload.as_ref())));
            }
        }
        succeed(())
    }

    fn host(&self) -> Address {
        self.host.borrow().clone()
    }
}

impl fmt::Debug for StreamPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPort")
            .field("host", &self.host.borrow())
            .field("listening", &self.listener.borrow().is_some())
            .finish()
    }
}
