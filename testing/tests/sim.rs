//! The simulated network (`torsion_testing::sim`): latency, bandwidth,
//! in-order delivery, partitions that stall then time out, refusal,
//! resets, half-close, crash and restart, hold and release, determinism.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::{ConnectionDone, ConnectionRefused, DnsLookupError, TimeoutError};
use torsion_reactor::{ConnectorState, ReactorTcp, ReactorTime, ReactorTimeExt, ReactorUnix};
use torsion_testing::sim::{FaultPlan, Link, Simulation};

mod sim_util;

use sim_util::*;

/// A connection takes a round trip; the server sees it after one way;
/// addresses are the hosts' simulated ones; data takes the link's latency.
#[test]
fn connect_by_name_with_latency() {
    let pair = connected(1, true, false);
    let server = pair.server.borrow()[0].clone();
    assert_eq!(server.borrow().made, Some(10 * MS));
    assert_eq!(pair.client.borrow().made, Some(20 * MS));
    assert_eq!(pair.connector.state(), ConnectorState::Connected);
    let client = transport(&pair.client);
    assert_eq!(client.peer().to_string(), "10.0.0.2:5432");
    assert_eq!(transport(&server).peer(), client.host());

    write(&pair.client, b"hello");
    pair.sim.run_for(9 * MS);
    assert!(server.borrow().data.is_empty());
    pair.sim.run_for(MS);
    assert_eq!(server.borrow().data, b"hello");
    pair.sim.run_for(10 * MS);
    assert_eq!(pair.client.borrow().data, b"hello");
    assert_eq!(pair.client.borrow().arrivals, vec![(40 * MS, 5)]);
}

/// Nothing listens: refused after a round trip; an unknown name fails
/// its lookup.
#[test]
fn refused_and_unknown_host() {
    let sim = Simulation::new(2);
    let app = sim.add_host("app").unwrap();
    sim.add_host("db").unwrap();
    let failures: Failures = Rc::default();
    let factory = Rc::new(Failing(failures.clone(), app.clone()));
    app.connect_tcp("db", 1, factory.clone(), Duration::from_secs(30), None);
    app.connect_tcp("nowhere", 1, factory, Duration::from_secs(30), None);
    sim.run_for(Duration::from_secs(1));
    let failures = failures.borrow();
    assert_eq!(failures.len(), 2);
    assert!(failures[0].1.check::<DnsLookupError>());
    assert_eq!(failures[0].0, Duration::ZERO);
    assert!(failures[1].1.check::<ConnectionRefused>());
    assert_eq!(failures[1].0, 2 * MS); // the default 1 ms link, both ways
}

/// A partition stalls the stream: nothing is lost, everything arrives in
/// order after the repair.
#[test]
fn partition_stalls_then_delivers_in_order() {
    let pair = connected(3, false, false);
    let server = pair.server.borrow()[0].clone();
    write(&pair.client, b"one ");
    pair.sim.run_for(5 * MS); // "one" is on the wire
    pair.sim.partition("app", "db").unwrap();
    write(&pair.client, b"two ");
    pair.sim.run_for(Duration::from_secs(60));
    assert!(server.borrow().data.is_empty());
    assert!(pair.client.borrow().lost.is_none());
    write(&pair.client, b"three");
    pair.sim.repair("app", "db").unwrap();
    pair.sim.run_for(Duration::from_secs(1));
    assert_eq!(server.borrow().data, b"one two three");
    assert!(server.borrow().lost.is_none());
}

/// A sender that cannot reach its peer for the TCP time-out loses the
/// connection (timed out); the idle peer notices nothing until it sends.
#[test]
fn unreachable_peer_times_out() {
    let pair = connected(4, false, false);
    pair.sim.set_tcp_timeout(Duration::from_secs(100));
    let server = pair.server.borrow()[0].clone();
    pair.sim.partition("app", "db").unwrap();
    write(&pair.client, b"lost in the partition");
    pair.sim.run_for(Duration::from_secs(99));
    assert!(pair.client.borrow().lost.is_none());
    pair.sim.run_for(Duration::from_secs(2));
    let lost = pair.client.borrow().lost.clone().expect("timed out");
    assert_eq!(io_kind(&lost), Some(io::ErrorKind::TimedOut));
    assert_eq!(pair.connector.state(), ConnectorState::Disconnected);
    assert!(server.borrow().lost.is_none());
    // After the repair the server's next write meets a reset.
    pair.sim.repair("app", "db").unwrap();
    write(&server, b"anyone?");
    pair.sim.run_for(Duration::from_secs(1));
    let lost = server.borrow().lost.clone().expect("reset");
    assert_eq!(io_kind(&lost), Some(io::ErrorKind::ConnectionReset));
}

