//! Torsion's application layer (Twisted's `twisted.application`): services
//! composed into a tree, and [`ClientService`], which keeps a client
//! connection alive with backoff and jitter, exactly as Twisted's does.
//!
//! # Example
//!
//! A service tree with a client that reconnects, tested on the fake clock:
//!
//! ```
//! use std::{rc::Rc, time::Duration};
//! use torsion_application::{set_service_parent, ClientService, MultiService, Service};
//! use torsion_reactor::{Factory, Failure};
//! use torsion_testing::{success_result_of, AccumulatingProtocol, Clock, FakeClientEndpoint};
//!
//! let clock = Clock::new();
//! let endpoint = Rc::new(FakeClientEndpoint::new(false));
//! let client = ClientService::builder(endpoint.clone(), Factory::for_protocol(AccumulatingProtocol::new))
//!     .clock(Rc::new(clock.clone()))
//!     .retry_policy(|_| Duration::from_secs(5))
//!     .build();
//!
//! let root = MultiService::new();
//! let child: Rc<dyn Service> = Rc::new(client.clone());
//! set_service_parent(&child, &root)?;
//! root.start_service();
//!
//! endpoint.info().pop_connect().errback(Failure::msg("refused"));
//! assert_eq!(client.state_name(), "Waiting");
//! clock.advance(Duration::from_secs(5));
//! endpoint.info().pop_connect().callback(());
//! let protocol = success_result_of(&client.when_connected(None));
//! assert!(protocol.borrow().made);
//! # let stopped = root.stop_service();
//! # endpoint.info().protocol(0).borrow_mut().connection_lost(Failure::msg("bye"));
//! # success_result_of(&stopped);
//! # Ok::<(), torsion_application::ServiceError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod backoff;
mod client_service;
pub mod prelude;
mod react;
mod runner;
mod serve;
mod server_service;
mod service;
mod start_error;
mod timer_service;

pub use backoff::{backoff_policy, default_jitter, default_retry_policy, RetryPolicy};
pub use client_service::{ClientService, ClientServiceBuilder, NeedsClock};
pub use react::{react, react_async, react_on, Exit};
pub use runner::{run, RunError, DEFAULT_STOP_DEADLINE};
pub use serve::{run_app, serve};
pub use server_service::StreamServerEndpointService;
pub use service::{
    disown_service_parent, set_service_parent, MultiService, Service, ServiceError, ServiceState,
};
pub use start_error::StartError;
pub use timer_service::TimerService;
