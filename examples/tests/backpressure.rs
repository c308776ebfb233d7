//! Issue 20: a peer that sends and never reads must not grow the server's
//! memory without bound. On the in-memory pump (deterministic), the bytes
//! a server holds for one connection (written, not yet read by the peer)
//! stay near the high-water mark however much the peer sends.

use torsion::prelude::*;
use torsion::{Address, DEFAULT_HIGH_WATER};
use torsion_examples::{ChatFactory, Echo};
use torsion_testing::{connected_protocols, AccumulatingProtocol, ConnectOptions, LogCapture};

const CHUNK: usize = 4 * 1024;
const SENT: usize = 4 * 1024 * 1024;

/// Echo: a client sends 4 MiB and never reads; what the server has echoed
/// and the client not read stays within the high-water mark plus the reads
/// in flight when it paused (the pump moves one write per step).
#[test]
fn echo_buffers_at_most_a_high_water_mark_for_a_peer_that_does_not_read() {
    let (client, _server, pump) = connected_protocols(
        Echo::default(),
        AccumulatingProtocol::new(),
        ConnectOptions::new().greet(false),
    );
    pump.flush();
    pump.client_transport().pause_producing(); // the client never reads
    let chunk = vec![b'x'; CHUNK];
    for _ in 0..SENT / CHUNK {
        pump.client_transport().write(&chunk);
        pump.pump();
    }
    pump.pump();
    assert!(client.borrow().data.is_empty());
    // Reading resumes: in one step the client gets all the server echoed.
    pump.client_transport().resume_producing();
    pump.pump();
    let held = client.borrow().data.len();
    assert!(
        held <= DEFAULT_HIGH_WATER + 2 * CHUNK,
        "the server held {held} bytes for a peer that does not read"
    );
    assert!(held > 0, "the server echoed nothing");
    // Nothing was dropped: everything comes back once the client reads.
    pump.flush();
    assert_eq!(client.borrow().data.len(), SENT);
}

/// Chat: a member that never reads is dropped once more than the stated
/// limit waits for it, and that is logged as such; the room goes on.
#[test]
fn chat_drops_a_member_that_does_not_read() {
    let logs = LogCapture::start();
    let factory = ChatFactory::new();
    let room = factory.room();
    let options = || ConnectOptions::new().greet(false);
    let talker_protocol = factory.build_protocol(&Address::Unix(None)).unwrap();
    let (_talker, _s1, talker_pump) =
        connected_protocols(talker_protocol, AccumulatingProtocol::new(), options());
    let sleeper_protocol = factory.build_protocol(&Address::Unix(None)).unwrap();
    let (sleeper, _s2, sleeper_pump) =
        connected_protocols(sleeper_protocol, AccumulatingProtocol::new(), options());
    talker_pump.flush();
    sleeper_pump.flush();
    assert_eq!(room.borrow().nicks().len(), 2);
    sleeper_pump.client_transport().pause_producing();
    let line = format!("{}\n", "y".repeat(1000));
    // The sleeper's pump is not run: what the server writes to it waits in
    // its transport, as in a socket buffer the peer does not drain.
    let mut held_max = 0;
    for _ in 0..(4 * torsion_examples::SLOW_MEMBER_LIMIT) / line.len() {
        talker_pump.client_transport().write(line.as_bytes());
        talker_pump.pump();
        held_max = held_max.max(sleeper_pump.server_transport().pending_output().len());
        if sleeper_pump.server_transport().is_aborted() {
            break;
        }
    }
    assert!(sleeper_pump.server_transport().is_aborted());
    // The fake pump tells a paused peer of a close only once it reads.
    sleeper_pump.client_transport().resume_producing();
    sleeper_pump.flush();
    assert_eq!(room.borrow().nicks().len(), 1, "the sleeper is still in");
    assert!(held_max <= torsion_examples::SLOW_MEMBER_LIMIT + line.len() + 64);
    assert!(
        logs.messages()
            .iter()
            .any(|m| m.contains("dropped") && m.contains("not reading")),
        "{:?}",
        logs.messages()
    );
    assert!(sleeper.borrow().closed);
}

/// Chat: a line over the limit drops its sender, logged as what it is.
#[test]
fn chat_logs_an_overlong_line_as_such() {
    let logs = LogCapture::start();
    let factory = ChatFactory::new();
    let protocol = factory.build_protocol(&Address::Unix(None)).unwrap();
    let (client, _server, pump) = connected_protocols(
        protocol,
        AccumulatingProtocol::new(),
        ConnectOptions::new().greet(false),
    );
    pump.flush();
    pump.client_transport().write(&vec![b'z'; 100_000]);
    pump.flush();
    assert!(client.borrow().closed);
    assert!(
        logs.messages()
            .iter()
            .any(|m| m.contains("dropped") && m.contains("line longer than")),
        "{:?}",
        logs.messages()
    );
}
