//! [`StreamConnector`]: an outgoing TCP or UNIX connection (Twisted's
//! `tcp.Connector` / `unix.Connector`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::{Interest, Token};
use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};

use super::connection::Connection;
use super::pool;
use super::port::build;
use super::reactor::{IoSource, Reactor, ReactorState};
use super::stream::Stream;
use crate::error::{
    ConnectError, ConnectionRefused, DnsLookupError, NoProtocol, NotConnectingError, TimeoutError,
    UserError,
};
use crate::interfaces::{Connector, ConnectorState, DynProtocolFactory};
use crate::{Address, ConnectorBase, Deferred, Failure, ReactorTimeExt};

/// Where a connector connects to.
pub(crate) enum Target {
    Tcp {
        host: String,
        port: u16,
        bind_address: Option<SocketAddr>,
    },
    Unix(PathBuf),
}

impl Target {
    fn address(&self) -> Address {
        match self {
            Target::Tcp { host, port, .. } => match host.parse::<IpAddr>() {
                Ok(ip) => Address::Tcp(SocketAddr::new(ip, *port)),
                Err(_) => Address::Hostname {
                    host: host.clone(),
                    port: *port,
                },
            },
            Target::Unix(path) => Address::Unix(Some(path.clone())),
        }
    }

    /// The host name to resolve first, if the target is a TCP host name.
    fn name_to_resolve(&self) -> Option<(String, u16)> {
        match self {
            Target::Tcp { host, port, .. } if host.parse::<IpAddr>().is_err() => {
                Some((host.clone(), *port))
            }
            _ => None,
        }
    }

    /// Starts a non-blocking connect, to `resolved` for a host name.
    fn open(&self, resolved: Option<SocketAddr>) -> io::Result<Stream> {
        match self {
            Target::Tcp {
                host,
                port,
                bind_address,
            } => {
                let addr = match (host.parse::<IpAddr>(), resolved) {
                    (Ok(ip), _) => SocketAddr::new(ip, *port),
                    (Err(_), Some(addr)) => addr,
                    (Err(_), None) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("{host:?} was not resolved"),
                        ))
                    }
                };
                let socket = Socket::new(
                    Domain::for_address(addr),
                    Type::STREAM,
                    Some(SockProtocol::TCP),
                )?;
                socket.set_nonblocking(true)?;
                if let Some(bind) = bind_address {
                    socket.bind(&SockAddr::from(*bind))?;
                }
                connect(&socket, &SockAddr::from(addr))?;
                Ok(Stream::Tcp(mio::net::TcpStream::from_std(socket.into())))
            }
            Target::Unix(path) => {
                let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
                socket.set_nonblocking(true)?;
                connect(&socket, &SockAddr::unix(path)?)?;
                Ok(Stream::Unix(mio::net::UnixStream::from_std(socket.into())))
            }
        }
    }
}

