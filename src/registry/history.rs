//! What the registry records in its [`crate::timeline`]: the event each write and each sweep
//! verdict makes of an instance, decided from the instance as it was before the write.
//!
//! A write of a persistent instance that goes to the control plane's route (see
//! [`super::controlled`]) is applied here by the log's sink, which knows neither the caller
//! nor what the write meant; so the member that takes the write notes the instances before it
//! goes ([`Registry::before_routed`]) and records, once the route answered, what it changed
//! ([`Registry::note_routed`]), with the caller's origin. Other members apply the same log
//! entry without recording it, as replicas record no replicated change.

use super::command::{Command, CommandOutput};
use super::handle::Registry;
use super::reader::RegistryReader;
use crate::clock::Timestamp;
use crate::health::{BeatTimeouts, SweepReport};
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::timeline::{Event, InstanceTimeline, Origin};
use std::collections::HashMap;
use std::sync::Arc;

/// An instance as it was before a write: present (enabled, persistent, and its data, shared)
/// or not.
#[derive(Debug, Clone)]
pub(crate) struct Before {
    present: Option<(bool, bool)>,
    data: Option<Arc<Instance>>,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Registry {
    /// `instance` of `service` as it is now, to compare after a write.
    pub(super) fn before(&self, service: &ServiceKey, instance: &InstanceKey) -> Before {
        if !self.timeline_on() {
            return Before {
                present: None,
                data: None,
            };
        }
        let data = self
            .inner
            .store
            .load(service)
            .and_then(|snap| snap.entry(instance).map(|e| e.instance.clone()));
        Before {
            present: data.as_ref().map(|i| (i.enabled(), !i.ephemeral())),
            data,
        }
    }

    /// Runs `edit`, an operator's edit kept apart from the instance's own write (the override
    /// a control plane keeps, which it lays over the instance at once), and records what it
    /// changed of `instance`, in the caller's origin: the write that follows it then records
    /// only what it changes itself.
    #[cfg(all(feature = "control", feature = "http"))]
    pub(crate) async fn noting_edit<T>(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        edit: impl std::future::Future<Output = T>,
    ) -> T {
        if !self.timeline_on() {
            return edit.await;
        }
        let before = self.before(service, instance);
        let out = edit.await;
        self.note_updated(service, instance, before, self.inner.clock.now());
        out
    }

    pub(super) fn timeline_on(&self) -> bool {
        self.inner.timeline.config().instances > 0
    }

    /// Records a registration of `instance` (enabled and persistent as given) that found it
    /// as `before` said.
    pub(super) fn note_registered(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        (enabled, persistent): (bool, bool),
        before: Before,
        now: Timestamp,
        by_beat: bool,
    ) {
        if !self.timeline_on() {
            return;
        }
        let timeline = &self.inner.timeline;
        timeline.record_after(service, instance, now, persistent, |last| {
            match before.present {
                _ if by_beat => Event::ReregisteredByBeat,
                Some(_) => Event::Reregistered { returned: false },
                None => match last {
                    Some(Event::Evicted { .. } | Event::Deregistered | Event::ConnectionClosed) => {
                        Event::Reregistered { returned: true }
                    }
                    _ => Event::Registered,
                },
            }
        });
        if let Some((was_enabled, _)) = before.present {
            if was_enabled != enabled {
                let flip = if enabled {
                    Event::Enabled
                } else {
                    Event::Disabled
                };
                timeline.record(service, instance, now, flip, persistent);
            }
        }
    }

    /// Records a removal (`connection`: the registering connection's close withdrew it).
    pub(super) fn note_removed(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        before: Before,
        connection: bool,
        now: Timestamp,
    ) {
        let Some((_, persistent)) = before.present else {
            return;
        };
        let event = if connection {
            Event::ConnectionClosed
        } else {
            Event::Deregistered
        };
        self.inner
            .timeline
            .record(service, instance, now, event, persistent);
    }

    /// Records an update: a flip of `enabled`, or a change of weight or metadata; nothing when
    /// the instance reads as it did (an edit an override had already made).
    pub(super) fn note_updated(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        before: Before,
        now: Timestamp,
    ) {
        let (Some(was), Some(is)) = (before.data, self.before(service, instance).data) else {
            return;
        };
        let persistent = !was.ephemeral();
        let event = match (was.enabled(), is.enabled()) {
            (true, false) => Event::Disabled,
            (false, true) => Event::Enabled,
            _ if Arc::ptr_eq(&was, &is)
                || (was.weight() == is.weight() && was.metadata() == is.metadata()) =>
            {
                return;
            }
            _ => Event::Updated,
        };
        self.inner
            .timeline
            .record(service, instance, now, event, persistent);
    }

    /// Records a health flip set by hand or by a beat.
    pub(super) fn note_health(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        healthy: bool,
        persistent: bool,
        now: Timestamp,
    ) {
        let event = if healthy {
            Event::Healthy
        } else {
            Event::Unhealthy
        };
        self.inner
            .timeline
            .record(service, instance, now, event, persistent);
    }

    /// Records a sweep's verdicts: how long each instance had been silent, against which
    /// timeout. One origin (`sweep`) and one lock for all of them.
    pub(super) fn note_sweep(&self, report: &SweepReport, now: Timestamp) {
        if !self.timeline_on() || (report.marked_unhealthy.is_empty() && report.removed.is_empty())
        {
            return;
        }
        let health = &self.inner.health;
        let budget = self.inner.timeline.config().per_sweep;
        let verdicts = report.marked_unhealthy.len() + report.removed.len();
        if verdicts > budget {
            tracing::info!(
                verdicts,
                recorded = budget,
                "health sweep: more verdicts than the timeline records per sweep; the rest have no entry"
            );
        }
        let flips = report.marked_unhealthy.len().min(budget);
        let evictions = report.removed.len().min(budget - flips);
        let mut events = Vec::with_capacity(flips + evictions);
        let store = &self.inner.store;
        for (service, key) in &report.marked_unhealthy[..flips] {
            let Some(snap) = store.load(service) else {
                continue;
            };
            let Some(entry) = snap.entry(key) else {
                continue;
            };
            let timeouts = BeatTimeouts::resolve(entry.overrides(), health);
            let silent = now.saturating_since(entry.liveness().last_beat());
            let event = Event::Silent {
                silent_ms: millis(silent),
                timeout_ms: millis(timeouts.unhealthy_after),
            };
            events.push((service.clone(), key.clone(), event, false));
        }
        // Evictions leave tombstones holding the last beat and the data: read them once per
        // service.
        let mut by_service: HashMap<&ServiceKey, Vec<&InstanceKey>> = HashMap::new();
        for (service, key) in &report.removed[..evictions] {
            by_service.entry(service).or_default().push(key);
        }
        for (service, keys) in by_service {
            let Some(snap) = store.load_any(service) else {
                continue;
            };
            let wanted: std::collections::HashSet<&InstanceKey> = keys.into_iter().collect();
            for (key, tomb) in snap.tombstones().filter(|(k, _)| wanted.contains(k)) {
                let overrides = tomb
                    .data
                    .as_ref()
                    .map(|i| i.timing_overrides())
                    .unwrap_or_default();
                let timeouts = BeatTimeouts::resolve(overrides, health);
                let event = Event::Evicted {
                    silent_ms: millis(now.saturating_since(tomb.last_beat)),
                    timeout_ms: millis(timeouts.remove_after),
                };
                events.push((service.clone(), key.clone(), event, false));
            }
        }
        self.inner
            .timeline
            .record_all(now, Some(Arc::new(Origin::front("sweep"))), events);
    }
}

/// A write handed to the control plane's route, as the timeline needs it: see the module
/// documentation.
#[derive(Debug)]
pub(crate) struct RoutedNote {
    service: ServiceKey,
    writes: Vec<(InstanceKey, Routed, Before)>,
}

/// What a routed write does to one instance.
#[derive(Debug)]
enum Routed {
    /// Registered (enabled, persistent as sent), by a beat carrying its data or not.
    Register { shape: (bool, bool), by_beat: bool },
    /// Deregistered, by its connection's close or not.
    Deregister { connection: bool },
    /// Updated (enabled, weight, metadata).
    Update,
    /// Its health set, from what it was.
    Health { healthy: bool, was: Option<bool> },
}

impl Registry {
    /// Notes the instances `command` writes as they are before it goes to the control plane's
    /// route; `None` when the timeline is off or the command writes no instance.
    pub(crate) fn before_routed(&self, command: &Command) -> Option<RoutedNote> {
        if !self.timeline_on() {
            return None;
        }
        let service = command.service();
        let register = |i: &Instance, by_beat| {
            let key = i.key();
            let before = self.before(service, &key);
            let shape = (i.enabled(), !i.ephemeral());
            (key, Routed::Register { shape, by_beat }, before)
        };
        let one = |key: &InstanceKey, write| (key.clone(), write, self.before(service, key));
        let writes = match command {
            Command::Register { instance, .. } => vec![register(instance, false)],
            Command::BatchRegister { instances, .. } | Command::RegisterFor { instances, .. } => {
                instances.iter().map(|i| register(i, false)).collect()
            }
            Command::Beat {
                data: Some(instance),
                ..
            } => vec![register(instance, true)],
            Command::Deregister { instance, .. } => {
                vec![one(instance, Routed::Deregister { connection: false })]
            }
            Command::DeregisterFor { instance, .. } => {
                vec![one(instance, Routed::Deregister { connection: true })]
            }
            Command::Update { instance, .. } => vec![one(instance, Routed::Update)],
            Command::SetHealth {
                instance, healthy, ..
            } => {
                let was = self
                    .inner
                    .store
                    .load(service)
                    .and_then(|s| s.entry(instance).map(|e| e.healthy()));
                let healthy = *healthy;
                vec![one(instance, Routed::Health { healthy, was })]
            }
            _ => return None,
        };
        Some(RoutedNote {
            service: service.clone(),
            writes,
        })
    }

