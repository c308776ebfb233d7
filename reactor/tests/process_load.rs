//! The done-when checks for child processes, on real children:
//! 1 000 short-lived children spawned 50 at a time all report their exit
//! code and leave no zombie; 100 MiB piped through `cat` comes back byte
//! for byte with bounded memory (flow control both ways). Bounded in time.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_reactor::error::{ProcessDone, ProcessTerminated};
use torsion_reactor::{
    Failure, ProcessOptions, ProcessProtocol, ProcessTransportRef, Producer, ProducerRef,
    PushProducer, Reactor, ReactorProcess,
};

const DEADLINE: Duration = Duration::from_secs(120);

/// The zombie checks look at every child of this test process: the tests
/// here take turns, so one's children are not seen by another's check.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run_until(reactor: &Reactor, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        reactor
            .iterate(Some(Duration::from_millis(100)))
            .expect("iterate");
    }
}

/// Our children that are zombies right now (state `Z` in `/proc`, parent us).
fn our_zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": the comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if state == Some("Z") && ppid == Some(&me.to_string()) {
            zombies.push(pid);
        }
    }
    zombies
}

struct ExitCode {
    code: Rc<RefCell<Vec<Option<i32>>>>,
    index: usize,
    running: Rc<Cell<usize>>,
}

impl ProcessProtocol for ExitCode {
    fn process_ended(&mut self, reason: Failure) {
        let code = if reason.check::<ProcessDone>() {
            0
        } else {
            reason
                .downcast_ref::<ProcessTerminated>()
                .and_then(ProcessTerminated::exit_code)
                .expect("an exit code")
        };
        self.code.borrow_mut()[self.index] = Some(code);
        self.running.set(self.running.get() - 1);
    }
}

fn thousand_children(reactor: &Reactor) {
    const CHILDREN: usize = 1000;
    const AT_A_TIME: usize = 50;
    let codes = Rc::new(RefCell::new(vec![None; CHILDREN]));
    let running = Rc::new(Cell::new(0));
    let mut next = 0;
    let deadline = Instant::now() + DEADLINE;
    while codes.borrow().iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "timed out");
        while next < CHILDREN && running.get() < AT_A_TIME {
            let protocol = ExitCode {
                code: codes.clone(),
                index: next,
                running: running.clone(),
            };
            let options =
                ProcessOptions::new("/bin/sh").args(["-c", &format!("exit {}", next % 200)]);
            reactor
                .spawn_process(Rc::new(RefCell::new(protocol)), options)
                .expect("spawned");
            running.set(running.get() + 1);
            next += 1;
        }
        reactor
            .iterate(Some(Duration::from_millis(100)))
            .expect("iterate");
    }
    for (i, code) in codes.borrow().iter().enumerate() {
        assert_eq!(*code, Some((i % 200) as i32), "child {i}");
    }
    assert_eq!(our_zombies(), Vec::<u32>::new(), "no zombie left");
}

/// 1 000 children, 50 at a time, each reports its own exit code; none is
/// left a zombie (pidfd path).
#[test]
fn thousand_children_fifty_at_a_time_pidfd() {
    let _turn = one_at_a_time();
    thousand_children(&Reactor::new().expect("reactor"));
}

/// The same on the SIGCHLD path.
#[test]
fn thousand_children_fifty_at_a_time_sigchld() {
    let _turn = one_at_a_time();
    let reactor = Reactor::new().expect("reactor");
    reactor.set_reap_with_sigchld(true);
    thousand_children(&reactor);
}

/// Children still running when the reactor shuts down are reaped by the
/// reaper thread once they exit: no zombie.
#[test]
fn no_zombie_after_reactor_stops() {
    let _turn = one_at_a_time();
    let reactor = Reactor::new().expect("reactor");
    let codes = Rc::new(RefCell::new(vec![None; 5]));
    let running = Rc::new(Cell::new(0));
    let mut pids = Vec::new();
    for index in 0..5 {
        let protocol = ExitCode {
            code: codes.clone(),
            index,
            running: running.clone(),
        };
        // Exits once its stdin closes: when the reactor shuts down.
        let transport = reactor
            .spawn_process(Rc::new(RefCell::new(protocol)), ProcessOptions::new("cat"))
            .expect("spawned");
        pids.push(transport.pid().expect("running"));
    }
    reactor.set_install_signal_handlers(false);
    let stopper = reactor.clone();
    torsion_reactor::ReactorTimeExt::call_later(&reactor, Duration::from_millis(50), move || {
        let _ = torsion_reactor::ReactorCore::stop(&stopper);
    });
    torsion_reactor::ReactorCore::run(&reactor).expect("ran");
    let deadline = Instant::now() + DEADLINE;
    // The children see EOF, exit, and the reaper thread reaps them.
    while pids
        .iter()
        .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(Instant::now() < deadline, "children still there: {pids:?}");
        std::thread::yield_now();
    }
    assert_eq!(our_zombies(), Vec::<u32>::new());
}

