//! [`react`]: run a reactor until `main`'s [`Deferred`] fires, and turn its
//! outcome into the process's exit status (Twisted's `task.react`).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::process::ExitCode;
use std::rc::Rc;

use torsion_reactor::{events, log_failure, Deferred, Failure, Phase, Reactor, ReactorCore};

/// The exit status `main` asks for by failing with it (Twisted's
/// `SystemExit`): [`react_on`] returns its code instead of 1.
///
/// # Examples
///
/// ```
/// use torsion_application::{react_on, Exit};
/// use torsion_reactor::{fail, Reactor};
///
/// let reactor = Reactor::new()?;
/// reactor.set_install_signal_handlers(false);
/// let code = react_on(&reactor, |_| fail::<()>(Exit::new(23)));
/// assert_eq!(code, 23);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(i32);

impl Exit {
    /// Exit with status `code`.
    pub fn new(code: i32) -> Exit {
        Exit(code)
    }

    /// The status.
    pub fn code(&self) -> i32 {
        self.0
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit with status {}", self.0)
    }
}

impl Error for Exit {}

/// Calls `main(reactor)`, runs `reactor` until the [`Deferred`] it returned
/// fires, stops it, and returns the exit status: 0 if the Deferred
/// succeeded, the code of an [`Exit`] it failed with, or 1 after logging
/// any other failure ("main function encountered error"; on stderr too if
/// the program installed no logger), or the reactor's own error.
///
/// The reactor is stopped once, at the right time: if something else
/// stopped it (SIGINT or SIGTERM, which the real [`Reactor`] turns into a
/// graceful `stop`, or `main`'s own code), `react_on` does not stop it
/// again, and a Deferred that never fires then counts as success.
/// `react_on` is the testable core of [`react`]; it takes any reactor, a
/// fake one included.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use torsion_application::react_on;
/// use torsion_reactor::{task::defer_later, Reactor};
///
/// let reactor = Reactor::new()?;
/// reactor.set_install_signal_handlers(false);
/// let code = react_on(&reactor, |reactor| {
///     defer_later(reactor, Duration::from_millis(5), || ())
/// });
/// assert_eq!(code, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Twisted
///
/// `react` calls `sys.exit(code)`; here the code is returned, so a test can
/// check it and `main` decides when to exit ([`react`] hands it back as an
/// [`ExitCode`]). Twisted passes `argv` on to `main`; a Rust closure
/// captures what it needs instead.
pub fn react_on<R, T, M>(reactor: &R, main: M) -> i32
where
    R: ReactorCore + Clone + 'static,
    T: 'static,
    M: FnOnce(&R) -> Deferred<T>,
{
    let finished = main(reactor);
    let code = Rc::new(Cell::new(0));
    let stopping = Rc::new(Cell::new(false));
    let flag = stopping.clone();
    let trigger = reactor.add_system_event_trigger(
        Phase::Before,
        events::SHUTDOWN,
        Box::new(move || {
            flag.set(true);
            None
        }),
    );
    let (stopper, slot) = (reactor.clone(), code.clone());
    drop(finished.add_both(move |outcome: Result<T, Failure>| {
        let outcome = outcome.map(drop);
        if stopping.get() {
            finish(outcome, None, &slot);
        } else {
            let reactor = stopper.clone();
            stopper.call_when_running(Box::new(move || {
                finish(outcome, Some(&reactor), &slot);
            }));
        }
        Ok::<(), Failure>(())
    }));
    let ran = reactor.run();
    reactor.remove_system_event_trigger(trigger);
    match ran {
        Ok(()) => code.get(),
        Err(e) => {
            log::error!("react: the reactor failed: {e}");
            1
        }
    }
}

/// Stops `reactor` if given (a stop already under way is fine), and
/// records the exit status for `outcome`.
fn finish(outcome: Result<(), Failure>, reactor: Option<&dyn ReactorCore>, code: &Cell<i32>) {
    if let Some(reactor) = reactor {
        let _ = reactor.stop();
    }
    if let Err(failure) = outcome {
        match failure.downcast_ref::<Exit>() {
            Some(exit) => code.set(exit.code()),
            None => {
                log_failure("main function encountered error", &failure);
                if log::max_level() == log::LevelFilter::Off {
                    // No logger installed: the line above went nowhere.
                    eprintln!(
                        "{}: main function encountered error: {failure}",
                        program_name()
                    );
                }
                code.set(1);
            }
        }
    }
}

/// [`react_on`] a new [`Reactor`], as an [`ExitCode`] for `fn main`: runs
/// until `main`'s Deferred fires, or SIGINT / SIGTERM stops the reactor.
///
/// A status outside 0..=255 becomes 1 (a failure), never a code the shell
/// would read as success (`exit(256)` is 0 on POSIX).
///
/// # Examples
///
/// ```
/// use std::process::ExitCode;
/// use std::time::Duration;
/// use torsion_reactor::task::defer_later;
///
/// fn main() -> ExitCode {
///     torsion_application::react(|reactor| {
///         defer_later(reactor, Duration::from_millis(5), || println!("done"))
///     })
/// }
/// ```
pub fn react<T, M>(main: M) -> ExitCode
where
    T: 'static,
    M: FnOnce(&Reactor) -> Deferred<T>,
{
    match Reactor::new() {
        Ok(reactor) => exit_code(react_on(&reactor, main)),
        Err(e) => {
            eprintln!("{}: cannot create the reactor: {e}", program_name());
            ExitCode::FAILURE
        }
    }
}

/// [`react`] for an `async` `main`: the future runs on the reactor's local
/// executor (as Twisted's `react` accepts an `async def main`), so it may
/// await [`Deferred`]s and hold `!Send` state.
///
/// # Examples
///
/// ```
/// use std::process::ExitCode;
/// use std::time::Duration;
/// use torsion_reactor::{task::defer_later, Failure};
///
/// fn main() -> ExitCode {
///     torsion_application::react_async(|reactor| async move {
///         let answer = defer_later(&reactor, Duration::from_millis(5), || Ok::<_, Failure>(42)).await?;
///         assert_eq!(answer, 42);
///         Ok::<(), Failure>(())
///     })
/// }
/// ```
pub fn react_async<T, M, F>(main: M) -> ExitCode
where
    T: 'static,
    M: FnOnce(Reactor) -> F,
    F: Future<Output = Result<T, Failure>> + 'static,
{
    react(|reactor| Deferred::from_future(reactor, main(reactor.clone())))
}

/// `code` as a process exit status; out of range is a failure.
pub(crate) fn exit_code(code: i32) -> ExitCode {
    u8::try_from(code).map_or(ExitCode::FAILURE, ExitCode::from)
}

/// The program's file name, for error lines on stderr.
pub(crate) fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|arg| {
            std::path::Path::new(&arg)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "torsion".to_string())
}
