//! [`Timeline`]: the bounded store of every instance's history, and [`InstanceTimeline`], one
//! instance's as read.

use super::entry::{Event, Origin, TimelineEntry};
use super::file::TimelineFile;
use crate::clock::Timestamp;
use crate::model::{InstanceKey, ServiceKey};
use crate::util::lock;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// The bounds of a [`Timeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineConfig {
    /// Entries kept per instance (default 16); the oldest go first.
    pub per_instance: usize,
    /// Instances with a history (default 20 000); the one whose history changed least
    /// recently goes first, so what is kept is the most recent stories (an instance that
    /// vanished an hour ago is among them). 0 turns the timeline off. A kept instance costs
    /// about 760 bytes (BENCHMARKS.md).
    pub instances: usize,
    /// Verdicts of one health sweep recorded at most (default 2 000): a sweep that flips or
    /// evicts more (an outage: every client of a network gone) records the first ones and
    /// counts the rest in its log line, so a mass flip's cost stays bounded (recording is
    /// about 2 µs a verdict; 200 000 cost 400 ms, 10 times the sweep itself).
    pub per_sweep: usize,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        Self {
            per_instance: 16,
            instances: 20_000,
            per_sweep: 2_000,
        }
    }
}

type Key = (ServiceKey, InstanceKey);

/// Entries recorded under one hold of the lock.
const RECORD_SLICE: usize = 512;

struct Track {
    entries: VecDeque<TimelineEntry>,
    /// Its place in `State::order`.
    seq: u64,
    persistent: bool,
}

#[derive(Default)]
struct State {
    tracks: HashMap<Key, Track, foldhash::fast::RandomState>,
    /// Tracks by when they last changed, oldest first.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    file: Option<TimelineFile>,
}

/// Every instance's timeline on one registry: see [`crate::timeline`]. Cheap to share
/// (`Arc`); every method takes `&self`.
pub struct Timeline {
    config: TimelineConfig,
    state: Mutex<State>,
    member: RwLock<Option<Arc<str>>>,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("config", &self.config)
            .field("instances", &self.len())
            .finish()
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(TimelineConfig::default())
    }
}

/// One instance's history, as [`crate::RegistryReader::instance_timeline`] reads it: the
/// entries (oldest first), and its beats summarized from its liveness.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTimeline {
    /// The service, `group@@name`.
    pub service: String,
    /// The namespace.
    pub namespace: String,
    /// The instance's cluster.
    pub cluster: String,
    /// The instance's address.
    pub ip: String,
    /// The instance's port.
    pub port: u16,
    /// Whether it is registered now.
    pub registered: bool,
    /// Its health now (when registered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Whether it is in rotation now (when registered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Whether it is ephemeral (when registered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
    /// Its last beat heard on this member, in ms since the epoch (ephemeral instances).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_beat: Option<u64>,
    /// The interval its client beats at, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beat_interval_ms: Option<u64>,
    /// What happened, oldest first.
    pub events: Vec<TimelineEntry>,
}

