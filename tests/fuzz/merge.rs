//! Merges of arbitrary replica records ([`nacre::store::Store::merge`]), against what
//! `store::merge` and `store::replica` document:
//!
//! - per instance, last writer wins by version, except that an eviction (an `Expired`
//!   tombstone) loses to a live copy that heard a later beat; a deregistration wins by version
//!   like any write;
//! - "two different writes never carry equal versions, so the rule is a total order: every
//!   node that sees the same records ends with the same state";
//! - a beat time never goes backwards (`Liveness::beat`);
//! - the merge reports the instances where the local copy won and differs (`local_newer`),
//!   and marks nothing as touched (no echo);
//! - the version clock stays above every stamp it has seen (`store::version`).
//!
//! The records come from a small universe (2 services × 6 instances, a few versions) so that
//! writes to the same instance meet often. Versions are unique per instance, as the rule
//! assumes; the same write may arrive several times with different beat times, as a sender
//! that heard later beats sends it again.

use crate::check::{self, Held, State};
use crate::gen;
use nacre::store::{
    InstanceRecord, MergeOutcome, RecordState, RemovalReason, ServiceMeta, ServiceRecord, Store,
    Version,
};
use nacre::{InstanceKey, ServiceSettings, Timestamp};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeSet;

/// The time every merge happens at (the merge uses it only for tombstones' `removed_at`).
pub(crate) const NOW: Timestamp = Timestamp::from_millis(1_000_000);

/// One write to one instance, as some node made it.
#[derive(Debug, Clone)]
struct Write {
    svc: usize,
    key: InstanceKey,
    version: Version,
    beat_ms: u64,
    state: RecordState,
}

/// What a case may hold beyond live writes and deregistrations. The order property holds only
/// without these two (see `known`).
#[derive(Debug, Clone, Copy)]
struct Scope {
    /// Evictions (`Expired` tombstones).
    evictions: bool,
    /// Service removals (service-level writes with `removed`).
    removals: bool,
}

const EVERYTHING: Scope = Scope {
    evictions: true,
    removals: true,
};

fn write(scope: Scope) -> impl Strategy<Value = Write> {
    let expired = if scope.evictions { 2 } else { 0 };
    let live_or_removed = prop::sample::select(gen::instance_keys()).prop_flat_map(move |key| {
        let live = gen::instance_at(key.clone()).prop_map(RecordState::Live);
        let state = prop_oneof![
            3 => live,
            1 => Just(RecordState::Removed(RemovalReason::Deregistered)),
            expired => Just(RecordState::Removed(RemovalReason::Expired)),
        ];
        (Just(key), state)
    });
    (0..2usize, live_or_removed, 1..12u64, 1..4u64, 0..100u64).prop_map(
        |(svc, (key, state), stamp, origin, beat_ms)| Write {
            svc,
            key,
            version: Version { stamp, origin },
            beat_ms,
            state,
        },
    )
}