    /// Records what a routed write noted by [`Registry::before_routed`] changed, once the
    /// route answered `output` (the route answers after this member applied the write).
    pub(crate) fn note_routed(&self, note: Option<RoutedNote>, output: &CommandOutput) {
        let Some(RoutedNote { service, writes }) = note else {
            return;
        };
        if matches!(output, CommandOutput::Deregistered(false)) {
            return;
        }
        let now = self.inner.clock.now();
        for (key, write, before) in writes {
            match write {
                Routed::Register { shape, by_beat } => {
                    // The operator's override laid over it by the log's sink decides whether
                    // it is enabled; the write's own flag when it is not shown yet.
                    let shape = self.before(&service, &key).present.unwrap_or(shape);
                    self.note_registered(&service, &key, shape, before, now, by_beat);
                }
                Routed::Deregister { connection } => {
                    self.note_removed(&service, &key, before, connection, now);
                }
                Routed::Update => self.note_updated(&service, &key, before, now),
                Routed::Health { healthy, was } => {
                    if was != Some(healthy) {
                        self.note_health(&service, &key, healthy, true, now);
                    }
                }
            }
        }
    }
}

impl RegistryReader {
    /// The instance timeline of this registry (see [`crate::timeline`]).
    pub fn timeline(&self) -> &crate::timeline::Timeline {
        &self.inner.timeline
    }

