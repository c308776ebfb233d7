//! [`ClientService`]: keep one client connection alive (Twisted's
//! `twisted.application.internet.ClientService`).

mod builder;
mod driver;
mod handle;
mod machine;
mod proxy;

pub use builder::{ClientServiceBuilder, NeedsClock};
pub use handle::ClientService;
