//! Endpoint description strings: Twisted's parsing cases
//! (`twisted/internet/test/test_endpoints.py`, `ServerStringTests`,
//! `ClientStringTests`, `StringDescriptionTests`, as condensed in
//! `spec/reactor-endpoints.md` §6), typed errors for every malformed
//! string, and property tests.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use torsion_endpoints::{
    client_from_string, server_from_string, Arguments, ClientDescription, EndpointParseError,
    ServerDescription,
};
use torsion_reactor::Reactor;

fn args(s: &str) -> (Vec<String>, Vec<(String, String)>) {
    let a = Arguments::parse(s).unwrap();
    (a.positional, a.keywords)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Positional and keyword arguments, in order (`_parse`).
#[test]
fn simple_string() {
    let (p, k) = args("a:b:d=1:c");
    assert_eq!(p, strs(&["a", "b", "c"]));
    assert_eq!(k, vec![("d".to_string(), "1".to_string())]);
}

/// Only the first `=` splits; later ones are literal.
#[test]
fn equals_in_value() {
    assert_eq!(
        args("x:k=v=w").1,
        vec![("k".to_string(), "v=w".to_string())]
    );
}

/// Backslash escapes the next character (`\:`, `\=`, `\\`).
#[test]
fn escaping() {
    let (p, k) = args(r"unix:a\:b\=c\\d:key=x\:y");
    assert_eq!(p, strs(&["unix", r"a:b=c\d"]));
    assert_eq!(k, vec![("key".to_string(), "x:y".to_string())]);
}

/// Empty parameters are allowed (`tcp::80`).
#[test]
fn empty_parameters() {
    assert_eq!(args("tcp::80").0, strs(&["tcp", "", "80"]));
}

/// A repeated keyword keeps the last value.
#[test]
fn duplicate_keyword_last_wins() {
    assert_eq!(
        args("tcp:80:backlog=1:backlog=2").1,
        vec![("backlog".to_string(), "2".to_string())]
    );
}

/// `tcp:8080:interface=127.0.0.1` → TCP4 server on port 8080, backlog 50.
#[test]
fn tcp_server() {
    let d: ServerDescription = "tcp:8080:interface=127.0.0.1".parse().unwrap();
    assert_eq!(
        d,
        ServerDescription::Tcp {
            port: 8080,
            interface: "127.0.0.1".into(),
            backlog: 50,
            ipv6: false
        }
    );
    let d: ServerDescription = "tcp:80".parse().unwrap();
    assert!(
        matches!(d, ServerDescription::Tcp { port: 80, ref interface, backlog: 50, .. } if interface.is_empty())
    );
    let d: ServerDescription = "tcp:80:10.0.0.1:7".parse().unwrap();
    assert!(
        matches!(d, ServerDescription::Tcp { backlog: 7, ref interface, .. } if interface == "10.0.0.1")
    );
}

/// `tcp6:PORT` listens on `::` by default.
#[test]
fn tcp6_server() {
    let d: ServerDescription = "tcp6:443".parse().unwrap();
    assert!(
        matches!(d, ServerDescription::Tcp { port: 443, ref interface, ipv6: true, .. } if interface == "::")
    );
}

/// `unix:/var/run/app.sock:mode=660` → mode parsed as octal; lockfile default on.
#[test]
fn unix_server() {
    let d: ServerDescription = "unix:/var/run/app.sock:mode=660".parse().unwrap();
    assert_eq!(
        d,
        ServerDescription::Unix {
            path: PathBuf::from("/var/run/app.sock"),
            mode: 0o660,
            backlog: 50,
            lockfile: true
        }
    );
    let d: ServerDescription = "unix:/s:lockfile=0:backlog=5".parse().unwrap();
    assert!(matches!(
        d,
        ServerDescription::Unix {
            lockfile: false,
            backlog: 5,
            ..
        }
    ));
}

/// Server types are case-insensitive, as client types are (issue 20;
/// Twisted only matched its built-in server types case-sensitively).
#[test]
fn server_types_are_case_insensitive() {
    assert_eq!(
        "TCP:80".parse::<ServerDescription>(),
        "tcp:80".parse::<ServerDescription>()
    );
}

/// `tcp:host=example.org:port=6667:timeout=30`, and the positional and mixed forms.
#[test]
fn tcp_client_forms() {
    let full: ClientDescription = "tcp:host=example.org:port=6667:timeout=30".parse().unwrap();
    assert_eq!(
        full,
        ClientDescription::Tcp {
            host: "example.org".into(),
            port: 6667,
            timeout: Some(Duration::from_secs(30)),
            bind_address: None,
            ipv6: false
        }
    );
    for form in [
        "tcp:example.org:6667",
        "tcp:host=example.org:6667",
        "tcp:example.org:port=6667",
    ] {
        let d: ClientDescription = form.parse().unwrap();
        assert!(
            matches!(d, ClientDescription::Tcp { ref host, port: 6667, .. } if host == "example.org"),
            "{form}"
        );
    }
}

/// `bindAddress=IP` binds that address with port 0.
#[test]
fn tcp_client_bind_address() {
    let d: ClientDescription = "tcp:host=127.0.0.1:port=80:bindAddress=127.0.0.2"
        .parse()
        .unwrap();
    assert!(
        matches!(d, ClientDescription::Tcp { bind_address: Some(ip), .. } if ip == "127.0.0.2".parse::<IpAddr>().unwrap())
    );
}

/// Client types are case-insensitive.
#[test]
fn client_types_are_case_insensitive() {
    assert!("TCP:localhost:80".parse::<ClientDescription>().is_ok());
    assert!("Unix:/tmp/s".parse::<ClientDescription>().is_ok());
}

/// `unix:PATH` and `unix:path=PATH:timeout=2`.
#[test]
fn unix_client() {
    let d: ClientDescription = "unix:path=/tmp/s:timeout=2".parse().unwrap();
    assert_eq!(
        d,
        ClientDescription::Unix {
            path: PathBuf::from("/tmp/s"),
            timeout: Some(Duration::from_secs(2)),
            lockfile: false
        }
    );
    assert!(
        matches!("unix:/run/x".parse::<ClientDescription>().unwrap(), ClientDescription::Unix { ref path, .. } if path == &PathBuf::from("/run/x"))
    );
}

/// Every malformed string gets a typed error naming the bad part.
#[test]
fn malformed_strings_get_typed_errors() {
    use EndpointParseError as E;
    let cases: Vec<(&str, E)> = vec![
        ("", E::Empty),
        ("tcp:80\\", E::TrailingBackslash),
        ("host=example.org:port=80", E::MissingType),
        (
            "carrier-pigeon:1",
            E::UnknownType {
                kind: "carrier-pigeon".into(),
            },
        ),
        (
            "tcp:host=example.org",
            E::Missing {
                kind: "tcp".into(),
                argument: "port",
            },
        ),
        (
            "tcp",
            E::Missing {
                kind: "tcp".into(),
                argument: "host",
            },
        ),
        (
            "tcp:example.org:http",
            E::Invalid {
                argument: "port".into(),
                value: "http".into(),
                expected: "a port number 0-65535",
            },
        ),
        (
            "tcp:example.org:70000",
            E::Invalid {
                argument: "port".into(),
                value: "70000".into(),
                expected: "a port number 0-65535",
            },
        ),
        (
            "tcp:h:1:timeout=soon",
            E::Invalid {
                argument: "timeout".into(),
                value: "soon".into(),
                expected: "whole seconds",
            },
        ),
        (
            "tcp:h:1:bindAddress=nowhere",
            E::Invalid {
                argument: "bindAddress".into(),
                value: "nowhere".into(),
                expected: "an IP address",
            },
        ),
        (
            "tcp:h:1:2",
            E::TooManyArguments {
                kind: "tcp".into(),
                extra: "2".into(),
            },
        ),
        (
            "tcp:h:1:colour=red",
            E::UnknownKeyword {
                kind: "tcp".into(),
                keyword: "colour".into(),
            },
        ),
        (
            "unix",
            E::Missing {
                kind: "unix".into(),
                argument: "path",
            },
        ),
        (
            "unix:/s:lockfile=maybe",
            E::Invalid {
                argument: "lockfile".into(),
                value: "maybe".into(),
                expected: "0 or 1",
            },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            input.parse::<ClientDescription>(),
            Err(expected.clone()),
            "{input:?}"
        );
        assert!(!expected.to_string().is_empty());
    }
    let server_cases: Vec<(&str, E)> = vec![
        (
            "tcp",
            E::Missing {
                kind: "tcp".into(),
                argument: "port",
            },
        ),
        (
            "tcp:80:x:many",
            E::Invalid {
                argument: "backlog".into(),
                value: "many".into(),
                expected: "a whole number",
            },
        ),
        (
            "unix:/s:mode=999",
            E::Invalid {
                argument: "mode".into(),
                value: "999".into(),
                expected: "an octal mode like 660",
            },
        ),
        (
            "tcp:80:a:1:extra",
            E::TooManyArguments {
                kind: "tcp".into(),
                extra: "extra".into(),
            },
        ),
    ];
    for (input, expected) in server_cases {
        assert_eq!(
            input.parse::<ServerDescription>(),
            Err(expected),
            "{input:?}"
        );
    }
}

/// Descriptions print back in the same grammar, escaped.
#[test]
fn descriptions_print_back() {
    let d: ServerDescription = "unix:/tmp/a\\:b:mode=600".parse().unwrap();
    assert_eq!(d.to_string(), "unix:/tmp/a\\:b:mode=600");
    let d: ClientDescription = "tcp6:host=\\:\\:1:port=80".parse().unwrap();
    assert_eq!(d.to_string(), "tcp6:host=\\:\\:1:port=80");
    assert!(matches!(d, ClientDescription::Tcp { ref host, .. } if host == "::1"));
}

/// The builders give real endpoints on the reactor, and refuse bad input
/// with the same typed errors.
#[test]
fn building_endpoints() {
    let reactor = Reactor::new().unwrap();
    let client = client_from_string(reactor.clone(), "tcp:127.0.0.1:8000").unwrap();
    assert_eq!(client.describe(), "tcp:host=127.0.0.1:port=8000");
    let client = client_from_string(reactor.clone(), "unix:path=/tmp/x").unwrap();
    assert_eq!(client.describe(), "unix:path=/tmp/x");
    let server = server_from_string(reactor.clone(), "tcp6:8080:interface=\\:\\:1").unwrap();
    assert_eq!(server.describe(), "tcp6:8080:interface=\\:\\:1:backlog=50");
    assert_eq!(
        server_from_string(reactor, "udp:53").unwrap_err(),
        EndpointParseError::UnknownType { kind: "udp".into() }
    );
}

fn arbitrary_client() -> impl Strategy<Value = ClientDescription> {
    let text = "[a-zA-Z0-9:=\\\\/._ -]{1,20}";
    prop_oneof![
        (
            text,
            any::<u16>(),
            proptest::option::of(0u64..100_000),
            proptest::option::of(any::<[u8; 4]>()),
            any::<bool>()
        )
            .prop_map(|(host, port, timeout, bind, ipv6)| ClientDescription::Tcp {
                host,
                port,
                timeout: timeout.map(Duration::from_secs),
                bind_address: bind.map(IpAddr::from),
                ipv6,
            }),
        (text, proptest::option::of(0u64..100_000), any::<bool>()).prop_map(
            |(path, timeout, lockfile)| {
                ClientDescription::Unix {
                    path: PathBuf::from(path),
                    timeout: timeout.map(Duration::from_secs),
                    lockfile,
                }
            }
        ),
    ]
}

fn arbitrary_server() -> impl Strategy<Value = ServerDescription> {
    let text = "[a-zA-Z0-9:=\\\\/._ -]{0,20}";
    prop_oneof![
        (any::<u16>(), text, any::<u32>(), any::<bool>()).prop_map(
            |(port, interface, backlog, ipv6)| ServerDescription::Tcp {
                port,
                interface,
                backlog,
                ipv6
            }
        ),
        (
            "[a-zA-Z0-9:=\\\\/._ -]{1,20}",
            0u32..0o7777,
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(|(path, mode, backlog, lockfile)| ServerDescription::Unix {
                path: PathBuf::from(path),
                mode,
                backlog,
                lockfile
            }),
    ]
}

proptest! {
    /// No input makes the parser panic.
    #[test]
    fn the_parser_never_panics(s in "\\PC*") {
        let _ = s.parse::<ClientDescription>();
        let _ = s.parse::<ServerDescription>();
        let _ = Arguments::parse(&s);
    }

    /// Nor does a string made of the grammar's own characters.
    #[test]
    fn grammar_soup_never_panics(s in "[a-z0-9:=\\\\]{0,40}") {
        let _ = s.parse::<ClientDescription>();
        let _ = s.parse::<ServerDescription>();
    }

    /// Printing then parsing gives back the same client description.
    #[test]
    fn client_round_trip(d in arbitrary_client()) {
        let printed = d.to_string();
        prop_assert_eq!(printed.parse::<ClientDescription>(), Ok(d), "{}", printed);
    }

    /// Printing then parsing gives back the same server description.
    #[test]
    fn server_round_trip(d in arbitrary_server()) {
        let printed = d.to_string();
        prop_assert_eq!(printed.parse::<ServerDescription>(), Ok(d), "{}", printed);
    }
}
