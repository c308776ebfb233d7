//! Endpoint description strings (Twisted's `serverFromString` /
//! `clientFromString` grammar): tokenizing, typed descriptions, printing back.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use torsion_reactor::{DEFAULT_BACKLOG, DEFAULT_UNIX_MODE};

/// What was wrong with an endpoint description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointParseError {
    /// The string was empty.
    Empty,
    /// The string ended with a lone backslash.
    TrailingBackslash,
    /// The string has no endpoint type: it starts with a keyword argument.
    MissingType,
    /// The endpoint type is not registered.
    UnknownType {
        /// The type asked for.
        kind: String,
    },
    /// A required argument is missing.
    Missing {
        /// The endpoint type.
        kind: String,
        /// The argument's name.
        argument: &'static str,
    },
    /// An argument's value is not what it should be.
    Invalid {
        /// The argument's name.
        argument: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// More positional arguments than the type takes.
    TooManyArguments {
        /// The endpoint type.
        kind: String,
        /// The first extra argument.
        extra: String,
    },
    /// A keyword the type does not take.
    UnknownKeyword {
        /// The endpoint type.
        kind: String,
        /// The keyword.
        keyword: String,
    },
}

impl fmt::Display for EndpointParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointParseError::Empty => f.write_str("empty endpoint description"),
            EndpointParseError::TrailingBackslash => {
                f.write_str("endpoint description ends with a lone backslash (escape it as \\\\)")
            }
            EndpointParseError::MissingType => f.write_str(
                "endpoint description has no type: it must start with one, like tcp: or unix:",
            ),
            EndpointParseError::UnknownType { kind } => {
                write!(f, "unknown endpoint type: {kind:?}")
            }
            EndpointParseError::Missing { kind, argument } => {
                write!(f, "{kind} endpoint needs a {argument} argument")
            }
            EndpointParseError::Invalid {
                argument,
                value,
                expected,
            } => write!(f, "invalid {argument} {value:?}: expected {expected}"),
            EndpointParseError::TooManyArguments { kind, extra } => {
                write!(
                    f,
                    "too many arguments for a {kind} endpoint, from {extra:?} on"
                )
            }
            EndpointParseError::UnknownKeyword { kind, keyword } => {
                write!(f, "{kind} endpoint takes no {keyword:?} argument")
            }
        }
    }
}

impl std::error::Error for EndpointParseError {}

/// A tokenized description: positional and keyword arguments, in order.
/// The first positional argument is the endpoint type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arguments {
    /// Positional arguments (`tcp`, `8080`, ...).
    pub positional: Vec<String>,
    /// Keyword arguments (`interface=127.0.0.1`); a repeated key keeps the last.
    pub keywords: Vec<(String, String)>,
}

