//! TCP listening ports and connectors, and [`ReactorTcp`] for the reactor.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::{Interest, Token};
use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};

use super::connection::TcpConnection;
use super::reactor::{IoSource, Reactor, Shared};
use crate::error::{
    CannotListenError, ConnectError, ConnectionRefused, NoProtocol, NotConnectingError, PanicError,
    TimeoutError, UserError,
};
use crate::interfaces::{
    Connector, ConnectorState, DynProtocolFactory, ListeningPort, ProtocolRef, ReactorTcp,
};
use crate::{succeed, Address, Deferred, DelayedCall, Failure, ReactorTimeExt};

/// Accepts handled per readiness event before yielding to other sources.
const ACCEPTS_PER_TURN: usize = 64;

fn build(factory: &dyn DynProtocolFactory, addr: &Address) -> Option<ProtocolRef> {
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

/// The address to bind for `interface` (`""` = every IPv4 interface).
fn interface_address(interface: &str, port: u16) -> io::Result<SocketAddr> {
    let ip: IpAddr = if interface.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        interface.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{interface:?} is not an IP address"),
            )
        })?
    };
    Ok(SocketAddr::new(ip, port))
}

fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// A listening TCP socket (Twisted's `tcp.Port`).
pub(crate) struct TcpPort {
    me: Weak<TcpPort>,
    reactor: Weak<Shared>,
    factory: Rc<dyn DynProtocolFactory>,
    requested: SocketAddr,
    backlog: u32,
    interface: String,
    listener: RefCell<Option<(Token, mio::net::TcpListener)>>,
    host: RefCell<Address>,
    exhausted_logged: Cell<bool>,
}

impl TcpPort {
    fn listen(&self) -> Result<(), CannotListenError> {
        let cannot = |source| CannotListenError {
            interface: self.interface.clone(),
            port: self.requested.port(),
            source,
        };
        let reactor = self
            .reactor
            .upgrade()
            .ok_or_else(|| cannot(io::Error::other("the reactor is gone")))?;
        let mut listener = bind_listener(self.requested, self.backlog).map_err(cannot)?;
        let host = listener.local_addr().map_err(cannot)?;
        let me = self.me.upgrade().expect("a port is alive while it listens");
        let token = reactor
            .register(&mut listener, Interest::READABLE, move |_| me)
            .map_err(cannot)?;
        *self.host.borrow_mut() = Address::Tcp(host);
        *self.listener.borrow_mut() = Some((token, listener));
        self.factory.do_start();
        Ok(())
    }

    fn accept(&self) {
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        for _ in 0..ACCEPTS_PER_TURN {
            let accepted = match self.listener.borrow().as_ref() {
                Some((_, listener)) => listener.accept(),
                None => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    self.exhausted_logged.set(false);
                    let Some(protocol) = build(&*self.factory, &Address::Tcp(peer)) else {
                        continue; // refused: dropping the stream closes it
                    };
                    if let Err(e) = TcpConnection::start(&reactor, stream, protocol, None) {
                        log::warn!("could not set up a connection from {peer}: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: log once per episode, do not spin.
                    if !self.exhausted_logged.replace(true) {
                        log::error!("accept on {} failed: {e}", self.host.borrow());
                    }
                    return;
                }
            }
        }
        // More may be pending; edge-triggered, so come back for them.
        if let Some(me) = self.me.upgrade() {
            reactor.soon(move || me.accept());
        }
    }
}

impl IoSource for TcpPort {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        self.accept();
    }

    fn shutdown(self: Rc<Self>) {
        drop(ListeningPort::stop_listening(&*self));
    }
}

impl ListeningPort for TcpPort {
    fn start_listening(&self) -> Result<(), CannotListenError> {
        if self.listener.borrow().is_some() {
            return Ok(());
        }
        self.listen()
    }

    fn stop_listening(&self) -> Deferred<()> {
        let listener = self.listener.borrow_mut().take();
        if let Some((token, mut listener)) = listener {
            if let Some(reactor) = self.reactor.upgrade() {
                reactor.deregister(token, &mut listener);
            }
            drop(listener);
            self.factory.do_stop();
        }
        succeed(())
    }

    fn host(&self) -> Address {
        self.host.borrow().clone()
    }
}

impl fmt::Debug for TcpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpPort")
            .field("host", &self.host.borrow())
            .field("listening", &self.listener.borrow().is_some())
            .finish()
    }
}

struct Attempt {
    token: Token,
    stream: mio::net::TcpStream,
    timeout: DelayedCall,
}

/// An outgoing TCP connection (Twisted's `tcp.Connector`).
pub(crate) struct TcpConnector {
    me: Weak<TcpConnector>,
    reactor: Weak<Shared>,
    host: String,
    port: u16,
    factory: Rc<dyn DynProtocolFactory>,
    timeout: Duration,
    bind_address: Option<SocketAddr>,
    state: Cell<ConnectorState>,
    attempt: RefCell<Option<Attempt>>,
    transport: RefCell<Option<Rc<TcpConnection>>>,
    factory_started: Cell<bool>,
}

