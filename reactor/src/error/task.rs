//! Errors of the scheduling tools in [`task`](crate::task): `LoopingCall`
//! misuse and Twisted's `task.SchedulerError` family.

use std::error::Error;
use std::fmt;

/// Misuse of a [`LoopingCall`](crate::task::LoopingCall) (Twisted asserts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopingCallError {
    /// `start` while it is running.
    AlreadyRunning,
    /// `start` after `stop` while the loop's last iteration is still in
    /// progress (the function is running, or its Deferred has not fired):
    /// the loop has not finished until the Deferred from `start` fires.
    StillStopping,
    /// `stop` or `reset` while it is not running.
    NotRunning,
}

impl fmt::Display for LoopingCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoopingCallError::AlreadyRunning => "tried to start an already running LoopingCall",
            LoopingCallError::StillStopping => {
                "tried to start a LoopingCall whose last iteration has not finished; \
                 start it again once the Deferred from start() fires"
            }
            LoopingCallError::NotRunning => "the LoopingCall is not running",
        })
    }
}

impl Error for LoopingCallError {}

/// Why a [`Cooperator`](crate::task::Cooperator) or one of its
/// [`CooperativeTask`](crate::task::CooperativeTask)s refused an operation,
/// or why a task ended without finishing (Twisted's `task.SchedulerError`
/// and its subclasses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The cooperator was stopped while the task ran, or before it was added
    /// (`SchedulerStopped`).
    SchedulerStopped,
    /// The task's iterator was exhausted (`TaskDone`).
    TaskDone,
    /// The task was stopped with `stop` (`TaskStopped`).
    TaskStopped,
    /// The task's iterator failed (`TaskFailed`).
    TaskFailed,
    /// `resume` on a task that is not paused (`NotPaused`).
    NotPaused,
}

impl SchedulerError {
    /// Whether the task is finished for good (Twisted's `TaskFinished`).
    pub fn is_task_finished(&self) -> bool {
        matches!(
            self,
            SchedulerError::TaskDone | SchedulerError::TaskStopped | SchedulerError::TaskFailed
        )
    }
}

impl fmt::Display for SchedulerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SchedulerError::SchedulerStopped => "the cooperator was stopped",
            SchedulerError::TaskDone => "the task already finished: its iterator is exhausted",
            SchedulerError::TaskStopped => "the task was stopped",
            SchedulerError::TaskFailed => "the task already ended: its iterator failed",
            SchedulerError::NotPaused => "the task is not paused",
        })
    }
}

impl Error for SchedulerError {}
