//! Twisted's `ServerStringTests` and `ClientStringTests`
//! (`twisted/internet/test/test_endpoints.py`) under their names in
//! snake_case. Twisted inspects the built endpoint's private attributes;
//! here the typed description carries the values and the built endpoint's
//! `describe()` shows what it will do. SSL, systemd and stdio cases have no
//! counterpart in Torsion yet.

use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use torsion_endpoints::{
    client_from_string, server_from_string, Arguments, ClientDescription, EndpointParseError,
    EndpointRegistry, ServerDescription,
};
use torsion_reactor::{Deferred, DynProtocolFactory, ListeningPort, Reactor, StreamServerEndpoint};

mod server_string_tests {
    use super::*;

    /// A TCP description gives a TCP4 server endpoint with its values.
    #[test]
    fn tcp() {
        let d: ServerDescription = "tcp:1234:backlog=12:interface=10.0.0.1".parse().unwrap();
        assert_eq!(
            d,
            ServerDescription::Tcp {
                port: 1234,
                interface: "10.0.0.1".into(),
                backlog: 12,
                ipv6: false
            }
        );
        let built = server_from_string(
            Reactor::new().unwrap(),
            "tcp:1234:backlog=12:interface=10.0.0.1",
        )
        .unwrap();
        assert_eq!(built.describe(), "tcp:1234:interface=10.0.0.1:backlog=12");
    }

    /// A UNIX description gives a UNIX server endpoint; the mode is octal
    /// (0123 is 83) and lockfile=1 asks for the PID lock.
    #[test]
    fn unix() {
        let d: ServerDescription = "unix:/var/foo/bar:backlog=7:mode=0123:lockfile=1"
            .parse()
            .unwrap();
        assert_eq!(
            d,
            ServerDescription::Unix {
                path: PathBuf::from("/var/foo/bar"),
                mode: 83,
                backlog: 7,
                lockfile: true
            }
        );
        let built = server_from_string(
            Reactor::new().unwrap(),
            "unix:/var/foo/bar:backlog=7:mode=0123",
        )
        .unwrap();
        assert_eq!(built.describe(), "unix:/var/foo/bar:mode=123:backlog=7");
    }

    /// An unknown type is an error naming it.
    #[test]
    fn unknown_type() {
        let error = server_from_string(Reactor::new().unwrap(), "ftl:andromeda/carcosa/hali/2387")
            .unwrap_err();
        assert_eq!(
            error,
            EndpointParseError::UnknownType { kind: "ftl".into() }
        );
        assert_eq!(error.to_string(), "unknown endpoint type: \"ftl\"");
    }

    /// A registered type (Twisted's plugin) gets the positional and keyword
    /// arguments.
    #[test]
    fn type_from_plugin() {
        struct Fake(Arguments);
        impl StreamServerEndpoint for Fake {
            fn listen_dyn(&self, _: Rc<dyn DynProtocolFactory>) -> Deferred<Rc<dyn ListeningPort>> {
                Deferred::new()
            }
            fn describe(&self) -> String {
                format!("fake {:?} {:?}", &self.0.positional[1..], self.0.keywords)
            }
        }
        let mut registry = EndpointRegistry::new(Reactor::new().unwrap());
        registry.register_server("fake", |_, args| Ok(Rc::new(Fake(args.clone()))));
        let endpoint = registry
            .server_from_string("fake:hello:world:yes=no:up=down")
            .unwrap();
        assert_eq!(
            endpoint.describe(),
            r#"fake ["hello", "world"] [("yes", "no"), ("up", "down")]"#
        );
    }
}

mod client_string_tests {
    use super::*;

    fn tcp(host: &str, port: u16, timeout: Option<u64>, bind: Option<&str>) -> ClientDescription {
        ClientDescription::Tcp {
            host: host.into(),
            port,
            timeout: timeout.map(Duration::from_secs),
            bind_address: bind.map(|b| b.parse::<IpAddr>().unwrap()),
            ipv6: false,
        }
    }