/// A SYN into a partition is retried until the connect time-out.
#[test]
fn connect_into_partition_times_out_or_succeeds_after_repair() {
    let sim = Simulation::new(5);
    let app = sim.add_host("app").unwrap();
    let db = sim.add_host("db").unwrap();
    let (factory, server) = recorders(&db, false, false);
    db.listen_tcp(80, factory, 50, "").unwrap();
    sim.partition("app", "db").unwrap();
    let failures: Failures = Rc::default();
    let failing = Rc::new(Failing(failures.clone(), app.clone()));
    let connector = app.connect_tcp("db", 80, failing, Duration::from_secs(10), None);
    sim.run_for(Duration::from_secs(11));
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert!(server.borrow().is_empty());
    assert_eq!(failures.borrow().len(), 1);
    assert_eq!(failures.borrow()[0].0, Duration::from_secs(10));
    assert!(failures.borrow()[0].1.check::<TimeoutError>());

    let (factory, clients) = recorders(&app, false, false);

    let connector = app.connect_tcp("db", 80, factory, Duration::from_secs(10), None);
    sim.run_for(Duration::from_secs(3));
    sim.repair("app", "db").unwrap();
    sim.run_for(Duration::from_secs(2));
    assert_eq!(connector.state(), ConnectorState::Connected);
    assert_eq!(clients.borrow().len(), 1);
}

/// `abort_connection` resets the peer; `lose_connection` ends it cleanly.
#[test]
fn abort_resets_and_lose_connection_closes_cleanly() {
    let pair = connected(6, false, false);
    let server = pair.server.borrow()[0].clone();
    transport(&pair.client).abort_connection();
    pair.sim.run_for(20 * MS);
    assert!(lost_with::<torsion_reactor::error::ConnectionAborted>(
        &pair.client
    ));
    let lost = server.borrow().lost.clone().expect("reset");
    assert_eq!(io_kind(&lost), Some(io::ErrorKind::ConnectionReset));

    let pair = connected(6, false, false);
    let server = pair.server.borrow()[0].clone();
    write(&pair.client, b"bye");
    transport(&pair.client).lose_connection();
    pair.sim.run_for(20 * MS);
    assert_eq!(server.borrow().data, b"bye");
    assert!(lost_with::<ConnectionDone>(&server));
    assert!(lost_with::<ConnectionDone>(&pair.client));
}

/// Half-close: the peer reads to the end, answers, then closes.
#[test]
fn half_close() {
    let pair = connected(7, false, true);
    let server = pair.server.borrow()[0].clone();
    write(&pair.client, b"request");
    transport(&pair.client).lose_write_connection();
    pair.sim.run_for(20 * MS);
    assert_eq!(server.borrow().data, b"request");
    assert!(server.borrow().read_closed);
    assert!(pair.client.borrow().lost.is_none());
    write(&server, b"response");
    transport(&server).lose_connection();
    pair.sim.run_for(20 * MS);
    assert_eq!(pair.client.borrow().data, b"response");
    assert!(pair.client.borrow().read_closed);
    assert!(lost_with::<ConnectionDone>(&pair.client));
    assert!(lost_with::<ConnectionDone>(&server));
}

/// A crash resets the host's connections, cancels its timers and closes
/// its listeners (refused); a restart sets it up again.
#[test]
fn crash_and_restart() {
    let pair = connected(8, true, false);
    let db = pair.sim.host("db").unwrap();
    let fired = Rc::new(RefCell::new(false));
    let flag = fired.clone();
    db.call_later(Duration::from_secs(1), move || *flag.borrow_mut() = true);
    pair.sim.crash("db").unwrap();
    pair.sim.run_for(Duration::from_secs(2));
    assert!(!*fired.borrow());
    assert!(db.delayed_calls().is_empty());
    let lost = pair.client.borrow().lost.clone().expect("reset");
    assert_eq!(io_kind(&lost), Some(io::ErrorKind::ConnectionReset));
    let server = pair.server.borrow()[0].clone();
    assert!(server.borrow().lost.is_none()); // the dead process hears nothing

    pair.connector.connect();
    pair.sim.run_for(Duration::from_secs(1));
    assert_eq!(pair.connector.state(), ConnectorState::Disconnected);
    assert!(pair
        .sim
        .trace()
        .iter()
        .any(|l| l.contains("connection refused")));

    let (factory, fresh) = recorders(&db, true, false);
    pair.sim
        .restart("db", move |db| {
            db.listen_tcp(5432, factory, 50, "").unwrap();
        })
        .unwrap();
    pair.connector.connect();
    pair.sim.run_for(Duration::from_secs(1));
    assert_eq!(pair.connector.state(), ConnectorState::Connected);
    assert_eq!(fresh.borrow().len(), 1);
}