/// A non-blocking connect: in progress is fine, completion shows as writable.
fn connect(socket: &Socket, addr: &SockAddr) -> io::Result<()> {
    match socket.connect(addr) {
        Ok(()) => Ok(()),
        // EINPROGRESS (io::ErrorKind::InProgress is not stable yet).
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn connect_failure(error: io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => {
            Failure::new(ConnectionRefused::from_io(error))
        }
        _ => Failure::new(ConnectError::from_io(error)),
    }
}

struct Attempt {
    token: Token,
    stream: Stream,
}

/// An outgoing connection, retried through [`Connector::connect`].
pub(crate) struct StreamConnector {
    me: Weak<StreamConnector>,
    reactor: Weak<ReactorState>,
    target: Target,
    base: ConnectorBase<Connection>,
    timeout: Duration,
    attempt: RefCell<Option<Attempt>>,
    /// A host name being resolved on the worker pool.
    resolving: RefCell<Option<Deferred<SocketAddr>>>,
    /// Which attempt a resolution belongs to.
    attempts: Cell<u64>,
}

impl StreamConnector {
    pub(crate) fn start(
        reactor: &Reactor,
        target: Target,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
    ) -> Rc<StreamConnector> {
        let connector = Rc::new_cyclic(|me| StreamConnector {
            me: me.clone(),
            reactor: reactor.downgrade(),
            target,
            base: ConnectorBase::new(factory),
            timeout,
            attempt: RefCell::new(None),
            resolving: RefCell::new(None),
            attempts: Cell::new(0),
        });
        connector.start_attempt();
        connector
    }

    fn start_attempt(&self) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        if !self.base.begin_attempt(self) {
            return; // the hook stopped it
        }
        let attempt = self.attempts.get() + 1;
        self.attempts.set(attempt);
        let (me, what, timeout) = (self.me.clone(), self.target.address(), self.timeout);
        let call = reactor.timers.call_later(timeout, move || {
            if let Some(me) = me.upgrade() {
                me.fail(Failure::new(TimeoutError::new(
                    Some(timeout),
                    format!("connect to {what}"),
                )));
            }
        });
        self.base.set_timeout(call);
        let Some((host, port)) = self.target.name_to_resolve() else {
            return self.open_and_register(None);
        };
        // Twisted's connectTCP resolves names itself (gethostbyname, IPv4
        // first); here on the reactor's worker threads.
        let lookup = host.clone();
        let resolving = pool::defer_to_thread(&reactor.pool, reactor.thread_handle(), move || {
            let addresses: Vec<SocketAddr> = (lookup.as_str(), port).to_socket_addrs()?.collect();
            addresses
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| addresses.first())
                .copied()
                .ok_or_else(|| "no addresses".into())
        });
        *self.resolving.borrow_mut() = Some(resolving.clone());
        // Held strongly: while resolving, nothing else keeps the connector
        // alive (the reactor's table holds it only once a socket exists).
        let me = self
            .me
            .upgrade()
            .expect("a connector is alive while connecting");
        resolving.add_both(move |resolved| {
            if me.attempts.get() != attempt || me.resolving.borrow_mut().take().is_none() {
                return; // abandoned
            }
            match resolved {
                Ok(addr) => me.open_and_register(Some(addr)),
                Err(failure) => {
                    let source = Some(io::Error::other(failure.error_message()));
                    me.fail(Failure::new(DnsLookupError { host, source }));
                }
            }
        });
    }

    fn open_and_register(&self, resolved: Option<SocketAddr>) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        let mut stream = match self.target.open(resolved) {
            Ok(stream) => stream,
            Err(e) => return self.defer_failure(connect_failure(e)),
        };
        let me = self
            .me
            .upgrade()
            .expect("a connector is alive while connecting");
        match reactor.register(
            &mut stream,
            Interest::WRITABLE | Interest::READABLE,
            move |_| me,
        ) {
            Ok(token) => *self.attempt.borrow_mut() = Some(Attempt { token, stream }),
            Err(e) => self.defer_failure(connect_failure(e)),
        }
    }

    /// Reports a failure after the current call returns (never re-entrantly).
    fn defer_failure(&self, failure: Failure) {
        let (Some(reactor), Some(me)) = (self.reactor.upgrade(), self.me.upgrade()) else {
            return;
        };
        reactor.soon(move || me.fail(failure));
    }

    /// Ends the attempt under way: stops the timer and any resolution, and
    /// hands back the socket if there is one.
    fn take_attempt(&self) -> Option<Stream> {
        self.base.cancel_timeout();
        if let Some(resolving) = self.resolving.borrow_mut().take() {
            resolving.cancel();
        }
        let attempt = self.attempt.borrow_mut().take()?;
        let mut stream = attempt.stream;
        if let Some(reactor) = self.reactor.upgrade() {
            reactor.deregister(attempt.token, &mut stream);
        }
        Some(stream)
    }

    fn fail(&self, reason: Failure) {
        if !self.base.is_connecting() {
            return;
        }
        drop(self.take_attempt());
        self.base.connection_failed(self, reason);
    }

    fn connected(&self) {
        let Some(stream) = self.take_attempt() else {
            return;
        };
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        let peer = match stream.peer() {
            Ok(peer) => peer,
            Err(e) => return self.fail(connect_failure(e)),
        };
        let Some(protocol) = build(&**self.base.factory(), &peer) else {
            return self.fail(Failure::new(NoProtocol));
        };
        // The connection keeps its connector (as Twisted's transport does):
        // the factory hears of the end even if the caller dropped it.
        let me = self
            .me
            .upgrade()
            .expect("a connector is alive while connecting");
        let on_close = Box::new(move |reason: Failure| {
            me.base.connection_lost(&*me, reason);
        });
        match Connection::start(&reactor, stream, Some(peer), None, protocol, Some(on_close)) {
            Ok(connection) => self.base.connected(&connection),
            Err(e) => self.fail(connect_failure(e)),
        }
    }
}

impl IoSource for StreamConnector {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        let error = {
            let attempt = self.attempt.borrow();
            let Some(attempt) = attempt.as_ref() else {
                return;
            };
            match attempt.stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(e),
                Ok(None) => match attempt.stream.connected() {
                    Ok(()) => None,
                    // Not connected yet: a spurious wake-up.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => Some(e),
                },
            }
        };
        match error {
            Some(e) => self.fail(connect_failure(e)),
            None => self.connected(),
        }
    }

    fn shutdown(self: Rc<Self>) {
        self.fail(Failure::new(UserError));
    }
}

impl Connector for StreamConnector {
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

impl fmt::Debug for StreamConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConnector")
            .field("destination", &self.target.address())
            .field("state", &self.base.state())
            .finish()
    }
}
