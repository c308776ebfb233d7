//! The mio reactor over UNIX sockets in a private temporary directory.

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{CannotListenError, ConnectionRefused};
use torsion_reactor::{
    Address, Connector, Factory, Failure, Protocol, ProtocolFactory, Reactor, ReactorUnix,
    TransportRef, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT, DEFAULT_UNIX_MODE,
};

/// A directory of its own for each test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("torsion-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_until(reactor: &Reactor, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(20))).unwrap();
    }
}

#[derive(Default)]
struct Echo(Option<TransportRef>);
impl Protocol for Echo {
    fn connection_made(&mut self, t: TransportRef) {
        self.0 = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data);
    }
}

struct Client {
    seen: Rc<RefCell<Vec<u8>>>,
    peer: Rc<RefCell<Option<Address>>>,
}
impl Protocol for Client {
    fn connection_made(&mut self, t: TransportRef) {
        *self.peer.borrow_mut() = Some(t.peer());
        assert!(t.as_tcp().is_none(), "a UNIX transport has no TCP options");
        t.write(b"over a unix socket");
    }
    fn data_received(&mut self, data: &[u8]) {
        self.seen.borrow_mut().extend_from_slice(data);
    }
}

fn echo() -> Rc<Factory<Echo>> {
    Rc::new(Factory::for_protocol(Echo::default))
}