fn meta(scope: Scope) -> impl Strategy<Value = (usize, ServiceMeta)> {
    let removed = prop::bool::weighted(if scope.removals { 0.3 } else { 0.0 });
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
/// sender had heard of, for live ones), which service-level state.
#[derive(Debug, Clone)]
struct Delivery {
    svc: usize,
    writes: Vec<(Index, u64)>,
    meta: Option<Index>,
    /// Where it goes in the second order, and where its duplicate goes, if it has one.
    order: u8,
    dup: Option<u8>,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        0..2usize,
        vec(
            (any::<Index>(), prop_oneof![2 => Just(0u64), 1 => 1..60u64]),
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

fn case(scope: Scope) -> impl Strategy<Value = Case> {
    (
        vec(write(scope), 1..24),
        vec(meta(scope), 0..4),
        vec(delivery(), 1..14),
    )
        .prop_map(|(writes, metas, deliveries)| {
            // Versions are unique per instance (and per service for the service-level state).
            let mut seen = BTreeSet::new();
            let writes: Vec<Write> = writes
                .into_iter()
                .filter(|w| seen.insert((w.svc, w.key.clone(), w.version)))
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
        for (i, later) in &d.writes {
            let w = mine[i.index(mine.len())];
            // A record carries each instance once.
            if !keys.insert(w.key.clone()) {
                continue;
            }
            let beat = match w.state {
                RecordState::Live(_) => w.beat_ms + later,
                RecordState::Removed(_) => w.beat_ms,
            };
            instances.push(InstanceRecord {
                key: w.key.clone(),
                version: w.version,
                last_beat: Timestamp::from_millis(beat),
                state: w.state.clone(),
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
        instances.retain(|r| !matches!(r.state, RecordState::Live(_)));
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

/// Whether `after` is allowed to follow `before` when `incoming` is merged, by the documented
/// rule: the incoming copy is adopted exactly when there is no local one, when it is newer
/// (unless it is an eviction and the live local copy heard a later beat), or when the local
/// copy is an eviction and the incoming live copy heard a later beat. Beat times of a live
/// copy that stays live only move forward.
fn step_allowed(
    before: Option<&Held>,
    incoming: &InstanceRecord,
    after: &Held,
) -> Result<(), String> {
    let incoming_removed = match &incoming.state {
        RecordState::Live(_) => None,
        RecordState::Removed(r) => Some(*r),
    };
    let adopted = after.version() == incoming.version;
    let Some(before) = before else {
        return if adopted {
            Ok(())
        } else {
            Err("a record for an unknown instance was not adopted".into())
        };
    };
    if !adopted && after.version() != before.version() {
        return Err("the merge produced a version neither side had".into());
    }
    let newer = incoming.version > before.version();
    let must_adopt = match (before, incoming_removed) {
        (Held::Live { last_beat, .. }, Some(RemovalReason::Expired)) => {
            newer && incoming.last_beat >= *last_beat
        }
        (
            Held::Removed {
                reason: RemovalReason::Expired,
                last_beat,
                ..
            },
            None,
        ) => newer || incoming.last_beat > *last_beat,
        _ => newer,
    };
    if incoming.version == before.version() {
        // The same write again: nothing but the beat may move.
    } else if must_adopt != adopted {
        return Err(format!(
            "adopted: {adopted}, but the rule says {must_adopt} (before {before:?})"
        ));
    }
    if incoming.version < before.version() && adopted {
        // An older record replaced a newer one: only a live copy over an eviction it outlived.
        let ok = matches!(
            (before, &incoming.state),
            (Held::Removed { reason: RemovalReason::Expired, last_beat, .. }, RecordState::Live(_))
                if incoming.last_beat > *last_beat
        );
        if !ok {
            return Err(format!("an older record replaced {before:?}"));
        }
    }
    if let (Held::Live { last_beat: b0, .. }, Held::Live { last_beat: b1, .. }) = (before, after) {
        if b1 < b0 {
            return Err(format!("the last beat went back from {b0:?} to {b1:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::config(256))]

    /// Two stores fed the same records in different orders, some twice, end equal: same live
    /// instances with the same data and versions, same tombstones, same service-level state
    /// (live beat times aside, see [`check::without_live_beats`]); and merging every record
    /// once more changes nothing. Without evictions and service removals: with them this does
    /// not hold (see `known`).
    #[test]
    fn merge_order_and_duplicates_do_not_matter(case in case(Scope { evictions: false, removals: false })) {
        let a = replica_store();
        merge_all(&a, &case.first);
        let b = replica_store();
        merge_all(&b, &case.second);
        let sa = check::without_live_beats(check::state(&a).map_err(TestCaseError::fail)?);
        let sb = check::without_live_beats(check::state(&b).map_err(TestCaseError::fail)?);
        prop_assert_eq!(&sa, &sb);
        merge_all(&a, &case.second);
        let again = check::without_live_beats(check::state(&a).map_err(TestCaseError::fail)?);
        prop_assert_eq!(again, sa);
    }

    /// Merging a record again right after it changes nothing at all (beat times included) and
    /// publishes nothing.
    #[test]
    fn merge_is_idempotent(case in case(EVERYTHING)) {
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

    /// Each merge step follows the rule instance by instance: a newer version is never
    /// replaced by an older one, a tombstone is never undone by an older record except an
    /// eviction by a copy that heard a later beat, a beat never goes back, the service-level
    /// version never goes back; `local_newer` names exactly the instances whose different local
    /// copy won; nothing merged is marked touched; the structure stays consistent.
    #[test]
    fn every_merge_step_follows_the_rule(case in case(EVERYTHING)) {
        let store = replica_store();
        let mut before = check::state(&store).map_err(TestCaseError::fail)?;
        for r in case.second.iter().chain(&case.first) {
            let out = merge(&store, r.clone());
            let after = check::state(&store).map_err(TestCaseError::fail)?;
            let mut local_won = BTreeSet::new();
            for rec in &r.instances {
                let was = held(&before, r, &rec.key);
                let now = held(&after, r, &rec.key)
                    .ok_or_else(|| TestCaseError::fail(format!("{:?} vanished", rec.key)))?;
                step_allowed(was.as_ref(), rec, &now)
                    .map_err(|e| TestCaseError::fail(format!("{:?} <- {rec:?}: {e}", rec.key)))?;
                if let Some(was) = was {
                    if now.version() != rec.version && was.version() != rec.version {
                        local_won.insert(rec.key.clone());
                    }
                }
            }
            let reported: BTreeSet<InstanceKey> = out.local_newer.iter().cloned().collect();
            prop_assert_eq!(reported, local_won, "local_newer of {:?}", r);
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
    fn versions_stay_ahead_and_checksums_follow_live_data(case in case(EVERYTHING)) {
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

pub(crate) fn live(w: f64, stamp: u64, beat_ms: u64) -> InstanceRecord {
    let inst = nacre::Instance::builder("10.0.0.1", 8080)
        .weight(w)
        .build()
        .unwrap();
    InstanceRecord {
        key: inst.key(),
        version: Version { stamp, origin: 1 },
        last_beat: Timestamp::from_millis(beat_ms),
        state: RecordState::Live(inst),
    }
}

pub(crate) fn removal(reason: RemovalReason, stamp: u64, beat_ms: u64) -> InstanceRecord {
    InstanceRecord {
        key: InstanceKey::in_default_cluster("10.0.0.1", 8080).unwrap(),
        version: Version { stamp, origin: 2 },
        last_beat: Timestamp::from_millis(beat_ms),
        state: RecordState::Removed(reason),
    }
}

pub(crate) fn record(meta: ServiceMeta, instances: Vec<InstanceRecord>) -> ServiceRecord {
    ServiceRecord {
        key: gen::service_key(0),
        meta,
        instances,
    }
}

/// Merges `records` into a fresh store in the order `order` gives, and returns its state
/// without live beat times.
pub(crate) fn merged(records: &[ServiceRecord], order: &[usize]) -> State {
    let store = replica_store();
    for &i in order {
        merge(&store, records[i].clone());
    }
    check::without_live_beats(check::state(&store).unwrap())
}
