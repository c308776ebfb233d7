//! TLS on the simulated network (`torsion_testing::sim`): the same
//! description strings a server and a client use on the mio reactor
//! (`ssl:443:privateKey=...:certKey=...`, `tls:db:443:trustRoots=...`),
//! built on `SimHost`s. The handshake pays the simulated latency, a
//! partition stalls the encrypted stream without losing a byte, and the
//! host name checked is the simulated one.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_endpoints::{quote, EndpointRegistry};
use torsion_reactor::{Factory, StreamClientEndpointExt, StreamServerEndpointExt};
use torsion_testing::sim::{Link, SimHost, Simulation};
use torsion_testing::{success_result_of, AccumulatingProtocol};
use torsion_tls::{register_tls_endpoints, TlsError, TlsErrorKind};
use util::{pem_files, Echo, PemFiles};

fn registry(host: &SimHost) -> EndpointRegistry<SimHost> {
    let mut registry = EndpointRegistry::new(host.clone());
    register_tls_endpoints(&mut registry);
    registry
}

/// `db` serves TLS echo on 443 from a description string; returns the
/// client description `app` uses for it.
fn serve_tls(db: &SimHost, files: &PemFiles) -> String {
    let server = registry(db)
        .server_from_string(&format!(
            "ssl:443:privateKey={}:certKey={}",
            quote(&files.key, false),
            quote(&files.cert, false)
        ))
        .expect("server description");
    let listening = server.listen(Factory::for_protocol(Echo::default));
    success_result_of(&listening);
    format!(
        "tls:db:443:trustRoots={}",
        quote(&files.roots.0.to_string_lossy(), false)
    )
}

/// 64 KiB say and come back over TLS between two simulated hosts 20 ms
/// apart; a partition in the middle stalls the stream, nothing is lost,
/// and it completes after the repair. The session verified the name `db`.
#[test]
fn tls_echo_across_a_partition() {
    let sim = Simulation::new(7);
    let (app, db) = (sim.add_host("app").unwrap(), sim.add_host("db").unwrap());
    sim.set_link("app", "db", Link::new(Duration::from_millis(20)))
        .unwrap();
    let files = pem_files("sim CA", &["db"]);
    let client = registry(&app)
        .client_from_string(&serve_tls(&db, &files))
        .expect("client description");

    let payload: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let connected = client.connect(Factory::for_protocol(AccumulatingProtocol::new));
    sim.run_for(Duration::from_millis(100));
    let protocol: Rc<RefCell<AccumulatingProtocol>> = success_result_of(&connected);
    let transport = protocol.borrow().transport.clone().expect("connected");
    transport.write(&payload);

    sim.run_for(Duration::from_millis(30));
    sim.partition("app", "db").unwrap();
    let before = protocol.borrow().data.len();
    assert!(before < payload.len(), "all echoed before the partition");
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        protocol.borrow().data.len(),
        before,
        "data crossed a partition"
    );
    sim.repair("app", "db").unwrap();
    sim.run_for(Duration::from_secs(5));

    assert!(protocol.borrow().data == payload, "the echo differs");
    assert!(!protocol.borrow().closed);
    let tls = transport.as_tls().expect("TLS");
    assert!(tls.is_handshake_complete());
    assert_eq!(tls.server_name().as_deref(), Some("db"));
}

/// A certificate for another name fails the simulated client with
/// `WrongHostName`, as over real sockets.
#[test]
fn wrong_host_name_on_the_simulated_network() {
    let sim = Simulation::new(8);
    let (app, db) = (sim.add_host("app").unwrap(), sim.add_host("db").unwrap());
    let files = pem_files("sim CA", &["not-db.example"]);
    let client = registry(&app)
        .client_from_string(&serve_tls(&db, &files))
        .expect("client description");
    let connected = client.connect(Factory::for_protocol(AccumulatingProtocol::new));
    sim.run_for(Duration::from_secs(1));
    let protocol: Rc<RefCell<AccumulatingProtocol>> = success_result_of(&connected);
    let reason = protocol.borrow().closed_reason.clone().expect("closed");
    let error = reason.downcast_ref::<TlsError>().expect("a TlsError");
    assert_eq!(error.kind(), TlsErrorKind::WrongHostName, "{error}");
}