#[test]
fn echo_over_a_unix_socket() {
    let dir = TempDir::new("echo");
    let path = dir.0.join("echo.sock");
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_unix(&path, echo(), DEFAULT_BACKLOG, 0o600)
        .unwrap();
    assert_eq!(port.host(), Address::Unix(Some(path.clone())));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (seen, peer) = (
        Rc::new(RefCell::new(Vec::new())),
        Rc::new(RefCell::new(None)),
    );
    let (s, p) = (seen.clone(), peer.clone());
    reactor.connect_unix(
        &path,
        Rc::new(Factory::for_protocol(move || Client {
            seen: s.clone(),
            peer: p.clone(),
        })),
        DEFAULT_CONNECT_TIMEOUT,
    );
    run_until(&reactor, "the echo", || seen.borrow().len() == 18);
    assert_eq!(&*seen.borrow(), b"over a unix socket");
    assert_eq!(*peer.borrow(), Some(Address::Unix(Some(path.clone()))));
    drop(port.stop_listening());
    assert!(
        !path.exists(),
        "the socket file is removed when the port stops"
    );
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = TempDir::new("stale");
    let path = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // leaves the file, nobody listening
    assert!(path.exists());
    let reactor = Reactor::new().unwrap();
    reactor
        .listen_unix(&path, echo(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
        .unwrap();
}

#[test]
fn a_live_socket_or_another_file_is_not_touched() {
    let dir = TempDir::new("live");
    let live = dir.0.join("live.sock");
    let _listening = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let reactor = Reactor::new().unwrap();
    let refused: CannotListenError = reactor.listen_unix(&live, echo(), 50, 0o666).err().unwrap();
    assert!(refused.to_string().contains("live.sock"), "{refused}");
    assert!(live.exists());

    let plain = dir.0.join("plain.txt");
    std::fs::write(&plain, b"keep me").unwrap();
    let refused = reactor
        .listen_unix(&plain, echo(), 50, 0o666)
        .err()
        .unwrap();
    assert!(std::error::Error::source(&refused)
        .unwrap()
        .to_string()
        .contains("not a socket"));
    assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");
}

#[test]
fn connecting_to_a_missing_path_is_refused() {
    struct Failing(Rc<RefCell<Option<Failure>>>);
    impl ProtocolFactory for Failing {
        type Protocol = Echo;
        fn build_protocol(&self, _: &Address) -> Option<Echo> {
            Some(Echo::default())
        }
        fn client_connection_failed(&self, _: &dyn Connector, reason: Failure) {
            *self.0.borrow_mut() = Some(reason);
        }
    }
    let dir = TempDir::new("missing");
    let reactor = Reactor::new().unwrap();
    let failed = Rc::new(RefCell::new(None));
    reactor.connect_unix(
        &dir.0.join("nobody.sock"),
        Rc::new(Failing(failed.clone())),
        DEFAULT_CONNECT_TIMEOUT,
    );
    run_until(&reactor, "the refusal", || failed.borrow().is_some());
    assert!(failed
        .borrow()
        .as_ref()
        .unwrap()
        .check::<ConnectionRefused>());
}

/// A descriptor sent with `send_file_descriptor` reaches a protocol with the
/// file-descriptor-receiver capability, before the byte it came with, and
/// is a working descriptor (here: the write end of a pipe we read back).
#[test]
fn passing_a_file_descriptor() {
    pass_descriptors(1, b"x");
}

/// 600 descriptors queued before ten bytes all arrive: they go out in
/// messages of at most 64 (a message of more than 253 is refused by the
/// kernel, and a receiver with room for fewer loses the rest), one message
/// per byte while more wait (Twisted sends one per byte).
#[test]
fn passing_many_file_descriptors() {
    pass_descriptors(600, b"0123456789");
}

/// Sends `count` copies of a pipe's write end, then `bytes`; checks every
/// copy arrives before the bytes and works.
fn pass_descriptors(count: usize, bytes: &'static [u8]) {
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use torsion_reactor::FileDescriptorReceiver;

    #[derive(Default)]
    struct Receiver {
        events: Rc<RefCell<Vec<String>>>,
        fds: Rc<RefCell<Vec<OwnedFd>>>,
    }
    impl Protocol for Receiver {
        fn data_received(&mut self, data: &[u8]) {
            self.events
                .borrow_mut()
                .push(format!("data {}", String::from_utf8_lossy(data)));
        }
        fn as_file_descriptor_receiver(&mut self) -> Option<&mut dyn FileDescriptorReceiver> {
            Some(self)
        }
    }
    impl FileDescriptorReceiver for Receiver {
        fn file_descriptor_received(&mut self, descriptor: OwnedFd) {
            self.events.borrow_mut().push("fd".to_string());
            self.fds.borrow_mut().push(descriptor);
        }
    }
    struct Sender(Rc<RefCell<Option<OwnedFd>>>, usize, &'static [u8]);
    impl Protocol for Sender {
        fn connection_made(&mut self, t: TransportRef) {
            let unix = t.as_unix().expect("a UNIX transport passes descriptors");
            let fd = self.0.borrow_mut().take().unwrap();
            for _ in 1..self.1 {
                unix.send_file_descriptor(fd.try_clone().unwrap()).unwrap();
            }
            unix.send_file_descriptor(fd).unwrap();
            t.write(self.2);
        }
        fn data_received(&mut self, _: &[u8]) {}
    }

    let dir = TempDir::new(&format!("fds-{count}"));
    let path = dir.0.join("fds.sock");
    let (events, fds) = (
        Rc::new(RefCell::new(Vec::new())),
        Rc::new(RefCell::new(Vec::new())),
    );
    let (e, f) = (events.clone(), fds.clone());
    let reactor = Reactor::new().unwrap();
    reactor
        .listen_unix(
            &path,
            Rc::new(Factory::for_protocol(move || Receiver {
                events: e.clone(),
                fds: f.clone(),
            })),
            DEFAULT_BACKLOG,
            0o600,
        )
        .unwrap();
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let mut read_end = std::fs::File::from(read_end);
    let to_send = Rc::new(RefCell::new(Some(write_end)));
    let s = to_send.clone();
    reactor.connect_unix(
        &path,
        Rc::new(Factory::for_protocol(move || {
            Sender(s.clone(), count, bytes)
        })),
        DEFAULT_CONNECT_TIMEOUT,
    );
    run_until(&reactor, "the descriptors and the bytes", || {
        fds.borrow().len() == count
            && events
                .borrow()
                .iter()
                .filter_map(|e| e.strip_prefix("data "))
                .collect::<String>()
                .len()
                == bytes.len()
    });
    let events = events.borrow();
    assert_eq!(events.first().map(String::as_str), Some("fd"));
    let data: String = events
        .iter()
        .filter_map(|e| e.strip_prefix("data "))
        .collect();
    assert_eq!(data.as_bytes(), bytes);
    assert_eq!(fds.borrow().len(), count);
    let received = fds.borrow_mut().pop().unwrap();
    fds.borrow_mut().clear();
    let mut pipe = std::fs::File::from(received);
    pipe.write_all(b"through the passed descriptor").unwrap();
    drop(pipe);
    let mut text = String::new();
    read_end.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the passed descriptor");
}

/// A streaming producer paused for more than 64 queued descriptors is
/// resumed once they went out, also when they all went straight out with
/// the bytes written after them (nothing waited in the byte buffer, so no
/// flush of it could resume it): 65 descriptors and one byte, then, on
/// resume, the byte for the last descriptor.
#[test]
fn a_producer_paused_for_queued_descriptors_resumes() {
    use std::cell::Cell;
    use std::io::Read;
    use torsion_reactor::{Producer, ProducerRef, PushProducer};

    #[derive(Default)]
    struct Counts {
        pauses: Cell<u32>,
        resumes: Cell<u32>,
        transport: RefCell<Option<TransportRef>>,
    }
    impl Producer for Counts {
        fn stop_producing(&self) {}
    }
    impl PushProducer for Counts {
        fn pause_producing(&self) {
            self.pauses.set(self.pauses.get() + 1);
        }
        fn resume_producing(&self) {
            self.resumes.set(self.resumes.get() + 1);
            if let Some(t) = self.transport.borrow().clone() {
                t.write(b"b");
                t.unregister_producer().unwrap();
                t.lose_connection();
            }
        }
    }
    struct Sender(Rc<Counts>);
    impl Protocol for Sender {
        fn connection_made(&mut self, t: TransportRef) {
            *self.0.transport.borrow_mut() = Some(t.clone());
            t.register_producer(ProducerRef::Push(self.0.clone()))
                .unwrap();
            let unix = t.as_unix().expect("a UNIX transport");
            let (_read, write) = std::io::pipe().unwrap();
            let write = std::os::fd::OwnedFd::from(write);
            for _ in 0..65 {
                unix.send_file_descriptor(write.try_clone().unwrap())
                    .unwrap();
            }
            t.write(b"a");
        }
        fn data_received(&mut self, _: &[u8]) {}
    }

    let dir = TempDir::new("fd-pause");
    let path = dir.0.join("pause.sock");
    let counts = Rc::new(Counts::default());
    let c = counts.clone();
    let reactor = Reactor::new().unwrap();
    reactor
        .listen_unix(
            &path,
            Rc::new(Factory::for_protocol(move || Sender(c.clone()))),
            DEFAULT_BACKLOG,
            0o600,
        )
        .unwrap();
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap();
            got
        })
    };
    run_until(&reactor, "the sender to finish", || reader.is_finished());
    assert_eq!(reader.join().unwrap(), b"ab");
    assert_eq!((counts.pauses.get(), counts.resumes.get()), (1, 1));
}
