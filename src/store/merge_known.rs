//! Minimal cases the merge properties found, reduced by hand to real cluster timelines and
//! kept as regression tests. A last-writer-wins merge (by version, an eviction losing to a
//! later beat) fails each of them; the join of `store::merge` settles each the same in every
//! order.

use super::merge_fuzz::{
    created, deregistration, evicted, live, merge, merged, record, removal, replica_store,
};
use crate::fuzz_kit::check::{self, Held};
use nacre::store::{RemovalReason, ServiceMeta, Version};
use nacre::{InstanceKey, ServiceSettings};

/// Every order of three records.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// An eviction cycle, with the times of one real partition (in seconds): `a`, written at 1 and beaten until 100 on one side; `c`, an update written at 3
/// on another side that heard beats until 40; `b`, the eviction of `c` by a third node that
/// last heard a beat at 50. Whatever the order, the update's data is live, with the beat
/// heard at 100.
#[test]
fn an_eviction_cycle_settles_the_same_in_every_order() {
    let records = [
        record(created(), vec![live(1.0, 1_000_000, 100_000)]),
        record(created(), vec![live(2.0, 3_000_000, 40_000)]),
        record(created(), vec![evicted(2.0, 3_000_000, 50_000)]),
    ];
    let first = merged(&records, &ORDERS[0]);
    for order in ORDERS {
        assert_eq!(merged(&records, &order), first, "{order:?}");
    }
    let held = first
        .values()
        .next()
        .unwrap()
        .instances
        .values()
        .next()
        .unwrap();
    match held {
        Held::Live {
            instance,
            last_beat,
            ..
        } => {
            assert_eq!(instance.weight(), 2.0);
            assert_eq!(last_beat.as_micros(), 100_000_000);
        }
        other => panic!("{other:?}"),
    }
}

/// A service removed on one node while another registered and then deregistered an instance
/// in it stays removed in every order: its latest service-level write removed it, and no
/// instance is live. (Revived in some orders only, it would leave the members' checksums
/// different for ever.)
#[test]
fn a_service_removed_while_an_instance_came_and_went_stays_removed_in_every_order() {
    let removed = ServiceMeta {
        settings: ServiceSettings::default(),
        removed: true,
        explicit: false,
        version: Version {
            stamp: 2_000,
            origin: 3,
        },
    };
    let records = [
        record(removed, vec![]),
        record(created(), vec![live(1.0, 1_000, 1)]),
        record(created(), vec![deregistration(6_000, 1)]),
    ];
    for order in ORDERS {
        let state = merged(&records, &order);
        let service = state.values().next().unwrap();
        assert!(service.removed, "{order:?}: {service:?}");
        assert_eq!(state, merged(&records, &ORDERS[0]), "{order:?}");
    }
}

/// A deregistration overtaken by an eviction keeps its finality. In seconds: the instance
/// registered at 1 and beat until 10; its client deregistered it at 12 on one node; a node
/// partitioned away since 5 evicted its stale copy at 40; a stale live copy that heard the
/// beat at 10 then came back. The deregistration stands in every order: a deregistration that
/// answered ok stays done.
#[test]
fn a_deregistration_stays_done_whatever_evictions_and_stale_copies_arrive() {
    let records = [
        record(created(), vec![live(1.0, 1_000_000, 10_000)]),
        record(created(), vec![deregistration(12_000_000, 10_000)]),
        record(created(), vec![evicted(1.0, 1_000_000, 5_000)]),
    ];
    for order in ORDERS {
        let state = merged(&records, &order);
        assert_eq!(
            removal(&state),
            Some(RemovalReason::Deregistered),
            "{order:?}"
        );
    }
}

/// A live record sent under another instance's key (any peer, or a mutated message, can send
/// one) is refused: a record's key must be its instance's own. Merged, it would be compared
/// under the key it was sent with but filed under its own, so an older write would replace a
/// newer copy of that other instance without the rule being asked; the newer copy stays.
#[test]
fn a_record_under_another_instances_key_cannot_replace_a_newer_copy() {
    let store = replica_store();
    let newer = live(1.0, 10_000_000, 10_000);
    let own = newer.key.clone();
    merge(&store, record(created(), vec![newer]));
    let mut stale = live(2.0, 1_000_000, 1_000);
    stale.key = InstanceKey::in_default_cluster("10.0.0.9", 8080).unwrap();
    merge(&store, record(created(), vec![stale]));
    let state = check::state(&store).unwrap();
    let held = &state.values().next().unwrap().instances[&own];
    assert_eq!(
        held.version(),
        Version {
            stamp: 10_000_000,
            origin: 1
        },
        "{held:?}"
    );
}
