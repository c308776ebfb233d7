//! The chat example end to end over loopback: two peers (plain std sockets,
//! as any client in another language would be) join, rename, talk, leave;
//! one ends its lines with `\r\n` (telnet, Twisted), the other with `\n`
//! (`nc`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use torsion::{Reactor, ReactorTcp};
use torsion_examples::ChatFactory;

/// A peer: sends its script, one line at a time, each ended by `eol`,
/// after the lines it waits for arrive; returns everything it read.
fn peer(
    port: u16,
    eol: &'static str,
    script: Vec<(&'static str, Option<&'static str>)>,
    ready: mpsc::Sender<()>,
) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut seen = Vec::new();
    let mut read_line = |seen: &mut Vec<String>| {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // The server ends every line with exactly one CRLF, whatever the
        // peer's line ends were (no `\r` of theirs carried into a line).
        assert!(
            line.ends_with("\r\n") && !line.ends_with("\r\r\n"),
            "{line:?}"
        );
        let line = line.trim_end().to_string();
        seen.push(line.clone());
        line
    };
    read_line(&mut seen); // the welcome
    ready.send(()).unwrap();
    for (wait_for, send) in script {
        while !read_line(&mut seen).contains(wait_for) {}
        if let Some(send) = send {
            writer.write_all(format!("{send}{eol}").as_bytes()).unwrap();
        }
    }
    seen
}

#[test]
fn two_peers_join_rename_talk_and_leave() {
    let reactor = Reactor::new().unwrap();
    let factory = Rc::new(ChatFactory::new());
    let room = factory.room();
    let port = reactor
        .listen_tcp(0, factory, 50, "127.0.0.1")
        .unwrap()
        .host()
        .port()
        .unwrap();

    let (ready_a, a_ready) = mpsc::channel();
    let alice = std::thread::spawn(move || {
        peer(
            port,
            "\r\n",
            vec![
                ("joined", Some("/nick alice")),
                ("is now bob", Some("hi bob")),
                ("<bob> hello alice", Some("/quit")),
            ],
            ready_a,
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while a_ready.try_recv().is_err() {
        assert!(Instant::now() < deadline, "alice never got in");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let (ready_b, _b_ready) = mpsc::channel();
    let bob = std::thread::spawn(move || {
        peer(
            port,
            "\n",
            vec![
                ("is now alice", Some("/nick bob")),
                ("<alice> hi bob", Some("hello alice")),
                ("alice left", Some("/who")),
                ("here: bob", None),
            ],
            ready_b,
        )
    });
    while !(alice.is_finished() && bob.is_finished()) {
        assert!(Instant::now() < deadline, "the conversation did not finish");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
    let alice = alice.join().unwrap();
    let bob = bob.join().unwrap();
    assert!(alice[0].starts_with("* welcome, guest1"), "{alice:?}");
    assert!(
        alice.contains(&"<bob> hello alice".to_string()),
        "{alice:?}"
    );
    assert!(bob.contains(&"<alice> hi bob".to_string()), "{bob:?}");
    assert_eq!(bob.last().unwrap(), "* here: bob");
    assert!(
        !alice.iter().any(|l| l.contains("<alice>")),
        "no echo of one's own lines: {alice:?}"
    );
    // Both sockets are closed now: the server notices and empties the room.
    while !room.borrow().nicks().is_empty() {
        assert!(
            Instant::now() < deadline,
            "members left behind: {:?}",
            room.borrow().nicks()
        );
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}
