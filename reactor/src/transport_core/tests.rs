//! Unit tests of the transport state machine, event by event.

use std::cell::Cell;
use std::rc::Rc;

use super::*;
use crate::interfaces::{Producer, PullProducer, PushProducer};

#[derive(Default)]
struct Counting {
    pauses: Cell<u32>,
    resumes: Cell<u32>,
    stops: Cell<u32>,
}

impl Producer for Counting {
    fn stop_producing(&self) {
        self.stops.set(self.stops.get() + 1);
    }
}

impl PushProducer for Counting {
    fn pause_producing(&self) {
        self.pauses.set(self.pauses.get() + 1);
    }
    fn resume_producing(&self) {
        self.resumes.set(self.resumes.get() + 1);
    }
}

impl PullProducer for Counting {
    fn resume_producing(&self) {
        self.resumes.set(self.resumes.get() + 1);
    }
}

/// One event fed to the core.
#[derive(Debug, Clone, Copy)]
enum Event {
    Buffer(usize),
    Accepted(usize),
    Flushed,
    Lose,
    Abort,
    LoseWrite,
    WriteShut,
    Eof,
    RegisterPush,
    RegisterPull,
    Unregister,
    Close,
}

/// What the owner is told, in a comparable shape.
#[derive(Debug, Default, PartialEq, Eq)]
struct Told {
    writable: Option<bool>,
    producer: Option<&'static str>,
    shutdown_write: bool,
    close: Option<CloseReason>,
}

fn told(effects: Effects) -> Told {
    Told {
        writable: effects.writable,
        producer: effects.producer.map(|call| match call {
            ProducerCall::Pause(_) => "pause",
            ProducerCall::Resume(_) => "resume",
            ProducerCall::Stop(_) => "stop",
        }),
        shutdown_write: effects.shutdown_write,
        close: effects.close,
    }
}

fn feed(core: &mut TransportCore, producer: &Rc<Counting>, event: Event) -> Told {
    match event {
        Event::Buffer(n) => told(core.buffer(&vec![b'x'; n])),
        Event::Accepted(n) => {
            core.sink_accepted(n);
            Told::default()
        }
        Event::Flushed => told(core.flushed()),
        Event::Lose => told(core.lose_connection()),
        Event::Abort => told(core.abort()),
        Event::LoseWrite => told(core.lose_write_connection()),
        Event::WriteShut => told(core.write_shut()),
        Event::Eof => Told {
            close: core.eof_received().then_some(CloseReason::Done),
            ..Told::default()
        },
        Event::RegisterPush => told(Effects {
            producer: core
                .register_producer(ProducerRef::Push(producer.clone()))
                .expect("none registered"),
            ..Effects::default()
        }),
        Event::RegisterPull => told(Effects {
            producer: core
                .register_producer(ProducerRef::Pull(producer.clone()))
                .expect("none registered"),
            ..Effects::default()
        }),
        Event::Unregister => {
            core.unregister_producer().expect("one registered");
            Told::default()
        }
        Event::Close => Told {
            producer: core.close().and_then(|c| c.producer).map(|_| "stop"),
            ..Told::default()
        },
    }
}

fn t(
    writable: Option<bool>,
    producer: Option<&'static str>,
    shutdown_write: bool,
    close: Option<CloseReason>,
) -> Told {
    Told {
        writable,
        producer,
        shutdown_write,
        close,
    }
}

const NOTHING: Told = Told {
    writable: None,
    producer: None,
    shutdown_write: false,
    close: None,
};

