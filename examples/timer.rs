//! Timers: a `LoopingCall` ticking every second, and a `TimerService` that
//! reports every three seconds while the application runs; stops itself
//! after ten seconds (or on Ctrl-C).
//!
//! Run:  `cargo run --example timer`   (or `-- --for 30` to run longer)

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use torsion::application::{run, MultiService, TimerService, DEFAULT_STOP_DEADLINE};
use torsion::task::LoopingCall;
use torsion::{Failure, Reactor, ReactorCore, ReactorTimeExt};
use torsion_examples::init_logging;

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds = match args.as_slice() {
        [] => 10,
        [flag, n] if flag == "--for" => match n.parse::<u64>() {
            Ok(n) => n,
            Err(e) => {
                eprintln!("timer: --for takes whole seconds: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: timer [--for SECONDS]");
            return ExitCode::from(2);
        }
    };
    match timers(Duration::from_secs(seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("timer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn timers(run_for: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;
    let ticks = Rc::new(Cell::new(0u32));

    // A LoopingCall on its own: ticks every second, the first one now.
    let counter = ticks.clone();
    let ticker = LoopingCall::new(Rc::new(reactor.clone()), move || {
        counter.set(counter.get() + 1);
        log::info!("tick {}", counter.get());
        Ok::<_, Failure>(())
    });
    let done = ticker.start(Duration::from_secs(1), true)?;
    done.add_callback(|_| {
        log::info!("the ticker stopped");
        Ok(())
    });

    // A TimerService in the application: runs while the tree runs.
    let seen = ticks.clone();
    let root = MultiService::new();
    root.add(TimerService::new(
        Duration::from_secs(3),
        Rc::new(reactor.clone()),
        move || {
            log::info!("report: {} ticks so far", seen.get());
            Ok::<_, Failure>(())
        },
    ))?;

    let stopper = reactor.clone();
    reactor.call_later(run_for, move || {
        let _ = ticker.stop();
        let _ = stopper.stop();
    });
    run(&root, &reactor, DEFAULT_STOP_DEADLINE)?;
    log::info!("{} ticks in {run_for:?}", ticks.get());
    Ok(())
}
