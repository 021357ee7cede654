//! Shared set-up for the sans-IO unit tests of [`DistroCore`]: a core over a registry on a
//! [`ManualClock`], and helpers to pick requests out of what `poll` emits. No test sleeps:
//! time is whatever `Timestamp` a test hands the core.

use super::{DistroCore, Outgoing};
use crate::clock::{ManualClock, Timestamp};
use crate::cluster::{DistroConfig, NodeId, PeerRequest, PeerResponse};
use crate::model::{Instance, ServiceKey};
use crate::registry::Registry;
use crate::store::ServiceRecord;

pub(super) fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

pub(super) fn ids(names: &[&str]) -> Vec<NodeId> {
    names.iter().map(|n| id(n)).collect()
}

pub(super) fn instance(ip: &str, port: u16) -> Instance {
    Instance::new(ip, port).unwrap()
}

/// A config whose pings and verify rounds stay out of the way unless a test wants them.
pub(super) fn quiet_config() -> DistroConfig {
    DistroConfig {
        ping_interval: std::time::Duration::from_secs(600),
        verify_interval: std::time::Duration::from_secs(600),
        peer_down_after: std::time::Duration::from_secs(3600),
        ..DistroConfig::default()
    }
}

/// One node under test: its core and the clock its registry reads.
pub(super) struct Node {
    pub(super) core: DistroCore,
    pub(super) clock: ManualClock,
    pub t0: Timestamp,
}

impl Node {
    /// Hands this node a sync of `records` from peer `from` at `at`; returns its answer.
    pub(super) fn sync_from(
        &mut self,
        from: &str,
        records: Vec<ServiceRecord>,
        at: Timestamp,
    ) -> PeerResponse {
        self.core
            .handle(&id(from), PeerRequest::Sync { records }, at)
    }

    /// A fresh node `me` of `members`, created at the clock's start. Its sweeps run at every
    /// poll that has a deadline due (no [`crate::HealthConfig::min_sweep_gap`]), so tests can
    /// check verdicts to the millisecond; [`Node::fresh_with`] takes a health config.
    pub(super) fn fresh(me: &str, members: &[&str], config: DistroConfig) -> Node {
        let health = crate::HealthConfig {
            min_sweep_gap: std::time::Duration::ZERO,
            ..crate::HealthConfig::default()
        };
        Node::fresh_with(me, members, config, health)
    }

    /// A fresh node `me` of `members` with `health` for its registry.
    pub(super) fn fresh_with(
        me: &str,
        members: &[&str],
        config: DistroConfig,
        health: crate::HealthConfig,
    ) -> Node {
        let clock = ManualClock::new();
        let t0 = clock.now();
        let me = id(me);
        let registry = Registry::builder()
            .clock(clock.clone())
            .origin(me.origin())
            .delivery_threads(1)
            .health(health)
            .build();
        let core = DistroCore::new(me, &ids(members), registry, config, t0).unwrap();
        Node { core, clock, t0 }
    }

    /// A node that has loaded an empty snapshot from its first peer at `t0`, so every member
    /// is up, ready and in its mapper. What that first poll sent is dropped.
    pub(super) fn ready(me: &str, members: &[&str], config: DistroConfig) -> Node {
        let mut node = Node::fresh(me, members, config);
        let t0 = node.t0;
        let out = node.core.poll(t0);
        let ask = only(&out, is_snapshot);
        node.core.on_response(
            ask.id,
            Ok(PeerResponse::Chunk {
                records: Vec::new(),
                next: None,
            }),
            t0,
        );
        assert!(node.core.is_ready());
        // The first poll after loading runs the health sweep; start each test after it.
        node.core.poll(t0);
        node
    }

    /// Registers an instance locally, as a client of this node would.
    pub(super) fn register(&self, service: &ServiceKey, ip: &str, port: u16) {
        self.core
            .registry
            .register_instance(service, instance(ip, port))
            .unwrap();
    }

    /// How many instances of `service` this node's registry holds.
    pub(super) fn instance_count(&self, service: &ServiceKey) -> usize {
        self.core
            .registry()
            .service(service)
            .map_or(0, |s| s.instance_count())
    }

    /// The first service name (`svc-N`) that `owner` is responsible for, by this node's mapper.
    pub(super) fn service_owned_by(&self, owner: &str) -> ServiceKey {
        let mapper = self.core.routing().mapper();
        let owner = id(owner);
        (0..1000)
            .map(|i| ServiceKey::named(&format!("svc-{i}")).unwrap())
            .find(|k| mapper.is_owner(&owner, k))
            .expect("some service maps to every member")
    }
}

/// A record of `service` as node `origin` would send it, holding the given instances.
pub(super) fn record_from(
    origin: &str,
    clock: &ManualClock,
    service: &ServiceKey,
    endpoints: &[(&str, u16)],
) -> ServiceRecord {
    let remote = Registry::builder()
        .clock(clock.clone())
        .origin(id(origin).origin())
        .delivery_threads(1)
        .build();
    for (ip, port) in endpoints {
        remote
            .register_instance(service, instance(ip, *port))
            .unwrap();
    }
    remote.service(service).unwrap().to_record(None)
}

pub(super) fn is_snapshot(o: &Outgoing) -> bool {
    matches!(o.request, PeerRequest::Snapshot { .. })
}
pub(super) fn is_sync(o: &Outgoing) -> bool {
    matches!(o.request, PeerRequest::Sync { .. })
}
pub(super) fn is_verify(o: &Outgoing) -> bool {
    matches!(
        o.request,
        PeerRequest::Verify { .. }
            | PeerRequest::VerifyBuckets { .. }
            | PeerRequest::VerifyServices { .. }
    )
}
pub(super) fn is_fetch(o: &Outgoing) -> bool {
    matches!(o.request, PeerRequest::Fetch { .. })
}

/// The requests in `out` that match `pred`.
pub(super) fn matching(out: &[Outgoing], pred: fn(&Outgoing) -> bool) -> Vec<&Outgoing> {
    out.iter().filter(|o| pred(o)).collect()
}

/// The one request in `out` that matches `pred`.
pub(super) fn only(out: &[Outgoing], pred: fn(&Outgoing) -> bool) -> &Outgoing {
    let found = matching(out, pred);
    assert_eq!(found.len(), 1, "expected exactly one, got {out:?}");
    found[0]
}

/// Whom the requests matching `pred` go to, in emission order.
pub(super) fn targets(out: &[Outgoing], pred: fn(&Outgoing) -> bool) -> Vec<String> {
    matching(out, pred)
        .iter()
        .map(|o| o.to.as_str().to_owned())
        .collect()
}
