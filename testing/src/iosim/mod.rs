//! Twisted's `twisted.test.iosim`: two protocols joined by in-memory
//! transports, with a pump that moves their bytes one step at a time.
//!
//! [`FakeTransport`] buffers what its protocol writes; [`IoPump`] carries
//! the buffers across and delivers closes; [`connect`],
//! [`connected_server_and_client`] and [`connected_protocols`] set a pair
//! up.

mod pump;
mod transport;

pub use pump::{
    connect, connected_protocols, connected_server_and_client, connected_server_and_client_with,
    ConnectOptions, Connected, IoPump,
};
pub use transport::FakeTransport;
