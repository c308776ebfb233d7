//! Ports of Twisted's descriptor-passing UNIX socket tests
//! (`twisted/internet/test/test_unix.py`, `UNIXTestsBuilder`) on the real
//! mio reactor. `unix.rs`'s `passing_a_file_descriptor` already checks
//! that a passed pipe works and arrives before its byte; these add
//! Twisted's other scenarios.
//!
//! Twisted drives `_SendmsgMixin.doRead` on a socket pair through a fake
//! transport (it has no `adoptStreamConnection` for UNIX sockets either);
//! here a `std` socket connected to a real `listen_unix` port sends with
//! `rustix::net::sendmsg`, and the reactor's own connection receives.

mod unix_twisted_util;

use std::cell::{Cell, RefCell};
use std::io::{IoSlice, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use socket2::{Domain, SockAddr, Socket, Type};
use torsion_reactor::error::{ConnectionDone, ConnectionLost};
use torsion_reactor::task::LoopingCall;
use torsion_reactor::{
    Failure, Producer, ProducerRef, Protocol, PushProducer, Reactor, ReactorTime, ReactorUnix,
    TransportRef, DEFAULT_BACKLOG, DEFAULT_UNIX_MODE,
};
use unix_twisted_util::{
    bound_client, capture_logs, logged, reactor_side_of, run_protocols, run_until, Event, Finished,
    OneShot, Recorder, SendFileDescriptor, SocketPath,
};

/// A TCP socket (Twisted's `socket()`), bound to 127.0.0.1 if `bound`.
fn tcp_socket(bound: bool) -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if bound {
        let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&SockAddr::from(any_port)).unwrap();
    }
    socket
}

/// A copy of `socket` to hand over (`send_file_descriptor` takes
/// ownership; Twisted passes the same number and keeps its socket).
fn dup(socket: &Socket) -> OwnedFd {
    OwnedFd::from(socket.try_clone().unwrap())
}

/// `UNIXTestsBuilder.test_sendFileDescriptor`: `send_file_descriptor`
/// sends a copy of the descriptor: the receiver's descriptor is the same
/// socket (same local address) under a different number, and it arrives
/// before the bytes sent with it.
#[test]
fn send_file_descriptor() {
    let original = tcp_socket(true);
    let reactor = Reactor::new().unwrap();
    let server = SendFileDescriptor::new(dup(&original), b"junk");
    let (_, client) = run_protocols(&reactor, "send-fd", server, Recorder::receiving());
    let client = client.protocol();
    let mut client = client.borrow_mut();
    assert_eq!(
        client.events.first(),
        Some(&Event::Fd),
        "{:?}",
        client.events
    );
    assert_eq!(client.bytes(), b"junk");
    let received = client.fds.pop().expect("one descriptor");
    assert!(client.fds.is_empty());
    assert_ne!(received.as_raw_fd(), original.as_raw_fd());
    let received = Socket::from(received);
    assert_eq!(
        received.local_addr().unwrap().as_socket(),
        original.local_addr().unwrap().as_socket()
    );
}

/// Twisted's `SendsManyFileDescriptors`, as the push producer registered
/// on its own transport. (Twisted's protocol is its own producer; here the
/// reactor owns the protocol, so the producer is a separate `Rc` the
/// protocol makes.)
struct ManyFds {
    transport: TransportRef,
    other: Rc<RefCell<Option<TransportRef>>>,
    task: RefCell<Option<LoopingCall>>,
    paused: Rc<Cell<bool>>,
}

impl ManyFds {
    fn disconnect(&self) {
        if let Some(task) = self.task.borrow_mut().take() {
            let _ = task.stop();
        }
        self.transport.abort_connection();
        if let Some(other) = self.other.borrow().as_ref() {
            other.abort_connection();
        }
    }
}

impl Producer for ManyFds {
    fn stop_producing(&self) {
        self.disconnect();
    }
}

impl PushProducer for ManyFds {
    fn pause_producing(&self) {
        self.paused.set(true);
        let _ = self.transport.unregister_producer();
        self.disconnect();
    }
    fn resume_producing(&self) {
        self.disconnect();
    }
}

/// How many descriptors the pause test sends before giving up: Twisted
/// pauses once the kernel refuses more (a 1-byte message with a descriptor
/// costs ~1 KiB of the ~208 KiB send buffer) and 64 wait in the transport
/// (`_fileDescriptorBufferSize`). The bound keeps the copies waiting in the
/// transport well under the descriptor limit.
const MAX_FDS_SENT: usize = 4096;

