//! One health sweep over a [`Store`]: judge every ephemeral instance, then apply the verdicts.

use super::config::HealthConfig;
use super::policy::{empty_service_deadline, judge, next_deadline, BeatTimeouts, Verdict};
use crate::clock::Timestamp;
use crate::model::{Endpoint, InstanceKey, Limits, ServiceKey};
use crate::store::{
    worth_rebuilding, Edit, Flip, InstanceEntry, Rebuild, ServiceSnapshot, Store, StoreError,
};
use std::time::Duration;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Services looked at.
    pub services: usize,
    /// Ephemeral instances judged.
    pub instances: usize,
    /// Instances marked unhealthy by this sweep.
    pub marked_unhealthy: Vec<(ServiceKey, InstanceKey)>,
    /// Instances removed by this sweep.
    pub removed: Vec<(ServiceKey, InstanceKey)>,
    /// Services removed by this sweep for having held no instance for
    /// [`Limits::empty_service_expiry`].
    pub removed_services: Vec<ServiceKey>,
    /// The earliest time at which some verdict will change if no beat arrives; `None` when no
    /// ephemeral instance and no removable empty service is left.
    pub next_due: Option<Timestamp>,
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Judges every ephemeral instance of the services `scope` accepts, at `now`, and applies
/// the verdicts (each service that changes gets one new snapshot); then removes those of the
/// services that have been empty for [`Limits::empty_service_expiry`] and hold no explicit
/// settings. The first pass is read-only; verdicts are re-checked under the service's writer
/// lock, so a beat or a registration that lands in between wins. A service whose
/// [`crate::store::SweepHint`] says nothing can be due yet is skipped without walking its
/// instances (and its instances are not counted in [`SweepReport::instances`]).
///
/// `scope` says, per service, whether to judge it (`None`: skip it) and from when: with
/// `Some(since)` no instance counts as silent before `since` (a grace period, for services a
/// cluster node has just taken over and whose beats it has not been hearing). The grace only
/// delays the verdicts: the beat times stay as they are, and an eviction records the last
/// beat really heard, so a grace can never make an instance look fresher to a peer than it is.
pub fn sweep(
    store: &Store,
    config: &HealthConfig,
    limits: &Limits,
    now: Timestamp,
    mut scope: impl FnMut(&ServiceKey) -> Option<Timestamp>,
) -> SweepReport {
    let mut report = SweepReport::default();
    let mut due: Vec<(ServiceKey, Timestamp, Vec<InstanceKey>)> = Vec::new();
    let mut empty: Vec<ServiceKey> = Vec::new();
    let expiry = limits.empty_service_expiry;
    store.for_each_hinted(|snap, hint| {
        let Some(since) = scope(snap.key()) else {
            return;
        };
        report.services += 1;
        if let Some((revision, next)) = hint.get() {
            if revision == snap.revision() && now < next {
                report.next_due = earliest(report.next_due, next);
                return;
            }
        }
        let mut hits = Vec::new();
        let mut service_due: Option<Timestamp> = None;
        if let Some(at) = empty_service_deadline(
            snap.instance_count(),
            snap.has_explicit_settings(),
            snap.empty_since(),
            expiry,
        ) {
            if at <= now {
                empty.push(snap.key().clone());
                return;
            }
            service_due = Some(at);
        }
        for entry in snap.entries() {
            if !entry.ephemeral() {
                continue;
            }
            report.instances += 1;
            let timeouts = BeatTimeouts::resolve(entry.overrides(), config);
            let last = entry.liveness().last_beat().max(since);
            match judge(last, entry.healthy(), &timeouts, now) {
                Verdict::Keep => {
                    service_due =
                        earliest(service_due, next_deadline(last, entry.healthy(), &timeouts));
                }
                _ => hits.push(entry.instance().key()),
            }
        }
        if let Some(d) = service_due {
            report.next_due = earliest(report.next_due, d);
        }
        if hits.is_empty() {
            let never = Timestamp::from_micros(u64::MAX);
            hint.set(snap.revision(), service_due.unwrap_or(never));
        } else {
            due.push((snap.key().clone(), since, hits));
        }
    });
    for (service, since, keys) in due {
        apply(store, config, (now, since), &service, &keys, &mut report);
    }
    for service in empty {
        remove_empty(store, expiry, now, service, &mut report);
    }
    if !report.removed_services.is_empty() {
        tracing::info!(
            services = report.removed_services.len(),
            first = %report.removed_services[0],
            "health sweep removed services that stayed empty for the empty-service expiry"
        );
    }
    report
}

/// Removes `service` if it is still empty, not explicit and past its deadline (a registration
/// since the first pass wins).
fn remove_empty(
    store: &Store,
    expiry: Option<Duration>,
    now: Timestamp,
    service: ServiceKey,
    report: &mut SweepReport,
) {
    let outcome = store.write(&service, false, |snap: &mut ServiceSnapshot| {
        let at =
            empty_service_deadline(snap.instance_count, snap.explicit, snap.empty_since, expiry);
        if at.is_none_or(|at| at > now) {
            return Ok::<_, StoreError>((at, false));
        }
        snap.mark_removed(now);
        snap.meta_version = store.next_version(now);
        snap.meta_touched = true;
        Ok((None, true))
    });
    match outcome {
        Ok(Some(w)) if w.changed => report.removed_services.push(service),
        Ok(Some(w)) => {
            if let Some(at) = w.value {
                report.next_due = earliest(report.next_due, at);
            }
        }
        _ => {}
    }
}

