//! [`SimError`]: what a [`Simulation`](super::Simulation) call can get wrong.

use std::error::Error;
use std::fmt;

/// A simulation call named something that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// No host has this name.
    UnknownHost(String),
    /// A host with this name exists already.
    DuplicateHost(String),
    /// A link fault or setting names the same host twice.
    SameHost(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::UnknownHost(name) => write!(f, "no simulated host is named {name:?}"),
            SimError::DuplicateHost(name) => {
                write!(f, "a simulated host named {name:?} exists already")
            }
            SimError::SameHost(name) => write!(
                f,
                "a link joins two different hosts, not {name:?} with itself"
            ),
        }
    }
}

impl Error for SimError {}
