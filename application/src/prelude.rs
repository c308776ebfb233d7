//! Everything a program built from services calls methods through, in one
//! glob import: [`torsion_reactor::prelude`] plus [`Service`], so
//! `reactor.run()`, `reactor.stop()` and `service.start_service()` need no
//! trait import found by compiler hint.
//!
//! ```
//! use torsion_application::prelude::*;
//! use torsion_application::{run, MultiService};
//!
//! let reactor = Reactor::new()?;
//! let root = MultiService::new();
//! reactor.stop()?; // run starts the tree, then stops it at once
//! run(&root, &reactor, std::time::Duration::from_secs(1))?;
//! assert!(!root.is_running());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::Service;
pub use torsion_reactor::prelude::*;