struct SendsMany {
    transport: Option<TransportRef>,
    clock: Rc<dyn ReactorTime>,
    other: Rc<RefCell<Option<TransportRef>>>,
    paused: Rc<Cell<bool>>,
    sent: Rc<Cell<usize>>,
    lost: Option<Failure>,
}

impl Protocol for SendsMany {
    fn connection_made(&mut self, transport: TransportRef) {
        let producer = Rc::new(ManyFds {
            transport: transport.clone(),
            other: self.other.clone(),
            task: RefCell::new(None),
            paused: self.paused.clone(),
        });
        transport
            .register_producer(ProducerRef::Push(producer.clone()))
            .unwrap();
        let cargo = tcp_socket(false);
        let (sent, t) = (self.sent.clone(), transport.clone());
        let task = LoopingCall::new(self.clock.clone(), move || {
            if sent.get() < MAX_FDS_SENT {
                let unix = t.as_unix().expect("a UNIX transport");
                if unix.send_file_descriptor(dup(&cargo)).is_ok() {
                    t.write(b"x");
                    sent.set(sent.get() + 1);
                }
            }
            Ok::<(), Failure>(())
        });
        *producer.task.borrow_mut() = Some(task.clone());
        task.start(Duration::ZERO, true).unwrap();
        self.transport = Some(transport);
    }
    fn data_received(&mut self, _: &[u8]) {}
    fn connection_lost(&mut self, reason: Failure) {
        self.lost = Some(reason);
        self.transport = None;
    }
}

impl Finished for SendsMany {
    fn finished(&self) -> bool {
        self.lost.is_some()
    }
}

