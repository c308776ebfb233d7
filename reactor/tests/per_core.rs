//! `run_per_core` and `listen_tcp_reuse_port` over real loopback sockets
//! (127.0.0.1, ephemeral ports, every wait bounded).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use torsion_reactor::{
    run_per_core, Address, CoreFailure, CoreSetup, Factory, PerCoreError, Protocol, Reactor,
    ReactorCore, ReactorTcp, ReactorTimeExt, SetupError, TransportRef, DEFAULT_BACKLOG,
};

/// Every blocking wait of these tests gives up after this long.
const DEADLINE: Duration = Duration::from_secs(5);

/// Runs `f` on a thread of its own and fails the test if it takes longer
/// than [`DEADLINE`].
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// What the reactors saw, counted by each on its own thread.
#[derive(Default)]
struct Seen {
    /// Connections made, per reactor index.
    served: [AtomicUsize; 3],
    /// Connections made on a thread not named after their reactor.
    wrong_thread: AtomicUsize,
    /// Listening ports stopped (the factory's `do_stop`), per reactor.
    stopped: [AtomicBool; 3],
    /// `setup` calls that started.
    setups: AtomicUsize,
}

/// Echoes, and counts its connection in `seen` for reactor `index`.
struct CountingEcho {
    seen: Arc<Seen>,
    index: usize,
    transport: Option<TransportRef>,
}

impl Protocol for CountingEcho {
    fn connection_made(&mut self, transport: TransportRef) {
        self.seen.served[self.index].fetch_add(1, Ordering::SeqCst);
        let name = std::thread::current().name().map(str::to_string);
        if name != Some(format!("torsion-core-{}", self.index)) {
            self.seen.wrong_thread.fetch_add(1, Ordering::SeqCst);
        }
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
    }
}

/// Ignores what it gets: for tests that only listen.
struct Quiet;

impl Protocol for Quiet {
    fn data_received(&mut self, _data: &[u8]) {}
}

/// Listens with a factory of [`CountingEcho`] on port 0 (reactor 0's port
/// on the others).
fn listen_echo(core: &CoreSetup<'_>, seen: &Arc<Seen>) -> Result<(), SetupError> {
    seen.setups.fetch_add(1, Ordering::SeqCst);
    core.reactor().set_install_signal_handlers(false);
    let index = core.index();
    let (for_build, on_stop) = (seen.clone(), seen.clone());
    let factory = Factory::for_protocol(move || CountingEcho {
        seen: for_build.clone(),
        index,
        transport: None,
    })
    .on_stop(move || on_stop.stopped[index].store(true, Ordering::SeqCst));
    core.listen_tcp(0, Rc::new(factory), DEFAULT_BACKLOG, "127.0.0.1")?;
    Ok(())
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(DEADLINE))?;
    stream.set_write_timeout(Some(DEADLINE))?;
    Ok(stream)
}

#[test]
fn two_reactors_share_a_port_and_serve_every_connection() {
    const CONNECTIONS: usize = 64;
    let seen = Arc::new(Seen::default());
    let for_setup = seen.clone();
    let server = bounded("run_per_core", move || {
        run_per_core(2, move |core| listen_echo(core, &for_setup))
    })
    .expect("both reactors set up");
    assert_eq!(server.count(), 2);
    assert_eq!(server.thread_handles().len(), 2);
    let port = server.ports()[0];
    assert_ne!(port, 0);

    // All open at once, each answered on whichever reactor accepted it.
    let mut clients: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| connect(port).expect("connect"))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(format!("ping {i:03}").as_bytes()).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let mut echo = [0; 8];
        client
            .read_exact(&mut echo)
            .expect("echo within the deadline");
        assert_eq!(echo, *format!("ping {i:03}").as_bytes());
    }
    let served: Vec<usize> = seen
        .served
        .iter()
        .map(|n| n.load(Ordering::SeqCst))
        .collect();
    assert_eq!(served[0] + served[1], CONNECTIONS, "served: {served:?}");
    // The kernel hashes each connection to one socket: with 64, the chance
    // that one reactor gets none is 2^-63.
    assert!(
        served[0] > 0 && served[1] > 0,
        "not spread over both: {served:?}"
    );
    assert_eq!(seen.wrong_thread.load(Ordering::SeqCst), 0);

    bounded("stop_and_join", move || server.stop_and_join()).expect("clean stop");
    // Each reactor's stop closed its connections and its listening socket.
    for client in &mut clients {
        let mut rest = [0; 1];
        assert_eq!(client.read(&mut rest).expect("a clean close"), 0);
    }
    assert!(seen.stopped[0].load(Ordering::SeqCst) && seen.stopped[1].load(Ordering::SeqCst));
    assert_eq!(
        TcpStream::connect(("127.0.0.1", port))
            .map(drop)
            .unwrap_err()
            .kind(),
        io::ErrorKind::ConnectionRefused
    );
}

/// The one failure of a run that should have failed on one reactor.
fn only_failure(result: Result<torsion_reactor::PerCore, PerCoreError>) -> (usize, CoreFailure) {
    let error = result.expect_err("a setup failed");
    let message = error.to_string();
    let mut failures = error.failures;
    assert_eq!(failures.len(), 1, "{message}");
    failures.pop().unwrap()
}

