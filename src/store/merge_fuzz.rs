//! Merges of arbitrary replica records (`Store::merge`), against what
//! `store::merge` and `store::replica` document:
//!
//! - per instance, a join of three parts: the data register (the newest client write by
//!   `written`, then its newest health flip by `version`), the last beat (the maximum), and
//!   the eviction claim (the maximum); the instance is live when the register holds data and
//!   a beat was heard after the claim;
//! - so the merge is order-independent and idempotent, evictions and service removals
//!   included: every node that sees the same records ends with the same state;
//! - a beat time never goes backwards (`Liveness::beat`);
//! - the merge reports the instances where the local copy knows better (`local_newer`), and
//!   marks nothing as touched (no echo);
//! - the version clock stays above every stamp it has seen (`store::version`).
//!
//! The records come from a small universe (2 services × 6 instances, a few versions) so that
//! writes to the same instance meet often. A version names one event, as the rule assumes;
//! the same write may arrive several times with different beat times (a sender that heard
//! later beats sends it again) and with or without an eviction claim.

use crate::fuzz_kit::check::{self, Held, State};
use crate::fuzz_kit::gen;
use nacre::store::{
    InstanceRecord, MergeOutcome, RemovalReason, ServiceMeta, ServiceRecord, Store, Version,
};
use nacre::{Instance, InstanceKey, ServiceSettings, Timestamp};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeSet;

/// The time every merge happens at (the merge uses it only for tombstones' `removed_at`).
pub(crate) const NOW: Timestamp = Timestamp::from_millis(1_000_000);

/// One change to one instance, as some node made it: a client write (`version == written`;
/// no data for a deregistration) or a health flip of the data written at `written`.
#[derive(Debug, Clone)]
struct Write {
    svc: usize,
    key: InstanceKey,
    written: Version,
    version: Version,
    beat_ms: u64,
    data: Option<Instance>,
}

fn write() -> impl Strategy<Value = Write> {
    let data = prop::sample::select(gen::instance_keys()).prop_flat_map(move |key| {
        let data = prop_oneof![
            3 => gen::instance_at(key.clone()).prop_map(Some),
            1 => Just(None),
        ];
        (Just(key), data)
    });
    (0..2usize, data, 1..12u64, 0..3u64, 1..4u64, 0..100u64).prop_map(
        |(svc, (key, data), stamp, flip, origin, beat_ms)| {
            // A deregistration is a client write; only data is flipped.
            let flip = if data.is_some() { flip } else { 0 };
            Write {
                svc,
                key,
                written: Version { stamp, origin },
                version: Version {
                    stamp: stamp + flip,
                    origin,
                },
                beat_ms,
                data,
            }
        },
    )
}

fn meta() -> impl Strategy<Value = (usize, ServiceMeta)> {
    let removed = prop::bool::weighted(0.3);
    (0..2usize, 2..12u64, 1..4u64, removed, gen::settings()).prop_map(
        |(svc, stamp, origin, removed, settings)| {
            (
                svc,
                ServiceMeta {
                    settings,
                    removed,
                    explicit: false,
                    version: Version { stamp, origin },
                },
            )
        },
    )
}

/// The service-level write that created a service: a node that holds an instance has the
/// service, and so at least this (registering into a service that does not exist creates it
/// with a versioned service-level write), and every record carries its sender's.
pub(crate) fn created() -> ServiceMeta {
    ServiceMeta {
        settings: ServiceSettings::default(),
        removed: false,
        explicit: false,
        version: Version {
            stamp: 1,
            origin: 1,
        },
    }
}

/// One record to deliver: which service, which writes (with how much later a beat the
/// sender had heard of, and whether it evicted the instance at that beat), which
/// service-level state.
#[derive(Debug, Clone)]
struct Delivery {
    svc: usize,
    writes: Vec<(Index, u64, bool)>,
    meta: Option<Index>,
    /// Where it goes in the second order, and where its duplicate goes, if it has one.
    order: u8,
    dup: Option<u8>,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        0..2usize,
        vec(
            (
                any::<Index>(),
                prop_oneof![2 => Just(0u64), 1 => 1..60u64],
                prop::bool::weighted(0.3),
            ),
            0..4,
        ),
        prop::option::of(any::<Index>()),
        any::<u8>(),
        prop::option::weighted(0.3, any::<u8>()),
    )
        .prop_map(|(svc, writes, meta, order, dup)| Delivery {
            svc,
            writes,
            meta,
            order,
            dup,
        })
}