impl TcpConnector {
    fn resolve(&self) -> io::Result<SocketAddr> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        if self.host == "localhost" {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port));
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{:?} is not an IP address; use a HostnameEndpoint to connect by name",
                self.host
            ),
        ))
    }

    fn open(&self, addr: SocketAddr) -> io::Result<mio::net::TcpStream> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM,
            Some(SockProtocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        if let Some(bind) = self.bind_address {
            socket.bind(&SockAddr::from(bind))?;
        }
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            // Non-blocking connect: EINPROGRESS, completion is reported writable.
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(mio::net::TcpStream::from_std(socket.into()))
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
        let opened = self.resolve().and_then(|addr| self.open(addr));
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(e) => return self.defer_failure(connect_failure(e)),
        };
        let me = self
            .me
            .upgrade()
            .expect("a connector is alive while connecting");
        let registered = reactor.register(
            &mut stream,
            Interest::WRITABLE | Interest::READABLE,
            move |_| me,
        );
        let token = match registered {
            Ok(token) => token,
            Err(e) => return self.defer_failure(connect_failure(e)),
        };
        let me = self.me.clone();
        let (host, port, timeout) = (self.host.clone(), self.port, self.timeout);
        let timeout = reactor.timers.call_later(timeout, move || {
            if let Some(me) = me.upgrade() {
                me.fail(Failure::new(TimeoutError::new(
                    Some(timeout),
                    format!("connect to {host}:{port}"),
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

    fn drop_attempt(&self) -> Option<mio::net::TcpStream> {
        let attempt = self.attempt.borrow_mut().take()?;
        let _ = attempt.timeout.cancel();
        let mut stream = attempt.stream;
        if let Some(reactor) = self.reactor.upgrade() {
            let _ = reactor.registry().deregister(&mut stream);
            reactor.deregister(attempt.token, &mut stream);
        }
        Some(stream)
    }

    fn fail(&self, reason: Failure) {
        if self.state.get() != ConnectorState::Connecting {
            return;
        }
        drop(self.drop_attempt());
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
        let Some(stream) = self.drop_attempt() else {
            return;
        };
        let Some(reactor) = self.reactor.upgrade() else {
            return;
        };
        let peer = match stream.peer_addr() {
            Ok(peer) => peer,
            Err(e) => {
                self.attempt_ended();
                return self.fail(connect_failure(e));
            }
        };
        let Some(protocol) = build(&*self.factory, &Address::Tcp(peer)) else {
            self.attempt_ended();
            return self.fail(Failure::new(NoProtocol));
        };
        self.state.set(ConnectorState::Connected);
        let me = self.me.clone();
        let on_close = Box::new(move |reason: Failure| {
            if let Some(me) = me.upgrade() {
                me.transport.borrow_mut().take();
                me.state.set(ConnectorState::Disconnected);
                me.factory.client_connection_lost(&*me, reason);
                me.maybe_stop_factory();
            }
        });
        match TcpConnection::start(&reactor, stream, protocol, Some(on_close)) {
            Ok(connection) => *self.transport.borrow_mut() = Some(connection),
            Err(e) => {
                self.state.set(ConnectorState::Connecting);
                self.fail(connect_failure(e));
            }
        }
    }

    /// Keeps `fail` applicable after the attempt was taken apart.
    fn attempt_ended(&self) {
        self.state.set(ConnectorState::Connecting);
    }
}

fn connect_failure(error: io::Error) -> Failure {
    if error.kind() == io::ErrorKind::ConnectionRefused {
        Failure::new(ConnectionRefused::from_io(error))
    } else {
        Failure::new(ConnectError::from_io(error))
    }
}

impl IoSource for TcpConnector {
    fn ready(self: Rc<Self>, _event: &mio::event::Event) {
        let error = {
            let attempt = self.attempt.borrow();
            let Some(attempt) = attempt.as_ref() else {
                return;
            };
            match attempt.stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(e),
                Ok(None) => match attempt.stream.peer_addr() {
                    Ok(_) => None,
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

impl Connector for TcpConnector {
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
        match self.host.parse::<IpAddr>() {
            Ok(ip) => Address::Tcp(SocketAddr::new(ip, self.port)),
            Err(_) => Address::Hostname {
                host: self.host.clone(),
                port: self.port,
            },
        }
    }

    fn state(&self) -> ConnectorState {
        self.state.get()
    }
}

impl fmt::Debug for TcpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnector")
            .field("destination", &format!("{}:{}", self.host, self.port))
            .field("state", &self.state.get())
            .finish()
    }
}

impl ReactorTcp for Reactor {
    fn listen_tcp(
        &self,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        backlog: u32,
        interface: &str,
    ) -> Result<Rc<dyn ListeningPort>, CannotListenError> {
        let requested = interface_address(interface, port).map_err(|source| CannotListenError {
            interface: interface.to_string(),
            port,
            source,
        })?;
        let listening = Rc::new_cyclic(|me| TcpPort {
            me: me.clone(),
            reactor: self.downgrade(),
            factory,
            requested,
            backlog,
            interface: interface.to_string(),
            listener: RefCell::new(None),
            host: RefCell::new(Address::Tcp(requested)),
            exhausted_logged: Cell::new(false),
        });
        listening.listen()?;
        Ok(listening)
    }

    fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        factory: Rc<dyn DynProtocolFactory>,
        timeout: Duration,
        bind_address: Option<SocketAddr>,
    ) -> Rc<dyn Connector> {
        let connector = Rc::new_cyclic(|me| TcpConnector {
            me: me.clone(),
            reactor: self.downgrade(),
            host: host.to_string(),
            port,
            factory,
            timeout,
            bind_address,
            state: Cell::new(ConnectorState::Disconnected),
            attempt: RefCell::new(None),
            transport: RefCell::new(None),
            factory_started: Cell::new(false),
        });
        connector.start_attempt();
        connector
    }
}
