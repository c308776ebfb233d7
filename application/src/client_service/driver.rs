//! The driver of [`ClientService`](super::ClientService)'s machine: feeds
//! it inputs one at a time (queueing those that arrive while another is
//! handled) and performs the actions it returns, with no borrow held
//! across user code; what an action produces goes back in as an input.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use torsion_reactor::error::{NoProtocol, PanicError};
use torsion_reactor::{
    Deferred, Failure, Outcome, ProtocolFactory, ProtocolRef, ReactorTime, ReactorTimeExt,
    StreamClientEndpoint,
};

use super::machine::{Action, AttemptId, Input, Machine};
use super::proxy::{disconnect_factory, Connection, LostNotify};
use crate::backoff::RetryPolicy;
use crate::service::ServiceState;

/// `prepare_connection`'s hook, made to return a Deferred.
pub(super) type Prepare<P> = Rc<dyn Fn(&Rc<RefCell<P>>) -> Deferred<()>>;

/// The service's state, shared by its handles and its callbacks.
pub(super) struct Driver<F: ProtocolFactory> {
    pub(super) service: ServiceState,
    pub(super) endpoint: Rc<dyn StreamClientEndpoint>,
    pub(super) factory: Rc<F>,
    retry_policy: RetryPolicy,
    clock: Rc<dyn ReactorTime>,
    prepare: Option<Prepare<F::Protocol>>,
    pub(super) machine: RefCell<Machine<F::Protocol>>,
    /// Inputs that arrived while another input's actions were running.
    inbox: RefCell<VecDeque<Input<F::Protocol>>>,
    busy: Cell<bool>,
    me: Weak<Driver<F>>,
}

impl<F: ProtocolFactory> Driver<F> {
    pub(super) fn new(
        service: ServiceState,
        endpoint: Rc<dyn StreamClientEndpoint>,
        factory: Rc<F>,
        retry_policy: RetryPolicy,
        clock: Rc<dyn ReactorTime>,
        prepare: Option<Prepare<F::Protocol>>,
        machine: Machine<F::Protocol>,
    ) -> Rc<Driver<F>> {
        Rc::new_cyclic(|me| Driver {
            service,
            endpoint,
            factory,
            retry_policy,
            clock,
            prepare,
            machine: RefCell::new(machine),
            inbox: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            me: me.clone(),
        })
    }

    /// Handles `input`, or queues it if another input is being handled.
    pub(super) fn feed(&self, input: Input<F::Protocol>) {
        self.inbox.borrow_mut().push_back(input);
        if self.busy.replace(true) {
            return;
        }
        loop {
            let next = self.inbox.borrow_mut().pop_front();
            let Some(input) = next else { break };
            self.handle(input);
        }
        self.busy.set(false);
    }

    /// One transition and its actions; what an action produced is handled
    /// at once, before the next action and any queued input.
    fn handle(&self, input: Input<F::Protocol>) {
        let now = self.clock.now();
        let actions = self.machine.borrow_mut().transition(input, now);
        for action in actions {
            if let Some(produced) = self.perform(action) {
                self.handle(produced);
            }
        }
    }

    /// Carries out one action, with no borrow held across user code;
    /// returns what it produced, as an input for the machine.
    fn perform(&self, action: Action<F::Protocol>) -> Option<Input<F::Protocol>> {
        match action {
            Action::AttemptConnection(id) => {
                return Some(Input::AttemptStarted(id, self.attempt_connection(id)));
            }
            Action::ScheduleRetry(failures, cause) => {
                let delay = (self.retry_policy)(failures);
                // Retries say why: once per attempt, at info.
                log::info!(
                    "Scheduling retry {failures} to connect {} in {delay:?} ({cause}).",
                    self.endpoint.describe()
                );
                let me = self.me.clone();
                let retry = self.clock.call_later(delay, move || {
                    if let Some(shared) = me.upgrade() {
                        shared.feed(Input::Reconnect);
                    }
                });
                return Some(Input::RetryScheduled(retry));
            }
            Action::Notify(waiters, protocol) => {
                for waiter in waiters {
                    // A waiter the user already fired or cancelled is skipped.
                    let _ = waiter.try_callback(protocol.clone());
                }
            }
            Action::Fail(waiters, failure) => {
                for waiter in waiters {
                    let _ = waiter.try_errback(failure.clone());
                }
            }
            Action::FinishStopping(waiters) => {
                for waiter in waiters {
                    let _ = waiter.try_callback(());
                }
            }
            Action::CancelAttempt(attempt) => attempt.cancel(),
            Action::CancelRetry(retry) => {
                let _ = retry.cancel();
            }
            Action::LoseConnection(connection) => connection.lose(),
            Action::Ignore(state, input) => {
                log::debug!("ClientService: {input} ignored in state {state} (stale or no effect)");
            }
        }
        None
    }

    /// Twisted's `_connect`: one attempt, through a fresh wrapping factory;
    /// its outcome comes back as `ConnectionMade` or `ConnectionFailed`.
    fn attempt_connection(&self, id: AttemptId) -> Deferred<()> {
        let me = self.me.clone();
        let on_lost: LostNotify = Rc::new(move |id, reason| {
            if let Some(shared) = me.upgrade() {
                shared.feed(Input::ClientDisconnected(id, reason));
            }
        });
        let factory = Rc::new(disconnect_factory(self.factory.clone(), id, on_lost));
        let endpoint = self.endpoint.clone();
        let for_endpoint = factory.clone();
        let connected = catch_unwind(AssertUnwindSafe(|| endpoint.connect_dyn(for_endpoint)))
            .unwrap_or_else(|payload| Deferred::failed(PanicError::from_payload(payload.as_ref())));
        let prepare = self.prepare.clone();
        let me = self.me.clone();
        connected
            .add_callback(move |_protocol: ProtocolRef| {
                let Some(connection) = factory.hooks().take_connection() else {
                    return Outcome::Ready(Err(Failure::new(NoProtocol)));
                };
                match prepare {
                    None => Outcome::Ready(Ok(connection)),
                    Some(prepare) => Outcome::Wait(prepare_connection(&prepare, connection)),
                }
            })
            .add_both(
                move |result: Result<Rc<Connection<F::Protocol>>, Failure>| {
                    if let Some(shared) = me.upgrade() {
                        shared.feed(match result {
                            Ok(connection) => Input::ConnectionMade(id, connection),
                            Err(failure) => Input::ConnectionFailed(id, failure),
                        });
                    }
                    Ok(())
                },
            )
    }
}

/// Runs `prepare` on the connection's protocol; on failure (or
/// cancellation) closes the connection before passing the failure on.
fn prepare_connection<P: 'static>(
    prepare: &Prepare<P>,
    connection: Rc<Connection<P>>,
) -> Deferred<Rc<Connection<P>>> {
    prepare(&connection.protocol).add_both(move |result| match result {
        Ok(()) => Ok(connection),
        Err(failure) => {
            connection.lose();
            Err(failure)
        }
    })
}
