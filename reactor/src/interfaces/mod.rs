//! The interface traits, one file per area, mirroring
//! `twisted.internet.interfaces`. Contracts only: behaviour lives elsewhere.

mod core;
mod endpoint;
mod factory;
mod multicast;
mod process;
mod process_options;
mod producer;
mod protocol;
mod tcp;
mod threads;
mod time;
mod tls;
mod transport;
mod udp;
mod unix;

pub use self::core::{events, Phase, ReactorCore, Trigger, TriggerId, UnknownPhase};
pub use endpoint::{
    StreamClientEndpoint, StreamClientEndpointExt, StreamServerEndpoint, StreamServerEndpointExt,
};
pub use factory::{DynProtocolFactory, HookedProtocol, ProtocolFactory};
pub use multicast::{MulticastInterface, MulticastTransport};
pub use process::{
    parse_signal, ProcessProtocol, ProcessProtocolRef, ProcessTransport, ProcessTransportRef,
    ReactorProcess,
};
pub use process_options::{ChildFd, ProcessOptions, PtySize};
pub use producer::{Consumer, Producer, ProducerRef, PullProducer, PushProducer};
pub(crate) use protocol::short_type_name;
pub use protocol::{FileDescriptorReceiver, HalfCloseableProtocol, Protocol, ProtocolRef};
pub use tcp::{
    Connector, ConnectorState, ListeningPort, ReactorTcp, DEFAULT_BACKLOG, DEFAULT_CONNECT_TIMEOUT,
};
pub use threads::ReactorFromThreads;
pub use time::{ReactorTime, ReactorTimeExt};
pub use tls::{StartTlsError, StartTlsTransport, TlsTransport};
pub use transport::{TcpTransport, Transport, TransportRef, UnixTransport};
pub use udp::{
    DatagramProtocol, DatagramProtocolRef, ReactorUdp, UdpTransport, UdpTransportRef,
    DEFAULT_MAX_PACKET_SIZE,
};
pub use unix::{ReactorUnix, DEFAULT_UNIX_MODE};
