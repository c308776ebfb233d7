//! The chat server's connection policies: an idle timeout and a limit of
//! connections per peer host, wrapped around any factory (the chat's).

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use torsion::protocols::policies::{LimitConnectionsByPeer, TimeoutFactory};
use torsion::{DynProtocolFactory, ReactorTime};

/// How long a chat connection may stay silent, and how many connections
/// one host may open: `--idle-timeout SECONDS` and `--max-per-peer N` on
/// the command line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    /// Nothing read or written for this long closes the connection.
    pub idle_timeout: Duration,
    /// Connections beyond this many from one host are refused.
    pub max_per_peer: usize,
}

impl Default for ChatLimits {
    /// Ten idle minutes; Twisted's default of 5 connections per peer.
    fn default() -> Self {
        ChatLimits {
            idle_timeout: Duration::from_secs(600),
            max_per_peer: LimitConnectionsByPeer::DEFAULT_MAX_PER_PEER,
        }
    }
}

impl fmt::Debug for ChatLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "idle timeout {:?}, at most {} connections per peer",
            self.idle_timeout, self.max_per_peer
        )
    }
}

impl ChatLimits {
    /// Takes `--idle-timeout SECONDS` and `--max-per-peer N` out of `args`
    /// and returns the limits and the other arguments, in order.
    ///
    /// # Errors
    ///
    /// A message naming the flag whose value is missing or not a number.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use torsion_examples::ChatLimits;
    ///
    /// let args = ["8001", "--idle-timeout", "2.5"].map(String::from);
    /// let (limits, rest) = ChatLimits::from_args(args)?;
    /// assert_eq!(limits.idle_timeout, Duration::from_millis(2500));
    /// assert_eq!(rest, ["8001"]);
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
    ) -> Result<(ChatLimits, Vec<String>), String> {
        let mut limits = ChatLimits::default();
        let mut rest = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--idle-timeout" => {
                    let value = args.next().unwrap_or_default();
                    limits.idle_timeout = value
                        .parse::<f64>()
                        .ok()
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .filter(|d| !d.is_zero())
                        .ok_or(format!(
                            "--idle-timeout wants a positive number of seconds, not {value:?}"
                        ))?;
                }
                "--max-per-peer" => {
                    let value = args.next().unwrap_or_default();
                    limits.max_per_peer = value.parse().ok().filter(|&n| n > 0).ok_or(format!(
                        "--max-per-peer wants a count of 1 or more, not {value:?}"
                    ))?;
                }
                _ => rest.push(arg),
            }
        }
        Ok((limits, rest))
    }

    /// Wraps `factory`: connections idle for `idle_timeout` are closed (on
    /// `clock`), and a host's connections beyond `max_per_peer` are refused.
    pub fn wrap(
        &self,
        factory: Rc<dyn DynProtocolFactory>,
        clock: Rc<dyn ReactorTime>,
    ) -> LimitConnectionsByPeer {
        let idle = TimeoutFactory::new(factory, clock, Some(self.idle_timeout));
        LimitConnectionsByPeer::new(Rc::new(idle), self.max_per_peer)
    }
}
