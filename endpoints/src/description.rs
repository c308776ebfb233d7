//! Typed endpoint descriptions (Twisted's `serverFromString` /
//! `clientFromString` types): parsing from [`Arguments`], printing back.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use torsion_reactor::{DEFAULT_BACKLOG, DEFAULT_UNIX_MODE};

use crate::arguments::{
    conflict, flag, host, invalid, number, quote, Arguments, EndpointParseError,
};

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

    /// Server types are matched case-insensitively, as client types are
    /// (see [`EndpointRegistry`](crate::EndpointRegistry) for Twisted).
    fn from_str(description: &str) -> Result<ServerDescription, EndpointParseError> {
        let args = Arguments::parse(description)?;
        let kind = args.kind().to_ascii_lowercase();
        match kind.as_str() {
            "tcp" | "tcp6" => {
                args.check(&kind, 3, &["port", "interface", "backlog"])?;
                let port = args
                    .get(&kind, 0, "port")?
                    .ok_or(EndpointParseError::Missing {
                        kind: kind.clone(),
                        argument: "port",
                    })?;
                let ipv6 = kind == "tcp6";
                let default_interface = if ipv6 { "::" } else { "" };
                let interface = args.get(&kind, 1, "interface")?;
                Ok(ServerDescription::Tcp {
                    port: number("port", port, "a port number 0-65535")?,
                    interface: host("interface", interface.unwrap_or(default_interface), true)?,
                    backlog: args
                        .get(&kind, 2, "backlog")?
                        .map(|b| number("backlog", b, "a whole number"))
                        .transpose()?
                        .unwrap_or(DEFAULT_BACKLOG),
                    ipv6,
                })
            }
            "unix" => {
                args.check(&kind, 4, &["address", "mode", "backlog", "lockfile"])?;
                let path = args
                    .get(&kind, 0, "address")?
                    .ok_or(EndpointParseError::Missing {
                        kind: kind.clone(),
                        argument: "address",
                    })?;
                let mode = match args.get(&kind, 1, "mode")? {
                    Some(m) => u32::from_str_radix(m.trim(), 8)
                        .map_err(|_| invalid("mode", m, "an octal mode like 660"))?,
                    None => DEFAULT_UNIX_MODE,
                };
                Ok(ServerDescription::Unix {
                    path: PathBuf::from(path),
                    mode,
                    backlog: args
                        .get(&kind, 2, "backlog")?
                        .map(|b| number("backlog", b, "a whole number"))
                        .transpose()?
                        .unwrap_or(DEFAULT_BACKLOG),
                    lockfile: args
                        .get(&kind, 3, "lockfile")?
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
                // A value given both ways is an error (Twisted silently lets
                // the positionals win, so `host=::1` became host "" port 1).
                let rest = &args.positional[1..];
                let (host_kw, port_kw) = (args.keyword("host"), args.keyword("port"));
                let (host_arg, port) = match (rest, host_kw) {
                    ([host, _], Some(keyword)) => {
                        return Err(conflict(&kind, "host", host, keyword))
                    }
                    ([host, port], None) => (Some(host.as_str()), Some(port.as_str())),
                    ([one], Some(host)) => (Some(host), Some(one.as_str())),
                    ([one], None) => (Some(one.as_str()), None),
                    (_, host) => (host, None),
                };
                let port = match (port, port_kw) {
                    (Some(positional), Some(keyword)) => {
                        return Err(conflict(&kind, "port", positional, keyword))
                    }
                    (positional, keyword) => positional.or(keyword),
                };
                let host_arg = host_arg.ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "host",
                })?;
                let port = port.ok_or(EndpointParseError::Missing {
                    kind: kind.clone(),
                    argument: "port",
                })?;
                Ok(ClientDescription::Tcp {
                    host: host("host", host_arg, false)?,
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
                let path = args
                    .get(&kind, 0, "path")?
                    .ok_or(EndpointParseError::Missing {
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