#[test]
fn an_error_in_one_setup_is_reported_and_the_others_are_stopped() {
    let seen = Arc::new(Seen::default());
    let for_setup = seen.clone();
    let result = bounded("run_per_core", move || {
        run_per_core(3, move |core| {
            listen_echo(core, &for_setup)?;
            if core.index() == 2 {
                return Err("no database on this one".into());
            }
            Ok(())
        })
    });
    let (index, failure) = only_failure(result);
    assert_eq!(index, 2);
    assert!(
        matches!(&failure, CoreFailure::Setup(e) if e.to_string() == "no database on this one"),
        "{failure:?}"
    );
    assert_eq!(seen.setups.load(Ordering::SeqCst), 3);
    // Reactors 0 and 1 had set up; run_per_core stopped them before
    // returning, which stopped their listening ports.
    assert!(seen.stopped[0].load(Ordering::SeqCst));
    assert!(seen.stopped[1].load(Ordering::SeqCst));
}

#[test]
fn a_panic_in_setup_is_reported() {
    let result = bounded("run_per_core", || {
        run_per_core(2, |core| {
            core.reactor().set_install_signal_handlers(false);
            if core.index() == 1 {
                panic!("setup bug");
            }
            Ok(())
        })
    });
    let (index, failure) = only_failure(result);
    assert_eq!(index, 1);
    assert!(
        matches!(&failure, CoreFailure::Panicked(e) if e.message == "setup bug"),
        "{failure:?}"
    );
}

#[test]
fn when_reactor_zero_fails_the_others_do_not_set_up() {
    let seen = Arc::new(Seen::default());
    let for_setup = seen.clone();
    let result = bounded("run_per_core", move || {
        run_per_core(3, move |core| {
            for_setup.setups.fetch_add(1, Ordering::SeqCst);
            if core.index() == 0 {
                return Err("bad configuration".into());
            }
            Ok(())
        })
    });
    let (index, failure) = only_failure(result);
    assert_eq!(index, 0);
    assert!(matches!(failure, CoreFailure::Setup(_)), "{failure:?}");
    assert_eq!(seen.setups.load(Ordering::SeqCst), 1);
}

#[test]
fn port_zero_without_a_matching_call_on_reactor_zero_is_an_error() {
    let result = bounded("run_per_core", || {
        run_per_core(2, |core| {
            core.reactor().set_install_signal_handlers(false);
            let factory = Rc::new(Factory::for_protocol(|| Quiet));
            core.listen_tcp(0, factory.clone(), DEFAULT_BACKLOG, "127.0.0.1")?;
            if core.index() == 1 {
                // Reactor 0 made one call only: no port to join.
                core.listen_tcp(0, factory, DEFAULT_BACKLOG, "127.0.0.1")?;
            }
            Ok(())
        })
    });
    let (index, failure) = only_failure(result);
    assert_eq!(index, 1);
    let CoreFailure::Setup(error) = failure else {
        panic!("expected a setup failure, got {failure:?}");
    };
    let cannot = error
        .downcast_ref::<torsion_reactor::error::CannotListenError>()
        .expect("the CannotListenError from listen_tcp");
    assert_eq!(cannot.source.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn join_returns_once_every_reactor_stopped_itself() {
    let server = bounded("run_per_core", || {
        run_per_core(2, |core| {
            let reactor = core.reactor().clone();
            reactor.set_install_signal_handlers(false);
            let stopper = reactor.clone();
            drop(reactor.call_later(Duration::from_millis(20), move || {
                stopper.stop().expect("running");
            }));
            Ok(())
        })
    })
    .expect("set up");
    bounded("join", move || server.join()).expect("both ran and stopped cleanly");
}

#[test]
fn listen_tcp_reuse_port_shares_a_port_that_listen_tcp_cannot() {
    let reactor = Reactor::new().unwrap();
    let factory = Rc::new(Factory::for_protocol(|| Quiet));
    let first = reactor
        .listen_tcp_reuse_port(0, factory.clone(), DEFAULT_BACKLOG, "127.0.0.1")
        .unwrap();
    let Address::Tcp(addr) = first.host() else {
        panic!("not TCP: {}", first.host());
    };
    let second = reactor
        .listen_tcp_reuse_port(addr.port(), factory.clone(), DEFAULT_BACKLOG, "127.0.0.1")
        .expect("a second SO_REUSEPORT socket on the same port");
    assert_eq!(second.host(), first.host());
    let plain = reactor.listen_tcp(addr.port(), factory, DEFAULT_BACKLOG, "127.0.0.1");
    let error = plain.expect_err("a socket without SO_REUSEPORT cannot join");
    assert_eq!(error.source.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn thread_handles_reach_each_reactor_in_order() {
    let server = bounded("run_per_core", || {
        run_per_core(3, |core| {
            core.reactor().set_install_signal_handlers(false);
            Ok(())
        })
    })
    .expect("set up");
    let (names, ran_on) = mpsc::channel();
    for (index, handle) in server.thread_handles().iter().enumerate() {
        let names = names.clone();
        handle
            .call_from_thread(move || {
                let name = std::thread::current().name().map(str::to_string);
                let _ = names.send(name);
            })
            .expect("running");
        let name = ran_on.recv_timeout(DEADLINE).expect("the call ran");
        assert_eq!(name, Some(format!("torsion-core-{index}")));
    }
    bounded("stop_and_join", move || server.stop_and_join()).expect("clean stop");
}