/// Each row: a name, then events with what the owner must do after each.
#[test]
fn scenarios() {
    use CloseReason::{Aborted, Done};
    use Event::*;
    let high = DEFAULT_HIGH_WATER;
    let low = DEFAULT_LOW_WATER;
    let table: Vec<(&str, Vec<(Event, Told)>)> = vec![
        (
            "lose with nothing buffered closes at once",
            vec![(Lose, t(None, None, false, Some(Done))), (Lose, NOTHING)],
        ),
        (
            "lose waits for the flush",
            vec![
                (Buffer(3), t(Some(true), None, false, None)),
                (Lose, NOTHING),
                (Accepted(2), NOTHING),
                (Flushed, NOTHING),
                (Accepted(1), NOTHING),
                (Flushed, t(Some(false), None, false, Some(Done))),
            ],
        ),
        (
            "lose waits for the producer to unregister",
            vec![
                (RegisterPush, NOTHING),
                (Lose, NOTHING),
                (Flushed, NOTHING),
                (Unregister, NOTHING),
                (Flushed, t(None, None, false, Some(Done))),
            ],
        ),
        (
            "abort drops the buffer and closes once",
            vec![
                (Buffer(10), t(Some(true), None, false, None)),
                (Abort, t(None, None, false, Some(Aborted))),
                (Abort, NOTHING),
            ],
        ),
        (
            "a streaming producer pauses past high and resumes at low",
            vec![
                (RegisterPush, NOTHING),
                (Buffer(high), t(Some(true), None, false, None)),
                (Buffer(1), t(None, Some("pause"), false, None)),
                (Buffer(1), NOTHING),
                (Accepted(high + 2 - low - 1), NOTHING),
                (Flushed, NOTHING),
                (Accepted(1), NOTHING),
                (Flushed, t(None, Some("resume"), false, None)),
                (Accepted(low), NOTHING),
                (Flushed, t(Some(false), None, false, None)),
            ],
        ),
        (
            "a pull producer is resumed on registration and whenever the buffer empties",
            vec![
                (RegisterPull, t(None, Some("resume"), false, None)),
                (Buffer(5), t(Some(true), None, false, None)),
                (Accepted(5), NOTHING),
                (Flushed, t(Some(false), Some("resume"), false, None)),
            ],
        ),
        (
            "a producer registered after the close is stopped",
            vec![
                (Close, NOTHING),
                (RegisterPush, t(None, Some("stop"), false, None)),
            ],
        ),
        (
            "the close hands the producer back to be stopped",
            vec![
                (RegisterPush, NOTHING),
                (Close, t(None, Some("stop"), false, None)),
                (Close, NOTHING),
            ],
        ),
        (
            "half-close with nothing buffered shuts at once, both sides shut closes",
            vec![
                (LoseWrite, t(None, None, true, None)),
                (LoseWrite, NOTHING),
                (WriteShut, NOTHING),
                (Eof, t(None, None, false, Some(Done))),
            ],
        ),
        (
            "half-close waits for the flush; eof first then shut closes",
            vec![
                (Buffer(4), t(Some(true), None, false, None)),
                (LoseWrite, NOTHING),
                (Eof, NOTHING),
                (Accepted(4), NOTHING),
                (Flushed, t(Some(false), None, true, None)),
                (WriteShut, t(None, None, false, Some(Done))),
            ],
        ),
        (
            "writability is never asked once closed",
            vec![(Close, NOTHING), (Buffer(1), NOTHING)],
        ),
    ];
    for (name, steps) in table {
        let producer = Rc::new(Counting::default());
        let mut core = TransportCore::new();
        for (i, (event, expected)) in steps.into_iter().enumerate() {
            let got = feed(&mut core, &producer, event);
            assert_eq!(got, expected, "{name}: step {i} ({event:?})");
        }
    }
}

#[test]
fn writes_are_refused_once_closed_aborting_or_half_closed() {
    type Event = fn(&mut TransportCore);
    let cases: [(&str, Event); 3] = [
        ("closed", |c| drop(c.close())),
        ("aborting", |c| drop(c.abort())),
        ("half-closed", |c| drop(c.lose_write_connection())),
    ];
    for (name, event) in cases {
        let mut core = TransportCore::new();
        assert!(core.accepting_writes(), "{name}: open");
        event(&mut core);
        assert!(!core.accepting_writes(), "{name}");
    }
    let mut core = TransportCore::new();
    let _ = core.lose_connection();
    assert!(core.accepting_writes(), "disconnecting still writes");
}

#[test]
fn registering_twice_and_unregistering_none_are_errors() {
    let producer: Rc<Counting> = Rc::default();
    let mut core = TransportCore::new();
    assert_eq!(
        core.unregister_producer().err(),
        Some(ProducerError::NotRegistered)
    );
    assert!(core
        .register_producer(ProducerRef::Push(producer.clone()))
        .is_ok());
    assert_eq!(
        core.register_producer(ProducerRef::Push(producer)).err(),
        Some(ProducerError::AlreadyRegistered)
    );
}

