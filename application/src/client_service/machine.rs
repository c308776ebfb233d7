//! ClientService's state machine: seven states, seven inputs, and the
//! transition table in one `match` ([`Machine::transition`]).
//!
//! The machine is pure: a transition only switches state and updates
//! bookkeeping (the failure count included); everything that can reach
//! user code (firing Deferreds, connecting, closing, scheduling, the retry
//! policy) is returned as a list of [`Action`]s, which the driver performs
//! in order with no borrow held. Entry actions come first, then the
//! transition's own (Twisted 26's order). What performing an action
//! produces (the attempt's Deferred, the retry timer) comes back as an
//! input ([`Input::AttemptStarted`], [`Input::RetryScheduled`]), handled
//! before any other, so the table below is the whole truth.

use std::cell::RefCell;
use std::fmt;
use std::mem;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::error::CancelledError;
use torsion_reactor::{Deferred, DelayedCall, Failure};

use super::proxy::Connection;

#[cfg(test)]
mod tests;

pub(crate) type Waiter<P> = Deferred<Rc<RefCell<P>>>;

/// Which connection attempt an event belongs to: attempts are numbered
/// from 1 in the order they start, so a late event from an abandoned one
/// is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttemptId(pub(crate) u64);

/// The states (Twisted's `_ClientMachine` states) with their data.
pub(crate) enum State<P> {
    /// Never started.
    Init,
    /// An attempt is under way; `attempt` is its Deferred (cancelled on stop).
    Connecting { attempt: Option<Deferred<()>> },
    /// Waiting to retry; `retry` is the timer.
    Waiting { retry: Option<DelayedCall> },
    /// Connected, since `since` on the service's clock.
    Connected {
        connection: Rc<Connection<P>>,
        since: Duration,
    },
    /// Stopping: waiting for the attempt to fail or the connection to close.
    Disconnecting,
    /// Stopping, but started again: reconnect once the old connection is gone.
    Restarting,
    /// Stopped.
    Stopped,
}

impl<P> State<P> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            State::Init => "Init",
            State::Connecting { .. } => "Connecting",
            State::Waiting { .. } => "Waiting",
            State::Connected { .. } => "Connected",
            State::Disconnecting => "Disconnecting",
            State::Restarting => "Restarting",
            State::Stopped => "Stopped",
        }
    }
}

/// The inputs. Those from attempts and connections carry the attempt's id,
/// so a late event from an abandoned attempt is recognised and ignored.
pub(crate) enum Input<P> {
    Start,
    Stop(Deferred<()>),
    WhenConnected(Waiter<P>, Option<u32>),
    /// Performing `AttemptConnection` started the attempt: its Deferred.
    AttemptStarted(AttemptId, Deferred<()>),
    ConnectionMade(AttemptId, Rc<Connection<P>>),
    ConnectionFailed(AttemptId, Failure),
    /// Performing `ScheduleRetry` scheduled the retry: its timer.
    RetryScheduled(DelayedCall),
    Reconnect,
    ClientDisconnected(AttemptId, Failure),
}

impl<P> Input<P> {
    fn name(&self) -> &'static str {
        match self {
            Input::Start => "start",
            Input::Stop(_) => "stop",
            Input::WhenConnected(..) => "when_connected",
            Input::AttemptStarted(..) => "attempt_started",
            Input::ConnectionMade(..) => "connection_made",
            Input::ConnectionFailed(..) => "connection_failed",
            Input::RetryScheduled(..) => "retry_scheduled",
            Input::Reconnect => "reconnect",
            Input::ClientDisconnected(..) => "client_disconnected",
        }
    }
}

/// What a transition asks the service to do, in order.
pub(crate) enum Action<P> {
    /// Entry of Connecting: start attempt `id` (then feed `AttemptStarted`).
    AttemptConnection(AttemptId),
    /// Entry of Waiting (the failure is counted): ask the policy for the
    /// delay after this many failures in a row, schedule the retry (then
    /// feed `RetryScheduled`). The failure or lost connection that caused
    /// it is logged with it (retries must say why).
    ScheduleRetry(u32, Failure),
    /// Fire these waiters with the connected protocol.
    Notify(Vec<Waiter<P>>, Rc<RefCell<P>>),
    /// Fail these waiters with this very failure.
    Fail(Vec<Waiter<P>>, Failure),
    /// Fire these stop Deferreds.
    FinishStopping(Vec<Deferred<()>>),
    /// Cancel the attempt under way.
    CancelAttempt(Deferred<()>),
    /// Cancel the retry timer.
    CancelRetry(DelayedCall),
    /// Close this connection.
    LoseConnection(Rc<Connection<P>>),
    /// An input that has no effect in this state; logged.
    Ignore(&'static str, &'static str),
}

