//! [`CooperativeTask`]: one iterator inside a [`Cooperator`], and what its
//! iterator may yield ([`TaskStep`], [`IntoTaskStep`]).

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use super::cooperator::{self, Cooperator, Shared};
use crate::error::{PanicError, SchedulerError};
use crate::{Deferred, Failure};

/// What one step of a cooperative task's iterator asks for.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskStep {
    /// Go on: the next step comes when the cooperator gets back to this task.
    Continue,
    /// Pause the task until this Deferred fires; a failure ends the task
    /// with it (Twisted: the iterator yielded a Deferred).
    Wait(Deferred<()>),
    /// End the task with this failure (Twisted: `next()` raised).
    Fail(Failure),
}

/// What a cooperative task's iterator may yield: `()`, a [`Deferred`] to
/// wait for, a `Result` whose error ends the task, an `Option` (`None`
/// continues) or a [`TaskStep`].
pub trait IntoTaskStep: 'static {
    /// The step this item stands for.
    fn into_task_step(self) -> TaskStep;
}

impl IntoTaskStep for TaskStep {
    fn into_task_step(self) -> TaskStep {
        self
    }
}

impl IntoTaskStep for () {
    fn into_task_step(self) -> TaskStep {
        TaskStep::Continue
    }
}

impl<T: 'static> IntoTaskStep for Deferred<T> {
    fn into_task_step(self) -> TaskStep {
        TaskStep::Wait(self.add_callback(|_| ()))
    }
}

impl<S: IntoTaskStep> IntoTaskStep for Option<S> {
    fn into_task_step(self) -> TaskStep {
        self.map_or(TaskStep::Continue, IntoTaskStep::into_task_step)
    }
}

impl<S: IntoTaskStep, E: Into<Failure> + 'static> IntoTaskStep for Result<S, E> {
    fn into_task_step(self) -> TaskStep {
        match self {
            Ok(step) => step.into_task_step(),
            Err(error) => TaskStep::Fail(error.into()),
        }
    }
}

type Work = Box<dyn FnMut() -> Option<TaskStep>>;

struct State {
    /// `when_done` Deferreds still waiting.
    deferreds: Vec<Deferred<()>>,
    pause_count: u32,
    /// How it ended (Twisted's `_completionState`), and with what.
    completion: Option<(SchedulerError, Result<(), Failure>)>,
}

pub(super) struct TaskInner {
    /// Taken out while it runs (no borrow is held across user code) and
    /// dropped when the task ends.
    work: RefCell<Option<Work>>,
    state: RefCell<State>,
    /// Strong: a task waiting on a Deferred keeps its cooperator alive
    /// (the cycle through the cooperator's task list ends with the task).
    cooperator: Rc<Shared>,
}

/// A task inside a [`Cooperator`] (Twisted's `task.CooperativeTask`): it
/// can be paused, resumed and stopped, and [`when_done`](CooperativeTask::when_done)
/// tells when it ends. Make one with [`Cooperator::cooperate`].
///
/// Handles are cheap clones of one task.
///
/// # Twisted
///
/// * `whenDone()` fires with `()` rather than the iterator: the iterator
///   is owned by the task and dropped when it ends.
/// * Operations Twisted refuses by raising return a [`SchedulerError`].
/// * A task stopped while it waits on a Deferred ignores that Deferred's
///   later failure (Twisted fires the `whenDone` Deferreds a second time).
#[derive(Clone)]
pub struct CooperativeTask {
    pub(super) inner: Rc<TaskInner>,
}

impl CooperativeTask {
    pub(super) fn new<I>(iterator: I, cooperator: &Cooperator) -> CooperativeTask
    where
        I: Iterator + 'static,
        I::Item: IntoTaskStep,
    {
        let mut iterator = iterator;
        let task = CooperativeTask {
            inner: Rc::new(TaskInner {
                work: RefCell::new(Some(Box::new(move || {
                    iterator.next().map(IntoTaskStep::into_task_step)
                }))),
                state: RefCell::new(State {
                    deferreds: Vec::new(),
                    pause_count: 0,
                    completion: None,
                }),
                cooperator: cooperator.inner.clone(),
            }),
        };
        cooperator::add_task(&cooperator.inner, &task);
        task
    }

    /// A new Deferred that fires when the task ends: with `()` when its
    /// iterator is exhausted, with the iterator's failure if it failed,
    /// with [`SchedulerError::TaskStopped`] after [`stop`](CooperativeTask::stop)
    /// or [`SchedulerError::SchedulerStopped`] if its cooperator stopped.
    /// Each call gives a Deferred of its own; once ended, it has fired.
    pub fn when_done(&self) -> Deferred<()> {
        let mut state = self.inner.state.borrow_mut();
        match &state.completion {
            None => {
                let d = Deferred::new();
                state.deferreds.push(d.clone());
                d
            }
            Some((_, Ok(()))) => Deferred::succeeded(()),
            Some((_, Err(failure))) => Deferred::failed(failure.clone()),
        }
    }