/// Records to merge in two orders: `first` as generated, `second` permuted with some records
/// delivered twice.
#[derive(Debug, Clone)]
struct Case {
    first: Vec<ServiceRecord>,
    second: Vec<ServiceRecord>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        vec(write(), 1..24),
        vec(meta(), 0..4),
        vec(delivery(), 1..14),
    )
        .prop_map(|(writes, metas, deliveries)| {
            // A version names one change of one instance (and one service-level write).
            let mut seen = BTreeSet::new();
            let writes: Vec<Write> = writes
                .into_iter()
                .filter(|w| {
                    let fresh = !seen.contains(&(w.svc, w.key.clone(), w.version))
                        && !seen.contains(&(w.svc, w.key.clone(), w.written));
                    seen.insert((w.svc, w.key.clone(), w.version));
                    seen.insert((w.svc, w.key.clone(), w.written));
                    fresh
                })
                .collect();
            let mut seen = BTreeSet::new();
            let metas: Vec<(usize, ServiceMeta)> = metas
                .into_iter()
                .filter(|(svc, m)| seen.insert((*svc, m.version)))
                .collect();
            let mut first = Vec::new();
            let mut second = Vec::new();
            for d in &deliveries {
                let record = resolve(d, &writes, &metas);
                second.push((d.order, second.len(), record.clone()));
                if let Some(at) = d.dup {
                    second.push((at, second.len(), record.clone()));
                }
                first.push(record);
            }
            second.sort_by_key(|(at, n, _)| (*at, *n));
            Case {
                first,
                second: second.into_iter().map(|(_, _, r)| r).collect(),
            }
        })
}

fn resolve(d: &Delivery, writes: &[Write], metas: &[(usize, ServiceMeta)]) -> ServiceRecord {
    let mine: Vec<&Write> = writes.iter().filter(|w| w.svc == d.svc).collect();
    let mut keys = BTreeSet::new();
    let mut instances = Vec::new();
    if !mine.is_empty() {
        for (i, later, evict) in &d.writes {
            let w = mine[i.index(mine.len())];
            // A record carries each instance once.
            if !keys.insert(w.key.clone()) {
                continue;
            }
            let beat = Timestamp::from_millis(w.beat_ms + later);
            instances.push(InstanceRecord {
                key: w.key.clone(),
                written: w.written,
                version: w.version,
                last_beat: beat,
                data: w.data.clone(),
                evicted: (*evict && w.data.is_some()).then_some(beat),
            });
        }
    }
    let my_metas: Vec<&ServiceMeta> = metas
        .iter()
        .filter(|(svc, _)| *svc == d.svc)
        .map(|(_, m)| m)
        .collect();
    let meta = match d.meta {
        Some(i) if !my_metas.is_empty() => my_metas[i.index(my_metas.len())].clone(),
        _ => created(),
    };
    if meta.removed {
        // A removed service holds no instances, so its record carries no live one.
        instances.retain(|r| !r.is_live());
    }
    ServiceRecord {
        key: gen::service_key(d.svc),
        meta,
        instances,
    }
}

/// A store that records touched keys, as a cluster member's does.
pub(crate) fn replica_store() -> Store {
    let store = Store::new(99);
    store.track_touched();
    store
}

fn any_duration() -> nacre::model::TimingRange {
    nacre::model::TimingRange {
        min: std::time::Duration::ZERO,
        max: std::time::Duration::MAX,
    }
}

/// Merges one record at [`NOW`]: the one place that calls [`Store::merge`]. The rules admit
/// every record (the merge rule is under test here, not admission: `peer.rs` tests that).
pub(crate) fn merge(store: &Store, record: ServiceRecord) -> MergeOutcome {
    let rules = nacre::store::MergeRules {
        limits: nacre::Limits {
            max_metadata_bytes: usize::MAX,
            max_service_metadata_bytes: usize::MAX,
            max_instances_per_service: usize::MAX,
            beat_interval_range: any_duration(),
            beat_timeout_range: any_duration(),
            delete_timeout_range: any_duration(),
            ..nacre::Limits::default()
        },
        max_skew: std::time::Duration::MAX,
    };
    store.merge(record, &rules, NOW)
}

fn merge_all(store: &Store, records: &[ServiceRecord]) {
    for r in records {
        merge(store, r.clone());
    }
}

