//! In-process transports: a [`MemoryNetwork`] for [`crate::cluster::ClusterNode`]s on tokio and
//! a deterministic [`Simulation`] of a whole cluster, both with the faults of a
//! [`FaultModel`]: per-link loss and delay, partitions, crashes and restarts.

mod faults;
mod network;
mod sim;

pub use faults::{Delivery, FaultModel, LinkFaults};
pub use network::{MemoryNetwork, NetStats};
pub use sim::{registry_contents, SimConfig, Simulation};
