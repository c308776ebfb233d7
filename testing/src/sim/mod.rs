//! A simulated network: whole applications on many hosts, one fake clock,
//! faults, one seed.
//!
//! A [`Simulation`] holds named hosts; each [`SimHost`] is a reactor (time,
//! TCP, UDP, UNIX, core) for the very code that runs on the mio reactor:
//! services, `ClientService`, endpoints built from description strings
//! (`tcp:host=db:port=5432` resolves `db` inside the simulation),
//! protocols. Links have latency, jitter, bandwidth and a datagram loss
//! rate; streams keep TCP's promises, datagrams UDP's (late, reordered,
//! lost or refused, never resent; multicast groups span hosts); the test
//! (or a seeded [`FaultPlan`]) partitions, repairs,
//! holds, releases, crashes and restarts. Simulated minutes take
//! milliseconds, and one `u64` seed fixes the whole run and its trace.
//!
//! # Example
//!
//! Two hosts: `db` echoes; `app` says `ping` and a partition holds it up.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//! use torsion_reactor::{Factory, Protocol, ReactorTcp, TransportRef};
//! use torsion_testing::sim::{Link, Simulation};
//!
//! /// Says `ping` on connecting if a client; echoes if a server; keeps what it heard.
//! struct Peer { client: bool, heard: Rc<RefCell<Vec<u8>>>, transport: Option<TransportRef> }
//! impl Protocol for Peer {
//!     fn connection_made(&mut self, transport: TransportRef) {
//!         if self.client { transport.write(b"ping") }
//!         self.transport = Some(transport);
//!     }
//!     fn data_received(&mut self, data: &[u8]) {
//!         self.heard.borrow_mut().extend_from_slice(data);
//!         if !self.client { self.transport.as_ref().expect("connected").write(data) }
//!     }
//! }
//!
//! let sim = Simulation::new(42); // the seed fixes every random choice
//! let (app, db) = (sim.add_host("app")?, sim.add_host("db")?);
//! sim.set_link("app", "db", Link::new(Duration::from_millis(20)))?;
//! let server = Factory::for_protocol(|| Peer { client: false, heard: Rc::default(), transport: None });
//! db.listen_tcp(5432, Rc::new(server), 50, "")?;
//! let heard = Rc::new(RefCell::new(Vec::new()));
//! let seen = heard.clone();
//! let client = Factory::for_protocol(move || Peer { client: true, heard: seen.clone(), transport: None });
//! app.connect_tcp("db", 5432, Rc::new(client), Duration::from_secs(30), None);
//!
//! sim.run_for(Duration::from_millis(45)); // connected at 40 ms; "ping" on the wire
//! sim.partition("app", "db")?;
//! sim.run_for(Duration::from_secs(10)); // the stream stalls: nothing lost
//! assert!(heard.borrow().is_empty());
//! sim.repair("app", "db")?;
//! sim.run_for(Duration::from_millis(40)); // resent, echoed: one round trip
//! assert_eq!(*heard.borrow(), b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Twisted
//!
//! Twisted's `iosim` pumps one client and one server; this is `iosim`
//! grown into a network, with the fault model of a real one (a partition
//! stalls a stream rather than refusing it).

mod connector;
mod datagram;
mod error;
mod faults;
mod host;
mod network;
mod rng;
mod simulation;
mod stream;

pub use error::SimError;
pub use faults::{FaultPlan, Setup};
pub use host::SimHost;
pub use network::{Link, DEFAULT_TCP_TIMEOUT};
pub use rng::SimRng;
pub use simulation::Simulation;
pub use stream::WINDOW;