fn held(state: &State, record: &ServiceRecord, key: &InstanceKey) -> Option<Held> {
    state.get(&record.key)?.instances.get(key).cloned()
}

/// What the documented join makes of `before` and `incoming` (a model written from the
/// documentation, not from the code), and whether the local side knows better than
/// `incoming` (so `local_newer` must name it).
fn expected_step(before: Option<&Held>, incoming: &InstanceRecord) -> (Held, bool) {
    let order = |w: Version, v: Version, data: bool| (w, v, !data);
    let theirs = order(incoming.written, incoming.version, incoming.data.is_some());
    let (written, version, data) = match before {
        Some(b) if order(b.written(), b.version(), b.data().is_some()) >= theirs => {
            (b.written(), b.version(), b.data().cloned())
        }
        _ => (incoming.written, incoming.version, incoming.data.clone()),
    };
    let last_beat = before.map_or(incoming.last_beat, |b| {
        b.last_beat().max(incoming.last_beat)
    });
    let evicted = before
        .and_then(Held::evicted)
        .max(incoming.evicted)
        .filter(|e| *e >= last_beat);
    let live = data.is_some() && evicted.is_none_or(|e| last_beat > e);
    let register_differs = (written, version, data.is_none()) != theirs;
    let local_newer = before.is_some() && (register_differs || live != incoming.is_live());
    let held = match (live, data) {
        (true, Some(instance)) => Held::Live {
            written,
            version,
            last_beat,
            instance,
        },
        (_, data) => Held::Removed {
            written,
            version,
            last_beat,
            data,
            evicted,
        },
    };
    (held, local_newer)
}

proptest! {
    #![proptest_config(crate::fuzz_kit::config(256))]

    /// Two stores fed the same records in different orders, some twice, end equal: same live
    /// instances with the same data, versions and beat times, same tombstones, same
    /// service-level state; and merging every record once more changes nothing. Evictions and
    /// service removals included.
    #[test]
    fn merge_order_and_duplicates_do_not_matter(case in case()) {
        let a = replica_store();
        merge_all(&a, &case.first);
        let b = replica_store();
        merge_all(&b, &case.second);
        let sa = check::state(&a).map_err(TestCaseError::fail)?;
        let sb = check::state(&b).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&sa, &sb);
        merge_all(&a, &case.second);
        let again = check::state(&a).map_err(TestCaseError::fail)?;
        prop_assert_eq!(again, sa);
    }

    /// Merging a record again right after it changes nothing at all (beat times included) and
    /// publishes nothing.
    #[test]
    fn merge_is_idempotent(case in case()) {
        let store = replica_store();
        for r in &case.first {
            merge(&store, r.clone());
            let before = check::state(&store).map_err(TestCaseError::fail)?;
            let again = merge(&store, r.clone());
            prop_assert_eq!(again.revision, None, "re-merging {:?} published a change", r);
            prop_assert_eq!(again.applied, 0);
            prop_assert_eq!(check::state(&store).map_err(TestCaseError::fail)?, before);
        }
    }

    /// Each merge step is the documented join, instance by instance (checked against a model
    /// of it: data, versions, beat time, eviction claim, live or not); `local_newer` names
    /// exactly the instances where the local side knows better; instances the record does not
    /// carry are untouched; the service-level version never goes back; nothing merged is
    /// marked touched; the structure stays consistent.
    #[test]
    fn every_merge_step_follows_the_rule(case in case()) {
        let store = replica_store();
        let mut before = check::state(&store).map_err(TestCaseError::fail)?;
        for r in case.second.iter().chain(&case.first) {
            let out = merge(&store, r.clone());
            let after = check::state(&store).map_err(TestCaseError::fail)?;
            let mut local_knows_better = BTreeSet::new();
            for rec in &r.instances {
                let was = held(&before, r, &rec.key);
                let now = held(&after, r, &rec.key)
                    .ok_or_else(|| TestCaseError::fail(format!("{:?} vanished", rec.key)))?;
                let (expected, newer) = expected_step(was.as_ref(), rec);
                prop_assert_eq!(&now, &expected, "{:?} was {:?}, merged {:?}", rec.key, was, rec);
                if newer {
                    local_knows_better.insert(rec.key.clone());
                }
            }
            let reported: BTreeSet<InstanceKey> = out.local_newer.iter().cloned().collect();
            prop_assert_eq!(reported, local_knows_better, "local_newer of {:?}", r);
            // Instances the record does not carry are untouched.
            for (svc, s) in &before {
                for (k, h) in &s.instances {
                    let carried = svc == &r.key && r.instances.iter().any(|rec| &rec.key == k);
                    if !carried {
                        prop_assert_eq!(after.get(svc).and_then(|s| s.instances.get(k)), Some(h));
                    }
                }
            }
            if let (Some(b), Some(a)) = (before.get(&r.key), after.get(&r.key)) {
                prop_assert!(a.meta_version >= b.meta_version);
            }
            let snap = store.load_any(&r.key).expect("a merged service has a cell");
            prop_assert!(snap.touched().is_empty() && !snap.meta_touched(), "a merge touched {:?}", snap.touched());
            before = after;
        }
    }

    /// After any merges, the store's next version is above every version it was sent; and
    /// across every state the two stores pass through, two copies of a service have the same
    /// checksum exactly when they hold the same live data (what the checksum is documented to
    /// cover).
    #[test]
    fn versions_stay_ahead_and_checksums_follow_live_data(case in case()) {
        let mut seen: Vec<check::HeldService> = Vec::new();
        for records in [&case.first, &case.second] {
            let store = replica_store();
            let mut highest = Version::default();
            for r in records.iter() {
                merge(&store, r.clone());
                let versions = r.instances.iter().map(|i| i.version).chain([r.meta.version]);
                highest = highest.max(versions.max().unwrap_or_default());
                let next = store.next_version(Timestamp::ZERO);
                prop_assert!(next > highest, "next {:?} after seeing {:?}", next, highest);
                let state = check::state(&store).map_err(TestCaseError::fail)?;
                seen.extend(state.into_values());
            }
        }
        for (i, x) in seen.iter().enumerate() {
            for y in &seen[i + 1..] {
                prop_assert_eq!(
                    check::live_part(x) == check::live_part(y),
                    x.checksum == y.checksum,
                    "{:?} vs {:?}", x, y
                );
            }
        }
    }
}

