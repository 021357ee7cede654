//! The registry in one process, through its public API: reads, beat timing, events, bad input,
//! concurrent writers, a model check, the limits (caps, empty services, the event backlog) and
//! what it logs. (Removed services and their tombstones meet the store's crate-private merge,
//! so they are tested beside it: `src/store/removed_tests.rs`.)

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
mod timeline;
mod timing;

use std::collections::BTreeMap;

/// Service metadata of exactly `size` bytes (keys and values), for the metadata cap.
pub(crate) fn metadata(size: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("k".to_owned(), "v".repeat(size - 1));
    m
}
