//! [`IoPump`] and the functions that connect two protocols through it
//! (Twisted's `iosim.IOPump`, `connect`, `connectedServerAndClient`).
//!
//! Over 500 lines because Twisted's `iosim` keeps the pump and its `connect`
//! helpers together and so does this port; most of the length is their doc
//! examples.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::{Address, Protocol, ProtocolFactory, ProtocolRef, WriteSide};

use super::transport::{default_client_address, default_server_address};
use super::FakeTransport;
use crate::Clock;

/// How many steps [`IoPump::flush`] takes before it gives up (Twisted's
/// `range(1000)`).
const FLUSH_LIMIT: usize = 1000;

/// Moves bytes between a client and a server [`FakeTransport`], one step at
/// a time: Twisted's `iosim.IOPump`.
///
/// One [`pump`](IoPump::pump) step:
///
/// 1. advances the clock by zero, running the calls due now;
/// 2. takes the server's and then the client's pending output, then asks
///    the client's and the server's pull producers for a chunk (what they
///    write goes out on the next step);
/// 3. delivers the client's bytes to the server, then the server's to the
///    client (a side whose reading is paused holds them), resumes streaming
///    producers whose backlog was read; if any bytes moved, returns `true`;
/// 4. else, if the server is disconnecting and that was not yet passed on,
///    marks it passed on, marks the client disconnecting and gives the
///    client protocol `connection_lost`; returns `true`;
/// 5. else the same from the client to the server; returns `true`;
/// 6. else, if the server asked to half-close, shuts its write side: the
///    server protocol gets `write_connection_lost`, then the client's
///    `read_connection_lost`; returns `true`;
/// 7. else the same from the client to the server; returns `true`;
/// 8. else returns `false`.
///
/// So a `lose_connection` takes two steps to reach both protocols: first
/// the peer's, then the closer's own. A side that paused its reading or
/// still holds bytes hears of the peer's close (steps 4–7) only once it has
/// resumed and read them.
///
/// No borrow is held while a protocol or producer runs: protocols may
/// write, close or pause from inside any callback, and the effect shows on
/// a later step.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Protocol, TransportRef};
/// use torsion_testing::{connected_protocols, AccumulatingProtocol, ConnectOptions};
///
/// struct Hello;
/// impl Protocol for Hello {
///     fn connection_made(&mut self, transport: TransportRef) {
///         transport.write(b"hello");
///         transport.lose_connection();
///     }
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// let options = ConnectOptions::new().greet(false);
/// let (client, _server, pump) =
///     connected_protocols(Hello, AccumulatingProtocol::new(), options);
/// assert!(pump.pump()); // the greeting moves
/// assert_eq!(client.borrow().data, b"hello");
/// assert!(pump.pump()); // step 4: the client hears of the close
/// assert!(client.borrow().closed);
/// assert!(pump.pump()); // step 5: the server hears of its own
/// assert!(!pump.pump());
/// ```
///
/// # Twisted
///
/// Twisted's `debug` flag prints each step; here each step is logged with
/// `log::trace!`. Steps 6 and 7 are ours: iosim does not half-close. A
/// panic in a protocol propagates out of `pump`, as an exception does out
/// of iosim's: the test fails rather than the connection.
pub struct IoPump {
    client: ProtocolRef,
    server: ProtocolRef,
    client_io: Rc<FakeTransport>,
    server_io: Rc<FakeTransport>,
    clock: Clock,
}

impl IoPump {
    /// A pump between `client_io` (delivering to `client`) and `server_io`
    /// (delivering to `server`), advancing `clock` (a new [`Clock`] if
    /// `None`). It calls no protocol: see [`connect`] for that.
    pub fn new(
        client: ProtocolRef,
        server: ProtocolRef,
        client_io: Rc<FakeTransport>,
        server_io: Rc<FakeTransport>,
        clock: Option<Clock>,
    ) -> IoPump {
        client_io.link(&server_io);
        server_io.link(&client_io);
        IoPump {
            client,
            server,
            client_io,
            server_io,
            clock: clock.unwrap_or_default(),
        }
    }

