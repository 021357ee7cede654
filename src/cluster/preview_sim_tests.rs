//! The failure preview against the deterministic simulator: a preview is computed, the change
//! is made in a [`Simulation`], and what the cluster does is checked against what the preview
//! said: the survivors' owner tables, when they noticed, and when the instances whose clients
//! stopped beating turned unhealthy and went, observed every [`TICK`]. Last, a
//! [`crate::cluster::ClusterNode`] gathering the same inputs itself.

use super::*;
use crate::clock::ManualClock;
use crate::cluster::ClusterNode;
use crate::model::Instance;
use crate::transport::memory::{MemoryNetwork, SimConfig, Simulation};
use std::collections::BTreeSet;

/// How often the test looks at the cluster (and clients beat, on their own phase).
const TICK: Duration = Duration::from_millis(100);
/// The clients' beat interval (the default).
const BEAT: Duration = Duration::from_secs(5);

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn ids(names: &[&str]) -> Vec<NodeId> {
    names.iter().map(|n| id(n)).collect()
}

fn svc(i: usize) -> ServiceKey {
    ServiceKey::named(&format!("svc-{i}")).unwrap()
}

/// One client: an instance that beats every [`BEAT`] from `phase` ticks on, until it stops.
struct Client {
    service: ServiceKey,
    instance: Instance,
    phase: u64,
    /// Its beats stop with the change (port 9000); the others (8080) keep beating.
    stops: bool,
}

/// Two clients on each of `services` services: one that keeps beating, one that stops.
fn clients(services: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for i in 0..services {
        let service = svc(i);
        for (port, stops) in [(8080, false), (9000, true)] {
            let phase = (out.len() as u64 * 7) % 50;
            out.push(Client {
                service: service.clone(),
                instance: Instance::new(&format!("10.1.0.{}", i + 1), port).unwrap(),
                phase,
                stops,
            });
        }
    }
    out
}

/// Runs the simulation one tick, first beating for every client due in it (through the
/// members of `via` in turn, skipping those that refuse) unless `stopped` says it stopped.
fn tick(sim: &mut Simulation, clients: &[Client], n: u64, via: &[NodeId], stopped: bool) {
    for (k, c) in clients.iter().enumerate() {
        if (stopped && c.stops) || n % 50 != c.phase {
            continue;
        }
        let beaten = (0..via.len())
            .map(|j| &via[(k + j) % via.len()])
            .any(|node| sim.heartbeat_with(node, &c.service, &c.instance).is_ok());
        assert!(beaten, "no member took a beat of {:?}", c.instance);
    }
    sim.run_for(TICK);
}

/// Whether `node` holds the client's instance, and whether it is healthy there.
fn state(sim: &Simulation, node: &NodeId, c: &Client) -> Option<bool> {
    let snap = sim.registry(node)?.service(&c.service)?;
    let healthy = snap.entry(&c.instance.key())?.healthy();
    Some(healthy)
}

fn ms_between(a: Timestamp, b: Timestamp) -> i128 {
    i128::from(a.as_micros() / 1000) - i128::from(b.as_micros() / 1000)
}

/// What the cluster did after the change, observed every tick for `span`.
#[derive(Default)]
struct Observed {
    /// When each member's owner table first became the expected one.
    switched: BTreeMap<NodeId, Timestamp>,
    /// When each stopping client's instance was first unhealthy, and first gone, on the
    /// member the preview named.
    unhealthy: BTreeMap<usize, Timestamp>,
    removed: BTreeMap<usize, Timestamp>,
}

