//! In-process transports: every node and client lives in one process, and faults are injected
//! by hand or by a seeded [`FaultModel`] (per-link loss and delay, partitions, crashes and
//! restarts).
//!
//! - [`MemoryNetwork`]: peer traffic for [`crate::cluster::ClusterNode`]s on tokio.
//! - [`Simulation`]: a whole cluster driven as a deterministic discrete-event simulation.
//! - [`MemoryClientTransport`]: a [`crate::protocol::ClientTransport`] over one or more
//!   [`crate::Registry`] nodes, failing over to the next node when one is down.

mod client;
mod faults;
mod network;
mod sim;

pub use client::MemoryClientTransport;
pub use faults::{Delivery, FaultModel, LinkFaults};
pub use network::{MemoryNetwork, NetStats};
pub use sim::{registry_contents, SimConfig, Simulation};
