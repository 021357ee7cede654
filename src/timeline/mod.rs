//! The instance timeline: per instance, a bounded history of what happened to it and why —
//! registered (through which front and connection, by whom, on which member), disabled or
//! enabled, turned unhealthy (no beat for 17 s; a probe refused) or healthy again, evicted by
//! a member's sweep, registered again by a client's redo, deregistered — so a "ghost instance"
//! or "instance vanished" report can be answered with the instance's own story.
//!
//! Design decisions:
//! - **Recorded where the registry writes.** [`crate::Registry`] records each change it makes
//!   (its write methods, its health sweep), so every front and every write route (a forwarded
//!   write on its owner) is covered once. Who asked is the [`Origin`] the front puts in scope
//!   around the write ([`with_origin`], [`with_origin_sync`]); the member is the registry's
//!   own ([`Timeline::set_member`]). A persistent write that goes to the control plane is
//!   applied by the log's sink, which does not know who asked: the member that took the
//!   write records it once the control plane answered, as the registry would have. An
//!   operator's edit that the control plane keeps as an override changes the instance before
//!   the edit's own write does; each records what it changed, and a write that changes
//!   nothing records nothing, so the edit reads as one entry.
//! - **Off the hot path of beats.** A beat records nothing (a beat that makes an unhealthy
//!   instance healthy again records that flip). The beats are summarized when the timeline is
//!   read, from the instance's liveness: its last beat and its interval
//!   ([`InstanceTimeline::last_beat`]).
//! - **Cheap to record.** An entry is a time, an [`Event`] holding numbers (what made an
//!   instance unhealthy is stored as its silence and timeout, formatted only when read) and a
//!   shared origin; a sweep that flips a thousand instances shares one origin among them.
//! - **Bounded** per instance ([`TimelineConfig::per_instance`]: the oldest entries go first)
//!   and in total ([`TimelineConfig::instances`]: the instance whose history changed least
//!   recently goes first, whole). `instances = 0` turns the timeline off.
//! - **Kept across a restart for persistent instances** when a file is attached
//!   ([`Timeline::attach_file`], `nacre-server --data-dir`): their entries are appended to it
//!   as JSON lines and read back at start; ephemeral instances do not outlive their clients,
//!   and their history stays in memory. The file is rewritten from memory when it grows past
//!   twice what memory may hold of it.
//!
//! Nacos keeps nothing of the kind: its operators read logs across members. A member's
//! timeline holds what that member did and saw: in a cluster, read the timeline on the member
//! that owns the service (its writes and sweeps); a write forwarded to the owner is recorded
//! there with the forwarding member as its origin.

mod entry;
mod file;
mod store;

pub use entry::{Event, Origin, TimelineEntry};
pub use store::{InstanceTimeline, Timeline, TimelineConfig};

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static ORIGIN: Arc<Origin>;
}

/// Runs `write` with `origin` as the origin of what it records in any registry's timeline.
pub async fn with_origin<F: Future>(origin: Origin, write: F) -> F::Output {
    ORIGIN.scope(Arc::new(origin), write).await
}

/// [`with_origin`] for a synchronous write.
pub fn with_origin_sync<R>(origin: Origin, write: impl FnOnce() -> R) -> R {
    ORIGIN.sync_scope(Arc::new(origin), write)
}

/// The origin in scope, if any.
pub(crate) fn current_origin() -> Option<Arc<Origin>> {
    ORIGIN.try_with(Arc::clone).ok()
}