/// Appends `more` to `list`, or becomes it when `list` is empty (no copy).
fn take_or_append<T>(list: &mut Vec<T>, mut more: Vec<T>) {
    if list.is_empty() {
        *list = more;
    } else {
        list.append(&mut more);
    }
}

/// Judges one ephemeral entry at `now`, counting beats from `since` at the earliest, and
/// moves `next_due` to when its verdict would next change.
fn judge_entry(
    entry: &InstanceEntry,
    config: &HealthConfig,
    (now, since): (Timestamp, Timestamp),
    next_due: &mut Option<Timestamp>,
) -> Verdict {
    let timeouts = BeatTimeouts::resolve(entry.overrides(), config);
    let last = entry.liveness().last_beat().max(since);
    let healthy = entry.healthy();
    let verdict = judge(last, healthy, &timeouts, now);
    let after = match verdict {
        Verdict::Keep => Some(healthy),
        Verdict::MarkUnhealthy => Some(false),
        Verdict::Remove => None,
    };
    if let Some(healthy) = after {
        *next_due = earliest(*next_due, next_deadline(last, healthy, &timeouts));
    }
    verdict
}

/// Applies the verdicts on `keys` (in snapshot order: by cluster, then endpoint) at `now`,
/// with beats counted from `since` at the earliest.
///
/// A cluster in which many instances are due is rebuilt in one pass, prepared from the
/// current snapshot **without** the service's writer lock and installed under it (see
/// [`crate::store`]'s bulk rebuilds): a write to a service whose instances all expire at once
/// waits for the install, not for the pass. Anything written in between wins over the
/// rebuild's verdicts (the next sweep judges it again). The other clusters are judged again
/// one instance at a time under the lock. On both paths an instance whose liveness cell moved
/// after it was read for the verdict is marked healthy again once the flips are published: its
/// beat read the old snapshot, saw a healthy instance and changed nothing.
fn apply(
    store: &Store,
    config: &HealthConfig,
    at: (Timestamp, Timestamp),
    service: &ServiceKey,
    keys: &[InstanceKey],
    report: &mut SweepReport,
) {
    let now = at.0;
    let mut next_due = None;
    let mut rebuilds = Vec::new();
    let mut one_by_one: Vec<&[InstanceKey]> = Vec::new();
    let current = store.load(service);
    for run in keys.chunk_by(|a, b| a.cluster == b.cluster) {
        let cluster = &run[0].cluster;
        let snap = current.as_deref();
        let len = snap.and_then(|s| s.cluster(cluster)).map_or(0, |c| c.len());
        if let (true, Some(snap)) = (worth_rebuilding(run.len(), len), snap) {
            let targets: Vec<&Endpoint> = run.iter().map(|k| &k.endpoint).collect();
            let prepared =
                Rebuild::prepare(snap, cluster, &targets, now, |entry| {
                    match judge_entry(entry, config, at, &mut next_due) {
                        Verdict::Keep => Edit::Keep,
                        Verdict::MarkUnhealthy => Edit::Unhealthy(store.next_version(now)),
                        Verdict::Remove => Edit::Evict,
                    }
                });
            if let Some(rebuild) = prepared {
                rebuilds.push(rebuild);
                continue;
            }
        }
        one_by_one.push(run);
    }
    drop(current);
    let outcome = store.write(service, false, |snap: &mut ServiceSnapshot| {
        let mut flips: Vec<Flip> = Vec::new();
        let mut removed = Vec::new();
        for rebuild in rebuilds {
            let done = snap.install(rebuild, now);
            // Most sweeps rebuild one cluster: its lists are taken as they are, not copied.
            take_or_append(&mut flips, done.unhealthy);
            take_or_append(&mut removed, done.evicted);
        }
        for key in one_by_one.into_iter().flatten() {
            let Some(entry) = snap.entry(key) else {
                continue;
            };
            let before = Flip::before_judging(entry);
            match judge_entry(entry, config, at, &mut next_due) {
                Verdict::Keep => {}
                Verdict::MarkUnhealthy => {
                    // In place: one lookup, the data's other fields shared with the old copy.
                    if snap.flip_health(key, false, store.next_version(now)) {
                        flips.push(before);
                    }
                }
                Verdict::Remove => {
                    snap.remove_evicted(key, now);
                    removed.push(key.clone());
                }
            }
        }
        if !removed.is_empty() {
            snap.settle_removal(now);
        }
        let changed = !(flips.is_empty() && removed.is_empty());
        Ok::<_, StoreError>(((flips, removed), changed))
    });
    let Ok(Some(written)) = outcome else {
        return;
    };
    let (flips, removed) = written.value;
    for flip in flips.iter().filter(|f| f.beaten_since()) {
        store.set_healthy(service, &flip.key, true, now);
    }
    report
        .marked_unhealthy
        .extend(flips.into_iter().map(|f| (service.clone(), f.key)));
    report
        .removed
        .extend(removed.into_iter().map(|k| (service.clone(), k)));
    if let Some(d) = next_due {
        report.next_due = earliest(report.next_due, d);
    }
}
