//! The simulation itself (`torsion_testing::sim`): a host's reactor core,
//! typed errors for bad names, a seeded fault plan, and a failing
//! scenario's panic.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_testing::sim::{FaultPlan, SimError, Simulation};

/// Bad names get typed errors.
#[test]
fn bad_names_are_errors() {
    let sim = Simulation::new(12);
    sim.add_host("a").unwrap();
    assert_eq!(
        sim.add_host("a").unwrap_err(),
        SimError::DuplicateHost("a".into())
    );
    assert_eq!(
        sim.partition("a", "b").unwrap_err(),
        SimError::UnknownHost("b".into())
    );
    assert_eq!(
        sim.partition("a", "a").unwrap_err(),
        SimError::SameHost("a".into())
    );
    assert!(sim.crash("zz").unwrap_err().to_string().contains("zz"));
}

/// A host's core: `run` fires `startup`, `stop` fires `shutdown`; a crash
/// forgets its triggers.
#[test]
fn host_core_triggers() {
    use torsion_reactor::{events, Phase, ReactorCore};
    let sim = Simulation::new(15);
    let host = sim.add_host("h").unwrap();
    let fired: Rc<RefCell<Vec<&str>>> = Rc::default();
    for (event, name) in [(events::STARTUP, "startup"), (events::SHUTDOWN, "shutdown")] {
        let log = fired.clone();
        host.add_system_event_trigger(
            Phase::During,
            event,
            Box::new(move || {
                log.borrow_mut().push(name);
                None
            }),
        );
    }
    let log = fired.clone();
    host.call_when_running(Box::new(move || log.borrow_mut().push("running")));
    host.run().unwrap();
    assert!(host.is_running());
    host.stop().unwrap();
    assert_eq!(*fired.borrow(), ["running", "startup", "shutdown"]);
    assert!(host.stop().is_err());

    host.run().unwrap(); // startup again
    assert_eq!(fired.borrow().len(), 4);
    sim.crash("h").unwrap();
    assert!(!host.is_running() && !host.is_up());
    sim.restart("h", |h| h.run().unwrap()).unwrap();
    assert_eq!(
        fired.borrow().len(),
        4,
        "the crashed process's triggers are gone"
    );
}

/// A seeded plan crashes and restarts a host with its setup.
#[test]
fn fault_plan_crashes_and_restarts() {
    let sim = Simulation::new(16);
    sim.add_host("a").unwrap();
    let restarts = Rc::new(RefCell::new(0));
    let count = restarts.clone();
    sim.schedule_faults(
        FaultPlan::new(Duration::from_secs(100))
            .crash("a", move |_| *count.borrow_mut() += 1)
            .gaps(Duration::from_secs(5), Duration::from_secs(10)),
    )
    .unwrap();
    sim.run_for(Duration::from_secs(120));
    let crashes = sim
        .trace()
        .iter()
        .filter(|l| l.contains("fault: crash a"))
        .count();
    assert!(crashes >= 5, "{crashes}");
    assert_eq!(*restarts.borrow(), crashes);
    assert!(sim.host("a").unwrap().is_up());
}

/// A failing scenario's panic goes on (after the seed is printed).
#[test]
#[should_panic(expected = "scenario failed")]
fn run_seed_lets_the_panic_go_on() {
    Simulation::run_seed(99, |sim| {
        sim.note("about to fail");
        panic!("scenario failed");
    });
}