    /// All keyword arguments.
    #[test]
    fn tcp_keywords() {
        let d: ClientDescription = "tcp:host=example.com:port=1234:timeout=7:bindAddress=10.0.0.2"
            .parse()
            .unwrap();
        assert_eq!(d, tcp("example.com", 1234, Some(7), Some("10.0.0.2")));
    }

    /// Host and port positionally.
    #[test]
    fn tcp_positional_args() {
        let d: ClientDescription = "tcp:example.com:1234:timeout=7:bindAddress=10.0.0.2"
            .parse()
            .unwrap();
        assert_eq!(d, tcp("example.com", 1234, Some(7), Some("10.0.0.2")));
    }

    /// The host positionally, the port by keyword.
    #[test]
    fn tcp_host_positional_arg() {
        let d: ClientDescription = "tcp:example.com:port=1234:timeout=7:bindAddress=10.0.0.2"
            .parse()
            .unwrap();
        assert_eq!(d, tcp("example.com", 1234, Some(7), Some("10.0.0.2")));
    }

    /// The port positionally, the host by keyword.
    #[test]
    fn tcp_port_positional_arg() {
        let d: ClientDescription = "tcp:host=example.com:1234:timeout=7:bindAddress=10.0.0.2"
            .parse()
            .unwrap();
        assert_eq!(d, tcp("example.com", 1234, Some(7), Some("10.0.0.2")));
    }

    /// Defaults: the endpoint's 30 s timeout, no bind address.
    #[test]
    fn tcp_defaults() {
        let d: ClientDescription = "tcp:host=example.com:port=1234".parse().unwrap();
        assert_eq!(d, tcp("example.com", 1234, None, None));
    }

    /// A UNIX description with lockfile and timeout.
    #[test]
    fn unix() {
        let d: ClientDescription = "unix:path=/var/foo/bar:lockfile=1:timeout=9"
            .parse()
            .unwrap();
        assert_eq!(
            d,
            ClientDescription::Unix {
                path: "/var/foo/bar".into(),
                timeout: Some(Duration::from_secs(9)),
                lockfile: true
            }
        );
        let built = client_from_string(
            Reactor::new().unwrap(),
            "unix:path=/var/foo/bar:lockfile=1:timeout=9",
        )
        .unwrap();
        assert_eq!(built.describe(), "unix:path=/var/foo/bar");
    }

    /// UNIX defaults: no lock check, the endpoint's default timeout.
    #[test]
    fn unix_defaults() {
        let d: ClientDescription = "unix:path=/var/foo/bar".parse().unwrap();
        assert_eq!(
            d,
            ClientDescription::Unix {
                path: "/var/foo/bar".into(),
                timeout: None,
                lockfile: false
            }
        );
    }

    /// The path positionally.
    #[test]
    fn unix_path_positional_arg() {
        let d: ClientDescription = "unix:/var/foo/bar:lockfile=1:timeout=9".parse().unwrap();
        assert_eq!(
            d,
            ClientDescription::Unix {
                path: "/var/foo/bar".into(),
                timeout: Some(Duration::from_secs(9)),
                lockfile: true
            }
        );
    }

    /// An unknown type is an error naming it (client types are matched
    /// case-insensitively, so the name is reported in lower case).
    #[test]
    fn unknown_type() {
        let error = client_from_string(Reactor::new().unwrap(), "FOO:quux:baz").unwrap_err();
        assert_eq!(
            error,
            EndpointParseError::UnknownType { kind: "foo".into() }
        );
    }

    /// Types are case-insensitive for clients (`TCP:...`).
    #[test]
    fn string_parser_case_insensitive() {
        let built = client_from_string(Reactor::new().unwrap(), "TCP:127.0.0.1:80").unwrap();
        assert_eq!(built.describe(), "tcp:host=127.0.0.1:port=80");
    }
}
