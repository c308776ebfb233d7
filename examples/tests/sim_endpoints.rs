//! Endpoints on a simulated host, unchanged: `client_from_string` and
//! `server_from_string` descriptions, and a `HostnameEndpoint` whose
//! `NameResolver` asks the simulation; `ClientService` over them.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use torsion::endpoints::{client_from_string, server_from_string, HostnameEndpoint, NameResolver};
use torsion::error::DnsLookupError;
use torsion::{Deferred, Factory, Protocol, StreamClientEndpointExt, TransportRef};
use torsion_testing::sim::{SimHost, Simulation};
use torsion_testing::success_result_of;

/// Remembers what it heard; echoes it if the flag says so.
#[derive(Default)]
struct Echo(Option<TransportRef>, Rc<RefCell<Vec<u8>>>, bool);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: TransportRef) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.1.borrow_mut().extend_from_slice(data);
        if let (Some(transport), true) = (&self.0, self.2) {
            transport.write(data);
        }
    }
}

/// Names resolved by the simulation, as seen from one host.
struct SimResolver(SimHost);

impl NameResolver for SimResolver {
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>> {
        match self.0.resolve(host) {
            Some(ip) => Deferred::succeeded(vec![SocketAddr::new(ip, port)]),
            None => Deferred::failed(DnsLookupError {
                host: host.to_string(),
                source: None,
            }),
        }
    }
}

fn two_hosts() -> (Simulation, SimHost, Rc<RefCell<Vec<u8>>>) {
    let sim = Simulation::new(3);
    let app = sim.add_host("app").unwrap();
    let db = sim.add_host("db").unwrap();
    let heard = Rc::new(RefCell::new(Vec::new()));
    let seen = heard.clone();
    let server = server_from_string(db, "tcp:5432").unwrap();
    let port = server.listen_dyn(Rc::new(Factory::for_protocol(move || {
        Echo(None, seen.clone(), true)
    })));
    sim.run_for(Duration::ZERO);
    assert_eq!(success_result_of(&port).host().to_string(), "10.0.0.2:5432");
    (sim, app, heard)
}

#[test]
fn description_strings_resolve_inside_the_simulation() {
    let (sim, app, heard) = two_hosts();
    let endpoint = client_from_string(app, "tcp:host=db:port=5432:timeout=5").unwrap();
    let connected = endpoint.connect(Factory::for_protocol(Echo::default));
    sim.run_for(Duration::from_millis(10));
    let echo = success_result_of(&connected);
    let transport = echo.borrow().0.clone().unwrap();
    transport.write(b"via a description");
    sim.run_for(Duration::from_millis(10));
    assert_eq!(*heard.borrow(), b"via a description");
    assert_eq!(*echo.borrow().1.borrow(), b"via a description");
    assert_eq!(transport.peer().to_string(), "10.0.0.2:5432");
}

#[test]
fn hostname_endpoint_with_the_simulation_as_resolver() {
    let (sim, app, heard) = two_hosts();
    let resolver = Rc::new(SimResolver(app.clone()));
    let endpoint = HostnameEndpoint::with_resolver(app.clone(), resolver.clone(), "db", 5432);
    let connected = endpoint.connect(Factory::for_protocol(Echo::default));
    sim.run_for(Duration::from_millis(10));
    let echo = success_result_of(&connected);
    echo.borrow().0.clone().unwrap().write(b"by name");
    sim.run_for(Duration::from_millis(10));
    assert_eq!(*heard.borrow(), b"by name");

    let nowhere = HostnameEndpoint::with_resolver(app, resolver, "nowhere", 1);
    let failed = nowhere.connect(Factory::for_protocol(Echo::default));
    sim.run_for(Duration::from_millis(10));
    let failure = torsion_testing::failure_result_of(&failed);
    assert!(failure.error_message().contains("nowhere"), "{failure}");
}
