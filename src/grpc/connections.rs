//! [`Connections`]: the gRPC front's connection table, as plain state that takes `now`.
//!
//! A connection is the client's HTTP/2 connection, named by its remote address, exactly as
//! the Nacos server and r-nacos name it: the unary `Request.request` calls and the
//! `requestBiStream` of one client share that address, so a unary call finds its connection
//! without the client sending any id. It is *registered* once its `ConnectionSetupRequest`
//! arrives on the bi-stream; until then every call but `ServerCheckRequest`
//! answers 301 (`UN_REGISTER`), as Nacos does.
//!
//! A connection owns what it published: its ephemeral instances, which live while it lives
//! (the front beats for them, see [`Connections::due_beats`]) and are removed when it closes,
//! and its push subscriptions.
//!
//! Liveness follows Nacos: a connection silent for [`GrpcConfig::idle_before_probe`] (20 s)
//! is sent a `ClientDetectionRequest`; one that does not answer within
//! [`GrpcConfig::probe_timeout`] (5 s) is dropped. A connection that never opens its
//! bi-stream is forgotten after [`GrpcConfig::setup_timeout`].

use super::GrpcConfig;
use crate::clock::Timestamp;
use crate::model::{ClusterName, Instance, InstanceKey, ServiceKey};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One instance a connection published, and when the front beats for it next.
#[derive(Debug, Clone)]
pub(crate) struct Owned {
    pub(crate) instance: Instance,
    pub(crate) next_beat: Timestamp,
    pub(crate) interval: Duration,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: String,
    /// What the instances it registers carry as their owner on the member that applies the
    /// registration ([`crate::Registry::register_for`]): random, above 0.
    pub(crate) tag: u64,
    pub(crate) registered: bool,
    /// Whether its bi-stream is open (pushes can reach it).
    pub(crate) streaming: bool,
    /// What the client calls itself (`clientVersion` of its setup, at most
    /// [`MAX_CLIENT_VERSION_BYTES`]): one allocation per connection, shared by every push target
    /// of its subscriptions.
    pub(crate) client_version: Arc<str>,
    pub(crate) opened: Timestamp,
    pub(crate) last_active: Timestamp,
    /// An unanswered `ClientDetectionRequest`: its id and deadline.
    pub(crate) probe: Option<(u64, Timestamp)>,
    pub(crate) instances: BTreeMap<ServiceKey, BTreeMap<InstanceKey, Owned>>,
    pub(crate) subscriptions: BTreeSet<(ServiceKey, Vec<ClusterName>)>,
}

/// The longest `clientVersion` a connection keeps, in bytes (`Nacos-Java-Client:v2.4.2` is
/// 24): a longer one is cut at a character boundary. Nacos keeps whatever the client sent;
/// here a setup of a few megabytes costs 256 bytes, once per connection.
pub(crate) const MAX_CLIENT_VERSION_BYTES: usize = 256;

/// `version` cut to at most [`MAX_CLIENT_VERSION_BYTES`], at a character boundary.
pub(crate) fn bounded_client_version(version: &str) -> Arc<str> {
    let mut end = version.len().min(MAX_CLIENT_VERSION_BYTES);
    while !version.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(&version[..end])
}

/// What the front must do for liveness at some `now`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ProbeActions {
    /// Connections to send a `ClientDetectionRequest` (their id, and the request id).
    pub(crate) probe: Vec<(SocketAddr, u64)>,
    /// Connections to drop.
    pub(crate) drop: Vec<SocketAddr>,
}

/// The table: see the module documentation.
#[derive(Debug)]
pub(crate) struct Connections {
    config: GrpcConfig,
    conns: HashMap<SocketAddr, Conn>,
    next_probe: u64,
    /// Every owned instance by its next beat, so that finding the due ones costs O(log n) per
    /// beat, not a walk over every instance of every connection.
    schedule: BTreeSet<Scheduled>,
}

type Scheduled = (Timestamp, SocketAddr, ServiceKey, InstanceKey);

