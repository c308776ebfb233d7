//! [`HostnameEndpoint`]: connect by name, trying every address (Twisted's
//! `HostnameEndpoint`, happy-eyeballs style).

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{ConnectingCancelledError, DnsLookupError, TimeoutError};
use torsion_reactor::{
    Address, Deferred, DelayedCall, DynProtocolFactory, FactoryHooks, FactoryWrapper, Failure,
    Protocol, ProtocolRef, Reactor, ReactorTcp, ReactorTime, ReactorTimeExt, StreamClientEndpoint,
    DEFAULT_CONNECT_TIMEOUT,
};

use crate::{Tcp4ClientEndpoint, Tcp6ClientEndpoint};

/// Resolves host names (Twisted's `IHostnameResolver`). The reactor's
/// implementation runs the system resolver on a worker thread; tests hand
/// in a fixed answer.
pub trait NameResolver {
    /// The addresses of `host`, port `port`.
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`) on the reactor's worker threads.
#[derive(Debug, Clone)]
pub struct SystemResolver {
    reactor: Reactor,
}

impl SystemResolver {
    /// Resolves with `reactor.defer_to_thread`.
    pub fn new(reactor: Reactor) -> SystemResolver {
        SystemResolver { reactor }
    }
}

impl NameResolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>> {
        let name = host.to_string();
        self.reactor
            .defer_to_thread(move || Ok((name.as_str(), port).to_socket_addrs()?.collect()))
    }
}

/// A fixed answer: every name resolves to these addresses (for tests).
#[derive(Debug, Clone)]
pub struct StaticResolver(pub Vec<SocketAddr>);

impl NameResolver for StaticResolver {
    fn resolve(&self, _host: &str, _port: u16) -> Deferred<Vec<SocketAddr>> {
        Deferred::succeeded(self.0.clone())
    }
}

/// Every address failed: names the host and what each address did.
#[derive(Debug)]
pub struct HostnameConnectError {
    /// The name connected to.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Each address tried and its failure, in the order tried.
    pub attempts: Vec<(SocketAddr, Failure)>,
}

impl fmt::Display for HostnameConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not connect to {}:{} ({} addresses tried",
            self.host,
            self.port,
            self.attempts.len()
        )?;
        for (addr, failure) in &self.attempts {
            write!(f, "; {addr}: {failure}")?;
        }
        f.write_str(")")
    }
}

impl Error for HostnameConnectError {}

/// Connects to a host by name (Twisted's `HostnameEndpoint`).
///
/// The name is resolved off the reactor thread; one connection attempt
/// starts at once and another every `attempt_delay` (300 ms) with the next
/// address, IPv6 and IPv4 interleaved (RFC 8305), until one succeeds. The
/// first success wins: attempts still under way are cancelled, and one
/// that connects anyway is closed before the user's factory sees it. The timeout covers the whole
/// connect, resolution included. If every address fails, the failure is a
/// [`HostnameConnectError`] naming the host and each address's failure.
///
/// # Examples
///
/// ```
/// use torsion_endpoints::HostnameEndpoint;
/// use torsion_reactor::{Factory, Reactor, StreamClientEndpointExt};
/// use torsion_testing::AccumulatingProtocol;
///
/// let reactor = Reactor::new()?;
/// let endpoint = HostnameEndpoint::new(reactor, "localhost", 8000);
/// let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
/// connected.cancel();
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Twisted
///
/// When every address fails, Twisted reports only the last failure; this
/// reports all of them.
pub struct HostnameEndpoint<R> {
    reactor: R,
    resolver: Rc<dyn NameResolver>,
    host: String,
    port: u16,
    timeout: Duration,
    attempt_delay: Duration,
}

impl HostnameEndpoint<Reactor> {
    /// Connects to `host:port` on the reactor, resolving with the system resolver.
    pub fn new(reactor: Reactor, host: impl Into<String>, port: u16) -> Self {
        let resolver = Rc::new(SystemResolver::new(reactor.clone()));
        HostnameEndpoint::with_resolver(reactor, resolver, host, port)
    }
}

impl<R: ReactorTcp + ReactorTime + Clone + 'static> HostnameEndpoint<R> {
    /// Connects to `host:port` on `reactor`, resolving with `resolver`.
    pub fn with_resolver(
        reactor: R,
        resolver: Rc<dyn NameResolver>,
        host: impl Into<String>,
        port: u16,
    ) -> Self {
        HostnameEndpoint {
            reactor,
            resolver,
            host: host.into(),
            port,
            timeout: DEFAULT_CONNECT_TIMEOUT,
            attempt_delay: Duration::from_millis(300),
        }
    }