/// `UNIXTestsBuilder.test_sendFileDescriptorTriggersPauseProducing`: when
/// descriptors sent (each with a byte) to a peer that does not read fill
/// the send buffer, the registered push producer is paused.
///
/// Twisted's `LoopingCall(0)` sends without end until paused; here it stops
/// after `MAX_FDS_SENT` (each send needs a copy of the descriptor, which
/// waits in the transport once the kernel is full), and the test fails if
/// no pause came by then.
#[test]
fn send_file_descriptor_triggers_pause_producing() {
    let path = SocketPath::new("pause");
    let reactor = Reactor::new().unwrap();
    let (other, paused, sent) = (Rc::default(), Rc::new(Cell::new(false)), Rc::default());
    let server = OneShot::new(SendsMany {
        transport: None,
        clock: Rc::new(reactor.clone()),
        other: Rc::clone(&other),
        paused: paused.clone(),
        sent: Rc::clone(&sent),
        lost: None,
    });
    let client = OneShot::new(Recorder {
        pause_on_connect: true,
        ..Recorder::default()
    });
    let port = reactor
        .listen_unix(&path.0, server.clone(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
        .unwrap();
    reactor.connect_unix(&path.0, client.clone(), Duration::from_secs(5));
    run_until(&reactor, "the client to connect", || {
        client
            .built()
            .is_some_and(|c| c.borrow().transport.is_some())
    });
    *other.borrow_mut() = client.protocol().borrow().transport.clone();
    run_until(&reactor, "a pause or the last descriptor", || {
        paused.get() || sent.get() >= MAX_FDS_SENT
    });
    let (was_paused, count) = (paused.get(), sent.get());
    // End both connections either way (Twisted's `_disconnect`; aborting
    // the sender stops its producer, which stops the loop).
    if let Some(t) = other.borrow_mut().take() {
        t.abort_connection();
    }
    let sender = server.protocol().borrow().transport.clone();
    if let Some(t) = sender {
        t.abort_connection();
    }
    run_until(&reactor, "both connections to end", || {
        server.protocol().borrow().finished() && client.protocol().borrow().finished()
    });
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.is_called());
    assert!(
        was_paused,
        "sendFileDescriptor producer was not paused after {count} descriptors \
         (each with one byte) to a peer that does not read"
    );
}

/// `UNIXTestsBuilder.test_fileDescriptorOverrun`: sending more descriptors
/// than bytes (one descriptor, no bytes, then closing) ends the sender's
/// connection with Twisted's `FileDescriptorOverrun`, a `ConnectionLost`
/// naming the misuse; the receiver gets no descriptor and sees its
/// connection closed (`ConnectionDone` or `ConnectionLost`: Twisted's
/// `ConnectionClosed`). Torsion has no `FileDescriptorOverrun` type, so
/// the sender's reason is checked for being a `ConnectionLost` whose
/// message names the file descriptor.
#[test]
fn file_descriptor_overrun() {
    let cargo = tcp_socket(false);
    let reactor = Reactor::new().unwrap();
    let server = SendFileDescriptor::new(dup(&cargo), b"");
    let (server, client) = run_protocols(&reactor, "overrun", server, Recorder::receiving());
    let client = client.protocol();
    let client = client.borrow();
    assert!(client.fds.is_empty(), "{:?}", client.events);
    let reason = client.lost.as_ref().unwrap();
    assert!(
        reason.check::<ConnectionDone>() || reason.check::<ConnectionLost>(),
        "{reason}"
    );
    let server = server.protocol();
    let reason = server.borrow().lost.clone().unwrap();
    assert!(
        reason.check::<ConnectionLost>()
            && reason
                .to_string()
                .to_lowercase()
                .contains("file descriptor"),
        "the sender's connection ended with {} ({reason}), not a \
         FileDescriptorOverrun-like ConnectionLost",
        reason.type_name()
    );
}

/// How `drive_received` packs its two descriptors.
#[derive(Clone, Copy)]
enum Packing {
    /// One `SCM_RIGHTS` message holding both.
    OneCmsg,
    /// Two `SCM_RIGHTS` messages, one each.
    TwoCmsgs,
}

/// Twisted's `_sendmsgMixinFileDescriptorReceivedDriver`: a peer sends two
/// temporary files' descriptors with some bytes in one `sendmsg`; the
/// protocol gets `file_descriptor_received` once per descriptor, new
/// numbers, in the order sent (checked by device and inode).
fn drive_received(name: &str, packing: Packing) {
    let path = SocketPath::new(name);
    let reactor = Reactor::new().unwrap();
    let server = OneShot::new(Recorder::receiving());
    let port = reactor
        .listen_unix(&path.0, server.clone(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
        .unwrap();
    let peer = UnixStream::connect(&path.0).unwrap();
    let files: Vec<(SocketPath, std::fs::File)> = (0..2)
        .map(|i| {
            let file_path = SocketPath::new(&format!("{name}-file{i}"));
            let file = std::fs::File::create(&file_path.0).unwrap();
            (file_path, file)
        })
        .collect();
    let sent = [files[0].1.as_fd(), files[1].1.as_fd()];
    let data = b"some data needs to be sent";
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1), ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    match packing {
        Packing::OneCmsg => assert!(control.push(SendAncillaryMessage::ScmRights(&sent))),
        Packing::TwoCmsgs => {
            assert!(control.push(SendAncillaryMessage::ScmRights(&sent[..1])));
            assert!(control.push(SendAncillaryMessage::ScmRights(&sent[1..])));
        }
    }
    let n = sendmsg(
        &peer,
        &[IoSlice::new(data)],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(n, data.len());
    run_until(&reactor, "the bytes", || {
        server
            .built()
            .is_some_and(|p| p.borrow().bytes().len() == data.len())
    });
    let server = server.protocol();
    let server = server.borrow();
    assert_eq!(server.fds.len(), 2, "{:?}", server.events);
    let sent_numbers: Vec<_> = sent.iter().map(|fd| fd.as_raw_fd()).collect();
    for fd in &server.fds {
        assert!(!sent_numbers.contains(&fd.as_raw_fd()));
    }
    let identity = |file: &std::fs::File| {
        let metadata = file.metadata().unwrap();
        (metadata.dev(), metadata.ino())
    };
    let sent_ids: Vec<_> = files.iter().map(|(_, file)| identity(file)).collect();
    let received_ids: Vec<_> = server
        .fds
        .iter()
        .map(|fd| identity(&std::fs::File::from(fd.try_clone().unwrap())))
        .collect();
    assert_eq!(received_ids, sent_ids);
    drop(peer);
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.is_called());
}

/// `UNIXTestsBuilder.test_multiFileDescriptorReceivedPerRecvmsgOneCMSG`:
/// two descriptors in one control message give two
/// `file_descriptor_received` calls, in order.
#[test]
fn multi_file_descriptor_received_per_recvmsg_one_cmsg() {
    drive_received("one-cmsg", Packing::OneCmsg);
}

/// `UNIXTestsBuilder.test_multiFileDescriptorReceivedPerRecvmsgTwoCMSGs`:
/// two control messages of one descriptor each give two
/// `file_descriptor_received` calls, in order.
#[test]
fn multi_file_descriptor_received_per_recvmsg_two_cmsgs() {
    drive_received("two-cmsgs", Packing::TwoCmsgs);
}

/// `UNIXTestsBuilder.test_multiFileDescriptorReceivedPerRecvmsgBadCMSG`:
/// ancillary data other than `SCM_RIGHTS` delivers no descriptor, the bytes
/// still arrive, and the transport logs that it "received unsupported
/// ancillary data".
///
/// Twisted patches `recvmsg` to return a message of an unknown level and
/// type. Rust cannot patch, and the kernel only delivers other control
/// messages to a socket that asked for them: so the reactor's end gets
/// `SO_PASSCRED` (through a `pidfd_getfd` copy), and the kernel then
/// attaches an `SCM_CREDENTIALS` message to what the peer sends.
#[test]
fn multi_file_descriptor_received_per_recvmsg_bad_cmsg() {
    capture_logs();
    let path = SocketPath::new("bad-cmsg");
    let peer_path = SocketPath::new("bad-cmsg-peer");
    let reactor = Reactor::new().unwrap();
    let server = OneShot::new(Recorder::receiving());
    let port = reactor
        .listen_unix(&path.0, server.clone(), DEFAULT_BACKLOG, DEFAULT_UNIX_MODE)
        .unwrap();
    let mut peer = bound_client(&peer_path.0, &path.0);
    run_until(&reactor, "the server's connection", || {
        server
            .built()
            .is_some_and(|p| p.borrow().transport.is_some())
    });
    let reactor_side = reactor_side_of(&peer_path.0);
    rustix::net::sockopt::set_socket_passcred(&reactor_side, true).unwrap();
    assert!(rustix::net::sockopt::socket_passcred(&reactor_side).unwrap());
    let data = b"some data";
    std::io::Write::write_all(&mut peer, data).unwrap();
    run_until(&reactor, "the bytes", || {
        server.protocol().borrow().bytes() == data
    });
    assert!(server.protocol().borrow().fds.is_empty());
    let mentioned = logged()
        .iter()
        .any(|(_, line)| line.contains("unsupported ancillary data"));
    drop((peer, reactor_side));
    let stopped = port.stop_listening();
    run_until(&reactor, "the port to stop", || stopped.is_called());
    assert!(
        mentioned,
        "no log line says the transport received unsupported ancillary data: {:?}",
        logged()
    );
}

/// `UNIXTestsBuilder.test_avoidLeakingFileDescriptors`: a descriptor
/// received by a protocol without the file-descriptor-receiver capability
/// is closed (the last copy of one end of a socket pair goes away, so the
/// other end reads end-of-file), and a warning names the protocol, its
/// host address and its peer's.
#[test]
fn avoid_leaking_file_descriptors() {
    capture_logs();
    let (probe_client, mut probe_server) = UnixStream::pair().unwrap();
    let reactor = Reactor::new().unwrap();
    let server = SendFileDescriptor::new(OwnedFd::from(probe_client.try_clone().unwrap()), b"junk");
    let (server, client) = run_protocols(&reactor, "leak", server, Recorder::default());
    assert_eq!(client.protocol().borrow().bytes(), b"junk");
    drop(probe_client);
    probe_server.set_nonblocking(true).unwrap();
    let mut buffer = [0; 1024];
    assert_eq!(probe_server.read(&mut buffer).unwrap(), 0);

    // The client's view: its host is the server's peer and vice versa.
    let server = server.protocol();
    let server = server.borrow();
    let (host, peer) = (server.peer.clone().unwrap(), server.host.clone().unwrap());
    let warned = logged().into_iter().any(|(level, line)| {
        level == log::Level::Warn
            && line.contains("file descriptor")
            && line.contains("Recorder")
            && line.contains(&host.to_string())
            && line.contains(&peer.to_string())
    });
    assert!(
        warned,
        "no warning names the protocol (Recorder), its host ({host}) and its peer ({peer}): {:?}",
        logged()
    );
}

/// `UNIXTestsBuilder.test_descriptorDeliveredBeforeBytes`: a descriptor
/// sent with `send_file_descriptor` before `write` reaches the receiver
/// before the bytes: the first event is the descriptor, the rest are the
/// bytes.
#[test]
fn descriptor_delivered_before_bytes() {
    let cargo = tcp_socket(false);
    let reactor = Reactor::new().unwrap();
    let server = SendFileDescriptor::new(dup(&cargo), b"example data");
    let (_, client) = run_protocols(&reactor, "before", server, Recorder::receiving());
    let client = client.protocol();
    let client = client.borrow();
    assert_eq!(
        client.events.first(),
        Some(&Event::Fd),
        "{:?}",
        client.events
    );
    assert_eq!(client.fds.len(), 1);
    assert_eq!(client.bytes(), b"example data");
    assert!(client.events[1..]
        .iter()
        .all(|e| matches!(e, Event::Data(_))));
}
