//! The chat server's protocol: lines broadcast to everyone in one room.
//!
//! Lines end with `\n` or `\r\n`, so `nc` (which sends `\n`) and telnet
//! or a Twisted `LineReceiver` (which send `\r\n`) can all talk; the
//! server's own lines end with `\r\n`.
//!
//! A member that does not read is dropped once more than
//! [`SLOW_MEMBER_LIMIT`] bytes wait for it, rather than buffered without
//! bound; that, and a line over the length limit, is logged as what it is.

use std::cell::RefCell;
use std::rc::Rc;

use torsion::protocols::{LineControl, LineHandler, LineReceiver, DEFAULT_MAX_LINE_LENGTH};
use torsion::{Address, Failure, ProtocolFactory, TransportRef};

use crate::backpressure::write_within;

/// How many bytes may wait to be sent to one member (its transport's
/// high-water mark) before the member is dropped as not reading (issue 20).
pub const SLOW_MEMBER_LIMIT: usize = 256 * 1024;

/// Who is in the room: each member's id, nick and transport.
#[derive(Debug, Default)]
pub struct Room {
    members: Vec<(u64, String, TransportRef)>,
    next_id: u64,
    /// Members dropped by the server, and why (for their leaving line).
    dropped: RefCell<Vec<(u64, String)>>,
}

/// The server's line ending.
const CRLF: &[u8] = b"\r\n";

/// Sends `line` and [`CRLF`] to this connection.
fn say(ctl: &LineControl<'_>, line: &[u8]) {
    if let Some(transport) = ctl.transport() {
        transport.write_sequence(&[line, CRLF]);
    }
}

impl Room {
    /// Sends `line` to every member but `except`; drops a member that has
    /// more than [`SLOW_MEMBER_LIMIT`] bytes waiting.
    fn broadcast(&self, except: Option<u64>, line: &str) {
        for (id, _, transport) in &self.members {
            if Some(*id) != except && !write_within(transport, &[line.as_bytes(), CRLF]) {
                self.drop_member(
                    *id,
                    transport,
                    format!("not reading: more than {SLOW_MEMBER_LIMIT} bytes waiting"),
                );
            }
        }
    }

    /// Aborts member `id`'s connection (the unsent bytes go with it),
    /// remembering why for its leaving line.
    fn drop_member(&self, id: u64, transport: &TransportRef, why: String) {
        let mut dropped = self.dropped.borrow_mut();
        if dropped.iter().any(|(d, _)| *d == id) {
            return;
        }
        dropped.push((id, why));
        drop(dropped);
        transport.abort_connection();
    }

    /// Why member `id` was dropped, if it was (forgetting it).
    fn take_drop_reason(&self, id: u64) -> Option<String> {
        let mut dropped = self.dropped.borrow_mut();
        let at = dropped.iter().position(|(d, _)| *d == id)?;
        Some(dropped.remove(at).1)
    }

    /// The nicks in the room, in arrival order.
    pub fn nicks(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(_, nick, _)| nick.clone())
            .collect()
    }
}

/// One chatter: joins on connect, broadcasts each line, `/nick NAME`
/// renames, `/who` lists the room, `/quit` leaves.
#[derive(Debug)]
pub struct Chatter {
    room: Rc<RefCell<Room>>,
    id: u64,
    nick: String,
}

impl Chatter {
    fn rename(&mut self, nick: &str, ctl: &mut LineControl<'_>) {
        let nick = nick.trim();
        let valid = !nick.is_empty()
            && nick.len() <= 32
            && nick
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return say(ctl, b"* a nick is 1-32 letters, digits, _ or -");
        }
        if self.room.borrow().nicks().iter().any(|n| n == nick) {
            return say(ctl, format!("* {nick} is taken").as_bytes());
        }
        let old = std::mem::replace(&mut self.nick, nick.to_string());
        let mut room = self.room.borrow_mut();
        if let Some(member) = room.members.iter_mut().find(|(id, _, _)| *id == self.id) {
            member.1 = self.nick.clone();
        }
        room.broadcast(None, &format!("* {old} is now {}", self.nick));
    }
}

impl LineHandler for Chatter {
    fn connection_made(&mut self, ctl: &mut LineControl<'_>) {
        let Some(transport) = ctl.transport() else {
            return;
        };
        if let Some(tcp) = transport.as_tcp() {
            tcp.set_write_buffer_limits(SLOW_MEMBER_LIMIT, SLOW_MEMBER_LIMIT / 2);
        }
        let mut room = self.room.borrow_mut();
        room.next_id += 1;
        self.id = room.next_id;
        self.nick = format!("guest{}", self.id);
        room.broadcast(None, &format!("* {} joined", self.nick));
        room.members.push((self.id, self.nick.clone(), transport));
        drop(room);
        say(
            ctl,
            format!(
                "* welcome, {}; /nick NAME to rename, /who, /quit",
                self.nick
            )
            .as_bytes(),
        );
        log::info!("chat: {} joined", self.nick);
    }

    fn line_received(&mut self, line: &[u8], ctl: &mut LineControl<'_>) {
        // The delimiter is `\n`; a `\r` before it is part of the line end.
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        if let Some(nick) = text.strip_prefix("/nick ") {
            self.rename(nick, ctl);
        } else if text == "/who" {
            let nicks = self.room.borrow().nicks().join(", ");
            say(ctl, format!("* here: {nicks}").as_bytes());
        } else if text == "/quit" {
            ctl.lose_connection();
        } else if !text.is_empty() {
            self.room
                .borrow()
                .broadcast(Some(self.id), &format!("<{}> {text}", self.nick));
        }
    }

    fn line_length_exceeded(&mut self, data: &[u8], ctl: &mut LineControl<'_>) {
        // The receiver's limit: the chat keeps LineReceiver's default.
        let why = format!(
            "line longer than {DEFAULT_MAX_LINE_LENGTH} bytes ({} buffered)",
            data.len()
        );
        self.room
            .borrow_mut()
            .dropped
            .get_mut()
            .push((self.id, why));
        ctl.lose_connection();
    }

    fn connection_lost(&mut self, reason: Failure) {
        let mut room = self.room.borrow_mut();
        room.members.retain(|(id, _, _)| *id != self.id);
        room.broadcast(None, &format!("* {} left", self.nick));
        match room.take_drop_reason(self.id) {
            Some(why) => log::warn!("chat: {} dropped: {why} ({reason})", self.nick),
            None => log::info!("chat: {} left ({reason})", self.nick),
        }
    }
}

/// Builds a [`Chatter`] in the shared room for each connection.
#[derive(Debug, Default)]
pub struct ChatFactory {
    room: Rc<RefCell<Room>>,
}

impl ChatFactory {
    /// An empty room.
    pub fn new() -> ChatFactory {
        ChatFactory::default()
    }

    /// The room.
    pub fn room(&self) -> Rc<RefCell<Room>> {
        self.room.clone()
    }
}

impl ProtocolFactory for ChatFactory {
    type Protocol = LineReceiver<Chatter>;

    fn build_protocol(&self, _addr: &Address) -> Option<LineReceiver<Chatter>> {
        let receiver = LineReceiver::new(Chatter {
            room: self.room.clone(),
            id: 0,
            nick: String::new(),
        });
        // "\n" is not empty: `with_delimiter` cannot fail on it.
        receiver.with_delimiter("\n").ok()
    }
}