impl Timeline {
    /// An empty timeline bounded by `config`.
    pub fn new(config: TimelineConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
            member: RwLock::new(None),
        }
    }

    /// The bounds.
    pub fn config(&self) -> TimelineConfig {
        self.config
    }

    /// Names the member whose registry this is: every entry recorded from now on says so.
    pub fn set_member(&self, member: &str) {
        if let Ok(mut m) = self.member.write() {
            *m = Some(Arc::from(member));
        }
    }

    fn member(&self) -> Option<Arc<str>> {
        self.member.read().ok().and_then(|m| m.clone())
    }

    /// Instances with a history.
    pub fn len(&self) -> usize {
        lock(&self.state).tracks.len()
    }

    /// Whether no instance has a history.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `event` of `instance` of `service` at `at`, with the origin in scope
    /// ([`super::with_origin`]). `persistent` instances' entries go to the attached file too.
    pub fn record(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        at: Timestamp,
        event: Event,
        persistent: bool,
    ) {
        self.record_all(
            at,
            super::current_origin(),
            [(service.clone(), instance.clone(), event, persistent)],
        );
    }

    /// Records the event `decide` makes of the last one recorded (if any), under one lock.
    pub(crate) fn record_after(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        at: Timestamp,
        persistent: bool,
        decide: impl FnOnce(Option<Event>) -> Event,
    ) {
        if self.config.instances == 0 {
            return;
        }
        let key = (service.clone(), instance.clone());
        let origin = super::current_origin();
        let member = self.member();
        let mut state = lock(&self.state);
        let last = state
            .tracks
            .get(&key)
            .and_then(|t| t.entries.back().map(|e| e.event));
        let event = decide(last);
        let (service, instance) = key;
        self.record_locked(
            &mut state,
            at,
            (origin, member),
            [(service, instance, event, persistent)],
        );
    }

    /// Records several events at `at` from one `origin`, under one lock (a sweep's verdicts).
    pub(crate) fn record_all(
        &self,
        at: Timestamp,
        origin: Option<Arc<Origin>>,
        events: impl IntoIterator<Item = (ServiceKey, InstanceKey, Event, bool)>,
    ) {
        if self.config.instances == 0 {
            return;
        }
        let member = self.member();
        // In slices, so a sweep's thousands of verdicts never hold a registration's entry
        // back for more than one slice.
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let slice: Vec<_> = events.by_ref().take(RECORD_SLICE).collect();
            let mut state = lock(&self.state);
            self.record_locked(&mut state, at, (origin.clone(), member.clone()), slice);
        }
    }

    fn record_locked(
        &self,
        state: &mut State,
        at: Timestamp,
        (origin, member): (Option<Arc<Origin>>, Option<Arc<str>>),
        events: impl IntoIterator<Item = (ServiceKey, InstanceKey, Event, bool)>,
    ) {
        for (service, instance, event, persistent) in events {
            let entry = TimelineEntry {
                at: at.as_millis(),
                event,
                origin: origin.clone(),
                member: member.clone(),
            };
            if persistent {
                if let Some(file) = state.file.as_mut() {
                    file.append(&service, &instance, &entry);
                }
            }
            self.push(state, (service, instance), entry, persistent);
        }
        let limit = self.config.instances * self.config.per_instance;
        if state
            .file
            .as_ref()
            .is_some_and(|f| f.wants_compaction(limit))
        {
            let keep: Vec<(Key, Vec<TimelineEntry>)> = state
                .tracks
                .iter()
                .filter(|(_, t)| t.persistent)
                .map(|(k, t)| (k.clone(), t.entries.iter().cloned().collect()))
                .collect();
            if let Some(file) = state.file.as_mut() {
                file.rewrite(&keep);
            }
        }
    }

    fn push(&self, state: &mut State, key: Key, entry: TimelineEntry, persistent: bool) {
        state.next_seq += 1;
        let seq = state.next_seq;
        match state.tracks.get_mut(&key) {
            Some(track) => {
                state.order.remove(&track.seq);
                track.seq = seq;
                track.persistent |= persistent;
                if track.entries.len() >= self.config.per_instance.max(1) {
                    track.entries.pop_front();
                }
                track.entries.push_back(entry);
                state.order.insert(seq, key);
            }
            None => {
                while state.tracks.len() >= self.config.instances {
                    let Some((_, oldest)) = state.order.pop_first() else {
                        break;
                    };
                    state.tracks.remove(&oldest);
                }
                state.order.insert(seq, key.clone());
                state.tracks.insert(
                    key,
                    Track {
                        entries: VecDeque::from([entry]),
                        seq,
                        persistent,
                    },
                );
            }
        }
    }

    /// The entries of `instance` of `service`, oldest first.
    pub fn entries(&self, service: &ServiceKey, instance: &InstanceKey) -> Vec<TimelineEntry> {
        lock(&self.state)
            .tracks
            .get(&(service.clone(), instance.clone()))
            .map(|t| t.entries.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The last event recorded of `instance` of `service`.
    pub fn last_event(&self, service: &ServiceKey, instance: &InstanceKey) -> Option<Event> {
        lock(&self.state)
            .tracks
            .get(&(service.clone(), instance.clone()))
            .and_then(|t| t.entries.back().map(|e| e.event))
    }

    /// Keeps the entries of persistent instances in the file at `path` (created if missing),
    /// after reading back what it holds (entries beyond the bounds are dropped, lines that do
    /// not read are skipped). Returns how many entries were read back.
    pub fn attach_file(&self, path: &Path) -> std::io::Result<usize> {
        let (file, loaded) = TimelineFile::open(path)?;
        let mut state = lock(&self.state);
        let count = loaded.len();
        for (key, entry) in loaded {
            self.push(&mut state, key, entry, true);
        }
        state.file = Some(file);
        Ok(count)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
