//! Issue 20: endpoint strings a new user wrote and the parser misread.
//! `tcp:host=::1:port=23457` became host "" and port 1; `host=[::1]` gave
//! `invalid port "1]"`; `TCP:80` was a server type nobody knew.

use proptest::prelude::*;
use torsion_endpoints::{
    client_from_string, server_from_string, ClientDescription, EndpointParseError,
    ServerDescription,
};
use torsion_reactor::Reactor;

/// An unescaped IPv6 host splits into an empty `host=` and positionals
/// that clash with `port=`: a typed error, never host "" port 1.
#[test]
fn unescaped_ipv6_host_is_rejected() {
    let error = "tcp:host=::1:port=23457"
        .parse::<ClientDescription>()
        .unwrap_err();
    assert!(
        matches!(
            error,
            EndpointParseError::Conflicting {
                argument: "host",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("host=[::1]"), "{error}");
}

/// An empty host is an error naming the host.
#[test]
fn empty_host_is_rejected() {
    for description in ["tcp:host=:port=80", "tcp::80", "tcp6:host=:80"] {
        let error = description.parse::<ClientDescription>().unwrap_err();
        assert_eq!(
            error,
            EndpointParseError::Invalid {
                argument: "host".into(),
                value: String::new(),
                expected: "a host name or IP address (not empty)",
            },
            "{description}"
        );
    }
}

/// A positional port and `port=` together are a conflict, as are a
/// positional interface and `interface=` on a server.
#[test]
fn positional_and_keyword_conflict() {
    let error = "tcp:localhost:80:port=81"
        .parse::<ClientDescription>()
        .unwrap_err();
    assert!(matches!(
        error,
        EndpointParseError::Conflicting {
            argument: "port",
            ..
        }
    ));
    let error = "tcp:80:127.0.0.1:interface=localhost"
        .parse::<ServerDescription>()
        .unwrap_err();
    assert_eq!(
        error,
        EndpointParseError::Conflicting {
            kind: "tcp".into(),
            argument: "interface",
            positional: "127.0.0.1".into(),
            keyword: "localhost".into(),
        }
    );
    let error = "unix:/a:path=/b".parse::<ClientDescription>().unwrap_err();
    assert!(matches!(
        error,
        EndpointParseError::Conflicting {
            argument: "path",
            ..
        }
    ));
}

/// Bracketed IPv6 works in client hosts and server interfaces, keyword or
/// positional; Twisted's `\:` escapes work too.
#[test]
fn bracketed_and_escaped_ipv6() {
    for description in [
        "tcp:host=[::1]:port=23457",
        "tcp6:[::1]:23457",
        r"tcp:host=\:\:1:port=23457",
        "tcp:[::1]:port=23457",
    ] {
        let parsed: ClientDescription = description.parse().unwrap();
        assert!(
            matches!(parsed, ClientDescription::Tcp { ref host, port: 23457, .. } if host == "::1"),
            "{description}: {parsed:?}"
        );
    }
    for description in [
        "tcp6:8080:interface=[::1]",
        "tcp6:8080:[::1]",
        r"tcp6:8080:\:\:1",
    ] {
        let parsed: ServerDescription = description.parse().unwrap();
        assert!(
            matches!(parsed, ServerDescription::Tcp { ref interface, port: 8080, .. } if interface == "::1"),
            "{description}: {parsed:?}"
        );
    }
    let error = "tcp:host=[nope]:port=1"
        .parse::<ClientDescription>()
        .unwrap_err();
    assert!(error.to_string().contains("bracketed IPv6"), "{error}");
}

/// `server_from_string` and `client_from_string` agree on case.
#[test]
fn server_and_client_types_agree_on_case() -> Result<(), Box<dyn std::error::Error>> {
    let reactor = Reactor::new()?;
    for kind in ["TCP", "Tcp", "tcp", "TCP6"] {
        server_from_string(reactor.clone(), &format!("{kind}:0:interface=127.0.0.1"))?;
        client_from_string(reactor.clone(), &format!("{kind}:host=localhost:port=1"))?;
        let server: ServerDescription = format!("{kind}:80").parse()?;
        assert!(matches!(server, ServerDescription::Tcp { port: 80, .. }));
    }
    server_from_string(reactor.clone(), "UNIX:/tmp/torsion-issue-20.sock")?;
    Ok(())
}

fn ipv6() -> impl Strategy<Value = std::net::Ipv6Addr> {
    any::<[u16; 8]>().prop_map(std::net::Ipv6Addr::from)
}

proptest! {
    /// Any IPv6 address, bracketed or escaped, keyword or positional,
    /// parses back as itself, on clients and servers.
    #[test]
    fn ipv6_hosts_parse_in_every_form(ip in ipv6(), port in any::<u16>()) {
        let text = ip.to_string();
        let escaped = text.replace(':', "\\:");
        for description in [
            format!("tcp6:host=[{text}]:port={port}"),
            format!("tcp6:[{text}]:{port}"),
            format!("tcp6:host={escaped}:port={port}"),
        ] {
            let parsed: ClientDescription = description.parse().unwrap();
            prop_assert!(
                matches!(&parsed, ClientDescription::Tcp { host, port: p, .. } if *host == text && *p == port),
                "{} -> {:?}", description, parsed
            );
        }
        for description in [
            format!("tcp6:{port}:interface=[{text}]"),
            format!("tcp6:{port}:[{text}]"),
            format!("tcp6:{port}:interface={escaped}"),
        ] {
            let parsed: ServerDescription = description.parse().unwrap();
            prop_assert!(
                matches!(&parsed, ServerDescription::Tcp { interface, port: p, .. } if *interface == text && *p == port),
                "{} -> {:?}", description, parsed
            );
        }
    }

    /// An unescaped, unbracketed IPv6 address (one with a `::` or more than
    /// one colon) after `host=` is never read as some other host and port.
    #[test]
    fn unescaped_ipv6_is_never_misread(ip in ipv6(), port in any::<u16>()) {
        let description = format!("tcp:host={ip}:port={port}");
        match description.parse::<ClientDescription>() {
            Err(_) => {}
            Ok(parsed) => prop_assert!(false, "{} misread as {:?}", description, parsed),
        }
    }

    /// An empty host, however it is spelled, is an error naming the host.
    #[test]
    fn empty_host_is_always_rejected(port in any::<u16>(), kind in "(?i:tcp6?)") {
        for description in [
            format!("{kind}:host=:port={port}"),
            format!("{kind}::{port}"),
            format!("{kind}:host=:{port}"),
        ] {
            let error = description.parse::<ClientDescription>().unwrap_err();
            prop_assert!(
                matches!(&error, EndpointParseError::Invalid { argument, value, .. } if argument == "host" && value.is_empty()),
                "{} -> {:?}", description, error
            );
        }
    }

    /// Whatever the case of the type, client and server parsers agree.
    #[test]
    fn type_case_is_ignored_alike(kind in "(?i:tcp6?|unix)", port in 1u16..) {
        let server = format!("{kind}:{port}").parse::<ServerDescription>();
        let client = format!("{kind}:host=localhost:port={port}").parse::<ClientDescription>();
        let lower_server = format!("{}:{port}", kind.to_lowercase()).parse::<ServerDescription>();
        prop_assert_eq!(server, lower_server);
        if !kind.eq_ignore_ascii_case("unix") {
            prop_assert!(client.is_ok());
        }
    }

    /// A positional argument and the same keyword never both count.
    #[test]
    fn positional_keyword_clash_is_an_error(a in 1u16.., b in 1u16..) {
        let client = format!("tcp:localhost:{a}:port={b}").parse::<ClientDescription>();
        prop_assert!(
            matches!(client, Err(EndpointParseError::Conflicting { argument: "port", .. })),
            "{:?}", client
        );
        let server = format!("tcp:{a}:port={b}").parse::<ServerDescription>();
        prop_assert!(
            matches!(server, Err(EndpointParseError::Conflicting { argument: "port", .. })),
            "{:?}", server
        );
    }
}
