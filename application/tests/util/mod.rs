//! Helpers of Twisted's `ClientServiceTests`: `RememberingFactory`,
//! `make_reconnector` and the teardown invariants.

#![allow(dead_code)] // each test file uses a different subset

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_application::{ClientService, ClientServiceBuilder, Service};
use torsion_reactor::{Address, PortCounter, Protocol, ProtocolFactory, ReactorTime};
use torsion_testing::{Clock, ConnectInformation, FakeClientEndpoint, LogCapture};

/// Twisted's `AT_LEAST_ONE_ATTEMPT`: longer than any default retry delay.
pub(crate) const AT_LEAST_ONE_ATTEMPT: Duration = Duration::from_secs(100);

/// The application factory: remembers every protocol it builds (Twisted's
/// `RememberingFactory`), refuses when told to, counts ports.
pub(crate) struct RememberingFactory<P> {
    pub(crate) make: Box<dyn Fn() -> P>,
    pub(crate) refuse: bool,
    pub(crate) application_protocols: RefCell<Vec<Rc<RefCell<P>>>>,
    pub(crate) ports: PortCounter,
}

impl<P: Protocol> ProtocolFactory for RememberingFactory<P> {
    type Protocol = P;

    fn build_protocol(&self, _addr: &Address) -> Option<P> {
        (!self.refuse).then(|| (self.make)())
    }

    fn protocol_built(&self, protocol: &Rc<RefCell<P>>) {
        self.application_protocols
            .borrow_mut()
            .push(protocol.clone());
    }

    fn do_start(&self) {
        self.ports.do_start(|| {});
    }

    fn do_stop(&self) {
        self.ports.do_stop(|| {});
    }

    fn describe(&self) -> String {
        "RememberingFactory".to_string()
    }
}

/// A plain protocol (Twisted's `Protocol`).
#[derive(Default)]
pub(crate) struct Plain {
    pub(crate) received: Vec<u8>,
}

impl Protocol for Plain {
    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
    }
}

/// What `make_reconnector` returns, with Twisted's cleanup: on teardown a
/// running service is stopped, then no delayed call may be left on the
/// clock, and (through the strict log capture) no error may have been
/// logged and left unflushed.
pub(crate) struct Reconnector<P: Protocol> {
    pub(crate) info: Rc<ConnectInformation>,
    pub(crate) service: ClientService<RememberingFactory<P>>,
    pub(crate) clock: Clock,
    pub(crate) logs: LogCapture,
    torn_down: bool,
}

impl<P: Protocol> Reconnector<P> {
    /// The protocols the application factory built (Twisted's
    /// `applicationProtocols`).
    pub(crate) fn application_protocols(&self) -> Vec<Rc<RefCell<P>>> {
        self.service
            .factory()
            .application_protocols
            .borrow()
            .clone()
    }

    /// The `index`th application protocol.
    pub(crate) fn app(&self, index: usize) -> Rc<RefCell<P>> {
        self.application_protocols()[index].clone()
    }

    /// Twisted's registered cleanup, run now (and not again at drop).
    pub(crate) fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        if self.service.is_running() {
            drop(self.service.stop_service());
        }
        let pending = self.clock.delayed_calls();
        assert!(
            pending.is_empty(),
            "delayed calls survived the stop: {pending:?}"
        );
    }
}

impl<P: Protocol> Drop for Reconnector<P> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.teardown();
        }
    }
}

/// A builder that was given its clock.
pub(crate) type Builder<P> = ClientServiceBuilder<RememberingFactory<P>, Rc<dyn ReactorTime>>;

/// Extra builder settings (Twisted's `**kw`, e.g. `prepareConnection`).
pub(crate) type Customize<P> = Box<dyn FnOnce(Builder<P>) -> Builder<P>>;

/// Options of `make_reconnector`, Twisted's keyword arguments.
pub(crate) struct Options<P: Protocol> {
    pub(crate) fire_immediately: bool,
    pub(crate) start_service: bool,
    pub(crate) refuse_connections: bool,
    pub(crate) make: Box<dyn Fn() -> P>,
    /// Extra builder settings (Twisted's `**kw`, e.g. `prepareConnection`).
    pub(crate) customize: Customize<P>,
}

impl<P: Protocol + Default> Default for Options<P> {
    fn default() -> Self {
        Options {
            fire_immediately: true,
            start_service: true,
            refuse_connections: false,
            make: Box::new(P::default),
            customize: Box::new(|b| b),
        }
    }
}

/// Twisted's `makeReconnector`: a ClientService on a fake endpoint and a
/// `Clock`, with the default (random-jitter) retry policy; started unless
/// told otherwise, hence already connected with the defaults.
pub(crate) fn make_reconnector<P: Protocol>(options: Options<P>) -> Reconnector<P> {
    let logs = LogCapture::strict();
    let clock = Clock::new();
    let endpoint = Rc::new(FakeClientEndpoint::new(options.fire_immediately));
    let info = endpoint.info();
    let factory = RememberingFactory {
        make: options.make,
        refuse: options.refuse_connections,
        application_protocols: RefCell::new(Vec::new()),
        ports: PortCounter::new(),
    };
    let builder = ClientService::builder(endpoint, factory).clock(Rc::new(clock.clone()));
    let service = (options.customize)(builder).build();
    if options.start_service {
        service.start_service();
    }
    Reconnector {
        info,
        service,
        clock,
        logs,
        torn_down: false,
    }
}

/// `make_reconnector` with `fire_immediately = false`.
pub(crate) fn pending_reconnector() -> Reconnector<Plain> {
    make_reconnector(Options {
        fire_immediately: false,
        ..Options::default()
    })
}
