//! The registry in one process, through its public API: reads, beat timing, events, bad input,
//! concurrent writers, a model check, the limits (caps, empty services, removed services and
//! their tombstones, the event backlog) and what it logs.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod caps;
mod concurrency;
mod empty_services;
mod event_backlog;
mod events;
mod logs;
mod model_check;
mod queries;
mod timing;

use std::collections::BTreeMap;

/// Service metadata of exactly `size` bytes (keys and values), for the metadata cap.
pub(crate) fn metadata(size: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("k".to_owned(), "v".repeat(size - 1));
    m
}
