//! [`ClientService`]: keep one client connection alive (Twisted's
//! `twisted.application.internet.ClientService`).

mod driver;
mod machine;
mod proxy;

pub use driver::{ClientService, ClientServiceBuilder};