fn weighted(w: f64) -> Instance {
    Instance::builder("10.0.0.1", 8080)
        .weight(w)
        .build()
        .unwrap()
}

/// A client write of the instance 10.0.0.1:8080 with weight `w`, at `stamp`, whose sender
/// last heard a beat at `beat_ms`.
pub(crate) fn live(w: f64, stamp: u64, beat_ms: u64) -> InstanceRecord {
    let version = Version { stamp, origin: 1 };
    InstanceRecord {
        key: weighted(w).key(),
        written: version,
        version,
        last_beat: Timestamp::from_millis(beat_ms),
        data: Some(weighted(w)),
        evicted: None,
    }
}

/// The eviction of [`live`]`(w, stamp, _)` by a node that last heard a beat at `beat_ms`.
pub(crate) fn evicted(w: f64, stamp: u64, beat_ms: u64) -> InstanceRecord {
    let beat = Timestamp::from_millis(beat_ms);
    InstanceRecord {
        evicted: Some(beat),
        ..live(w, stamp, beat_ms)
    }
}

/// The deregistration of 10.0.0.1:8080 at `stamp`, by a node that last heard a beat at
/// `beat_ms`.
pub(crate) fn deregistration(stamp: u64, beat_ms: u64) -> InstanceRecord {
    let version = Version { stamp, origin: 2 };
    InstanceRecord {
        key: weighted(1.0).key(),
        written: version,
        version,
        last_beat: Timestamp::from_millis(beat_ms),
        data: None,
        evicted: None,
    }
}

pub(crate) fn record(meta: ServiceMeta, instances: Vec<InstanceRecord>) -> ServiceRecord {
    ServiceRecord {
        key: gen::service_key(0),
        meta,
        instances,
    }
}

/// Merges `records` into a fresh store in the order `order` gives, and returns its state.
pub(crate) fn merged(records: &[ServiceRecord], order: &[usize]) -> State {
    let store = replica_store();
    for &i in order {
        merge(&store, records[i].clone());
    }
    check::state(&store).unwrap()
}

/// Why the instance of a single-instance state is gone, if it is.
pub(crate) fn removal(state: &State) -> Option<RemovalReason> {
    let held = state.values().next()?.instances.values().next()?;
    match held {
        Held::Live { .. } => None,
        Held::Removed { data: None, .. } => Some(RemovalReason::Deregistered),
        Held::Removed { .. } => Some(RemovalReason::Expired),
    }
}
