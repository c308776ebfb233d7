//! [`ConnectorBase`]: what every client connector does the same whatever it
//! connects over (Twisted's `base.BaseConnector`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use crate::error::{NotConnectingError, UserError};
use crate::interfaces::{Connector, ConnectorState, DynProtocolFactory};
use crate::{DelayedCall, Failure, Transport};

/// The state a client connector shares with every other kind: its factory
/// and whether the factory was started, its [`ConnectorState`], the
/// time-out of the attempt under way and the connection once made
/// (Twisted's `base.BaseConnector`).
///
/// A reactor's connector keeps one and adds how it attempts a connection
/// (a socket, a simulated handshake); the factory hooks then come in the
/// same order from every reactor: `do_start` before the first attempt,
/// `started_connecting` before each, one of `client_connection_failed` or
/// `client_connection_lost` after each, and `do_stop` once the connector
/// rests disconnected after the hook (a hook that calls
/// [`connect`](Connector::connect) keeps the factory started). The mio
/// reactor's TCP and UNIX connectors and the simulated network's are built
/// on it.
///
/// # Examples
///
/// A connector whose attempts always fail at once:
///
/// ```
/// use std::rc::Rc;
/// use torsion_reactor::error::{ConnectionRefused, NotConnectingError};
/// use torsion_reactor::{
///     Address, Connector, ConnectorBase, ConnectorState, DynProtocolFactory, Factory, Failure,
///     Protocol,
/// };
///
/// struct Refused {
///     base: ConnectorBase<dyn torsion_reactor::Transport>,
/// }
///
/// impl Refused {
///     fn start_attempt(&self) {
///         if self.base.begin_attempt(self) {
///             self.fail(Failure::new(ConnectionRefused::new()));
///         }
///     }
///
///     fn fail(&self, reason: Failure) {
///         if self.base.is_connecting() {
///             self.base.connection_failed(self, reason);
///         }
///     }
/// }
///
/// impl Connector for Refused {
///     fn stop_connecting(&self) -> Result<(), NotConnectingError> {
///         self.base.stop_connecting(|reason| self.fail(reason))
///     }
///     fn disconnect(&self) {
///         self.base.disconnect(|reason| self.fail(reason))
///     }
///     fn connect(&self) {
///         if self.base.state() == ConnectorState::Disconnected {
///             self.start_attempt();
///         }
///     }
///     fn destination(&self) -> Address {
///         Address::Unix(None)
///     }
///     fn state(&self) -> ConnectorState {
///         self.base.state()
///     }
/// }
///
/// struct Quiet;
/// impl Protocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) {}
/// }
///
/// let factory: Rc<dyn DynProtocolFactory> = Rc::new(Factory::for_protocol(|| Quiet));
/// let connector = Refused { base: ConnectorBase::new(factory) };
/// connector.connect();
/// assert_eq!(connector.state(), ConnectorState::Disconnected);
/// assert_eq!(connector.stop_connecting(), Err(NotConnectingError));
/// ```
pub struct ConnectorBase<T: ?Sized> {
    factory: Rc<dyn DynProtocolFactory>,
    state: Cell<ConnectorState>,
    factory_started: Cell<bool>,
    /// The time-out of the attempt under way.
    timeout_call: RefCell<Option<DelayedCall>>,
    /// The connection, while connected. Weak: the connection (held by its
    /// reactor while open) holds the connector, as Twisted's transport
    /// holds its `connector`, so that a connector nobody else keeps still
    /// reports the end of its connection to the factory.
    transport: RefCell<Option<Weak<T>>>,
}

impl<T: Transport + ?Sized> ConnectorBase<T> {
    /// Disconnected, for `factory`.
    pub fn new(factory: Rc<dyn DynProtocolFactory>) -> ConnectorBase<T> {
        ConnectorBase {
            factory,
            state: Cell::new(ConnectorState::Disconnected),
            factory_started: Cell::new(false),
            timeout_call: RefCell::new(None),
            transport: RefCell::new(None),
        }
    }

    /// The factory the connections are built by.
    pub fn factory(&self) -> &Rc<dyn DynProtocolFactory> {
        &self.factory
    }

    /// The connector's state.
    pub fn state(&self) -> ConnectorState {
        self.state.get()
    }

    /// Whether an attempt is under way.
    pub fn is_connecting(&self) -> bool {
        self.state.get() == ConnectorState::Connecting
    }

