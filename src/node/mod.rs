//! The top-level handle: [`Registry`] assembles the store, health checks and events of one
//! node, and [`RegistryBuilder`] configures it.

mod builder;
mod registry;

pub use builder::RegistryBuilder;
pub use registry::{BeatReply, Registry, ServiceList};
