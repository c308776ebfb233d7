//! The everyday factory: [`Factory`] and [`PortCounter`] (the defaults of
//! Twisted's `twisted.internet.protocol.Factory`).

use std::cell::Cell;
use std::fmt;

use crate::interfaces::{short_type_name, Protocol, ProtocolFactory};
use crate::Address;

/// Twisted's `Factory.numPorts` rule: `do_start` runs the start hook only
/// when the count goes from 0 to 1, `do_stop` runs the stop hook only when
/// it returns to 0 (and does nothing at 0).
///
/// # Examples
///
/// ```
/// use torsion_reactor::PortCounter;
///
/// let ports = PortCounter::new();
/// let mut started = 0;
/// ports.do_start(|| started += 1);
/// ports.do_start(|| started += 1);
/// assert_eq!((ports.num_ports(), started), (2, 1));
/// ```
#[derive(Debug, Default)]
pub struct PortCounter {
    count: Cell<u32>,
}

impl PortCounter {
    /// At zero.
    pub fn new() -> PortCounter {
        PortCounter::default()
    }

    /// How many ports or connectors use the factory.
    pub fn num_ports(&self) -> u32 {
        self.count.get()
    }

    /// Counts one more user, calling `start_factory` for the first.
    pub fn do_start(&self, start_factory: impl FnOnce()) {
        if self.count.get() == 0 {
            start_factory();
        }
        self.count.set(self.count.get() + 1);
    }

    /// Counts one user fewer, calling `stop_factory` for the last.
    pub fn do_stop(&self, stop_factory: impl FnOnce()) {
        match self.count.get() {
            0 => {}
            1 => {
                self.count.set(0);
                stop_factory();
            }
            n => self.count.set(n - 1),
        }
    }
}

type Builder<P> = Box<dyn Fn(&Address) -> Option<P>>;

/// The everyday [`ProtocolFactory`]: builds a protocol with a closure and
/// counts ports (Twisted's `Factory.forProtocol`).
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Address, Factory, Protocol, ProtocolFactory};
///
/// #[derive(Default)]
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, _data: &[u8]) {}
/// }
///
/// let factory = Factory::for_protocol(Echo::default);
/// assert!(factory.build_protocol(&Address::Unix(None)).is_some());
/// factory.do_start();
/// assert_eq!(factory.num_ports(), 1);
/// ```
pub struct Factory<P> {
    build: Builder<P>,
    ports: PortCounter,
    on_start: Option<Box<dyn Fn()>>,
    on_stop: Option<Box<dyn Fn()>>,
}

impl<P: Protocol> Factory<P> {
    /// A factory calling `new` for each connection.
    pub fn for_protocol(new: impl Fn() -> P + 'static) -> Factory<P> {
        Factory::new(move |_| Some(new()))
    }

    /// A factory calling `build` with the peer's address; `None` refuses.
    pub fn new(build: impl Fn(&Address) -> Option<P> + 'static) -> Factory<P> {
        Factory {
            build: Box::new(build),
            ports: PortCounter::new(),
            on_start: None,
            on_stop: None,
        }
    }

    /// Runs `hook` when the first port starts using the factory (Twisted's
    /// `startFactory`).
    pub fn on_start(mut self, hook: impl Fn() + 'static) -> Self {
        self.on_start = Some(Box::new(hook));
        self
    }

    /// Runs `hook` when the last port stops using it (`stopFactory`).
    pub fn on_stop(mut self, hook: impl Fn() + 'static) -> Self {
        self.on_stop = Some(Box::new(hook));
        self
    }

    /// How many ports or connectors use it (Twisted's `numPorts`).
    pub fn num_ports(&self) -> u32 {
        self.ports.num_ports()
    }
}

/// A factory building each protocol with `P::default()`:
/// `Factory::<Echo>::default()` is `Factory::for_protocol(Echo::default)`.
impl<P: Protocol + Default> Default for Factory<P> {
    fn default() -> Factory<P> {
        Factory::for_protocol(P::default)
    }
}

impl<P: Protocol> ProtocolFactory for Factory<P> {
    type Protocol = P;

    fn build_protocol(&self, addr: &Address) -> Option<P> {
        (self.build)(addr)
    }

    fn do_start(&self) {
        self.ports.do_start(|| {
            log::debug!("Starting factory {}", self.describe());
            if let Some(hook) = &self.on_start {
                hook();
            }
        });
    }

    fn do_stop(&self) {
        self.ports.do_stop(|| {
            log::debug!("Stopping factory {}", self.describe());
            if let Some(hook) = &self.on_stop {
                hook();
            }
        });
    }

    fn describe(&self) -> String {
        format!("Factory<{}>", short_type_name::<P>())
    }
}

impl<P> fmt::Debug for Factory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factory")
            .field("protocol", &short_type_name::<P>())
            .field("num_ports", &self.ports.num_ports())
            .finish()
    }
}