    /// The timeout for the whole connect.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The delay between starting attempts to successive addresses.
    pub fn attempt_delay(mut self, delay: Duration) -> Self {
        self.attempt_delay = delay;
        self
    }
}

/// RFC 8305's order: alternate families, starting with the first one given.
fn interleave(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addresses.first().is_some_and(SocketAddr::is_ipv6);
    let (mut v6, mut v4): (Vec<_>, Vec<_>) = addresses.into_iter().partition(SocketAddr::is_ipv6);
    v6.reverse();
    v4.reverse();
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let mut take_v6 = first_v6;
    loop {
        let next = if take_v6 {
            v6.pop().or_else(|| v4.pop())
        } else {
            v4.pop().or_else(|| v6.pop())
        };
        match next {
            Some(addr) => out.push(addr),
            None => return out,
        }
        take_v6 = !take_v6;
    }
}

/// One connect in progress.
struct Race<R> {
    reactor: R,
    factory: Rc<dyn DynProtocolFactory>,
    result: Deferred<ProtocolRef>,
    host: String,
    port: u16,
    remaining: RefCell<Vec<SocketAddr>>,
    pending: RefCell<Vec<Deferred<ProtocolRef>>>,
    failures: RefCell<Vec<(SocketAddr, Failure)>>,
    next_attempt: RefCell<Option<DelayedCall>>,
    timeout: RefCell<Option<DelayedCall>>,
    attempt_delay: Duration,
    done: Cell<bool>,
    decided: Rc<Cell<bool>>,
}

impl<R: ReactorTcp + ReactorTime + Clone + 'static> Race<R> {
    fn start_next(self: &Rc<Self>) {
        if self.done.get() {
            return;
        }
        let Some(addr) = self.remaining.borrow_mut().pop() else {
            return;
        };
        let ip = addr.ip().to_string();
        let endpoint: Box<dyn StreamClientEndpoint> = match addr.ip() {
            IpAddr::V4(_) => Box::new(Tcp4ClientEndpoint::new(
                self.reactor.clone(),
                ip,
                addr.port(),
            )),
            IpAddr::V6(_) => Box::new(Tcp6ClientEndpoint::new(
                self.reactor.clone(),
                ip,
                addr.port(),
            )),
        };
        let factory = Rc::new(FactoryWrapper::new(
            self.factory.clone(),
            RaceHooks {
                decided: self.decided.clone(),
            },
        ));
        let attempt = endpoint.connect_dyn(factory);
        self.pending.borrow_mut().push(attempt.clone());
        let race = self.clone();
        attempt.add_both(move |outcome| {
            race.finished(addr, outcome);
            Ok(())
        });
        if !self.remaining.borrow().is_empty() {
            let race = self.clone();
            let call = self
                .reactor
                .call_later(self.attempt_delay, move || race.start_next());
            *self.next_attempt.borrow_mut() = Some(call);
        }
    }

    fn finished(self: &Rc<Self>, addr: SocketAddr, outcome: Result<ProtocolRef, Failure>) {
        match outcome {
            Ok(_) if self.done.get() => {} // cannot happen: losers build nothing
            Ok(protocol) => {
                self.finish();
                let _ = self.result.try_callback(protocol);
            }
            Err(_) if self.done.get() => {}
            Err(failure) => {
                self.failures.borrow_mut().push((addr, failure));
                let all_failed = self.remaining.borrow().is_empty()
                    && self.failures.borrow().len() == self.pending.borrow().len();
                if all_failed {
                    self.finish();
                    let attempts = std::mem::take(&mut *self.failures.borrow_mut());
                    let _ = self.result.try_errback(HostnameConnectError {
                        host: self.host.clone(),
                        port: self.port,
                        attempts,
                    });
                } else if let Some(call) = self.next_attempt.borrow_mut().take() {
                    // Do not wait out the delay: try the next address now.
                    let _ = call.cancel();
                    self.start_next();
                } else {
                    self.start_next();
                }
            }
        }
    }

    /// Stops timers and cancels attempts still under way.
    fn finish(&self) {
        self.done.set(true);
        self.decided.set(true);
        for call in [
            self.next_attempt.borrow_mut().take(),
            self.timeout.borrow_mut().take(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = call.cancel();
        }
        let pending: Vec<_> = self.pending.borrow().clone();
        for attempt in pending {
            attempt.cancel();
        }
    }
}