/// The byte at offset `i` of the test stream.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 11)) as u8
}

const TOTAL: u64 = 100 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Writes the stream into the child's stdin while not paused.
struct Feeder {
    transport: RefCell<Option<ProcessTransportRef>>,
    sent: Cell<u64>,
    paused: Cell<bool>,
    pauses: Cell<u32>,
    received: Rc<Cell<u64>>,
    max_in_flight: Cell<u64>,
}

impl Feeder {
    fn produce(&self) {
        let Some(transport) = self.transport.borrow().clone() else {
            return;
        };
        while !self.paused.get() && self.sent.get() < TOTAL {
            let start = self.sent.get();
            let len = (TOTAL - start).min(CHUNK as u64);
            let chunk: Vec<u8> = (start..start + len).map(pattern).collect();
            self.sent.set(start + len);
            transport.write(&chunk);
            let in_flight = self.sent.get() - self.received.get();
            self.max_in_flight
                .set(self.max_in_flight.get().max(in_flight));
        }
        if self.sent.get() == TOTAL {
            let _ = transport.unregister_producer();
            transport.close_stdin();
        }
    }
}

impl Producer for Feeder {
    fn stop_producing(&self) {
        self.sent.set(TOTAL);
    }
}

impl PushProducer for Feeder {
    fn pause_producing(&self) {
        self.paused.set(true);
        self.pauses.set(self.pauses.get() + 1);
    }

    fn resume_producing(&self) {
        self.paused.set(false);
        self.produce();
    }
}

/// Checks every byte `cat` gives back; pauses reading now and then so
/// the back-pressure runs through `cat` to the feeder.
struct Checker {
    received: Rc<Cell<u64>>,
    transport: Option<ProcessTransportRef>,
    reader_pauses: Rc<Cell<u32>>,
    ended: Rc<Cell<bool>>,
    reactor: Reactor,
}

impl ProcessProtocol for Checker {
    fn connection_made(&mut self, transport: ProcessTransportRef) {
        self.transport = Some(transport);
    }

    fn out_received(&mut self, data: &[u8]) {
        let start = self.received.get();
        for (offset, &byte) in data.iter().enumerate() {
            let at = start + offset as u64;
            assert_eq!(byte, pattern(at), "byte {at} came back changed");
        }
        let end = start + data.len() as u64;
        self.received.set(end);
        // Every 8 MiB, stop reading for 20 ms: cat blocks, its stdin fills.
        if end / (8 << 20) != start / (8 << 20) {
            if let Some(transport) = self.transport.clone() {
                transport.pause_producing();
                self.reader_pauses.set(self.reader_pauses.get() + 1);
                torsion_reactor::ReactorTimeExt::call_later(
                    &self.reactor,
                    Duration::from_millis(20),
                    move || transport.resume_producing(),
                );
            }
        }
    }

    fn process_ended(&mut self, reason: Failure) {
        assert!(reason.check::<ProcessDone>(), "{reason}");
        self.ended.set(true);
    }
}

/// 100 MiB through `cat` comes back byte for byte; what is in flight
/// (written but not yet back) stays bounded, as the feeder is paused past
/// the high-water mark and the reader's pauses hold everything back.
#[test]
fn hundred_mib_through_cat() {
    let _turn = one_at_a_time();
    let reactor = Reactor::new().expect("reactor");
    let received = Rc::new(Cell::new(0));
    let reader_pauses = Rc::new(Cell::new(0));
    let ended = Rc::new(Cell::new(false));
    let feeder = Rc::new(Feeder {
        transport: RefCell::new(None),
        sent: Cell::new(0),
        paused: Cell::new(false),
        pauses: Cell::new(0),
        received: received.clone(),
        max_in_flight: Cell::new(0),
    });
    let checker = Checker {
        received: received.clone(),
        transport: None,
        reader_pauses: reader_pauses.clone(),
        ended: ended.clone(),
        reactor: reactor.clone(),
    };
    let transport = reactor
        .spawn_process(Rc::new(RefCell::new(checker)), ProcessOptions::new("cat"))
        .expect("spawned");
    *feeder.transport.borrow_mut() = Some(transport.clone());
    transport
        .register_producer(ProducerRef::Push(feeder.clone()))
        .expect("registered");
    feeder.produce();
    run_until(&reactor, || ended.get());
    assert_eq!(received.get(), TOTAL);
    assert!(feeder.pauses.get() > 0, "the feeder was paused");
    assert!(reader_pauses.get() >= 10, "the reader paused");
    // Two pipe buffers, cat's buffer, our high-water mark and a chunk:
    // well under 2 MiB whatever the size of the stream.
    let max = feeder.max_in_flight.get();
    assert!(max < 2 << 20, "in flight at most {max} bytes");
    eprintln!(
        "100 MiB through cat: feeder paused {} times, reader {} times, at most {max} bytes in flight",
        feeder.pauses.get(),
        reader_pauses.get()
    );
}
