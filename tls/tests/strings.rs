//! `ssl:`/`tls:` description strings and the TLS endpoints over real
//! loopback sockets (Twisted's `test_endpoints` SSL and TLS cases).

mod util;

use std::rc::Rc;
use std::time::{Duration, Instant};

use torsion_endpoints::{quote, EndpointParseError, EndpointRegistry};
use torsion_reactor::{
    Deferred, Factory, Reactor, StreamClientEndpoint, StreamClientEndpointExt,
    StreamServerEndpointExt, TransportRef,
};
use torsion_testing::{success_result_of, AccumulatingProtocol};
use torsion_tls::{register_tls_endpoints, TlsError, TlsErrorKind};
use util::{pem_files, Echo, PemFiles};

fn wait_until(reactor: &Reactor, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        reactor.iterate(Some(Duration::from_millis(10))).unwrap();
    }
}

fn wait_for<T: 'static>(reactor: &Reactor, d: &Deferred<T>) {
    wait_until(reactor, || d.has_result());
}

/// A CA, its directory of trust roots, and a server certificate for
/// `localhost` in PEM files.
fn files() -> PemFiles {
    pem_files("strings CA", &["localhost"])
}

fn registry(reactor: &Reactor) -> EndpointRegistry<Reactor> {
    let mut registry = EndpointRegistry::new(reactor.clone());
    register_tls_endpoints(&mut registry);
    registry
}

/// Listens on `ssl:0:...`, connects with the client description made from
/// the port, echoes 256 KiB; returns the client's transport.
fn echo_round_trip(
    reactor: &Reactor,
    files: &PemFiles,
    client: impl Fn(u16) -> String,
) -> TransportRef {
    let registry = registry(reactor);
    let server = registry
        .server_from_string(&format!(
            "ssl:0:privateKey={}:certKey={}:interface=127.0.0.1:backlog=10",
            quote(&files.key, false),
            quote(&files.cert, false)
        ))
        .unwrap();
    let listening = server.listen(Factory::for_protocol(Echo::default));
    wait_for(reactor, &listening);
    let port = success_result_of(&listening);
    let endpoint = registry
        .client_from_string(&client(port.host().port().unwrap()))
        .unwrap();
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait_for(reactor, &connected);
    let protocol = success_result_of(&connected);
    let payload: Vec<u8> = (0..256 * 1024).map(|i: u32| (i % 253) as u8).collect();
    let transport = protocol.borrow().transport.clone().unwrap();
    transport.write(&payload);
    wait_until(reactor, || {
        protocol.borrow().data.len() >= payload.len() || protocol.borrow().closed
    });
    assert!(protocol.borrow().data == payload, "echo differs");
    drop(port.stop_listening());
    transport
}

/// `ssl:PORT:privateKey=...:certKey=...` serves TLS, and
/// `tls:localhost:PORT:trustRoots=DIR` verifies it and gets every byte
/// back.
#[test]
fn ssl_server_and_tls_client() {
    let reactor = Reactor::new().unwrap();
    let files = files();
    let transport = echo_round_trip(&reactor, &files, |port| {
        format!(
            "tls:localhost:{port}:trustRoots={}",
            quote(&files.roots.0.to_string_lossy(), false)
        )
    });
    let tls = transport.as_tls().unwrap();
    assert!(tls.peer_certificate().is_some());
    assert_eq!(tls.server_name().as_deref(), Some("localhost"));
    let _ = &files.dir;
}

/// Twisted's client `ssl:host=H:port=P:caCertsDir=DIR`.
#[test]
fn ssl_client_with_ca_certs_dir() {
    let reactor = Reactor::new().unwrap();
    let files = files();
    echo_round_trip(&reactor, &files, |port| {
        format!(
            "ssl:host=localhost:port={port}:caCertsDir={}",
            quote(&files.roots.0.to_string_lossy(), false)
        )
    });
}

/// `endpoint=` wraps an inner endpoint description; the host is then only
/// the name verified.
#[test]
fn tls_client_with_inner_endpoint() {
    let reactor = Reactor::new().unwrap();
    let files = files();
    echo_round_trip(&reactor, &files, |port| {
        format!(
            "tls:localhost:{port}:trustRoots={}:endpoint={}",
            quote(&files.roots.0.to_string_lossy(), false),
            quote(&format!("tcp:host=127.0.0.1:port={port}"), false)
        )
    });
}

/// Over real sockets, a certificate for another name fails the client with
/// `WrongHostName`.
#[test]
fn wrong_host_name_over_loopback() {
    let reactor = Reactor::new().unwrap();
    let files = files();
    let registry = registry(&reactor);
    let server = registry
        .server_from_string(&format!(
            "ssl:0:privateKey={}:certKey={}:interface=127.0.0.1",
            quote(&files.key, false),
            quote(&files.cert, false)
        ))
        .unwrap();
    let listening = server.listen(Factory::for_protocol(Echo::default));
    wait_for(&reactor, &listening);
    let port = success_result_of(&listening);
    let endpoint: Rc<dyn StreamClientEndpoint> = registry
        .client_from_string(&format!(
            "tls:impostor.example:{0}:trustRoots={1}:endpoint=tcp\\:host=127.0.0.1\\:port={0}",
            port.host().port().unwrap(),
            quote(&files.roots.0.to_string_lossy(), false)
        ))
        .unwrap();
    let connected = endpoint.connect(Factory::for_protocol(AccumulatingProtocol::new));
    wait_for(&reactor, &connected);
    let protocol = success_result_of(&connected);
    wait_until(&reactor, || protocol.borrow().closed);
    let reason = protocol.borrow().closed_reason.clone().unwrap();
    let error = reason.downcast_ref::<TlsError>().expect("a TlsError");
    assert_eq!(error.kind(), TlsErrorKind::WrongHostName, "{error}");
    drop(port.stop_listening());
}

/// Options rustls cannot honour are refused, naming the option; missing
/// files name the argument.
#[test]
fn unsupported_and_bad_options_are_named() {
    let reactor = Reactor::new().unwrap();
    let files = files();
    let registry = registry(&reactor);
    let base = format!(
        "ssl:0:privateKey={}:certKey={}",
        quote(&files.key, false),
        quote(&files.cert, false)
    );
    for option in ["sslmethod=TLSv1_2_METHOD", "dhParameters=dh.pem"] {
        let error = registry
            .server_from_string(&format!("{base}:{option}"))
            .map(|_| ())
            .unwrap_err();
        let name = option.split('=').next().unwrap();
        assert!(
            matches!(&error, EndpointParseError::Invalid { argument, .. } if argument == name),
            "{error}"
        );
    }
    let error = registry
        .server_from_string("ssl:0:privateKey=/nonexistent/key.pem")
        .map(|_| ())
        .unwrap_err();
    assert!(error.to_string().contains("privateKey"), "{error}");
    let error = registry
        .client_from_string("tls:localhost:443:trustRoots=/nonexistent")
        .map(|_| ())
        .unwrap_err();
    assert!(error.to_string().contains("trustRoots"), "{error}");
    let error = registry
        .server_from_string(&format!(
            "{base}:extraCertChain={}",
            quote(&files.key, false)
        ))
        .map(|_| ())
        .unwrap_err();
    assert!(error.to_string().contains("extraCertChain"), "{error}");
}