/// What each attempt's factory adds to the user's: until the race is
/// decided it builds with the user's factory; after that it builds
/// nothing, so an attempt that connects late is closed by the reactor
/// without the user's factory ever seeing it.
struct RaceHooks {
    decided: Rc<Cell<bool>>,
}

impl FactoryHooks<dyn Protocol> for RaceHooks {
    fn may_build(&self, _addr: &Address) -> bool {
        !self.decided.get()
    }
}

impl<R: ReactorTcp + ReactorTime + Clone + 'static> StreamClientEndpoint for HostnameEndpoint<R> {
    fn connect_dyn(&self, factory: Rc<dyn DynProtocolFactory>) -> Deferred<ProtocolRef> {
        let race_slot: Rc<RefCell<Option<Rc<Race<R>>>>> = Rc::default();
        let (for_cancel, destination) = (
            race_slot.clone(),
            Address::Hostname {
                host: self.host.clone(),
                port: self.port,
            },
        );
        let result = Deferred::with_canceller(move |d: &Deferred<ProtocolRef>| {
            let race = for_cancel.borrow().clone();
            d.errback(ConnectingCancelledError {
                address: destination,
            });
            if let Some(race) = race {
                race.finish();
            }
        });
        let race = Rc::new(Race {
            reactor: self.reactor.clone(),
            factory,
            result: result.clone(),
            host: self.host.clone(),
            port: self.port,
            remaining: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            failures: RefCell::new(Vec::new()),
            next_attempt: RefCell::new(None),
            timeout: RefCell::new(None),
            attempt_delay: self.attempt_delay,
            done: Cell::new(false),
            decided: Rc::default(),
        });
        *race_slot.borrow_mut() = Some(race.clone());
        let (for_timeout, what, timeout) = (
            race.clone(),
            format!("connect to {}:{}", self.host, self.port),
            self.timeout,
        );
        let call = self.reactor.call_later(timeout, move || {
            if !for_timeout.done.get() {
                for_timeout.finish();
                let _ = for_timeout
                    .result
                    .try_errback(TimeoutError::new(Some(timeout), what));
            }
        });
        *race.timeout.borrow_mut() = Some(call);
        let (for_resolve, host) = (race.clone(), self.host.clone());
        self.resolver
            .resolve(&self.host, self.port)
            .add_both(move |resolved| {
                let race = for_resolve;
                if race.done.get() {
                    return Ok(());
                }
                match resolved {
                    Ok(addresses) if !addresses.is_empty() => {
                        let mut ordered = interleave(addresses);
                        ordered.reverse(); // popped from the end
                        *race.remaining.borrow_mut() = ordered;
                        race.start_next();
                    }
                    Ok(_) => {
                        race.finish();
                        let _ = race
                            .result
                            .try_errback(DnsLookupError { host, source: None });
                    }
                    Err(failure) => {
                        race.finish();
                        let source = failure
                            .find::<std::io::Error>()
                            .map(|e| std::io::Error::new(e.kind(), e.to_string()));
                        let _ = race.result.try_errback(DnsLookupError { host, source });
                    }
                }
                Ok(())
            });
        result
    }

    fn describe(&self) -> String {
        format!(
            "tcp:host={}:port={}",
            crate::quote(&self.host, false),
            self.port
        )
    }
}

impl<R> fmt::Debug for HostnameEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostnameEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("attempt_delay", &self.attempt_delay)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::interleave;
    use std::net::SocketAddr;

    #[test]
    fn families_alternate_starting_with_the_first() {
        let addrs: Vec<SocketAddr> = ["[::1]:1", "[::2]:1", "127.0.0.1:1", "127.0.0.2:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let ordered: Vec<String> = interleave(addrs).iter().map(ToString::to_string).collect();
        assert_eq!(
            ordered,
            ["[::1]:1", "127.0.0.1:1", "[::2]:1", "127.0.0.2:1"]
        );
    }
}
