//! What the simulated stream tests share: a recording (optionally echoing,
//! optionally half-closeable) protocol, its factory, a connected pair of
//! hosts, and a factory that records failed connection attempts.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::ConnectionLost;
use torsion_reactor::{
    Connector, Factory, Failure, HalfCloseableProtocol, Protocol, ReactorTcp, ReactorTime,
    TransportRef,
};
use torsion_testing::sim::{Link, SimHost, Simulation};

pub(crate) const MS: Duration = Duration::from_millis(1);

/// What one end saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) made: Option<Duration>,
    pub(crate) data: Vec<u8>,
    pub(crate) arrivals: Vec<(Duration, usize)>,
    pub(crate) read_closed: bool,
    pub(crate) lost: Option<Failure>,
    pub(crate) transport: Option<TransportRef>,
}

pub(crate) type Shared = Rc<RefCell<Seen>>;

/// Records everything; echoes if `echo`; half-closeable if `half`.
pub(crate) struct Recorder {
    pub(crate) seen: Shared,
    pub(crate) clock: SimHost,
    pub(crate) echo: bool,
    pub(crate) half: bool,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: TransportRef) {
        let mut seen = self.seen.borrow_mut();
        seen.made = Some(self.clock.now());
        seen.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        let transport = {
            let mut seen = self.seen.borrow_mut();
            seen.data.extend_from_slice(data);
            seen.arrivals.push((self.clock.now(), data.len()));
            seen.transport.clone()
        };
        if self.echo {
            transport.expect("connected").write(data);
        }
    }
    fn connection_lost(&mut self, reason: Failure) {
        self.seen.borrow_mut().lost = Some(reason);
    }
    fn as_half_closeable(&mut self) -> Option<&mut dyn HalfCloseableProtocol> {
        if self.half {
            Some(self)
        } else {
            None
        }
    }
}

impl HalfCloseableProtocol for Recorder {
    fn read_connection_lost(&mut self) {
        self.seen.borrow_mut().read_closed = true;
    }
}

/// A factory of recorders sharing one `Seen` per connection, all kept.
pub(crate) fn recorders(
    host: &SimHost,
    echo: bool,
    half: bool,
) -> (Rc<Factory<Recorder>>, Rc<RefCell<Vec<Shared>>>) {
    let all: Rc<RefCell<Vec<Shared>>> = Rc::default();
    let (keep, clock) = (all.clone(), host.clone());
    let factory = Factory::for_protocol(move || {
        let seen = Shared::default();
        keep.borrow_mut().push(seen.clone());
        Recorder {
            seen,
            clock: clock.clone(),
            echo,
            half,
        }
    });
    (Rc::new(factory), all)
}

pub(crate) struct Pair {
    pub(crate) sim: Simulation,
    pub(crate) client: Shared,
    pub(crate) server: Rc<RefCell<Vec<Shared>>>,
    pub(crate) connector: Rc<dyn Connector>,
}

/// `app` connected to `db`:5432 over a 10 ms link; the server echoes or not.
pub(crate) fn connected(seed: u64, echo: bool, half: bool) -> Pair {
    let sim = Simulation::new(seed);
    let app = sim.add_host("app").unwrap();
    let db = sim.add_host("db").unwrap();
    sim.set_link("app", "db", Link::new(10 * MS)).unwrap();
    let (factory, server) = recorders(&db, echo, half);
    db.listen_tcp(5432, factory, 50, "").unwrap();
    let (factory, clients) = recorders(&app, false, half);
    let connector = app.connect_tcp("db", 5432, factory, Duration::from_secs(30), None);
    sim.run_for(20 * MS);
    let client = clients.borrow()[0].clone();
    Pair {
        sim,
        client,
        server,
        connector,
    }
}

pub(crate) fn write(seen: &Shared, data: &[u8]) {
    let transport = seen.borrow().transport.clone().expect("connected");
    transport.write(data);
}

pub(crate) fn transport(seen: &Shared) -> TransportRef {
    seen.borrow().transport.clone().expect("connected")
}

/// Whether `seen`'s connection was lost with an `E`.
pub(crate) fn lost_with<E: std::error::Error + 'static>(seen: &Shared) -> bool {
    seen.borrow().lost.as_ref().is_some_and(|f| f.check::<E>())
}

pub(crate) fn io_kind(failure: &Failure) -> Option<io::ErrorKind> {
    let lost = failure.downcast_ref::<ConnectionLost>()?;
    lost.source.as_ref().map(io::Error::kind)
}

pub(crate) type Failures = Rc<RefCell<Vec<(Duration, Failure)>>>;

pub(crate) struct Nothing;
impl Protocol for Nothing {
    fn data_received(&mut self, _: &[u8]) {}
}

/// Records `client_connection_failed` and when it came.
pub(crate) struct Failing(pub(crate) Failures, pub(crate) SimHost);
impl torsion_reactor::ProtocolFactory for Failing {
    type Protocol = Nothing;
    fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Nothing> {
        Some(Nothing)
    }
    fn client_connection_failed(&self, _: &dyn Connector, reason: Failure) {
        self.0.borrow_mut().push((self.1.now(), reason));
    }
}