impl Arguments {
    /// Tokenizes `description`: `:` separates arguments, the first `=` in an
    /// argument splits key from value, `\` escapes the next character.
    ///
    /// The result always has at least one positional argument, the type.
    ///
    /// # Errors
    ///
    /// [`EndpointParseError::Empty`], [`EndpointParseError::TrailingBackslash`]
    /// or [`EndpointParseError::MissingType`].
    pub fn parse(description: &str) -> Result<Arguments, EndpointParseError> {
        if description.is_empty() {
            return Err(EndpointParseError::Empty);
        }
        let mut arguments = Arguments {
            positional: Vec::new(),
            keywords: Vec::new(),
        };
        let (mut current, mut key): (String, Option<String>) = (String::new(), None);
        let mut chars = description.chars();
        let finish = |arguments: &mut Arguments, current: String, key: Option<String>| match key {
            Some(key) => {
                arguments.keywords.retain(|(k, _)| *k != key);
                arguments.keywords.push((key, current));
            }
            None => arguments.positional.push(current),
        };
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.push(chars.next().ok_or(EndpointParseError::TrailingBackslash)?),
                ':' => finish(&mut arguments, std::mem::take(&mut current), key.take()),
                '=' if key.is_none() => key = Some(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        finish(&mut arguments, current, key);
        if arguments.positional.is_empty() {
            return Err(EndpointParseError::MissingType);
        }
        Ok(arguments)
    }

    fn kind(&self) -> &str {
        &self.positional[0]
    }

    fn keyword(&self, name: &str) -> Option<&str> {
        self.keywords
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn check(
        &self,
        kind: &str,
        max_positional: usize,
        keywords: &[&str],
    ) -> Result<(), EndpointParseError> {
        if let Some(extra) = self.positional.get(max_positional + 1) {
            return Err(EndpointParseError::TooManyArguments {
                kind: kind.to_string(),
                extra: extra.clone(),
            });
        }
        match self
            .keywords
            .iter()
            .find(|(k, _)| !keywords.contains(&k.as_str()))
        {
            Some((keyword, _)) => Err(EndpointParseError::UnknownKeyword {
                kind: kind.to_string(),
                keyword: keyword.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The `index`th positional argument after the type, or keyword `name`
    /// (the keyword wins, as Twisted's keyword arguments do).
    fn get(&self, index: usize, name: &str) -> Option<&str> {
        self.keyword(name)
            .or_else(|| self.positional.get(index + 1).map(String::as_str))
    }
}

fn invalid(argument: &str, value: &str, expected: &'static str) -> EndpointParseError {
    EndpointParseError::Invalid {
        argument: argument.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn number<T: FromStr>(
    argument: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, EndpointParseError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(argument, value, expected))
}

fn flag(argument: &str, value: &str) -> Result<bool, EndpointParseError> {
    match number::<i64>(argument, value, "0 or 1")? {
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// Escapes `\`, `:` (and, in positional arguments, `=`) so a value prints
/// back as itself (Twisted's `quoteStringArgument`).
pub fn quote(value: &str, positional: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c == ':' || (positional && c == '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where a server listens, parsed from a description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerDescription {
    /// `tcp:PORT[:INTERFACE[:BACKLOG]]` (or `tcp6:...`, interface `::`).
    Tcp {
        /// The port.
        port: u16,
        /// The interface (`""` for all IPv4 interfaces).
        interface: String,
        /// The listen backlog.
        backlog: u32,
        /// `tcp6`.
        ipv6: bool,
    },
    /// `unix:PATH[:mode=OCTAL][:backlog=N][:lockfile=0|1]`.
    Unix {
        /// The socket file.
        path: PathBuf,
        /// Its permissions.
        mode: u32,
        /// The listen backlog.
        backlog: u32,
        /// Twisted's `wantPID`: hold `<path>.lock` while listening.
        lockfile: bool,
    },
}

impl FromStr for ServerDescription {
    type Err = EndpointParseError;

    /// Server types are matched case-sensitively, as Twisted does.
    fn from_str(description: &str) -> Result<ServerDescription, EndpointParseError> {
        let args = Arguments::parse(description)?;
        let kind = args.kind().to_string();
        match kind.as_str() {
            "tcp" | "tcp6" => {
                args.check(&kind, 3, &["port", "interface", "backlog"])?;
                let port = args.get(0, "port").ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "port",
                })?;
                let ipv6 = kind == "tcp6";
                let default_interface = if ipv6 { "::" } else { "" };
                Ok(ServerDescription::Tcp {
                    port: number("port", port, "a port number 0-65535")?,
                    interface: args
                        .get(1, "interface")
                        .unwrap_or(default_interface)
                        .to_string(),
                    backlog: args
                        .get(2, "backlog")
                        .map(|b| number("backlog", b, "a whole number"))
                        .transpose()?
                        .unwrap_or(DEFAULT_BACKLOG),
                    ipv6,
                })
            }
            "unix" => {
                args.check(&kind, 4, &["address", "mode", "backlog", "lockfile"])?;
                let path = args.get(0, "address").ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "address",
                })?;
                let mode = match args.get(1, "mode") {
                    Some(m) => u32::from_str_radix(m.trim(), 8)
                        .map_err(|_| invalid("mode", m, "an octal mode like 660"))?,
                    None => DEFAULT_UNIX_MODE,
                };
                Ok(ServerDescription::Unix {
                    path: PathBuf::from(path),
                    mode,
                    backlog: args
                        .get(2, "backlog")
                        .map(|b| number("backlog", b, "a whole number"))
                        .transpose()?
                        .unwrap_or(DEFAULT_BACKLOG),
                    lockfile: args
                        .get(3, "lockfile")
                        .map(|l| flag("lockfile", l))
                        .transpose()?
                        .unwrap_or(true),
                })
            }
            _ => Err(EndpointParseError::UnknownType { kind }),
        }
    }
}

impl fmt::Display for ServerDescription {
    /// The same grammar, only non-default arguments, values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerDescription::Tcp {
                port,
                interface,
                backlog,
                ipv6,
            } => {
                write!(f, "{}:{port}", if *ipv6 { "tcp6" } else { "tcp" })?;
                let default_interface = if *ipv6 { "::" } else { "" };
                if interface != default_interface {
                    write!(f, ":interface={}", quote(interface, false))?;
                }
                if *backlog != DEFAULT_BACKLOG {
                    write!(f, ":backlog={backlog}")?;
                }
                Ok(())
            }
            ServerDescription::Unix {
                path,
                mode,
                backlog,
                lockfile,
            } => {
                write!(f, "unix:{}", quote(&path.to_string_lossy(), true))?;
                if *mode != DEFAULT_UNIX_MODE {
                    write!(f, ":mode={mode:o}")?;
                }
                if *backlog != DEFAULT_BACKLOG {
                    write!(f, ":backlog={backlog}")?;
                }
                if !lockfile {
                    f.write_str(":lockfile=0")?;
                }
                Ok(())
            }
        }
    }
}

/// Where a client connects, parsed from a description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientDescription {
    /// `tcp:HOST:PORT` or `tcp:host=H:port=P`, with `timeout=` and `bindAddress=`.
    Tcp {
        /// The host: an IP address or a name (resolved by the reactor).
        host: String,
        /// The port.
        port: u16,
        /// The connect timeout, when given.
        timeout: Option<Duration>,
        /// The local address to bind, when given.
        bind_address: Option<IpAddr>,
        /// `tcp6`.
        ipv6: bool,
    },
    /// `unix:PATH` or `unix:path=PATH`, with `timeout=` and `lockfile=`.
    Unix {
        /// The socket file.
        path: PathBuf,
        /// The connect timeout, when given.
        timeout: Option<Duration>,
        /// Twisted's `checkPID`: connect only if a live server holds `<path>.lock`.
        lockfile: bool,
    },
}

fn timeout(args: &Arguments) -> Result<Option<Duration>, EndpointParseError> {
    args.keyword("timeout")
        .map(|t| number::<u64>("timeout", t, "whole seconds").map(Duration::from_secs))
        .transpose()
}

impl FromStr for ClientDescription {
    type Err = EndpointParseError;

    /// Client types are matched case-insensitively, as Twisted does.
    fn from_str(description: &str) -> Result<ClientDescription, EndpointParseError> {
        let args = Arguments::parse(description)?;
        let kind = args.kind().to_ascii_lowercase();
        match kind.as_str() {
            "tcp" | "tcp6" => {
                args.check(&kind, 2, &["host", "port", "timeout", "bindAddress"])?;
                // Twisted's _parseClientTCP: two positionals are host and
                // port; one is the port if host= was given, else the host.
                let rest = &args.positional[1..];
                let (host, port) = match (rest, args.keyword("host")) {
                    ([host, port], _) => (Some(host.as_str()), Some(port.as_str())),
                    ([one], Some(host)) => (Some(host), Some(one.as_str())),
                    ([one], None) => (Some(one.as_str()), args.keyword("port")),
                    (_, host) => (host, args.keyword("port")),
                };
                let host = host.ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "host",
                })?;
                let port = port.ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "port",
                })?;
                Ok(ClientDescription::Tcp {
                    host: host.to_string(),
                    port: number("port", port, "a port number 0-65535")?,
                    timeout: timeout(&args)?,
                    bind_address: args
                        .keyword("bindAddress")
                        .map(|a| {
                            a.parse()
                                .map_err(|_| invalid("bindAddress", a, "an IP address"))
                        })
                        .transpose()?,
                    ipv6: kind == "tcp6",
                })
            }
            "unix" => {
                args.check(&kind, 1, &["path", "timeout", "lockfile"])?;
                let path = args.get(0, "path").ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "path",
                })?;
                Ok(ClientDescription::Unix {
                    path: PathBuf::from(path),
                    timeout: timeout(&args)?,
                    lockfile: args
                        .keyword("lockfile")
                        .map(|l| flag("lockfile", l))
                        .transpose()?
                        .unwrap_or(false),
                })
            }
            _ => Err(EndpointParseError::UnknownType { kind }),
        }
    }
}

impl fmt::Display for ClientDescription {
    /// The same grammar, keyword form, values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientDescription::Tcp {
                host,
                port,
                timeout,
                bind_address,
                ipv6,
            } => {
                let kind = if *ipv6 { "tcp6" } else { "tcp" };
                write!(f, "{kind}:host={}:port={port}", quote(host, false))?;
                if let Some(timeout) = timeout {
                    write!(f, ":timeout={}", timeout.as_secs())?;
                }
                if let Some(bind) = bind_address {
                    write!(f, ":bindAddress={}", quote(&bind.to_string(), false))?;
                }
                Ok(())
            }
            ClientDescription::Unix {
                path,
                timeout,
                lockfile,
            } => {
                write!(f, "unix:path={}", quote(&path.to_string_lossy(), false))?;
                if let Some(timeout) = timeout {
                    write!(f, ":timeout={}", timeout.as_secs())?;
                }
                if *lockfile {
                    f.write_str(":lockfile=1")?;
                }
                Ok(())
            }
        }
    }
}
