//! A process protocol and a `StandardIO` protocol held borrowed across an
//! `.await` (issue 20's rule, on the transports of issue 16): data that
//! arrives meanwhile is refused loudly with its cause (the panic is
//! contained and closes the transport), and the end (`process_ended`,
//! `connection_lost`) is not lost but delivered once the borrow ends.

// Holding a borrow across an await is the mistake under test.
#![allow(clippy::await_holding_refcell_ref)]

use std::cell::RefCell;
use std::fs::File;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::{
    Deferred, Failure, ProcessOptions, ProcessProtocol, Protocol, Reactor, ReactorProcess,
    StandardIO,
};

mod util;

const CAUSE: &str = "protocol borrowed elsewhere: held across .await?";

/// What a protocol heard, in order.
#[derive(Default)]
struct Heard(Vec<String>);

impl ProcessProtocol for Heard {
    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        self.0
            .push(format!("data {fd} {}", String::from_utf8_lossy(data)));
    }
    fn child_connection_lost(&mut self, fd: i32) {
        self.0.push(format!("lost {fd}"));
    }
    fn process_exited(&mut self, _reason: Failure) {
        self.0.push("exited".into());
    }
    fn process_ended(&mut self, _reason: Failure) {
        self.0.push("ended".into());
    }
}

impl Protocol for Heard {
    fn data_received(&mut self, data: &[u8]) {
        self.0
            .push(format!("data {}", String::from_utf8_lossy(data)));
    }
    fn connection_lost(&mut self, _reason: Failure) {
        self.0.push("connection lost".into());
    }
}

/// Holds `protocol` borrowed across an await that only a timeout ends.
fn hold_across_await<P: 'static>(reactor: &Reactor, protocol: Rc<RefCell<P>>) -> Rc<RefCell<bool>> {
    let done = Rc::new(RefCell::new(false));
    let (flag, timer) = (done.clone(), reactor.clone());
    reactor.spawn_local(async move {
        let _held = protocol.borrow_mut();
        let never = Deferred::<()>::new();
        let _ = never.add_timeout(Duration::from_millis(300), &timer).await;
        *flag.borrow_mut() = true;
    });
    done
}

fn run_until(reactor: &Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

fn assert_cause_logged() {
    let errors = util::take_errors();
    assert!(
        errors.iter().any(|r| r.message.contains(CAUSE)),
        "{errors:?}"
    );
    assert!(
        !errors
            .iter()
            .any(|r| r.message.contains("already borrowed")),
        "{errors:?}"
    );
}

/// The child writes and exits while its protocol is held: the write is
/// refused with the cause (its pipes are closed), and every end —
/// the pipes, the exit, `process_ended` — arrives once the borrow ends,
/// in order.
#[test]
fn process_protocol_borrowed_across_await() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let heard = Rc::new(RefCell::new(Heard::default()));
    let options = ProcessOptions::new("/bin/sh").args(["-c", "sleep 0.05; echo hello"]);
    let transport = reactor.spawn_process(heard.clone(), options).unwrap();
    let released = hold_across_await(&reactor, heard.clone());
    run_until(&reactor, "the end", || {
        heard
            .try_borrow()
            .is_ok_and(|h| h.0.contains(&"ended".to_string()))
    });
    assert!(*released.borrow());
    let heard = heard.borrow();
    assert!(
        !heard.0.iter().any(|e| e.starts_with("data")),
        "{:?}",
        heard.0
    );
    assert_eq!(heard.0.iter().filter(|e| *e == "ended").count(), 1);
    assert_eq!(heard.0.last().map(String::as_str), Some("ended"));
    assert!(heard.0.contains(&"exited".to_string()));
    assert_eq!(transport.pid(), None);
    assert_cause_logged();
}

/// Standard input delivers data while the protocol is held: refused with
/// the cause, standard I/O is aborted, and `connection_lost` arrives once
/// the borrow ends.
#[test]
fn stdio_protocol_borrowed_across_await() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_install_signal_handlers(false);
    let (stdin_read, stdin_write) = rustix::pipe::pipe().unwrap();
    let (_stdout_read, stdout_write) = rustix::pipe::pipe().unwrap();
    let heard = Rc::new(RefCell::new(Heard::default()));
    let protocol: Rc<RefCell<dyn Protocol>> = heard.clone();
    let stdio = StandardIO::with_fds(&reactor, protocol, stdin_read, stdout_write).unwrap();
    let released = hold_across_await(&reactor, heard.clone());
    std::io::Write::write_all(&mut File::from(stdin_write), b"typed").unwrap();
    run_until(&reactor, "connection_lost", || {
        heard
            .try_borrow()
            .is_ok_and(|h| h.0.contains(&"connection lost".to_string()))
    });
    assert!(*released.borrow());
    assert!(stdio.is_closed());
    assert_eq!(heard.borrow().0, ["connection lost"]);
    assert_cause_logged();
}