/// Runs the changed cluster for `span`, beating for the clients that keep beating, and
/// checks at every tick that none of them is unhealthy or missing on a running member.
fn observe(
    sim: &mut Simulation,
    clients: &[Client],
    preview: &Preview,
    via: &[NodeId],
    span: Duration,
) -> Observed {
    let fates: BTreeMap<usize, &Fate> = clients
        .iter()
        .enumerate()
        .filter(|(_, c)| c.stops)
        .map(|(k, c)| (k, &forecast(preview, c).if_beats_stop))
        .collect();
    let mut seen = Observed::default();
    let ticks = span.as_millis() / TICK.as_millis();
    for n in 0..ticks as u64 {
        tick(sim, clients, n, via, true);
        let now = sim.now();
        for node in sim.alive() {
            let Some(core) = sim.core(&node) else {
                continue;
            };
            if core.routing().mapper().members() == preview.owners_after {
                seen.switched.entry(node.clone()).or_insert(now);
            }
            for c in clients.iter().filter(|c| !c.stops) {
                let kept = state(sim, &node, c);
                // A member that is still loading holds nothing yet.
                if core.is_ready() {
                    assert_eq!(kept, Some(true), "{:?} on {node} at {now}", c.instance);
                }
            }
        }
        for (k, fate) in &fates {
            let c = &clients[*k];
            if let Some(u) = &fate.unhealthy {
                if state(sim, &u.by, c) == Some(false) {
                    seen.unhealthy.entry(*k).or_insert(now);
                }
            }
            let ready = sim.core(&fate.removed.by).is_some_and(DistroCore::is_ready);
            if ready && state(sim, &fate.removed.by, c).is_none() {
                seen.removed.entry(*k).or_insert(now);
            }
        }
    }
    seen
}

/// The preview's forecast of a client's instance.
fn forecast<'p>(preview: &'p Preview, c: &Client) -> &'p InstanceForecast {
    preview
        .instances
        .iter()
        .find(|i| {
            i.service.name == c.service.service().as_str()
                && i.ip == c.instance.ip().as_str()
                && i.port == c.instance.port()
        })
        .unwrap_or_else(|| panic!("{:?} is not forecast", c.instance))
}

/// Checks an observed time against a predicted one: a verdict comes at its deadline or up to
/// a sweep gap (1 s) later, and is seen at the first tick at or after it. A deadline counted
/// from a last beat assumed to be `now` may come up to a beat interval earlier.
fn check_time(
    what: &str,
    predicted: &At,
    observed: Option<&Timestamp>,
    start: Timestamp,
    assumed: bool,
) {
    let observed = observed.unwrap_or_else(|| panic!("{what}: never observed"));
    let late = ms_between(*observed, start) - i128::from(predicted.in_ms);
    let early_ok = if assumed { BEAT.as_millis() as i128 } else { 0 };
    assert!(
        (-early_ok..=1_000).contains(&late),
        "{what}: predicted {} ms after the change, observed {} ms ({late:+} ms)",
        predicted.in_ms,
        ms_between(*observed, start)
    );
}

/// Whether a deadline depends on the last beat (not on a takeover): the old owner gives it,
/// or the service does not move.
fn counts_from_last_beat(preview: &Preview, c: &Client, by: &NodeId) -> bool {
    preview
        .services
        .iter()
        .find(|s| s.service.name == c.service.service().as_str())
        .is_some_and(|s| !s.moved || s.old_owner == *by)
}

fn check_fates(preview: &Preview, clients: &[Client], seen: &Observed, start: Timestamp) {
    for (k, c) in clients.iter().enumerate().filter(|(_, c)| c.stops) {
        let f = forecast(preview, c);
        let fate = &f.if_beats_stop;
        let unhealthy = fate.unhealthy.as_ref().expect("healthy at the change");
        let assumed = |by| f.last_beat_assumed && counts_from_last_beat(preview, c, by);
        let what = format!("{:?} unhealthy on {}", c.instance, unhealthy.by);
        check_time(
            &what,
            &unhealthy.at,
            seen.unhealthy.get(&k),
            start,
            assumed(&unhealthy.by),
        );
        let what = format!("{:?} removed on {}", c.instance, fate.removed.by);
        let by = &fate.removed.by;
        check_time(
            &what,
            &fate.removed.at,
            seen.removed.get(&k),
            start,
            assumed(by),
        );
    }
}

/// The services whose owner differs between two owner tables, with the new owner.
fn moves(sim: &Simulation, node: &NodeId, before: &DistroMapper) -> BTreeMap<ServiceRef, NodeId> {
    let after = sim.core(node).unwrap().routing().mapper();
    let mut out = BTreeMap::new();
    for snap in sim.registry(node).unwrap().store().snapshots() {
        let key = snap.key();
        if before.owner(key) != after.owner(key) {
            out.insert(ServiceRef::from(key), after.owner(key).unwrap().clone());
        }
    }
    out
}

