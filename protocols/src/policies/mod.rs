//! Protocol policies (Twisted's `twisted.protocols.policies`): wrappers
//! that put a rule on every connection of any [`ProtocolFactory`](torsion_reactor::ProtocolFactory)
//! without the wrapped protocol knowing: idle timeouts, throttling,
//! connection limits, traffic logging.

mod limits;
mod throttling;
mod timeout;
mod traffic_logging;
mod wrapper;

pub use limits::{
    LimitConnectionsByPeer, LimitTotalConnectionsFactory, PeerLimit, PeerLimitHooks, TotalLimit,
    TotalLimitHooks,
};
pub use throttling::{ThrottlingFactory, ThrottlingHooks, ThrottlingPolicy};
pub use timeout::{TimeoutConnection, TimeoutFactory, TimeoutHooks, TimeoutMixin, TimeoutPolicy};
pub use traffic_logging::{TrafficLog, TrafficLogging, TrafficLoggingFactory, TrafficLoggingHooks};
pub use wrapper::{Admission, Forward, Policy, PolicyHooks, PolicyProtocol, WrappingFactory};
