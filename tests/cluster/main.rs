//! Clusters: Distro replication scenarios, removals of persistent data across long outages and
//! seeded random fault schedules on the deterministic simulator, `ClusterNode`s on tokio over the in-process network, limits across
//! members, and the chaos test with real `nacre-server` processes (feature `http`).

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "http")]
mod chaos;
mod limits;
#[cfg(feature = "http")]
mod members;
mod outage;
#[cfg(feature = "http")]
mod preview;
mod replication;
mod sim;
mod tokio_driver;
