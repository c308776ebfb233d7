//! `MemoryReactor` as a [`ReactorProcess`]: records each `spawn_process`.

use std::rc::Rc;

use torsion_reactor::error::SpawnError;
use torsion_reactor::{ProcessOptions, ProcessProtocolRef, ProcessTransportRef, ReactorProcess};

use super::reactor::MemoryReactor;
use crate::process_transport::{FakeProcessTransport, ProcessSpawn};

impl MemoryReactor {
    /// The `spawn_process` calls so far, oldest first.
    pub fn processes(&self) -> Vec<ProcessSpawn> {
        self.inner.processes.borrow().clone()
    }
}

/// Connects the protocol to a [`FakeProcessTransport`] and records the
/// call; never fails.
impl ReactorProcess for MemoryReactor {
    fn spawn_process(
        &self,
        protocol: ProcessProtocolRef,
        options: ProcessOptions,
    ) -> Result<ProcessTransportRef, SpawnError> {
        let options = Rc::new(options);
        let transport = FakeProcessTransport::connect(protocol, &options);
        self.inner.processes.borrow_mut().push(ProcessSpawn {
            options,
            transport: transport.clone(),
        });
        Ok(transport)
    }
}
