//! Durable persistent instances and service settings: the `Persistence` trait and `FileStore`
//! through the public API, and `nacre-server --data-dir` processes killed and restarted,
//! among them a member stopped for longer than the tombstone retention (feature `http`), and
//! the control plane of a three-member cluster killed member by member (feature `server`).

mod persistence;
#[cfg(feature = "server")]
mod persistent_log;

#[cfg(feature = "server")]
mod control_chaos;
#[cfg(feature = "server")]
mod control_group;
#[cfg(feature = "http")]
mod durable;
#[cfg(feature = "server")]
mod namespaces;
#[cfg(feature = "http")]
mod outage;
#[cfg(feature = "http")]
mod timeline;
