//! [`ReactorCore`]: Twisted's `IReactorCore`: running, stopping, system events.

use std::fmt;
use std::str::FromStr;

use crate::error::ReactorError;
use crate::Deferred;

/// The phase of a system event a trigger runs in.
///
/// Firing an event runs every `Before` trigger (waiting for the Deferreds
/// they return), then every `During` trigger, then every `After` trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// First; a trigger returning a Deferred holds the event until it fires.
    Before,
    /// Second: where the reactor does its own work (e.g. stop the loop).
    During,
    /// Last.
    After,
}

/// A phase name that is not `before`, `during` or `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPhase(pub String);

impl fmt::Display for UnknownPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown system event phase {:?}: expected before, during or after",
            self.0
        )
    }
}

impl std::error::Error for UnknownPhase {}

impl FromStr for Phase {
    type Err = UnknownPhase;
    fn from_str(s: &str) -> Result<Phase, UnknownPhase> {
        match s {
            "before" => Ok(Phase::Before),
            "during" => Ok(Phase::During),
            "after" => Ok(Phase::After),
            other => Err(UnknownPhase(other.to_string())),
        }
    }
}

/// Identifies a registered system event trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TriggerId(pub u64);

/// A system event trigger: may return a Deferred to hold a `Before` phase.
pub type Trigger = Box<dyn FnMut() -> Option<Deferred<()>>>;

/// The event names the reactor itself fires.
pub mod events {
    /// Fired by `run()` before the loop starts.
    pub const STARTUP: &str = "startup";
    /// Fired after `stop()`, before `run()` returns.
    pub const SHUTDOWN: &str = "shutdown";
}

/// Running and stopping the reactor, and system events: Twisted's `IReactorCore`.
///
/// # Examples
///
/// Code that hooks into the lifecycle takes the trait, so it runs on the
/// real reactor and on `testing::MemoryReactor` alike:
///
/// ```
/// use torsion_reactor::{events, Phase, ReactorCore};
///
/// fn flush_on_shutdown(reactor: &dyn ReactorCore) {
///     reactor.add_system_event_trigger(
///         Phase::Before,
///         events::SHUTDOWN,
///         Box::new(|| {
///             // write out state; return Some(deferred) to make shutdown wait
///             None
///         }),
///     );
/// }
/// # let _ = flush_on_shutdown;
/// ```
pub trait ReactorCore {
    /// Whether the loop is running (Twisted's `running`): from the "during"
    /// phase of `startup` until the "during" phase of `shutdown`.
    fn is_running(&self) -> bool;

    /// Fires `startup`, runs the loop until [`stop`](ReactorCore::stop), fires
    /// `shutdown`, and returns (Twisted's `run`).
    ///
    /// # Errors
    ///
    /// [`ReactorError::AlreadyRunning`], [`ReactorError::NotRestartable`], or
    /// an OS error of the event loop.
    fn run(&self) -> Result<(), ReactorError>;

    /// Asks the loop to stop after the current iteration, firing `shutdown`
    /// (Twisted's `stop`). May be called from inside any callback, and
    /// before [`run`](ReactorCore::run): then `run` fires `startup`, runs one
    /// iteration, fires `shutdown` and returns at once.
    ///
    /// # Errors
    ///
    /// [`ReactorError::NotRunning`] if it is already stopping or stopped.
    ///
    /// # Twisted
    ///
    /// Twisted raises `ReactorNotRunning` before `run`, so an errback that
    /// fires before the reactor starts cannot stop it; here it can.
    fn stop(&self) -> Result<(), ReactorError>;

    /// Stops the loop at once without firing `shutdown` (Twisted's `crash`);
    /// `run` may be called again afterwards (it fires `startup` again).
    fn crash(&self);

    /// Calls `call` once the reactor runs, or now if it already does
    /// (Twisted's `callWhenRunning`); returns the trigger id when deferred.
    fn call_when_running(&self, call: Box<dyn FnOnce()>) -> Option<TriggerId>;

    /// Registers `trigger` for `phase` of `event` (Twisted's `addSystemEventTrigger`).
    fn add_system_event_trigger(&self, phase: Phase, event: &str, trigger: Trigger) -> TriggerId;

    /// Unregisters a trigger; returns whether it was registered.
    fn remove_system_event_trigger(&self, id: TriggerId) -> bool;

    /// Fires `event`: runs its `Before`, `During` then `After` triggers
    /// (Twisted's `fireSystemEvent`). A trigger's panic is logged and the
    /// others still run.
    fn fire_system_event(&self, event: &str);
}