impl Connections {
    pub(crate) fn new(config: GrpcConfig) -> Self {
        Self {
            config,
            conns: HashMap::new(),
            next_probe: 1,
            schedule: BTreeSet::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The connections that sent their `ConnectionSetupRequest`.
    pub(crate) fn registered(&self) -> impl Iterator<Item = (SocketAddr, &Conn)> + '_ {
        self.conns
            .iter()
            .filter(|(_, c)| c.registered)
            .map(|(a, c)| (*a, c))
    }

    /// A request id for a request of the server's, unique on this front (shared with the
    /// liveness probes).
    pub(crate) fn next_request_id(&mut self) -> u64 {
        let id = self.next_probe;
        self.next_probe += 1;
        id
    }

    pub(crate) fn get(&self, addr: &SocketAddr) -> Option<&Conn> {
        self.conns.get(addr)
    }

    pub(crate) fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Conn> {
        self.conns.get_mut(addr)
    }

    /// The connection of `addr`, made if it is new (a `ServerCheckRequest`, or a bi-stream
    /// opening). `None` when the table is full.
    pub(crate) fn open(&mut self, addr: SocketAddr, now: Timestamp) -> Option<&mut Conn> {
        if !self.conns.contains_key(&addr) && self.conns.len() >= self.config.connections.max_total
        {
            return None;
        }
        Some(self.conns.entry(addr).or_insert_with(|| Conn {
            id: format!("{}_{}_{}", now.as_millis(), addr.ip(), addr.port()),
            tag: fastrand::u64(1..),
            registered: false,
            streaming: false,
            client_version: Arc::from(""),
            opened: now,
            last_active: now,
            probe: None,
            instances: BTreeMap::new(),
            subscriptions: BTreeSet::new(),
        }))
    }

    /// Something arrived from `addr`: it is alive.
    pub(crate) fn touch(&mut self, addr: &SocketAddr, now: Timestamp) {
        if let Some(c) = self.conns.get_mut(addr) {
            c.last_active = c.last_active.max(now);
        }
    }

    /// A `ClientDetectionResponse` with `request_id` arrived from `addr`.
    pub(crate) fn answered_probe(&mut self, addr: &SocketAddr, request_id: u64, now: Timestamp) {
        if let Some(c) = self.conns.get_mut(addr) {
            if c.probe.is_some_and(|(id, _)| id == request_id) {
                c.probe = None;
            }
            c.last_active = c.last_active.max(now);
        }
    }

    /// The tag of the connection of `addr` (0 when there is none).
    pub(crate) fn tag(&self, addr: &SocketAddr) -> u64 {
        self.conns.get(addr).map_or(0, |c| c.tag)
    }

    /// Removes the connection of `addr`, handing back what it owned.
    pub(crate) fn close(&mut self, addr: &SocketAddr) -> Option<Conn> {
        let conn = self.conns.remove(addr)?;
        for (service, set) in &conn.instances {
            for (key, owned) in set {
                self.schedule
                    .remove(&(owned.next_beat, *addr, service.clone(), key.clone()));
            }
        }
        Some(conn)
    }

    /// Records that `addr` published `instance` in `service` (replacing an earlier copy); the
    /// front beats for it every `interval`, the first time at once.
    pub(crate) fn own(
        &mut self,
        addr: &SocketAddr,
        service: &ServiceKey,
        instance: Instance,
        interval: Duration,
        now: Timestamp,
    ) -> bool {
        let Some(c) = self.conns.get_mut(addr) else {
            return false;
        };
        let key = instance.key();
        let next_beat = now + interval;
        let owned = Owned {
            instance,
            next_beat,
            interval,
        };
        if let Some(old) = c
            .instances
            .entry(service.clone())
            .or_default()
            .insert(key.clone(), owned)
        {
            self.schedule
                .remove(&(old.next_beat, *addr, service.clone(), key.clone()));
        }
        self.schedule
            .insert((next_beat, *addr, service.clone(), key));
        true
    }

    /// Forgets that `addr` published `instance` in `service`.
    pub(crate) fn disown(&mut self, addr: &SocketAddr, service: &ServiceKey, key: &InstanceKey) {
        let Some(c) = self.conns.get_mut(addr) else {
            return;
        };
        let Some(set) = c.instances.get_mut(service) else {
            return;
        };
        if let Some(old) = set.remove(key) {
            self.schedule
                .remove(&(old.next_beat, *addr, service.clone(), key.clone()));
        }
        if set.is_empty() {
            c.instances.remove(service);
        }
    }

    /// Whether any connection owns `key` in `service`.
    pub(crate) fn owns(&self, service: &ServiceKey, key: &InstanceKey) -> bool {
        self.conns.values().any(|c| {
            c.instances
                .get(service)
                .is_some_and(|set| set.contains_key(key))
        })
    }

    /// The instances whose beat is due at `now` with their connection's tag, each rescheduled
    /// one interval on.
    pub(crate) fn due_beats(&mut self, now: Timestamp) -> Vec<(ServiceKey, Instance, u64)> {
        let mut due = Vec::new();
        while let Some(first) = self.schedule.first() {
            if first.0 > now {
                break;
            }
            let Some((_, addr, service, key)) = self.schedule.pop_first() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(&addr) else {
                continue;
            };
            let tag = conn.tag;
            let owned = conn
                .instances
                .get_mut(&service)
                .and_then(|set| set.get_mut(&key));
            if let Some(owned) = owned {
                owned.next_beat = now + owned.interval;
                due.push((service.clone(), owned.instance.clone(), tag));
                self.schedule.insert((owned.next_beat, addr, service, key));
            }
        }
        due
    }

    /// Probes to send and connections to drop at `now` (see the module documentation). The
    /// probes are recorded as sent.
    pub(crate) fn liveness(&mut self, now: Timestamp) -> ProbeActions {
        let mut out = ProbeActions::default();
        for (addr, c) in &mut self.conns {
            match c.probe {
                Some((_, deadline)) if deadline <= now => out.drop.push(*addr),
                Some(_) => {}
                None if !c.streaming => {
                    if now.saturating_since(c.opened) >= self.config.setup_timeout {
                        out.drop.push(*addr);
                    }
                }
                None => {
                    if now.saturating_since(c.last_active) >= self.config.idle_before_probe {
                        let id = self.next_probe;
                        self.next_probe += 1;
                        c.probe = Some((id, now + self.config.probe_timeout));
                        out.probe.push((*addr, id));
                    }
                }
            }
        }
        out
    }

    /// When [`Connections::due_beats`] or [`Connections::liveness`] next has work.
    pub(crate) fn next_wakeup(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let mut at = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        for c in self.conns.values() {
            match c.probe {
                Some((_, deadline)) => at(deadline),
                None if !c.streaming => at(c.opened + self.config.setup_timeout),
                None => at(c.last_active + self.config.idle_before_probe),
            }
        }
        if let Some(first) = self.schedule.first() {
            at(first.0);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn an_idle_connection_is_probed_after_20_s_and_dropped_5_s_later() {
        let t0 = ManualClock::new().now();
        let mut table = Connections::new(GrpcConfig::default());
        let c = table.open(addr(1), t0).unwrap();
        c.streaming = true;
        c.registered = true;
        assert_eq!(table.next_wakeup(), Some(t0 + Duration::from_secs(20)));
        assert_eq!(
            table.liveness(t0 + Duration::from_secs(19)),
            ProbeActions::default()
        );
        let l = table.liveness(t0 + Duration::from_secs(20));
        assert_eq!(l.probe.len(), 1);
        assert!(l.drop.is_empty());
        // No second probe while one waits.
        assert!(table
            .liveness(t0 + Duration::from_secs(21))
            .probe
            .is_empty());
        let l = table.liveness(t0 + Duration::from_secs(25));
        assert_eq!(l.drop, [addr(1)]);
    }

    #[test]
    fn an_answered_probe_keeps_the_connection() {
        let t0 = ManualClock::new().now();
        let mut table = Connections::new(GrpcConfig::default());
        table.open(addr(1), t0).unwrap().streaming = true;
        let l = table.liveness(t0 + Duration::from_secs(20));
        let (_, id) = l.probe[0];
        table.answered_probe(&addr(1), id, t0 + Duration::from_secs(21));
        assert_eq!(
            table.liveness(t0 + Duration::from_secs(26)),
            ProbeActions::default()
        );
        assert_eq!(table.next_wakeup(), Some(t0 + Duration::from_secs(41)));
    }

    #[test]
    fn a_connection_without_a_stream_is_forgotten_after_the_setup_timeout() {
        let t0 = ManualClock::new().now();
        let config = GrpcConfig::default();
        let mut table = Connections::new(config);
        table.open(addr(1), t0).unwrap();
        assert!(table
            .liveness(t0 + config.setup_timeout - Duration::from_millis(1))
            .drop
            .is_empty());
        assert_eq!(table.liveness(t0 + config.setup_timeout).drop, [addr(1)]);
    }

    #[test]
    fn owned_instances_beat_on_their_interval() {
        let t0 = ManualClock::new().now();
        let mut table = Connections::new(GrpcConfig::default());
        table.open(addr(1), t0).unwrap().streaming = true;
        let orders = ServiceKey::named("orders").unwrap();
        let inst = Instance::new("10.0.0.1", 80).unwrap();
        assert!(table.own(&addr(1), &orders, inst.clone(), Duration::from_secs(5), t0));
        assert!(table.due_beats(t0).is_empty());
        assert_eq!(table.due_beats(t0 + Duration::from_secs(5)).len(), 1);
        assert!(table.due_beats(t0 + Duration::from_secs(6)).is_empty());
        table.disown(&addr(1), &orders, &inst.key());
        assert!(table.due_beats(t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn the_table_refuses_connections_past_its_limit() {
        let t0 = ManualClock::new().now();
        let mut table = Connections::new(GrpcConfig {
            connections: crate::front::gate::GateLimits {
                max_total: 1,
                max_per_ip: 1,
            },
            ..GrpcConfig::default()
        });
        assert!(table.open(addr(1), t0).is_some());
        assert!(table.open(addr(2), t0).is_none());
        assert!(
            table.open(addr(1), t0).is_some(),
            "an existing one is found"
        );
    }
}