    /// Runs one step (see the type's docs); returns whether anything moved.
    pub fn pump(&self) -> bool {
        self.clock.advance(Duration::ZERO);
        let server_data = self.server_io.take_out_buffer();
        let client_data = self.client_io.take_out_buffer();
        self.client_io.check_producer();
        self.server_io.check_producer();
        if let Some(data) = &client_data {
            log::trace!("iosim C: {}", data.escape_ascii());
        }
        if let Some(data) = &server_data {
            log::trace!("iosim S: {}", data.escape_ascii());
        }
        let mut moved = self
            .server_io
            .buffer_received(client_data.as_deref().unwrap_or_default());
        moved |= self
            .client_io
            .buffer_received(server_data.as_deref().unwrap_or_default());
        self.client_io.check_backlog();
        self.server_io.check_backlog();
        if moved {
            return true;
        }
        if propagate_close(&self.server_io, &self.client_io) {
            log::trace!("iosim * C");
            return true;
        }
        if propagate_close(&self.client_io, &self.server_io) {
            log::trace!("iosim * S");
            return true;
        }
        if propagate_write_shut(&self.server_io, &self.client_io) {
            log::trace!("iosim S half-closed");
            return true;
        }
        if propagate_write_shut(&self.client_io, &self.server_io) {
            log::trace!("iosim C half-closed");
            return true;
        }
        false
    }

    /// Pumps until a step moves nothing; returns whether any step moved
    /// something.
    ///
    /// # Panics
    ///
    /// With "Too long" if 1000 steps all moved something (two protocols
    /// that answer each other forever), as Twisted asserts.
    pub fn flush(&self) -> bool {
        let mut result = false;
        for _ in 0..FLUSH_LIMIT {
            if !self.pump() {
                return result;
            }
            result = true;
        }
        panic!("Too long");
    }

    /// The client's transport (Twisted's `clientIO`).
    pub fn client_transport(&self) -> &Rc<FakeTransport> {
        &self.client_io
    }

    /// The server's transport (Twisted's `serverIO`).
    pub fn server_transport(&self) -> &Rc<FakeTransport> {
        &self.server_io
    }

    /// The client protocol (Twisted's `client`).
    pub fn client(&self) -> &ProtocolRef {
        &self.client
    }

    /// The server protocol (Twisted's `server`).
    pub fn server(&self) -> &ProtocolRef {
        &self.server
    }

