//! The registry handle: [`Registry`] puts one node's [`crate::store::Store`], health checks and
//! events behind one cheap-to-clone handle, and [`RegistryBuilder`] configures it.
//!
//! This is where users start: register, beat, query and subscribe here. The data itself lives
//! one layer down, in [`crate::store`] (copy-on-write snapshots, versions, the merge rule); the
//! types a caller meets through the handle are re-exported here, so `nacre::registry` is the
//! one module a reader needs to open.
//!
//! Every write the handle offers is also a [`Command`]: one value that [`Command::apply`] runs
//! on a registry, that a cluster node routes to the member responsible for the service, and
//! that crosses the wire to that member unchanged. See [`command`] for the route a write takes.

mod builder;
pub mod command;
mod controlled;
mod counters;
pub mod drain;
mod durable;
mod handle;
mod history;
mod limit_log;
mod overrides;
mod reader;

pub use crate::store::{InstanceUpdate, InstancesView, Selection, ServiceSettings, StoreError};
pub use builder::RegistryBuilder;
pub use command::{Command, CommandOutput, UnexpectedOutput};
pub use controlled::{PersistentRoute, RouteError, WeakRegistry};
pub use counters::RegistryStats;
pub use drain::{ListenerDrain, LISTENERS_FRONT};
pub use durable::ExecuteError;
pub use handle::{BeatReply, Registry, ServiceList};
pub use overrides::InstanceOverrides;
pub use reader::RegistryReader;
