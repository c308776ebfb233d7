//! Time: the timer queue shared by the reactor and the fake clock.

mod queue;
mod timers;

pub use queue::{TimerId, TimerQueue};
pub use timers::{DelayedCall, Timers};