fn predicted_moves(preview: &Preview) -> BTreeMap<ServiceRef, NodeId> {
    let moved = preview.services.iter().filter(|s| s.moved);
    moved
        .map(|s| (s.service.clone(), s.new_owner.clone()))
        .collect()
}

fn options(stops: &dyn Fn(&ServiceKey, &InstanceKey) -> bool) -> PreviewOptions<'_> {
    PreviewOptions {
        beats_stop: Some(stops),
        detail_limit: MAX_DETAIL_LIMIT,
        ..PreviewOptions::default()
    }
}

#[test]
fn a_stopped_member_moves_and_expires_in_the_simulator_what_the_preview_said() {
    let members = ids(&["node-1", "node-2", "node-3"]);
    let [n1, n2, n3] = [&members[0], &members[1], &members[2]];
    let mut sim = Simulation::new(&members, 25, SimConfig::default());
    sim.run_for(Duration::from_secs(2));
    let clients = clients(12);
    for c in &clients {
        sim.register(n1, &c.service, c.instance.clone()).unwrap();
    }
    for n in 0..200 {
        tick(&mut sim, &clients, n, &members, false);
    }
    let start = sim.now();
    let before = DistroMapper::clone(&sim.core(n1).unwrap().routing().mapper());
    assert_eq!(before.members(), &members[..]);
    let stops = |_: &ServiceKey, i: &InstanceKey| i.endpoint.port == 9000;
    let change = PreviewChange::Stop { member: n2.clone() };
    let preview = sim
        .core(n1)
        .unwrap()
        .preview(&change, start, &options(&stops))
        .unwrap();
    let on_n3 = sim
        .core(n3)
        .unwrap()
        .preview(&change, start, &options(&stops))
        .unwrap();
    assert_eq!(preview.owners_after, vec![n1.clone(), n3.clone()]);
    assert_eq!(preview.totals.services, 12);
    assert_eq!(
        preview.totals.expected.unhealthy, 12,
        "every client on 9000"
    );
    assert!(preview
        .services
        .iter()
        .any(|s| s.moved && s.old_owner != *n2));

    sim.crash(n2);
    let survivors = [n1.clone(), n3.clone()];
    let seen = observe(
        &mut sim,
        &clients,
        &preview,
        &survivors,
        Duration::from_secs(45),
    );

    // The survivors' owner tables are the predicted one, and moved what the preview said.
    let predicted = predicted_moves(&preview);
    assert_eq!(predicted.len(), preview.totals.services_moved);
    assert_eq!(moves(&sim, n1, &before), predicted);
    assert_eq!(moves(&sim, n3, &before), predicted);
    assert_eq!(predicted_moves(&on_n3), predicted);
    // Both noticed when the preview said.
    let detection = preview.detection.unwrap();
    for node in &survivors {
        let at = seen.switched[node];
        let after = ms_between(at, start);
        assert!(
            (i128::from(detection.earliest.in_ms)..=i128::from(detection.latest.in_ms))
                .contains(&after),
            "{node} noticed {after} ms after the stop, outside {detection:?}"
        );
        assert!(
            (after - i128::from(detection.expected.in_ms)).abs() <= TICK.as_millis() as i128,
            "{node} noticed {after} ms after the stop, expected {detection:?}"
        );
    }
    // Every stopping client went unhealthy, then away, when each survivor's preview said.
    check_fates(&preview, &clients, &seen, start);
    check_fates(&on_n3, &clients, &seen, start);
}

