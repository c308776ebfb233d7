//! [`Failure`]: the error value that travels down a [`Deferred`](crate::Deferred)'s errback chain.

use std::any::type_name;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

/// An error travelling through a callback chain: Twisted's `twisted.python.failure.Failure`.
///
/// A `Failure` wraps any `std::error::Error + 'static`. Cloning is cheap (it is
/// reference-counted) and a clone is *the same failure*: [`Failure::is_same`]
/// tells the very object apart from an equal-looking one, as Twisted tests do
/// with `assertIs`.
///
/// Any error converts into a `Failure` with `?` or `.into()`, so a callback can
/// return `Result<U, Failure>` and use `?` on `io::Result` and friends.
///
/// # Examples
///
/// ```
/// use torsion_reactor::{Failure, error::CancelledError, error::ConnectionDone};
///
/// let failure = Failure::new(CancelledError);
/// assert!(failure.check::<CancelledError>());
/// assert!(!failure.check::<ConnectionDone>());
///
/// // `trap` hands back the error if it is of that type, else the failure
/// // itself, so `?` passes an unexpected failure on down the errback chain.
/// let trapped: Result<&CancelledError, Failure> = failure.trap::<CancelledError>();
/// assert!(trapped.is_ok());
///
/// let same = failure.clone();
/// assert!(same.is_same(&failure));
/// assert!(!Failure::new(CancelledError).is_same(&failure));
/// ```
///
/// # Twisted
///
/// Twisted checks a failure against a class hierarchy; Rust has no subclasses,
/// so [`check`](Failure::check) matches the wrapped error's exact type and
/// [`find`](Failure::find) also searches its [`source`](Error::source) chain.
/// `Failure` deliberately does not implement `Error` itself (like
/// `anyhow::Error`), which is what lets every error convert into it.
#[derive(Clone)]
pub struct Failure {
    inner: Rc<Inner>,
}

struct Inner {
    error: Box<dyn Error + 'static>,
    type_name: &'static str,
}

impl Failure {
    /// Wraps `error`.
    pub fn new<E: Error + 'static>(error: E) -> Failure {
        Failure {
            inner: Rc::new(Inner {
                error: Box::new(error),
                type_name: type_name::<E>(),
            }),
        }
    }

    /// Wraps an already boxed error; [`check`](Failure::check) and
    /// [`downcast_ref`](Failure::downcast_ref) still see its concrete type.
    pub fn from_boxed(error: Box<dyn Error + 'static>) -> Failure {
        Failure {
            inner: Rc::new(Inner {
                error,
                type_name: "Box<dyn Error>",
            }),
        }
    }

    /// A failure carrying only a message ([`crate::error::Message`]): Twisted's
    /// `Failure(Exception("..."))`.
    pub fn msg(message: impl Into<String>) -> Failure {
        Failure::new(crate::error::Message::new(message))
    }

    /// Whether the wrapped error is of type `E` (Twisted's `Failure.check`).
    pub fn check<E: Error + 'static>(&self) -> bool {
        self.inner.error.is::<E>()
    }

    /// The wrapped error as an `E`, if it is one.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.inner.error.downcast_ref::<E>()
    }

    /// Twisted's `Failure.trap`: `Ok(error)` if the wrapped error is an `E`,
    /// otherwise `Err(self.clone())`, so that `failure.trap::<E>()?` inside an
    /// errback passes any other failure on unchanged.
    ///
    /// # Errors
    ///
    /// Returns this same failure when it does not wrap an `E`.
    pub fn trap<E: Error + 'static>(&self) -> Result<&E, Failure> {
        self.inner
            .error
            .downcast_ref::<E>()
            .ok_or_else(|| self.clone())
    }

    /// The first error of type `E` in the wrapped error or its `source()` chain.
    pub fn find<E: Error + 'static>(&self) -> Option<&E> {
        let mut current: Option<&(dyn Error + 'static)> = Some(self.inner.error.as_ref());
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<E>() {
                return Some(found);
            }
            current = error.source();
        }
        None
    }

    /// The wrapped error.
    pub fn error(&self) -> &(dyn Error + 'static) {
        self.inner.error.as_ref()
    }

    /// The Rust type name of the wrapped error, as given to [`Failure::new`].
    pub fn type_name(&self) -> &'static str {
        self.inner.type_name
    }

    /// The wrapped error's own message (Twisted's `getErrorMessage`).
    pub fn error_message(&self) -> String {
        self.inner.error.to_string()
    }

    /// Whether `other` is this very failure (a clone of it), not merely an equal one.
    pub fn is_same(&self, other: &Failure) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Logs `failure` at error level as `"{context}: {failure}"`, with the
/// wrapped error's type name attached as the structured key `failure_type`,
/// so that a log capture (`torsion_testing::LogCapture`) can recognise a
/// logged failure by type, as Twisted's `flushLoggedErrors` does.
pub fn log_failure(context: &str, failure: &Failure) {
    log::error!(failure_type = failure.type_name(); "{context}: {failure}");
}

impl<E: Error + 'static> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::new(error)
    }
}

impl fmt::Display for Failure {
    /// `type: message`, then `: caused by: ...` for each error in the source chain.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            short_name(self.inner.type_name),
            self.inner.error
        )?;
        let mut source = self.inner.error.source();
        while let Some(error) = source {
            write!(f, ": caused by: {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("type", &self.inner.type_name)
            .field("error", &self.inner.error)
            .finish()
    }
}

/// `torsion_reactor::error::CancelledError` -> `CancelledError`; generic
/// arguments are kept (`Factory<my_app::Echo>` -> `Factory<my_app::Echo>`).
pub(crate) fn short_name(name: &'static str) -> &'static str {
    let end = name.find('<').unwrap_or(name.len());
    match name[..end].rfind("::") {
        Some(i) => &name[i + 2..],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{CancelledError, ConnectionLost};
    use std::io;

    #[test]
    fn display_names_type_and_cause_chain() {
        let failure = Failure::new(ConnectionLost::from_io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "reset by peer",
        )));
        let text = failure.to_string();
        assert!(text.starts_with("ConnectionLost: "), "{text}");
        assert!(text.contains("caused by: reset by peer"), "{text}");
    }

    #[test]
    fn find_searches_the_source_chain() {
        let failure = Failure::new(ConnectionLost::from_io(io::Error::other("x")));
        assert!(failure.find::<io::Error>().is_some());
        assert!(failure.downcast_ref::<io::Error>().is_none());
    }

    #[test]
    fn boxed_errors_keep_their_concrete_type() {
        let failure = Failure::from_boxed(Box::new(CancelledError));
        assert!(failure.check::<CancelledError>());
    }

    #[test]
    fn trap_returns_other_failures_unchanged() {
        let failure = Failure::msg("boom");
        let other = failure.trap::<CancelledError>().unwrap_err();
        assert!(other.is_same(&failure));
    }
}
