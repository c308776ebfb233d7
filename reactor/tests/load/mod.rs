//! Helpers shared by the load tests: raising the soft `RLIMIT_NOFILE`,
//! counting what the process has open (to catch a leak), and a listening
//! port for many connections at once.

use std::rc::Rc;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use torsion_reactor::{Factory, Protocol, Reactor, ReactorTcp};

/// Raises the soft descriptor limit to the hard one, which must allow
/// `needed`. A child process inherits the raised limit.
pub(crate) fn raise_nofile(needed: u64) {
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    assert!(
        hard.is_none_or(|hard| hard >= needed),
        "this test needs {needed} descriptors; the hard limit is {hard:?}"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    )
    .expect("setrlimit(RLIMIT_NOFILE)");
}

/// Descriptors this process has open.
pub(crate) fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Listens on 127.0.0.1 with `build`'s protocols, with a backlog for
/// `connections` (the kernel caps it at somaxconn; the reactor accepts
/// meanwhile); returns the port.
pub(crate) fn listen_for<P: Protocol + 'static>(
    reactor: &Reactor,
    connections: usize,
    build: impl Fn() -> P + 'static,
) -> u16 {
    reactor
        .listen_tcp(
            0,
            Rc::new(Factory::for_protocol(build)),
            u32::try_from(connections).unwrap(),
            "127.0.0.1",
        )
        .unwrap()
        .host()
        .port()
        .unwrap()
}