    /// Stops doing work until as many [`resume`](CooperativeTask::resume)s.
    ///
    /// # Errors
    ///
    /// How the task ended, if it has ([`SchedulerError::is_task_finished`],
    /// or [`SchedulerError::SchedulerStopped`]).
    pub fn pause(&self) -> Result<(), SchedulerError> {
        let first = {
            let mut state = self.inner.state.borrow_mut();
            if let Some((why, _)) = &state.completion {
                return Err(*why);
            }
            state.pause_count += 1;
            state.pause_count == 1
        };
        if first {
            self.with_cooperator(|shared| cooperator::remove_task(shared, self));
        }
        Ok(())
    }

    /// Undoes one [`pause`](CooperativeTask::pause); at zero the task runs
    /// again (on the cooperator's next tick). Resuming a task that ended
    /// while paused does nothing.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::NotPaused`] if it is not paused.
    pub fn resume(&self) -> Result<(), SchedulerError> {
        let add = {
            let mut state = self.inner.state.borrow_mut();
            if state.pause_count == 0 {
                return Err(SchedulerError::NotPaused);
            }
            state.pause_count -= 1;
            state.pause_count == 0 && state.completion.is_none()
        };
        if add {
            self.with_cooperator(|shared| cooperator::add_task(shared, self));
        }
        Ok(())
    }

    /// Stops the task for good: its `when_done` Deferreds fail with
    /// [`SchedulerError::TaskStopped`].
    ///
    /// # Errors
    ///
    /// How the task ended, if it already has.
    pub fn stop(&self) -> Result<(), SchedulerError> {
        if let Some((why, _)) = &self.inner.state.borrow().completion {
            return Err(*why);
        }
        self.complete_with(
            SchedulerError::TaskStopped,
            Err(Failure::new(SchedulerError::TaskStopped)),
        );
        Ok(())
    }

    /// Whether it is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.state.borrow().pause_count > 0
    }

    /// How it ended, if it has: [`SchedulerError::TaskDone`] for an
    /// exhausted iterator.
    pub fn completion(&self) -> Option<SchedulerError> {
        self.inner
            .state
            .borrow()
            .completion
            .as_ref()
            .map(|(why, _)| *why)
    }

    /// Whether `other` is a handle to this very task.
    pub fn is_same(&self, other: &CooperativeTask) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    fn with_cooperator(&self, f: impl FnOnce(&Rc<Shared>)) {
        f(&self.inner.cooperator);
    }

    /// Ends the task (Twisted's `_completeWith`): out of the cooperator
    /// first, then the Deferreds, so their callbacks see it gone.
    pub(super) fn complete_with(&self, why: SchedulerError, result: Result<(), Failure>) {
        let (deferreds, paused) = {
            let mut state = self.inner.state.borrow_mut();
            state.completion = Some((why, result.clone()));
            (std::mem::take(&mut state.deferreds), state.pause_count > 0)
        };
        if !paused {
            self.with_cooperator(|shared| cooperator::remove_task(shared, self));
        }
        let work = self.inner.work.borrow_mut().take();
        drop(work); // the iterator's own Drop may run user code: no borrow held
        for d in deferreds {
            let _ = d.try_resolve(result.clone());
        }
    }

    /// One step of the iterator (Twisted's `_oneWorkUnit`).
    pub(super) fn one_work_unit(&self) {
        let Some(mut work) = self.inner.work.borrow_mut().take() else {
            return; // ended, or already running (a re-entrant tick)
        };
        let step = catch_unwind(AssertUnwindSafe(&mut work)).unwrap_or_else(|payload| {
            let error = PanicError::from_payload(payload.as_ref());
            log::error!("a cooperative task panicked: {}", error.message);
            Some(TaskStep::Fail(Failure::new(error)))
        });
        if self.completion().is_some() {
            return; // stopped from inside its own step: drop the iterator
        }
        match step {
            None => {
                drop(work);
                self.complete_with(SchedulerError::TaskDone, Ok(()));
            }
            Some(TaskStep::Fail(failure)) => {
                drop(work);
                self.complete_with(SchedulerError::TaskFailed, Err(failure));
            }
            Some(TaskStep::Continue) => *self.inner.work.borrow_mut() = Some(work),
            Some(TaskStep::Wait(waiting)) => {
                *self.inner.work.borrow_mut() = Some(work);
                let _ = self.pause();
                let (on_ok, on_err) = (self.clone(), self.clone());
                waiting.add_callbacks(
                    move |()| {
                        let _ = on_ok.resume();
                    },
                    move |failure| {
                        if on_err.completion().is_none() {
                            on_err.complete_with(SchedulerError::TaskFailed, Err(failure));
                        }
                    },
                );
            }
        }
    }
}

impl fmt::Debug for CooperativeTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("CooperativeTask")
            .field("pause_count", &state.pause_count)
            .field("completion", &state.completion.as_ref().map(|(why, _)| why))
            .finish()
    }
}