#[test]
fn a_planned_member_list_moves_in_the_simulator_what_the_preview_said() {
    let members = ids(&["node-1", "node-2", "node-3", "node-4"]);
    let [n1, n4] = [&members[0], &members[3]];
    let mut sim = Simulation::new(&members, 26, SimConfig::default());
    sim.run_for(Duration::from_secs(2));
    sim.crash(n4);
    sim.run_for(Duration::from_secs(8));
    let three = &members[..3];
    assert_eq!(sim.core(n1).unwrap().routing().mapper().members(), three);
    let clients = clients(16);
    for c in &clients {
        sim.register(n1, &c.service, c.instance.clone()).unwrap();
    }
    for n in 0..200 {
        tick(&mut sim, &clients, n, three, false);
    }
    let start = sim.now();
    let before = DistroMapper::clone(&sim.core(n1).unwrap().routing().mapper());
    let stops = |_: &ServiceKey, i: &InstanceKey| i.endpoint.port == 9000;
    let change = PreviewChange::Members {
        members: members.clone(),
    };
    let preview = sim
        .core(n1)
        .unwrap()
        .preview(&change, start, &options(&stops))
        .unwrap();
    assert_eq!(preview.owners_after, members);
    assert_eq!(preview.detection, None);
    let to_n4: BTreeSet<&ServiceRef> = preview
        .services
        .iter()
        .filter(|s| s.new_owner == *n4)
        .map(|s| &s.service)
        .collect();
    assert!(!to_n4.is_empty());

    // The change: node-4 comes back and serves (the others' lists always named it).
    sim.restart(n4);
    let seen = observe(
        &mut sim,
        &clients,
        &preview,
        &members,
        Duration::from_secs(45),
    );
    let predicted = predicted_moves(&preview);
    for node in &members {
        assert_eq!(moves(&sim, node, &before), predicted, "on {node}");
        assert!(seen.switched[node] <= start + TICK, "{node} switched late");
    }
    check_fates(&preview, &clients, &seen, start);
}

#[test]
fn a_cluster_node_previews_from_its_own_membership_registry_and_clock() {
    let clock = ManualClock::new();
    let net = MemoryNetwork::new(std::sync::Arc::new(clock.clone()), 1);
    let node = |members: &[&str]| {
        ClusterNode::builder(id("n1"), ids(members), net.transport(&id("n1")))
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    // A member of two loads a snapshot first: its registry is not the cluster's yet.
    let start = clock.now();
    let loading = node(&["n1", "n2"]);
    assert_eq!(
        loading.preview(&PreviewChange::Stop { member: id("n2") }),
        Err(PreviewError::NotReady(id("n1")))
    );
    // A member alone serves at once.
    let alone = node(&["n1"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 0..20 {
        let instance = Instance::new(&format!("10.0.0.{}", i + 1), 8080).unwrap();
        runtime
            .block_on(alone.register_instance(&svc(i), instance))
            .unwrap();
    }
    clock.advance(Duration::from_secs(3));
    assert_eq!(
        alone.preview(&PreviewChange::Stop { member: id("n1") }),
        Err(PreviewError::NoMemberLeft)
    );
    let plan = PreviewChange::Members {
        members: ids(&["n1", "n2"]),
    };
    let subscribers = |_: &ServiceKey| 3;
    let options = PreviewOptions {
        subscribers: Some(&subscribers),
        ..PreviewOptions::default()
    };
    let preview = alone.preview_with(&plan, &options).unwrap();
    assert_eq!(preview.computed_by, id("n1"));
    assert_eq!(preview.now_epoch_ms, start.as_millis() + 3_000);
    assert_eq!(preview.owners_before, ids(&["n1"]));
    let two = DistroMapper::new(ids(&["n1", "n2"]));
    let moved = (0..20)
        .map(svc)
        .filter(|k| two.is_owner(&id("n2"), k))
        .count();
    assert!(moved > 0);
    assert_eq!(preview.totals.services, 20);
    assert_eq!(preview.totals.services_moved, moved);
    assert!(preview.services.iter().all(|s| s.new_owner == id("n2")));
    // This member owned them all: their last beats are its own, 3 s ago.
    for i in &preview.instances {
        assert!(!i.last_beat_assumed);
        let fate = &i.if_beats_stop;
        assert_eq!(fate.unhealthy.as_ref().unwrap().at.in_ms, 15_000);
    }
    let pushed = preview.totals.if_beats_stop;
    assert_eq!(pushed.subscribers_pushed, Some(3 * moved as u64));
}
