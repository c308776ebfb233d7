//! What the ports of Twisted's TCP address and port tests share
//! (`tcp_twisted_addresses.rs`, `tcp_twisted_ports.rs`): Twisted's
//! `RememberingWrapper` (a factory recording the addresses passed to
//! `buildProtocol`, `MyProtocolFactoryMixin.peerAddresses`), `findFreePort`,
//! the IPv6 and link-local address checks, and running a test alone in a
//! child process (for the ones that exhaust the process's descriptors).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Instant;

use torsion_reactor::{Address, Connector, Failure, ProtocolFactory};

use crate::tcp_twisted_conn_util::DEADLINE;

/// Twisted's `RememberingWrapper`: records the addresses passed to
/// `build_protocol`, and hands everything to the factory it wraps.
pub(crate) struct Remembering<F> {
    pub(crate) addresses: RefCell<Vec<Address>>,
    pub(crate) factory: Rc<F>,
}

impl<F> Remembering<F> {
    pub(crate) fn new(factory: &Rc<F>) -> Rc<Remembering<F>> {
        Rc::new(Remembering {
            addresses: RefCell::default(),
            factory: factory.clone(),
        })
    }

    pub(crate) fn addresses(&self) -> Vec<Address> {
        self.addresses.borrow().clone()
    }
}

impl<F: ProtocolFactory> ProtocolFactory for Remembering<F> {
    type Protocol = F::Protocol;

    fn build_protocol(&self, addr: &Address) -> Option<F::Protocol> {
        self.addresses.borrow_mut().push(addr.clone());
        self.factory.build_protocol(addr)
    }

    fn do_start(&self) {
        self.factory.do_start();
    }

    fn do_stop(&self) {
        self.factory.do_stop();
    }

    fn started_connecting(&self, connector: &dyn Connector) {
        self.factory.started_connecting(connector);
    }

    fn client_connection_failed(&self, connector: &dyn Connector, reason: Failure) {
        self.factory.client_connection_failed(connector, reason);
    }

    fn client_connection_lost(&self, connector: &dyn Connector, reason: Failure) {
        self.factory.client_connection_lost(connector, reason);
    }
}

/// Twisted's `findFreePort`: an address on `ip` with a port nobody listens
/// on (bound at port 0, then closed).
pub(crate) fn free_port(ip: &str) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("bind port 0");
    listener.local_addr().unwrap()
}

/// Fails the test clearly when this machine cannot listen on `::1`
/// (Twisted skips its IPv6 tests then; the brief says IPv6 is available).
pub(crate) fn require_ipv6() {
    if let Err(e) = TcpListener::bind("[::1]:0") {
        panic!("IPv6 loopback unavailable on this machine (bind [::1]:0: {e})");
    }
}

const CHILD: &str = "TORSION_TCP_TWISTED_CHILD";

/// Runs `body` in a child process that runs only the test `name` of this
/// binary (so that it may lower the process's descriptor limit without
/// touching the tests running beside it); the parent fails unless the
/// child's test ran and passed within [`DEADLINE`].
pub(crate) fn in_child(name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD).is_ok_and(|child| child == name) {
        body();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary again");
    let readers = [drain(child.stdout.take()), drain(child.stderr.take())];
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child running {name} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output: String = readers.map(|r| r.join().unwrap()).concat();
    assert!(status.success(), "{name} failed in its child:\n{output}");
    assert!(
        output.contains("test result: ok. 1 passed"),
        "{name} did not run in its child:\n{output}"
    );
}

/// Reads a child's pipe to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    let mut pipe = pipe.expect("piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
