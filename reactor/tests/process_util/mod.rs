//! What the child-process tests share: a protocol that records what it
//! heard, and bounded waits on a real reactor.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{ProcessDone, ProcessTerminated};
use torsion_reactor::{
    Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, Reactor, ReactorProcess,
};

pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// What a child did, in the order the protocol heard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Made,
    Data(i32, Vec<u8>),
    Lost(i32),
    Exited(Exit),
    Ended(Exit),
}

/// An exit as the reason tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Done,
    Code(i32),
    Signal(i32),
}

pub(crate) fn exit_of(reason: &Failure) -> Exit {
    if reason.check::<ProcessDone>() {
        return Exit::Done;
    }
    let terminated = reason
        .downcast_ref::<ProcessTerminated>()
        .expect("the reason is ProcessDone or ProcessTerminated");
    match (terminated.exit_code(), terminated.signal()) {
        (_, Some(signal)) => Exit::Signal(signal),
        (Some(code), None) => Exit::Code(code),
        (None, None) => panic!("ProcessTerminated with neither code nor signal"),
    }
}

/// Records everything; optionally writes `input` then closes stdin.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) events: Vec<Event>,
    pub(crate) transport: Option<ProcessTransportRef>,
    pub(crate) input: Option<Vec<u8>>,
}

impl Recorder {
    pub(crate) fn output(&self, fd: i32) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Data(f, data) if *f == fd => Some(data.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub(crate) fn ended(&self) -> Option<Exit> {
        self.events.iter().find_map(|e| match e {
            Event::Ended(exit) => Some(*exit),
            _ => None,
        })
    }

    pub(crate) fn exited(&self) -> Option<Exit> {
        self.events.iter().find_map(|e| match e {
            Event::Exited(exit) => Some(*exit),
            _ => None,
        })
    }
}

impl ProcessProtocol for Recorder {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        self.events.push(Event::Made);
        if let Some(input) = self.input.take() {
            transport.write(&input);
            transport.close_stdin();
        }
        self.transport = Some(transport);
    }

    fn child_data_received(&mut self, fd: i32, data: &[u8]) {
        self.events.push(Event::Data(fd, data.to_vec()));
    }

    fn child_connection_lost(&mut self, fd: i32) {
        self.events.push(Event::Lost(fd));
    }

    fn process_exited(&mut self, reason: Failure) {
        self.events.push(Event::Exited(exit_of(&reason)));
    }

    fn process_ended(&mut self, reason: Failure) {
        self.events.push(Event::Ended(exit_of(&reason)));
    }
}

pub(crate) fn reactor() -> Reactor {
    Reactor::new().expect("a reactor")
}

/// Iterates until `done` or the deadline (then fails).
pub(crate) fn run_until(reactor: &Reactor, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the children"
        );
        reactor
            .iterate(Some(Duration::from_millis(100)))
            .expect("iterate");
    }
}

pub(crate) fn sh(script: &str) -> ProcessOptions {
    ProcessOptions::new("/bin/sh").args(["-c", script])
}

/// Spawns `options` with a fresh recorder fed `input`, runs it to its end.
pub(crate) fn run(
    reactor: &Reactor,
    options: ProcessOptions,
    input: Option<&[u8]>,
) -> Rc<RefCell<Recorder>> {
    let recorder = Rc::new(RefCell::new(Recorder {
        input: input.map(<[u8]>::to_vec),
        ..Recorder::default()
    }));
    reactor
        .spawn_process(recorder.clone(), options)
        .expect("spawned");
    run_until(reactor, || recorder.borrow().ended().is_some());
    recorder
}