    /// The history of `instance` of `service` on this registry, oldest first, with its
    /// current state and its beats summarized (last beat, interval).
    pub fn instance_timeline(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> InstanceTimeline {
        let snap = self.inner.store.load(service);
        let entry = snap.as_ref().and_then(|s| s.entry(instance));
        let (healthy, enabled, ephemeral, last_beat, interval) = match entry {
            Some(e) => {
                let timeouts = BeatTimeouts::resolve(e.overrides(), &self.inner.health);
                let ephemeral = e.ephemeral();
                (
                    Some(e.healthy()),
                    Some(e.instance().enabled()),
                    Some(ephemeral),
                    ephemeral.then(|| e.liveness().last_beat().as_millis()),
                    ephemeral.then(|| millis(timeouts.beat_interval)),
                )
            }
            None => (None, None, None, None, None),
        };
        InstanceTimeline {
            service: service.grouped_name(),
            namespace: service.namespace().to_string(),
            cluster: instance.cluster.to_string(),
            ip: instance.endpoint.ip.to_string(),
            port: instance.endpoint.port,
            registered: entry.is_some(),
            healthy,
            enabled,
            ephemeral,
            last_beat,
            beat_interval_ms: interval,
            events: self.inner.timeline.entries(service, instance),
        }
    }
}
