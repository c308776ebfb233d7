//! The transition table, row by row: inputs fed in order (each at a time
//! on the service clock), then the state, the actions of the last input
//! and the failure count.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use torsion_reactor::{Deferred, Failure, ReactorTimeExt};
use torsion_testing::Clock;

use super::*;

/// An input, built when fed (Deferreds and timers are made fresh).
#[derive(Debug, Clone, Copy)]
enum Step {
    Start,
    Stop,
    WhenConnected,
    Started(u64),
    Made(u64),
    Failed(u64),
    Lost(u64),
    RetryScheduled,
    Reconnect,
}

fn input(step: Step, clock: &Clock) -> Input<()> {
    let connection = |id| Rc::new(Connection::new(AttemptId(id), Rc::new(RefCell::new(()))));
    match step {
        Step::Start => Input::Start,
        Step::Stop => Input::Stop(Deferred::new()),
        Step::WhenConnected => Input::WhenConnected(Deferred::new(), None),
        Step::Started(id) => Input::AttemptStarted(AttemptId(id), Deferred::new()),
        Step::Made(id) => Input::ConnectionMade(AttemptId(id), connection(id)),
        Step::Failed(id) => Input::ConnectionFailed(AttemptId(id), Failure::msg("refused")),
        Step::Lost(id) => Input::ClientDisconnected(AttemptId(id), Failure::msg("lost")),
        Step::RetryScheduled => {
            Input::RetryScheduled(clock.call_later(Duration::from_secs(1), || {}))
        }
        Step::Reconnect => Input::Reconnect,
    }
}

fn name<P>(action: &Action<P>) -> String {
    match action {
        Action::AttemptConnection(id) => format!("attempt {}", id.0),
        Action::ScheduleRetry(failures, _) => format!("retry after {failures}"),
        Action::Notify(waiters, _) => format!("notify {}", waiters.len()),
        Action::Fail(waiters, _) => format!("fail {}", waiters.len()),
        Action::FinishStopping(waiters) => format!("stopped {}", waiters.len()),
        Action::CancelAttempt(_) => "cancel attempt".to_string(),
        Action::CancelRetry(_) => "cancel retry".to_string(),
        Action::LoseConnection(connection) => format!("lose {}", connection.id.0),
        Action::Ignore(state, input) => format!("ignore {input} in {state}"),
    }
}

struct Row {
    name: &'static str,
    reset_backoff_after: Option<u64>,
    /// (seconds on the clock, input)
    steps: &'static [(u64, Step)],
    state: &'static str,
    actions: &'static [&'static str],
    failed_attempts: u32,
}