    /// The clock each step advances by zero.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl fmt::Debug for IoPump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoPump")
            .field("client_io", &self.client_io)
            .field("server_io", &self.server_io)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Steps 4 and 5: `closer` is disconnecting and has not passed that on.
fn propagate_close(closer: &FakeTransport, peer: &FakeTransport) -> bool {
    let aborted = {
        let state = closer.state.borrow();
        if !state.core.is_disconnecting() || state.disconnected {
            return false;
        }
        state.core.is_aborting()
    };
    if !peer.can_hear_close() {
        return false;
    }
    closer.state.borrow_mut().disconnected = true;
    peer.state.borrow_mut().core.set_disconnecting();
    if aborted {
        peer.peer_aborted();
    }
    peer.report_disconnect();
    true
}

/// Steps 6 and 7: `closer` asked to half-close and everything it wrote
/// before was delivered.
fn propagate_write_shut(closer: &FakeTransport, peer: &FakeTransport) -> bool {
    {
        let state = closer.state.borrow();
        if state.core.write_side() != WriteSide::Closing || state.core.is_disconnecting() {
            return false;
        }
    }
    if !peer.can_hear_close() {
        return false;
    }
    // iosim has no end-of-file of its own to report, so no close follows.
    let _ = closer.state.borrow_mut().core.write_shut();
    // A real transport calls writeConnectionLost as it shuts the socket;
    // the peer reads the end-of-file after.
    closer.write_connection_lost();
    if peer.read_connection_lost() {
        // The peer closed on end-of-file: that close reaches `closer` on a
        // later step, and the end-of-file already told the peer ours.
        closer.state.borrow_mut().disconnected = true;
    }
    true
}

/// Calls the server's `make_connection`, then the client's, and returns a
/// pump between them, flushed once if `greet` (so that a server's greeting
/// has arrived): Twisted's `iosim.connect`.
///
/// `clock` is the clock the pump advances (a new one if `None`).
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use torsion_reactor::{Protocol, ProtocolRef, TransportRef};
/// use torsion_testing::{connect, AccumulatingProtocol, FakeTransport};
///
/// struct Banner;
/// impl Protocol for Banner {
///     fn connection_made(&mut self, transport: TransportRef) {
///         transport.write(b"220 ready\r\n");
///     }
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// let server: ProtocolRef = Rc::new(RefCell::new(Banner));
/// let client = Rc::new(RefCell::new(AccumulatingProtocol::new()));
/// let server_io = Rc::new(FakeTransport::new(server.clone(), true));
/// let client_io = Rc::new(FakeTransport::new(client.clone(), false));
/// let _pump = connect(server, server_io, client.clone(), client_io, true, None);
/// assert_eq!(client.borrow().data, b"220 ready\r\n");
/// ```
///
/// # Panics
///
/// As [`IoPump::flush`], when greeting.
pub fn connect(
    server: ProtocolRef,
    server_transport: Rc<FakeTransport>,
    client: ProtocolRef,
    client_transport: Rc<FakeTransport>,
    greet: bool,
    clock: Option<Clock>,
) -> IoPump {
    let pump = IoPump::new(
        client.clone(),
        server.clone(),
        client_transport.clone(),
        server_transport.clone(),
        clock,
    );
    server.borrow_mut().make_connection(server_transport);
    client.borrow_mut().make_connection(client_transport);
    if greet {
        // Kick off the server's greeting, as iosim does.
        pump.flush();
    }
    pump
}

/// What [`connected_server_and_client`] and [`connected_protocols`] return:
/// the client protocol, the server protocol (each as the user's own type)
/// and the pump between them, in Twisted's order.
///
/// # Examples
///
/// ```
/// use torsion_testing::{connected_protocols, AccumulatingProtocol, ConnectOptions, Connected};
///
/// fn pair() -> Connected<AccumulatingProtocol, AccumulatingProtocol> {
///     connected_protocols(AccumulatingProtocol::new(), AccumulatingProtocol::new(), ConnectOptions::new())
/// }
/// let (client, _server, pump) = pair();
/// assert!(client.borrow().made);
/// assert!(!pump.flush());
/// ```
pub type Connected<C, S> = (Rc<RefCell<C>>, Rc<RefCell<S>>, IoPump);

/// Options for [`connected_server_and_client_with`] and
/// [`connected_protocols`]: Twisted's keyword arguments of
/// `connectedServerAndClient`.
///
/// # Examples
///
/// ```
/// use torsion_reactor::Address;
/// use torsion_testing::{Clock, ConnectOptions};
///
/// let options = ConnectOptions::new()
///     .greet(false)
///     .clock(Clock::new())
///     .server_address(Address::Tcp("10.0.0.1:443".parse()?))
///     .client_address(Address::Tcp("10.0.0.2:50000".parse()?));
/// # let _ = options;
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    greet: bool,
    clock: Option<Clock>,
    server_address: Address,
    client_address: Address,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions::new()
    }
}

impl ConnectOptions {
    /// Greet (flush once), a new clock, server `127.0.0.1:4321`, client
    /// `127.0.0.1:54321`.
    pub fn new() -> ConnectOptions {
        ConnectOptions {
            greet: true,
            clock: None,
            server_address: default_server_address(),
            client_address: default_client_address(),
        }
    }

    /// Whether to flush once after connecting (default `true`).
    pub fn greet(mut self, greet: bool) -> Self {
        self.greet = greet;
        self
    }

    /// The clock the pump advances (default: a new one).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The server's address: its host, the client's peer.
    pub fn server_address(mut self, address: Address) -> Self {
        self.server_address = address;
        self
    }

    /// The client's address: its host, the server's peer.
    pub fn client_address(mut self, address: Address) -> Self {
        self.client_address = address;
        self
    }
}

