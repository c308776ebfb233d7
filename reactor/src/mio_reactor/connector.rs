//! [`StreamConnector`]: an outgoing TCP or UNIX connection (Twisted's
//! `tcp.Connector` / `unix.Connector`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::{Interest, Token};
use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};

use super::connection::Connection;
use super::port::build;
use super::reactor::{IoSource, Reactor, Shared};
use super::stream::Stream;
use crate::error::{
    ConnectError, ConnectionRefused, NoProtocol, NotConnectingError, TimeoutError, UserError,
};
use crate::interfaces::{Connector, ConnectorState, DynProtocolFactory};
use crate::{Address, DelayedCall, Failure, ReactorTimeExt};

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

    /// Starts a non-blocking connect.
    fn open(&self) -> io::Result<Stream> {
        match self {
            Target::Tcp {
                host,
                port,
                bind_address,
            } => {
                let addr = match host.parse::<IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, *port),
                    Err(_) if host == "localhost" => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *port),
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("{host:?} is not an IP address; use a HostnameEndpoint to connect by name"),
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
    timeout: DelayedCall,
}

/// An outgoing connection, retried through [`Connector::connect`].
pub(crate) struct StreamConnector {
    me: Weak<StreamConnector>,
    reactor: Weak<Shared>,
    target: Target,
    factory: Rc<dyn DynProtocolFactory>,
    timeout: Duration,
    state: Cell<ConnectorState>,
    attempt: RefCell<Option<Attempt>>,
    transport: RefCell<Option<Rc<Connection>>>,
    factory_started: Cell<bool>,
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
            factory,
            timeout,
            state: Cell::new(ConnectorState::Disconnected),
            attempt: RefCell::new(None),
            transport: RefCell::new(None),
            factory_started: Cell::new(false),
        });
        connector.start_attempt();
        connector
    }

    fn start_attempt(&self) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        if !self.factory_started.replace(true) {
            self.factory.do_start();
        }
        self.state.set(ConnectorState::Connecting);
        self.factory.started_connecting(self);
        if self.state.get() != ConnectorState::Connecting {
            return; // the hook stopped it
        }
        let mut stream = match self.target.open() {
            Ok(stream) => stream,
            Err(e) => return self.defer_failure(connect_failure(e)),
        };
        let me = self
            .me
            .upgrade()
            .expect("a connector is alive while connecting");
        let token = match reactor.register(
            &mut stream,
            Interest::WRITABLE | Interest::READABLE,
            move |_| me,
        ) {
            Ok(token) => token,
            Err(e) => return self.defer_failure(connect_failure(e)),
        };
        let (me, what, timeout) = (self.me.clone(), self.target.address(), self.timeout);
        let timeout = reactor.timers.call_later(timeout, move || {
            if let Some(me) = me.upgrade() {
                me.fail(Failure::new(TimeoutError::new(
                    Some(timeout),
                    format!("connect to {what}"),
                )));
            }
        });
        *self.attempt.borrow_mut() = Some(Attempt {
            token,
            stream,
            timeout,
        });
    }

    /// Reports a failure after the current call returns (never re-entrantly).
    fn defer_failure(&self, failure: Failure) {
        let (Some(reactor), Some(me)) = (self.reactor.upgrade(), self.me.upgrade()) else {
            return;
        };
        reactor.soon(move || me.fail(failure));
    }

    fn take_attempt(&self) -> Option<Stream> {
        let attempt = self.attempt.borrow_mut().take()?;
        let _ = attempt.timeout.cancel();
        let mut stream = attempt.stream;
        if let Some(reactor) = self.reactor.upgrade() {
            reactor.deregister(attempt.token, &mut stream);
        }
        Some(stream)
    }

    fn fail(&self, reason: Failure) {
        if self.state.get() != ConnectorState::Connecting {
            return;
        }
        drop(self.take_attempt());
        self.state.set(ConnectorState::Disconnected);
        self.factory.client_connection_failed(self, reason);
        self.maybe_stop_factory();
    }

    fn maybe_stop_factory(&self) {
        if self.state.get() == ConnectorState::Disconnected && self.factory_started.replace(false) {
            self.factory.do_stop();
        }
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
        let Some(protocol) = build(&*self.factory, &peer) else {
            return self.fail(Failure::new(NoProtocol));
        };
        let me = self.me.clone();
        let on_close = Box::new(move |reason: Failure| {
            if let Some(me) = me.upgrade() {
                me.transport.borrow_mut().take();
                me.state.set(ConnectorState::Disconnected);
                me.factory.client_connection_lost(&*me, reason);
                me.maybe_stop_factory();
            }
        });
        match Connection::start(&reactor, stream, protocol, Some(on_close)) {
            Ok(connection) => {
                self.state.set(ConnectorState::Connected);
                *self.transport.borrow_mut() = Some(connection);
            }
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
        if self.state.get() != ConnectorState::Connecting {
            return Err(NotConnectingError);
        }
        self.fail(Failure::new(UserError));
        Ok(())
    }

    fn disconnect(&self) {
        match self.state.get() {
            ConnectorState::Connecting => {
                let _ = self.stop_connecting();
            }
            ConnectorState::Connected => {
                let transport = self.transport.borrow().clone();
                if let Some(transport) = transport {
                    crate::Transport::lose_connection(&*transport);
                }
            }
            ConnectorState::Disconnected => {}
        }
    }

    fn connect(&self) {
        if self.state.get() == ConnectorState::Disconnected {
            self.start_attempt();
        }
    }

    fn destination(&self) -> Address {
        self.target.address()
    }

    fn state(&self) -> ConnectorState {
        self.state.get()
    }
}

impl fmt::Debug for StreamConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConnector")
            .field("destination", &self.target.address())
            .field("state", &self.state.get())
            .finish()
    }
}