const ROWS: &[Row] = &[
    Row {
        name: "start connects",
        reset_backoff_after: None,
        steps: &[(0, Step::Start)],
        state: "Connecting",
        actions: &["attempt 1"],
        failed_attempts: 0,
    },
    Row {
        name: "a second start does nothing",
        reset_backoff_after: None,
        steps: &[(0, Step::Start), (0, Step::Started(1)), (0, Step::Start)],
        state: "Connecting",
        actions: &[],
        failed_attempts: 0,
    },
    Row {
        name: "a failed attempt counts, schedules a retry and spends waiter budgets",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Started(1)),
            (0, Step::Failed(1)),
        ],
        state: "Waiting",
        actions: &["retry after 1", "fail 0", "cancel attempt"],
        failed_attempts: 1,
    },
    Row {
        name: "the retry starts attempt 2",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Failed(1)),
            (0, Step::RetryScheduled),
            (1, Step::Reconnect),
        ],
        state: "Connecting",
        actions: &["attempt 2"],
        failed_attempts: 1,
    },
    Row {
        name: "a connection notifies the waiters and resets the count",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Failed(1)),
            (1, Step::Reconnect),
            (1, Step::WhenConnected),
            (1, Step::Made(2)),
        ],
        state: "Connected",
        actions: &["notify 1"],
        failed_attempts: 0,
    },
    Row {
        name: "when_connected while connected notifies at once",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Made(1)),
            (0, Step::WhenConnected),
        ],
        state: "Connected",
        actions: &["notify 1"],
        failed_attempts: 0,
    },
    Row {
        name: "a lost connection is retried",
        reset_backoff_after: None,
        steps: &[(0, Step::Start), (0, Step::Made(1)), (5, Step::Lost(1))],
        state: "Waiting",
        actions: &["retry after 1"],
        failed_attempts: 1,
    },
    Row {
        name: "with reset_backoff_after, a short connection keeps the count",
        reset_backoff_after: Some(10),
        steps: &[
            (0, Step::Start),
            (0, Step::Failed(1)),
            (1, Step::Reconnect),
            (1, Step::Made(2)),
            (6, Step::Lost(2)),
        ],
        state: "Waiting",
        actions: &["retry after 2"],
        failed_attempts: 2,
    },
    Row {
        name: "with reset_backoff_after, a long connection resets the count",
        reset_backoff_after: Some(10),
        steps: &[
            (0, Step::Start),
            (0, Step::Failed(1)),
            (1, Step::Reconnect),
            (1, Step::Made(2)),
            (11, Step::Lost(2)),
        ],
        state: "Waiting",
        actions: &["retry after 1"],
        failed_attempts: 1,
    },
    Row {
        name: "stop while connecting cancels the attempt",
        reset_backoff_after: None,
        steps: &[(0, Step::Start), (0, Step::Started(1)), (0, Step::Stop)],
        state: "Disconnecting",
        actions: &["cancel attempt"],
        failed_attempts: 0,
    },
    Row {
        name: "stop while connected closes the connection",
        reset_backoff_after: None,
        steps: &[(0, Step::Start), (0, Step::Made(1)), (0, Step::Stop)],
        state: "Disconnecting",
        actions: &["lose 1"],
        failed_attempts: 0,
    },
    Row {
        name: "stopping completes when the connection is gone",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::WhenConnected),
            (0, Step::Made(1)),
            (0, Step::Stop),
            (0, Step::Lost(1)),
        ],
        state: "Stopped",
        actions: &["fail 0", "stopped 1"],
        failed_attempts: 0,
    },
    Row {
        name: "stop while waiting cancels the retry and the waiters",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::WhenConnected),
            (0, Step::Failed(1)),
            (0, Step::RetryScheduled),
            (0, Step::Stop),
        ],
        state: "Stopped",
        actions: &["fail 1", "cancel retry", "stopped 1"],
        failed_attempts: 1,
    },
    Row {
        name: "start while disconnecting restarts once the old connection is gone",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Made(1)),
            (0, Step::Stop),
            (0, Step::Start),
            (0, Step::Lost(1)),
        ],
        state: "Connecting",
        actions: &["attempt 2", "stopped 1"],
        failed_attempts: 0,
    },
    Row {
        name: "stop before starting fires at once",
        reset_backoff_after: None,
        steps: &[(0, Step::Stop)],
        state: "Stopped",
        actions: &["stopped 1"],
        failed_attempts: 0,
    },
    Row {
        name: "when_connected on a stopped service fails",
        reset_backoff_after: None,
        steps: &[(0, Step::Stop), (0, Step::WhenConnected)],
        state: "Stopped",
        actions: &["fail 1"],
        failed_attempts: 0,
    },
    Row {
        name: "a stale connection is ignored and closed",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Failed(1)),
            (1, Step::Reconnect),
            (1, Step::Made(1)),
        ],
        state: "Connecting",
        actions: &["ignore connection_made in Connecting", "lose 1"],
        failed_attempts: 1,
    },
    Row {
        name: "a stale failure is ignored",
        reset_backoff_after: None,
        steps: &[
            (0, Step::Start),
            (0, Step::Failed(1)),
            (1, Step::Reconnect),
            (1, Step::Failed(1)),
        ],
        state: "Connecting",
        actions: &["ignore connection_failed in Connecting"],
        failed_attempts: 1,
    },
    Row {
        name: "a stale attempt is dropped silently",
        reset_backoff_after: None,
        steps: &[(0, Step::Start), (0, Step::Made(1)), (0, Step::Started(1))],
        state: "Connected",
        actions: &[],
        failed_attempts: 0,
    },
    Row {
        name: "a connection lost while preparing counts as a failed attempt",
        reset_backoff_after: None,
        steps: &[(0, Step::Start), (0, Step::Started(1)), (0, Step::Lost(1))],
        state: "Waiting",
        actions: &["retry after 1", "fail 0", "cancel attempt"],
        failed_attempts: 1,
    },
];

#[test]
fn transition_table() {
    for row in ROWS {
        let clock = Clock::new();
        let mut machine: Machine<()> =
            Machine::new(row.reset_backoff_after.map(Duration::from_secs));
        let mut last = Vec::new();
        for &(at, step) in row.steps {
            let input = input(step, &clock);
            last = machine.transition(input, Duration::from_secs(at));
        }
        let actions: Vec<String> = last.iter().map(name).collect();
        assert_eq!(machine.state().name(), row.state, "{}: state", row.name);
        assert_eq!(actions, row.actions, "{}: actions", row.name);
        assert_eq!(
            machine.failed_attempts(),
            row.failed_attempts,
            "{}: failures in a row",
            row.name
        );
    }
}

/// The attempt's Deferred, fed back, is what a stop cancels.
#[test]
fn a_started_attempt_is_kept_for_stop() {
    let mut machine: Machine<()> = Machine::new(None);
    let _ = machine.transition(Input::Start, Duration::ZERO);
    let attempt = Deferred::new();
    let kept = machine.transition(
        Input::AttemptStarted(AttemptId(1), attempt.clone()),
        Duration::ZERO,
    );
    assert!(kept.is_empty());
    let actions = machine.transition(Input::Stop(Deferred::new()), Duration::ZERO);
    match actions.as_slice() {
        [Action::CancelAttempt(cancelled)] => assert!(cancelled.is_same(&attempt)),
        other => panic!("expected one CancelAttempt, got {}", other.len()),
    }
}