/// Builds a protocol from each factory, connects them and returns
/// `(client, server, pump)`, typed: Twisted's `connectedServerAndClient`
/// with the defaults of [`ConnectOptions::new`].
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Factory, Protocol, TransportRef};
/// use torsion_testing::{connected_server_and_client, AccumulatingProtocol};
///
/// #[derive(Default)]
/// struct Echo(Option<TransportRef>);
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: TransportRef) {
///         self.0 = Some(transport);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().expect("connected").write(data);
///     }
/// }
///
/// let (client, server, pump) = connected_server_and_client(
///     &Factory::for_protocol(Echo::default),
///     &Factory::for_protocol(AccumulatingProtocol::new),
/// );
/// client.borrow().transport.as_ref().expect("connected").write(b"ping");
/// pump.flush();
/// assert_eq!(client.borrow().data, b"ping");
/// assert!(server.borrow().0.is_some());
/// ```
///
/// # Panics
///
/// If a factory refuses to build a protocol, or as [`IoPump::flush`].
pub fn connected_server_and_client<S: ProtocolFactory, C: ProtocolFactory>(
    server_factory: &S,
    client_factory: &C,
) -> Connected<C::Protocol, S::Protocol> {
    connected_server_and_client_with(server_factory, client_factory, ConnectOptions::new())
}

/// [`connected_server_and_client`] with [`ConnectOptions`].
///
/// The client factory's `build_protocol` gets the server's address, the
/// server factory's the client's; each factory's `protocol_built` sees the
/// handle. The client is built first, as in Twisted.
///
/// # Examples
///
/// ```
/// use torsion_reactor::Factory;
/// use torsion_testing::{connected_server_and_client_with, AccumulatingProtocol, ConnectOptions};
///
/// let (client, _server, pump) = connected_server_and_client_with(
///     &Factory::for_protocol(AccumulatingProtocol::new),
///     &Factory::for_protocol(AccumulatingProtocol::new),
///     ConnectOptions::new().greet(false),
/// );
/// assert!(client.borrow().made);
/// assert!(!pump.pump());
/// ```
///
/// # Panics
///
/// If a factory refuses to build a protocol, or as [`IoPump::flush`].
pub fn connected_server_and_client_with<S: ProtocolFactory, C: ProtocolFactory>(
    server_factory: &S,
    client_factory: &C,
    options: ConnectOptions,
) -> Connected<C::Protocol, S::Protocol> {
    let client = ProtocolFactory::build_protocol(client_factory, &options.server_address)
        .map(|p| Rc::new(RefCell::new(p)))
        .expect("connected_server_and_client: the client factory refused to build a protocol");
    client_factory.protocol_built(&client);
    let server = ProtocolFactory::build_protocol(server_factory, &options.client_address)
        .map(|p| Rc::new(RefCell::new(p)))
        .expect("connected_server_and_client: the server factory refused to build a protocol");
    server_factory.protocol_built(&server);
    let pump = connect_handles(&client, &server, options);
    (client, server, pump)
}

/// Connects two ready protocols and returns `(client, server, pump)` with
/// their handles: [`connected_server_and_client`] without factories.
///
/// # Examples
///
/// ```
/// use torsion_testing::{connected_protocols, AccumulatingProtocol, ConnectOptions};
///
/// let (client, server, _pump) = connected_protocols(
///     AccumulatingProtocol::new(),
///     AccumulatingProtocol::new(),
///     ConnectOptions::new(),
/// );
/// assert!(client.borrow().made && server.borrow().made);
/// ```
///
/// # Panics
///
/// As [`IoPump::flush`], when greeting.
pub fn connected_protocols<S: Protocol, C: Protocol>(
    server: S,
    client: C,
    options: ConnectOptions,
) -> Connected<C, S> {
    let client = Rc::new(RefCell::new(client));
    let server = Rc::new(RefCell::new(server));
    let pump = connect_handles(&client, &server, options);
    (client, server, pump)
}

fn connect_handles<S: Protocol, C: Protocol>(
    client: &Rc<RefCell<C>>,
    server: &Rc<RefCell<S>>,
    options: ConnectOptions,
) -> IoPump {
    let client: ProtocolRef = client.clone();
    let server: ProtocolRef = server.clone();
    let client_io = FakeTransport::new(client.clone(), false)
        .with_host(options.client_address.clone())
        .with_peer(options.server_address.clone());
    let server_io = FakeTransport::new(server.clone(), true)
        .with_host(options.server_address)
        .with_peer(options.client_address);
    connect(
        server,
        Rc::new(server_io),
        client,
        Rc::new(client_io),
        options.greet,
        options.clock,
    )
}
