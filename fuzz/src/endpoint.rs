//! The endpoint description parser: `Arguments::parse`, the typed
//! `ClientDescription` / `ServerDescription`, and `client_from_string` /
//! `server_from_string` on a `MemoryReactor`.

use torsion_endpoints::{
    client_from_string, quote, server_from_string, Arguments, ClientDescription,
    EndpointParseError, ServerDescription,
};
use torsion_testing::MemoryReactor;

/// Parses `description` every way there is and checks:
///
/// * nothing panics, and every error displays;
/// * tokenizing: an error is one of the three tokenizer errors; arguments
///   printed back with `quote` tokenize to the same arguments (the registry
///   relies on this to hand built-in types the original description);
/// * a typed description prints back to a string that parses to itself;
/// * `client_from_string` / `server_from_string` agree with the typed
///   parsers, error for error;
/// * an endpoint's `describe()` parses back to an endpoint with the same
///   description.
pub fn check_description(description: &str) {
    let arguments = Arguments::parse(description);
    match &arguments {
        Ok(arguments) => {
            assert!(!arguments.positional.is_empty(), "no type: {arguments:?}");
            let printed = print_arguments(arguments);
            assert_eq!(
                Arguments::parse(&printed).as_ref(),
                Ok(arguments),
                "{description:?} printed back as {printed:?}"
            );
        }
        Err(error) => {
            let _ = error.to_string();
            assert!(
                matches!(
                    error,
                    EndpointParseError::Empty
                        | EndpointParseError::TrailingBackslash
                        | EndpointParseError::MissingType
                ),
                "{description:?}: {error:?}"
            );
        }
    }

    let client = description.parse::<ClientDescription>();
    if let Ok(typed) = &client {
        let printed = typed.to_string();
        assert_eq!(
            printed.parse::<ClientDescription>().as_ref(),
            Ok(typed),
            "{description:?} printed back as {printed:?}"
        );
    }
    let server = description.parse::<ServerDescription>();
    if let Ok(typed) = &server {
        let printed = typed.to_string();
        assert_eq!(
            printed.parse::<ServerDescription>().as_ref(),
            Ok(typed),
            "{description:?} printed back as {printed:?}"
        );
    }

    let reactor = MemoryReactor::new();
    match client_from_string(reactor.clone(), description) {
        Ok(endpoint) => {
            assert!(client.is_ok(), "{description:?}: {client:?}");
            let described = endpoint.describe();
            let again = client_from_string(reactor.clone(), &described)
                .unwrap_or_else(|e| panic!("{description:?} described as {described:?}: {e}"));
            assert_eq!(again.describe(), described, "{description:?}");
        }
        Err(error) => {
            let _ = error.to_string();
            assert_eq!(client.as_ref().err(), Some(&error), "{description:?}");
        }
    }
    match server_from_string(reactor.clone(), description) {
        Ok(endpoint) => {
            assert!(server.is_ok(), "{description:?}: {server:?}");
            let described = endpoint.describe();
            let again = server_from_string(reactor, &described)
                .unwrap_or_else(|e| panic!("{description:?} described as {described:?}: {e}"));
            assert_eq!(again.describe(), described, "{description:?}");
        }
        Err(error) => {
            let _ = error.to_string();
            assert_eq!(server.as_ref().err(), Some(&error), "{description:?}");
        }
    }
}

/// Prints tokenized arguments back: positionals, then `key=value`s, quoted.
fn print_arguments(arguments: &Arguments) -> String {
    let mut parts: Vec<String> = arguments
        .positional
        .iter()
        .map(|p| quote(p, true))
        .collect();
    parts.extend(
        arguments
            .keywords
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k, true), quote(v, false))),
    );
    parts.join(":")
}
