//! Torsion: Twisted's programming model in Rust, behind one dependency.
//!
//! One single-threaded reactor, protocols driven by callbacks, results
//! delivered through [`Deferred`], services composed into an application,
//! endpoints named by strings. This crate re-exports the parts under short
//! paths: the reactor flat at the root (`torsion::Deferred`,
//! `torsion::Reactor`, `torsion::task::LoopingCall`), and
//! [`torsion::endpoints`](endpoints), [`torsion::application`](application)
//! and [`torsion::protocols`](protocols) as modules;
//! [`torsion::prelude`](prelude) brings the traits whose methods you call.
//! The test doubles (`Clock`, `MemoryReactor`, `StringTransport`, the
//! in-memory pump) are the separate `torsion-testing` crate, a
//! dev-dependency.
//!
//! # A whole server
//!
//! An echo server on port 8000 (`nc 127.0.0.1 8000` to talk to it; Ctrl-C
//! stops it gracefully):
//!
//! ```
//! use std::process::ExitCode;
//! use torsion::prelude::*;
//!
//! /// Writes back every byte it receives.
//! #[derive(Default)]
//! struct Echo {
//!     transport: Option<TransportRef>,
//! }
//!
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, transport: TransportRef) {
//!         self.transport = Some(transport);
//!     }
//!
//!     fn data_received(&mut self, data: &[u8]) {
//!         if let Some(transport) = &self.transport {
//!             transport.write(data);
//!         }
//!     }
//! }
//!
//! fn main() -> ExitCode {
//!     torsion::run_app(|reactor, root| {
//!         let description = "tcp:8000:interface=127.0.0.1";
//!         # let (_, description) = (description, "tcp:0:interface=127.0.0.1"); // the test takes any free port
//!         root.add(torsion::serve(reactor, description, Factory::<Echo>::default())?)?;
//!         # reactor.stop()?; // the test serves, then stops at once
//!         Ok(())
//!     })
//! }
//! ```
//!
//! [`run_app`] makes the reactor and the root service, [`serve`] turns an
//! endpoint description and a factory into a service, and the runner
//! starts it, stops it on SIGINT or SIGTERM, and reports a port it could
//! not have (`echo: service "<unnamed>" could not start: ... Address in
//! use`) with a failure exit status. A one-off client or script uses
//! [`react`] instead: it runs until the [`Deferred`] its `main` returns
//! fires.
//!
//! # Guides
//!
//! * [Coming from Twisted](guide::from_twisted): protocol, factory,
//!   Deferred chain, `ClientService`, a `Clock`-based test, side by side
//!   with the Python.
//! * [Coming from tokio](guide::from_tokio): the same program with `async`
//!   on the local executor; where callbacks beat futures and where they
//!   don't.
//!
//! # From Twisted
//!
//! | Twisted | Torsion |
//! |---|---|
//! | `twisted.internet.defer.Deferred` | [`Deferred`] |
//! | `defer.succeed`, `defer.fail`, `maybeDeferred` | [`succeed`], [`fail`], [`maybe_deferred`] |
//! | `DeferredList`, `gatherResults` | [`DeferredList`], [`gather_results`] |
//! | `Deferred.addTimeout` | [`Deferred::add_timeout`] |
//! | `ensureDeferred`, `Deferred.fromCoroutine` | [`Deferred::from_future`] |
//! | `twisted.python.failure.Failure` | [`Failure`] |
//! | `from twisted.internet import reactor` | [`Reactor`] and `use torsion::prelude::*` |
//! | `reactor.run()`, `reactor.stop()` | [`ReactorCore::run`], [`ReactorCore::stop`] |
//! | `reactor.callLater` | [`ReactorTimeExt::call_later`] |
//! | `reactor.callFromThread` | [`ReactorFromThreads::thread_handle`], [`ThreadHandle::call_from_thread`] |
//! | `reactor.listenTCP`, `connectTCP` | [`ReactorTcp::listen_tcp`], [`ReactorTcp::connect_tcp`] |
//! | `protocol.Protocol` | [`Protocol`] |
//! | `protocol.Factory.forProtocol` | [`Factory::for_protocol`], `Factory::<P>::default()` |
//! | `IProtocolFactory`, `ClientFactory` | [`ProtocolFactory`] |
//! | `ITransport` | [`Transport`] |
//! | `IPushProducer`, `registerProducer` | [`PushProducer`], [`Consumer`] |
//! | `task.LoopingCall` | [`task::LoopingCall`] |
//! | `task.deferLater` | [`task::defer_later`] |
//! | `task.react` | [`react`], [`react_async`] ([`react_on`] for any reactor) |
//! | `SystemExit(code)` out of `react`'s main | [`Exit`] |
//! | `endpoints.serverFromString` | [`endpoints::server_from_string`] |
//! | `endpoints.clientFromString` | [`endpoints::client_from_string`] |
//! | `TCP4ServerEndpoint`, `TCP4ClientEndpoint` | [`endpoints::Tcp4ServerEndpoint`], [`endpoints::Tcp4ClientEndpoint`] |
//! | `HostnameEndpoint` | [`endpoints::HostnameEndpoint`] |
//! | `endpoints.connectProtocol` | [`endpoints::connect_protocol`] |
//! | `endpoint.connect(factory)` | [`StreamClientEndpointExt::connect`] |
//! | `service.Service`, `MultiService` | [`application::Service`], [`application::MultiService`] |
//! | `service.setServiceParent(parent)` | [`parent.add(service)`](application::MultiService::add), [`application::set_service_parent`] |
//! | `strports.service(description, factory)` | [`serve`] |
//! | `internet.StreamServerEndpointService` | [`application::StreamServerEndpointService`] |
//! | `internet.ClientService` | [`application::ClientService`] |
//! | `internet.TimerService` | [`application::TimerService`] |
//! | `twistd` running an `application` | [`run_app`], [`application::run`] |
//! | `basic.LineReceiver`, `LineOnlyReceiver` | [`protocols::LineReceiver`], [`protocols::LineOnlyReceiver`] |
//! | `basic.NetstringReceiver`, `Int32StringReceiver` | [`protocols::NetstringReceiver`], [`protocols::Int32StringReceiver`] |
//! | `twisted.internet.error` | [`error`] |
//! | `base.BaseConnector` (writing a reactor's connectors) | [`ConnectorBase`] |
//! | `task.Clock` | [`torsion_testing::Clock`](../torsion_testing/struct.Clock.html) (dev-dependency) |
//! | `MemoryReactor`, `MemoryReactorClock` | [`torsion_testing::MemoryReactor`](../torsion_testing/struct.MemoryReactor.html), [`MemoryReactorClock`](../torsion_testing/struct.MemoryReactorClock.html) |
//! | `StringTransport` | [`torsion_testing::StringTransport`](../torsion_testing/struct.StringTransport.html) |
//! | `twisted.test.iosim` | [`torsion_testing`'s in-memory pump](../torsion_testing/index.html) |
//! | `twisted.internet.ssl`, `protocols.tls` | `torsion::tls`, behind the `tls` feature (see [Features](#features)) |
//! | `reactor.spawnProcess(pp, exe, args, env, path, uid, gid, usePTY, childFDs)` | [`ReactorProcess::spawn_process`] with [`ProcessOptions`] ([`ChildFd`], [`PtySize`]) |
//! | `protocol.ProcessProtocol`, `transport.writeToChild` | [`ProcessProtocol`], [`ProcessTransport::write_to_child`] |
//! | `stdio.StandardIO(protocol)` | [`StandardIO`] |
//! | `endpoints.ProcessEndpoint`, `StandardIOEndpoint`, `"stdio:"` | [`endpoints::ProcessEndpoint`], [`endpoints::StandardIOEndpoint`], the same string |
//!
//! # From tokio
//!
//! | tokio | Torsion |
//! |---|---|
//! | `#[tokio::main] async fn main` | [`react_async`] (a script), [`run_app`] (a server) |
//! | `TcpListener::bind` + an `accept` loop | [`serve`] with a [`Protocol`] (or [`endpoints::Tcp4ServerEndpoint`] and [`StreamServerEndpointExt::listen`]) |
//! | `TcpStream::connect` | [`endpoints::client_from_string`] + [`StreamClientEndpointExt::connect`] |
//! | `AsyncWriteExt::write_all` | [`transport.write(..)`](Consumer::write) (buffered; never blocks) |
//! | reading in a loop | [`Protocol::data_received`] is called with each chunk |
//! | `tokio::task::spawn_local` (`LocalSet`) | [`Reactor::spawn_local`], [`Deferred::from_future`] |
//! | `JoinHandle` | the [`Deferred`] from [`Deferred::from_future`] (awaitable) |
//! | `tokio::time::sleep(d).await` | [`task::defer_later`]`(reactor, d, ..).await` |
//! | `tokio::time::interval` | [`task::LoopingCall`] |
//! | `tokio::time::timeout` | [`Deferred::add_timeout`] |
//! | `join!`, `try_join_all`, `select!` | [`gather_results`], [`DeferredList`], [`race`] |
//! | `tokio::signal::ctrl_c` | built in: the [`Reactor`] stops gracefully on SIGINT and SIGTERM |
//! | `spawn_blocking` / a `Handle` from another thread | [`ReactorFromThreads::thread_handle`] |
//! | `tokio_util::codec::LinesCodec` | [`protocols::LineReceiver`] |
//! | `tokio::process::Command` | [`ReactorProcess::spawn_process`] with [`ProcessOptions`] (the exit arrives as [`ProcessProtocol::process_ended`]) |
//! | `tokio::io::stdin()` / `stdout()` | [`StandardIO`] (a pipe, a terminal or a file) |
//! | `tokio::time::pause`, `advance` | [`torsion_testing::Clock`](../torsion_testing/struct.Clock.html) |
//! | `tokio_test::io::Builder` | [`torsion_testing::StringTransport`](../torsion_testing/struct.StringTransport.html) |
//!
//! # Features
//!
//! Parts that bring heavy dependencies come behind cargo features, off by
//! default:
//!
//! * `tls`: TLS over any transport on rustls (Twisted's
//!   `twisted.internet.ssl` and `protocols.tls`), re-exported as
//!   `torsion::tls` (the `torsion-tls` crate: `TlsFactory`, `start_tls`,
//!   TLS endpoints and the `ssl:`/`tls:` description strings).
//!
//! Everything else (the reactor with TCP and UNIX sockets, endpoints,
//! services, framing protocols) is always on, and new reactor
//! capabilities appear here as they land in `torsion-reactor`.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

pub use torsion_reactor::*;

pub use torsion_application::{react, react_async, react_on, run_app, serve, Exit};

pub mod guide;

/// Endpoints and their description strings (Twisted's
/// `twisted.internet.endpoints`): everything in `torsion-endpoints`.
pub mod endpoints {
    pub use torsion_endpoints::*;
}

/// Services and the runner (Twisted's `twisted.application`): everything
/// in `torsion-application`.
pub mod application {
    pub use torsion_application::*;
}

/// Framing protocols (Twisted's `twisted.protocols.basic`): everything in
/// `torsion-protocols`.
pub mod protocols {
    pub use torsion_protocols::*;
}

/// TLS over any transport, on rustls (Twisted's `twisted.internet.ssl` and
/// `twisted.protocols.tls`): everything in `torsion-tls`. Behind the `tls`
/// feature.
#[cfg(feature = "tls")]
pub mod tls {
    pub use torsion_tls::*;
}

/// The traits a program calls methods through, and the types it names all
/// the time, in one glob import: `torsion_application`'s prelude (the
/// reactor's traits, [`Reactor`], [`Deferred`], [`Failure`], [`Factory`],
/// [`TransportRef`], [`Service`](application::Service)) plus
/// [`MultiService`](application::MultiService).
///
/// ```
/// use torsion::prelude::*;
///
/// let reactor = Reactor::new()?;
/// let root = MultiService::new();
/// reactor.stop()?;
/// torsion::application::run(&root, &reactor, std::time::Duration::from_secs(1))?;
/// assert!(!root.is_running());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use torsion_application::prelude::*;
    pub use torsion_application::MultiService;
}