#[test]
fn producer_calls_reach_the_producer() {
    let producer: Rc<Counting> = Rc::default();
    ProducerCall::Pause(producer.clone()).perform();
    ProducerCall::Resume(ProducerRef::Push(producer.clone())).perform();
    ProducerCall::Stop(ProducerRef::Pull(producer.clone())).perform();
    assert_eq!(
        (
            producer.pauses.get(),
            producer.resumes.get(),
            producer.stops.get()
        ),
        (1, 1, 1)
    );
}

#[test]
fn an_outside_backlog_counts_toward_the_water_marks() {
    let producer: Rc<Counting> = Rc::default();
    let mut core = TransportCore::new();
    core.set_water_marks(10, 4);
    let _ = core.register_producer(ProducerRef::Push(producer));
    assert!(core.pause_if_above_high(10).is_none());
    assert!(matches!(
        core.pause_if_above_high(11),
        Some(ProducerCall::Pause(_))
    ));
    assert!(core.resume_if_at_low(5).is_none());
    assert!(matches!(
        core.resume_if_at_low(4),
        Some(ProducerCall::Resume(_))
    ));
    assert!(core.resume_if_at_low(0).is_none());
}

#[test]
fn schedule_close_is_once() {
    let mut core = TransportCore::new();
    assert!(core.schedule_close());
    assert!(!core.schedule_close());
    let mut core = TransportCore::new();
    let _ = core.close();
    assert!(!core.schedule_close());
}

#[test]
fn take_buffer_keeps_the_order() {
    let mut core = TransportCore::new();
    core.append(b"ab");
    let _ = core.buffer(b"cd");
    core.sink_accepted(1);
    assert_eq!(core.buffer_to_vec(), b"bcd");
    assert_eq!(core.take_buffer(), b"bcd");
    assert_eq!(core.buffered(), 0);
}

#[test]
fn reading_stops_above_the_high_mark_and_goes_on_at_the_low_mark() {
    let mut core = TransportCore::new();
    core.set_water_marks(100, 40);
    let _ = core.buffer(&[0; 100]);
    assert!(!core.read_backlogged(), "at the high mark: reading goes on");
    let _ = core.buffer(&[0; 1]);
    assert!(core.read_backlogged(), "past the high mark: reading stops");
    core.sink_accepted(60);
    let _ = core.flushed();
    assert!(!core.read_resumes(), "41 bytes left: above the low mark");
    assert!(core.read_backlogged(), "still stopped between the marks");
    core.sink_accepted(1);
    let _ = core.flushed();
    assert!(core.read_resumes(), "at the low mark: reading goes on");
    assert!(!core.read_resumes(), "told once");
    assert!(!core.read_backlogged());
}

#[test]
fn the_read_stop_is_not_the_protocols_pause() {
    let mut core = TransportCore::new();
    core.set_water_marks(10, 0);
    assert!(!core.set_reading_paused(true));
    let _ = core.buffer(&[0; 11]);
    assert!(core.read_backlogged());
    core.sink_accepted(11);
    let _ = core.flushed();
    assert!(core.read_resumes());
    // The protocol's own pause outlives the backlog's.
    assert!(core.is_reading_paused());
    // And a core that never buffered past the mark is never stopped.
    let mut quiet = TransportCore::new();
    let _ = quiet.buffer(&[0; DEFAULT_HIGH_WATER]);
    assert!(!quiet.read_backlogged());
    assert!(!quiet.read_resumes());
}

#[test]
fn a_pull_producer_is_asked_again_after_a_write_through() {
    let producer: Rc<Counting> = Rc::default();
    let mut core = TransportCore::new();
    assert!(!core.pull_after_write_through(), "no producer yet");
    let _ = core.register_producer(ProducerRef::Pull(producer.clone()));
    assert!(core.pull_after_write_through());
    assert!(!core.pull_after_write_through(), "scheduled once");
    match core.take_pull() {
        Some(call) => call.perform(),
        None => panic!("the pull producer is asked"),
    }
    assert_eq!(producer.resumes.get(), 1);
    // Bytes waiting: the flush asks instead.
    let _ = core.buffer(b"waiting");
    assert!(!core.pull_after_write_through());
    assert!(core.take_pull().is_none());
    // A streaming producer is never pulled.
    let mut core = TransportCore::new();
    let _ = core.register_producer(ProducerRef::Push(producer.clone()));
    assert!(!core.pull_after_write_through());
    assert!(core.take_pull().is_none());
}