/// A held link waits with no time-out; release delivers.
#[test]
fn hold_and_release() {
    let pair = connected(9, false, false);
    pair.sim.set_tcp_timeout(Duration::from_secs(10));
    let server = pair.server.borrow()[0].clone();
    pair.sim.hold("app", "db").unwrap();
    write(&pair.client, b"waiting");
    pair.sim.run_for(Duration::from_secs(60));
    assert!(server.borrow().data.is_empty());
    assert!(pair.client.borrow().lost.is_none());
    pair.sim.release("app", "db").unwrap();
    pair.sim.run_for(Duration::from_secs(1));
    assert_eq!(server.borrow().data, b"waiting");
}

/// Bandwidth: 100 kB over a 10 kB/s link takes ten seconds.
#[test]
fn bandwidth_limits_throughput() {
    let pair = connected(10, false, false);
    pair.sim
        .set_link("app", "db", Link::new(10 * MS).bandwidth(10_000))
        .unwrap();
    let server = pair.server.borrow()[0].clone();
    for _ in 0..10 {
        write(&pair.client, &[7u8; 10_000]);
        pair.sim.run_for(MS);
    }
    pair.sim.run_for(Duration::from_secs(9));
    assert!(server.borrow().data.len() < 100_000);
    pair.sim.run_for(Duration::from_secs(2));
    assert_eq!(server.borrow().data.len(), 100_000);
    let last = server.borrow().arrivals.last().unwrap().0;
    assert!(last >= Duration::from_secs(10), "{last:?}");
}

/// UNIX sockets connect on the same host.
#[test]
fn unix_sockets_are_host_local() {
    let sim = Simulation::new(11);
    let app = sim.add_host("app").unwrap();
    let (factory, server) = recorders(&app, true, false);
    app.listen_unix("/run/app.sock".as_ref(), factory, 50, 0o600)
        .unwrap();
    let (factory, clients) = recorders(&app, false, false);
    app.connect_unix("/run/app.sock".as_ref(), factory, Duration::from_secs(1));
    sim.run_for(MS);
    write(&clients.borrow()[0], b"local");
    sim.run_for(MS);
    assert_eq!(server.borrow()[0].borrow().data, b"local");
    assert_eq!(clients.borrow()[0].borrow().data, b"local");
    assert!(transport(&clients.borrow()[0]).as_tcp().is_none());
}

/// A scenario with jitter and a seeded fault schedule.
fn scenario(seed: u64) -> Vec<String> {
    Simulation::run_seed(seed, |sim| {
        sim.set_default_link(Link::new(5 * MS).jitter(20 * MS));
        let db = sim.add_host("db").unwrap();
        let (factory, _server) = recorders(&db, true, false);
        db.listen_tcp(5432, factory, 50, "").unwrap();
        let mut all = Vec::new();
        for i in 0..3 {
            let app = sim.add_host(&format!("app{i}")).unwrap();
            let (factory, clients) = recorders(&app, false, false);
            app.connect_tcp("db", 5432, factory, Duration::from_secs(5), None);
            all.push(clients);
        }
        sim.schedule_faults(
            FaultPlan::new(Duration::from_secs(60))
                .partitions(&[("app0", "db"), ("app1", "db")])
                .gaps(Duration::from_secs(1), Duration::from_secs(5))
                .outages(Duration::from_millis(100), Duration::from_secs(2)),
        )
        .unwrap();
        for tick in 0..600u32 {
            for clients in &all {
                if let Some(c) = clients.borrow().first() {
                    if c.borrow().lost.is_none() {
                        write(c, format!("{tick};").as_bytes());
                    }
                }
            }
            sim.run_for(Duration::from_millis(100));
        }
        sim.trace()
    })
}

/// The same seed gives the same trace; another seed another.
#[test]
fn same_seed_same_trace() {
    let (a, b, c) = (scenario(77), scenario(77), scenario(78));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().any(|l| l.contains("fault: partition")));
}

/// Counts pauses and resumes.
#[derive(Default)]
struct Pushy {
    pauses: std::cell::Cell<u32>,
    resumes: std::cell::Cell<u32>,
}

impl torsion_reactor::Producer for Pushy {
    fn stop_producing(&self) {}
}