/// The machine: state plus the data shared across states.
pub(crate) struct Machine<P> {
    state: State<P>,
    /// Failures in a row; the retry policy's argument.
    failed_attempts: u32,
    awaiting: Vec<(Waiter<P>, Option<u32>)>,
    stop_waiters: Vec<Deferred<()>>,
    /// Attempts started so far.
    attempts: u64,
    /// The attempt (and then connection) the machine is following.
    current: Option<AttemptId>,
    /// Opt-in: only a connection that stayed up this long resets the count.
    reset_backoff_after: Option<Duration>,
}

impl<P> Machine<P> {
    pub(crate) fn new(reset_backoff_after: Option<Duration>) -> Machine<P> {
        Machine {
            state: State::Init,
            failed_attempts: 0,
            awaiting: Vec::new(),
            stop_waiters: Vec::new(),
            attempts: 0,
            current: None,
            reset_backoff_after,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> &State<P> {
        &self.state
    }

    /// Failures in a row so far.
    pub(crate) fn failed_attempts(&self) -> u32 {
        self.failed_attempts
    }

    fn start_attempt(&mut self) -> Action<P> {
        self.attempts += 1;
        let id = AttemptId(self.attempts);
        self.current = Some(id);
        self.state = State::Connecting { attempt: None };
        Action::AttemptConnection(id)
    }

    fn is_current(&self, id: AttemptId) -> bool {
        self.current == Some(id)
    }

    /// Entry of Waiting: one more failure in a row, then the retry.
    fn wait_for_retry(&mut self, cause: Failure) -> Action<P> {
        self.current = None;
        self.state = State::Waiting { retry: None };
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        Action::ScheduleRetry(self.failed_attempts, cause)
    }

    /// Twisted's failAfter processing: each waiter with a budget spends one
    /// failure; those out of budget get this very failure.
    fn fail_after(&mut self, failure: &Failure) -> Action<P> {
        let mut failing = Vec::new();
        for (waiter, remaining) in mem::take(&mut self.awaiting) {
            match remaining {
                Some(n) if n <= 1 => failing.push(waiter),
                Some(n) => self.awaiting.push((waiter, Some(n - 1))),
                None => self.awaiting.push((waiter, None)),
            }
        }
        Action::Fail(failing, failure.clone())
    }

    fn cancel_waiters(&mut self) -> Action<P> {
        let waiters = mem::take(&mut self.awaiting)
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        Action::Fail(waiters, Failure::new(CancelledError))
    }

    fn finish_stopping(&mut self) -> Action<P> {
        Action::FinishStopping(mem::take(&mut self.stop_waiters))
    }

    fn notify(&mut self, connection: &Rc<Connection<P>>) -> Action<P> {
        let waiters = mem::take(&mut self.awaiting)
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        Action::Notify(waiters, connection.protocol.clone())
    }

    /// The transition table. `now` is the service clock's time.
    pub(crate) fn transition(&mut self, input: Input<P>, now: Duration) -> Vec<Action<P>> {
        use Action as A;
        use Input as I;
        use State as S;
        let input_name = input.name();
        let state = mem::replace(&mut self.state, S::Stopped);
        let state_name = state.name();
        match (state, input) {
            // start
            (S::Init | S::Stopped, I::Start) => vec![self.start_attempt()],
            (S::Disconnecting, I::Start) => {
                // Twisted <= 24.7 reset the count here; harmless and saner.
                self.failed_attempts = 0;
                self.state = S::Restarting;
                vec![]
            }
            (
                s
                @ (S::Connecting { .. } | S::Waiting { .. } | S::Connected { .. } | S::Restarting),
                I::Start,
            ) => {
                self.state = s;
                vec![]
            }

            // stop
            (S::Init, I::Stop(w)) => vec![A::FinishStopping(vec![w])], // waiters survive, as in Twisted
            (S::Stopped, I::Stop(w)) => vec![A::FinishStopping(vec![w])],
            (S::Connecting { attempt }, I::Stop(w)) => {
                self.stop_waiters.push(w);
                self.state = S::Disconnecting;
                attempt.map(A::CancelAttempt).into_iter().collect()
            }
            (S::Waiting { retry }, I::Stop(w)) => {
                self.stop_waiters.push(w);
                self.current = None;
                let mut actions = vec![self.cancel_waiters()];
                actions.extend(retry.map(A::CancelRetry));
                actions.push(self.finish_stopping());
                actions
            }
            (S::Connected { connection, .. }, I::Stop(w)) => {
                self.stop_waiters.push(w);
                self.state = S::Disconnecting;
                vec![A::LoseConnection(connection)]
            }
            (S::Disconnecting | S::Restarting, I::Stop(w)) => {
                self.stop_waiters.push(w);
                self.state = S::Disconnecting;
                vec![]
            }

            // when_connected
            (S::Connected { connection, since }, I::WhenConnected(d, _)) => {
                let protocol = connection.protocol.clone();
                self.state = S::Connected { connection, since };
                vec![A::Notify(vec![d], protocol)]
            }
            (S::Stopped, I::WhenConnected(d, _)) => {
                vec![A::Fail(vec![d], Failure::new(CancelledError))]
            }
            (s, I::WhenConnected(d, n)) => {
                self.awaiting.push((d, n));
                self.state = s;
                vec![]
            }

            // an attempt succeeded
            (S::Connecting { .. }, I::ConnectionMade(id, connection)) if self.is_current(id) => {
                if self.reset_backoff_after.is_none() {
                    self.failed_attempts = 0;
                }
                let notify = self.notify(&connection);
                self.state = S::Connected {
                    connection,
                    since: now,
                };
                vec![notify]
            }

            // an attempt failed; or its connection dropped while preparing,
            // which Twisted leaves unhandled and we count as a failure
            (
                S::Connecting { attempt },
                I::ConnectionFailed(id, f) | I::ClientDisconnected(id, f),
            ) if self.is_current(id) => {
                let mut actions = vec![self.wait_for_retry(f.clone()), self.fail_after(&f)];
                // Abandon the attempt (cancels a pending preparation); its
                // late failure carries a stale id and is ignored.
                actions.extend(attempt.map(A::CancelAttempt));
                actions
            }

            // the connection was lost
            (S::Connected { since, .. }, I::ClientDisconnected(id, reason))
                if self.is_current(id) =>
            {
                if let Some(threshold) = self.reset_backoff_after {
                    if now.saturating_sub(since) >= threshold {
                        self.failed_attempts = 0;
                    }
                }
                vec![self.wait_for_retry(reason)]
            }
            // Twisted 26's †4, only reachable if handling connection_made
            // failed: retry, and close the connection Twisted leaves open.
            (S::Connected { connection, .. }, I::ConnectionFailed(id, f))
                if self.is_current(id) =>
            {
                let retry = self.wait_for_retry(f);
                vec![A::LoseConnection(connection), retry]
            }

            // what performing an entry action produced, kept for a stop to
            // cancel (it comes back before any other input, so the state is
            // the one that asked; otherwise it is dropped)
            (S::Connecting { attempt: None }, I::AttemptStarted(id, attempt))
                if self.is_current(id) =>
            {
                self.state = S::Connecting {
                    attempt: Some(attempt),
                };
                vec![]
            }
            (S::Waiting { retry: None }, I::RetryScheduled(retry)) => {
                self.state = S::Waiting { retry: Some(retry) };
                vec![]
            }
            (s, I::AttemptStarted(..) | I::RetryScheduled(_)) => {
                self.state = s;
                vec![]
            }

            // retry
            (S::Waiting { .. }, I::Reconnect) => vec![self.start_attempt()],

            // stopping completes
            (S::Disconnecting, I::ConnectionFailed(id, _) | I::ClientDisconnected(id, _))
                if self.is_current(id) =>
            {
                self.current = None;
                vec![self.cancel_waiters(), self.finish_stopping()]
            }
            // restarting: reconnect first, then release the stop waiters
            (S::Restarting, I::ConnectionFailed(id, _) | I::ClientDisconnected(id, _))
                if self.is_current(id) =>
            {
                let stopping = self.finish_stopping();
                vec![self.start_attempt(), stopping]
            }

            // anything else is stale or meaningless here
            (s, I::ConnectionMade(_, connection)) => {
                self.state = s;
                vec![
                    A::Ignore(state_name, input_name),
                    A::LoseConnection(connection),
                ]
            }
            (s, _) => {
                self.state = s;
                vec![A::Ignore(state_name, input_name)]
            }
        }
    }
}

impl<P> fmt::Debug for Machine<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("state", &self.state.name())
            .field("failed_attempts", &self.failed_attempts)
            .field("awaiting", &self.awaiting.len())
            .field("stop_waiters", &self.stop_waiters.len())
            .finish()
    }
}