    /// Starts an attempt: starts the factory if it is not, marks the
    /// connector connecting and tells the factory (`started_connecting`).
    /// Returns whether the attempt should go on: `false` if the hook
    /// stopped it.
    pub fn begin_attempt(&self, connector: &dyn Connector) -> bool {
        if !self.factory_started.replace(true) {
            self.factory.do_start();
        }
        self.state.set(ConnectorState::Connecting);
        self.factory.started_connecting(connector);
        self.is_connecting()
    }

    /// Keeps the time-out of the attempt under way (cancelled when the
    /// attempt ends either way).
    pub fn set_timeout(&self, call: DelayedCall) {
        let old = self.timeout_call.borrow_mut().replace(call);
        if let Some(old) = old {
            let _ = old.cancel();
        }
    }

    /// Cancels the attempt's time-out, if one is pending.
    pub fn cancel_timeout(&self) {
        let call = self.timeout_call.borrow_mut().take();
        if let Some(call) = call {
            let _ = call.cancel();
        }
    }

    /// The attempt failed (Twisted's `connectionFailed`): the time-out is
    /// cancelled, the connector is disconnected, the factory's
    /// `client_connection_failed` is called, then its `do_stop` unless the
    /// hook connected again. The caller checks
    /// [`is_connecting`](ConnectorBase::is_connecting) and ends its own
    /// attempt first.
    pub fn connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.cancel_timeout();
        self.state.set(ConnectorState::Disconnected);
        self.factory.client_connection_failed(connector, reason);
        self.maybe_stop_factory();
    }

    /// The attempt succeeded: the time-out is cancelled and `transport` is
    /// the connection until [`connection_lost`](ConnectorBase::connection_lost).
    ///
    /// The base keeps only a weak reference: the reactor keeps the
    /// connection while it is open, and the connection should keep the
    /// connector (its close hook holds it and calls `connection_lost`), so
    /// that `client_connection_lost` reaches the factory even when the
    /// caller dropped the connector `connect_tcp` returned (Twisted's
    /// transport holds its `connector`; callers routinely ignore it).
    pub fn connected(&self, transport: &Rc<T>) {
        self.cancel_timeout();
        self.state.set(ConnectorState::Connected);
        *self.transport.borrow_mut() = Some(Rc::downgrade(transport));
    }

    /// The connection ended (Twisted's `connectionLost`): the connector is
    /// disconnected, the factory's `client_connection_lost` is called, then
    /// its `do_stop` unless the hook connected again.
    pub fn connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.transport.borrow_mut().take();
        self.state.set(ConnectorState::Disconnected);
        self.factory.client_connection_lost(connector, reason);
        self.maybe_stop_factory();
    }

    /// The connection, while connected (and alive).
    pub fn transport(&self) -> Option<Rc<T>> {
        self.transport.borrow().as_ref().and_then(Weak::upgrade)
    }

    /// [`Connector::stop_connecting`]: fails the attempt under way with
    /// [`UserError`] through the connector's own `fail`.
    ///
    /// # Errors
    ///
    /// [`NotConnectingError`] if no attempt is under way.
    pub fn stop_connecting(&self, fail: impl FnOnce(Failure)) -> Result<(), NotConnectingError> {
        if !self.is_connecting() {
            return Err(NotConnectingError);
        }
        fail(Failure::new(UserError));
        Ok(())
    }

    /// [`Connector::disconnect`]: stops the attempt under way (as
    /// [`stop_connecting`](ConnectorBase::stop_connecting)) or loses the
    /// connection; nothing when disconnected.
    pub fn disconnect(&self, fail: impl FnOnce(Failure)) {
        match self.state.get() {
            ConnectorState::Connecting => {
                let _ = self.stop_connecting(fail);
            }
            ConnectorState::Connected => {
                if let Some(transport) = self.transport() {
                    transport.lose_connection();
                }
            }
            ConnectorState::Disconnected => {}
        }
    }

    fn maybe_stop_factory(&self) {
        if self.state.get() == ConnectorState::Disconnected && self.factory_started.replace(false) {
            self.factory.do_stop();
        }
    }
}

impl<T: ?Sized> fmt::Debug for ConnectorBase<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorBase")
            .field("state", &self.state.get())
            .field("factory_started", &self.factory_started.get())
            .field("timeout_pending", &self.timeout_call.borrow().is_some())
            .finish()
    }
}