impl torsion_reactor::PushProducer for Pushy {
    fn pause_producing(&self) {
        self.pauses.set(self.pauses.get() + 1);
    }
    fn resume_producing(&self) {
        self.resumes.set(self.resumes.get() + 1);
    }
}

/// Past the window, bytes wait in the sender's buffer: a streaming
/// producer is paused at the high-water mark and resumed once the slow
/// link drained it; a megabyte arrives whole and in order.
#[test]
fn slow_link_pauses_a_streaming_producer() {
    let pair = connected(13, false, false);
    pair.sim
        .set_link("app", "db", Link::new(10 * MS).bandwidth(100_000))
        .unwrap();
    let server = pair.server.borrow()[0].clone();
    let producer = Rc::new(Pushy::default());
    let client = transport(&pair.client);
    client
        .register_producer(torsion_reactor::ProducerRef::Push(producer.clone()))
        .unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    client.write(&data);
    assert_eq!(producer.pauses.get(), 1);
    pair.sim.run_for(Duration::from_secs(5));
    assert_eq!(producer.resumes.get(), 0, "1 MB at 100 kB/s takes 10 s");
    pair.sim.run_for(Duration::from_secs(6));
    assert_eq!(producer.resumes.get(), 1);
    assert_eq!(server.borrow().data, data);
}

/// A partition cut during the handshake holds the SYN-ACK back; the
/// connection completes after the repair if the connector still waits.
#[test]
fn partition_during_handshake() {
    let sim = Simulation::new(14);
    let app = sim.add_host("app").unwrap();
    let db = sim.add_host("db").unwrap();
    sim.set_link("app", "db", Link::new(10 * MS)).unwrap();
    let (factory, server) = recorders(&db, false, false);
    db.listen_tcp(80, factory, 50, "").unwrap();
    let (factory, clients) = recorders(&app, false, false);
    let connector = app.connect_tcp("db", 80, factory, Duration::from_secs(10), None);
    sim.run_for(15 * MS); // the server accepted; the SYN-ACK is on its way
    assert_eq!(server.borrow().len(), 1);
    sim.partition("app", "db").unwrap();
    sim.run_for(Duration::from_secs(3));
    assert_eq!(connector.state(), ConnectorState::Connecting);
    sim.repair("app", "db").unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(connector.state(), ConnectorState::Connected);
    assert_eq!(clients.borrow().len(), 1);
}

/// The simulation holds open connections as a reactor does: a client
/// whose connector was dropped and whose protocol keeps no transport still
/// gets what the server sends, and its factory hears of the end (the
/// connection keeps its connector, as Twisted's transport does).
#[test]
fn dropped_connector_and_unkept_transport() {
    #[derive(Clone, Default)]
    struct Heard(Rc<RefCell<(Vec<u8>, Vec<&'static str>)>>);
    struct Sink(Heard);
    impl torsion_reactor::Protocol for Sink {
        fn data_received(&mut self, data: &[u8]) {
            (self.0).0.borrow_mut().0.extend_from_slice(data);
        }
    }
    impl torsion_reactor::ProtocolFactory for Heard {
        type Protocol = Sink;
        fn build_protocol(&self, _: &torsion_reactor::Address) -> Option<Sink> {
            Some(Sink(self.clone()))
        }
        fn client_connection_lost(
            &self,
            _: &dyn torsion_reactor::Connector,
            _: torsion_reactor::Failure,
        ) {
            self.0.borrow_mut().1.push("lost");
        }
        fn do_stop(&self) {
            self.0.borrow_mut().1.push("stop");
        }
    }
    struct Greeter;
    impl torsion_reactor::Protocol for Greeter {
        fn connection_made(&mut self, transport: torsion_reactor::TransportRef) {
            transport.write(b"hello");
            transport.lose_connection();
        }
        fn data_received(&mut self, _: &[u8]) {}
    }
    let sim = Simulation::new(21);
    let app = sim.add_host("app").unwrap();
    let db = sim.add_host("db").unwrap();
    db.listen_tcp(
        80,
        Rc::new(torsion_reactor::Factory::for_protocol(|| Greeter)),
        50,
        "",
    )
    .unwrap();
    let heard = Heard::default();
    drop(app.connect_tcp(
        "db",
        80,
        Rc::new(heard.clone()),
        Duration::from_secs(5),
        None,
    ));
    sim.run_for(Duration::from_secs(1));
    let heard = heard.0.borrow();
    assert_eq!(heard.0, b"hello");
    assert_eq!(heard.1, ["lost", "stop"]);
}
