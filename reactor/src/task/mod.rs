//! Timed helpers (Twisted's `twisted.internet.task`): [`LoopingCall`],
//! [`defer_later`], and [`Cooperator`] with [`cooperate`] and [`coiterate`].
//!
//! Both take the clock they run on ([`ReactorTime`](crate::ReactorTime)),
//! so a test drives them with [`Timers::manual`](crate::Timers::manual) (or
//! `torsion_testing::Clock`) and a program with the reactor.
//!
//! # Examples
//!
//! A heartbeat every second until the fourth beat, and a reply two seconds
//! after the start:
//!
//! ```
//! use std::{cell::Cell, rc::Rc, time::Duration};
//! use torsion_reactor::task::{defer_later, LoopingCall};
//! use torsion_reactor::{Failure, Timers};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Rc::new(Timers::manual());
//! let beats = Rc::new(Cell::new(0));
//! let counter = beats.clone();
//! let heartbeat = LoopingCall::new(clock.clone(), move || {
//!     counter.set(counter.get() + 1);
//!     Ok::<(), Failure>(())
//! });
//! let done = heartbeat.start(Duration::from_secs(1), true)?;
//! let reply = defer_later(&*clock, Duration::from_secs(2), || Ok::<_, Failure>("pong"));
//!
//! for second in 1..=3 {
//!     clock.set_now(Duration::from_secs(second));
//!     clock.run_until_idle();
//! }
//! assert_eq!(beats.get(), 4); // at 0, 1, 2 and 3 seconds
//! assert!(matches!(reply.take_result(), Some(Ok("pong"))));
//!
//! heartbeat.stop()?;
//! assert!(matches!(done.take_result(), Some(Ok(lc)) if lc.is_same(&heartbeat)));
//! assert!(clock.is_empty());
//! # Ok(())
//! # }
//! ```

mod cooperative_task;
mod cooperator;
mod defer_later;
mod looping_call;

pub use cooperative_task::{CooperativeTask, IntoTaskStep, TaskStep};
pub use cooperator::{
    clock_scheduler, coiterate, cooperate, time_slice, Cooperator, CooperatorBuilder, Scheduler,
    TerminationPredicateFactory, MAX_SLICE,
};
pub use defer_later::defer_later;
pub use looping_call::LoopingCall;
