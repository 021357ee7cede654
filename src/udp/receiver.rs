//! [`UdpPushReceiver`]: the client side of UDP push. It owns the socket whose port a v1 client
//! sends as `udpPort`, reads the server's push datagrams, acks each one, and hands the
//! `ServiceInfo` to the [`PushSink`]s that asked for the service.
//!
//! Design decisions:
//! - **One receiver per namespace.** A pushed `ServiceInfo` names its service
//!   `group@@service` without the namespace, so a receiver serves one namespace and knows it.
//! - **Only the servers may push.** Datagrams from any other IP address than the ones the
//!   receiver was told to trust are dropped unread (the Java client takes pushes from anyone,
//!   so anyone on the network can rewrite its view of a service).
//! - Every `dom` push is acked, even of a service nobody here wants any more, so the server
//!   does not send it again; malformed datagrams are counted and dropped.
//! - **Acked once taken.** The ack goes when every client fed by the push has taken it (its
//!   cache holds it and its listeners returned: [`crate::client::Receipt`]), at most
//!   3 s later, so a server's drain ([`crate::front::drain`]) returns only once
//!   the consumers act on the change. Nacos' clients ack on receipt, before applying.

use super::packet::{decode_push, encode_ack, TYPE_DOM};
use crate::model::{ClusterName, NamespaceId, ServiceKey};
use crate::protocol::json::ServiceInfoJson;
use crate::protocol::PushSink;
use crate::util::{lock, TaskSlot};
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::net::UdpSocket;

/// Counters of a [`UdpPushReceiver`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Pushes taken and acked.
    pub pushes: u64,
    /// Pushes delivered to at least one sink.
    pub delivered: u64,
    /// Datagrams dropped: from an untrusted address, malformed, or of a bad `ServiceInfo`.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    pushes: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

struct Inner {
    namespace: NamespaceId,
    local: SocketAddr,
    trusted: Mutex<HashSet<IpAddr>>,
    sinks: Mutex<HashMap<ServiceKey, Vec<PushSink>>>,
    counters: Counters,
    task: TaskSlot,
}

/// See the module documentation. Cheap to clone; stops when the last clone is dropped.
#[derive(Clone)]
pub struct UdpPushReceiver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for UdpPushReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpPushReceiver")
            .field("namespace", &self.inner.namespace)
            .field("local", &self.inner.local)
            .field("stats", &self.stats())
            .finish()
    }
}

impl UdpPushReceiver {
    /// Binds a receiver for `namespace` at `addr` (port 0: any free port), taking pushes
    /// from the servers at `trusted`, and starts reading on the current tokio runtime.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn bind(
        namespace: NamespaceId,
        addr: SocketAddr,
        trusted: impl IntoIterator<Item = IpAddr>,
    ) -> io::Result<Self> {
        let (socket, sender) = super::push::bind_pair(addr)?;
        let local = socket.local_addr()?;
        let inner = Arc::new(Inner {
            namespace,
            local,
            trusted: Mutex::new(trusted.into_iter().collect()),
            sinks: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            task: TaskSlot::default(),
        });
        inner
            .task
            .start(|| read_pushes(socket, sender, Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// Where pushes are received: its port is the `udpPort` to send, its IP the `clientIP`.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The namespace it serves.
    pub fn namespace(&self) -> &NamespaceId {
        &self.inner.namespace
    }

    /// Takes pushes from `ip` too.
    pub fn trust(&self, ip: IpAddr) {
        lock(&self.inner.trusted).insert(ip);
    }

    /// Hands pushes of `service` to `sink` (once per sink). Returns whether it is new.
    pub fn add(&self, service: &ServiceKey, sink: &PushSink) -> bool {
        let mut sinks = lock(&self.inner.sinks);
        let list = sinks.entry(service.clone()).or_default();
        if list.iter().any(|s| s.id() == sink.id()) {
            return false;
        }
        list.push(sink.clone());
        true
    }

    /// Stops handing pushes of `service` to `sink`.
    pub fn remove(&self, service: &ServiceKey, sink: &PushSink) {
        let mut sinks = lock(&self.inner.sinks);
        if let Some(list) = sinks.get_mut(service) {
            list.retain(|s| s.id() != sink.id());
            if list.is_empty() {
                sinks.remove(service);
            }
        }
    }

    /// Whether some sink wants pushes of `service`.
    pub fn wants(&self, service: &ServiceKey) -> bool {
        lock(&self.inner.sinks).contains_key(service)
    }

    /// Counters.
    pub fn stats(&self) -> ReceiverStats {
        let c = &self.inner.counters;
        ReceiverStats {
            pushes: c.pushes.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

/// How long an ack waits for the clients to take the push at most: well within the server's
/// ack timeout (10 s for UDP).
const TAKE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

async fn read_pushes(socket: UdpSocket, sender: std::net::UdpSocket, receiver: Weak<Inner>) {
    let sender = Arc::new(sender);
    let mut buf = vec![0u8; super::packet::MAX_DATAGRAM];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(inner) = receiver.upgrade() else {
            return;
        };
        if !lock(&inner.trusted).contains(&from.ip()) {
            inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let push = match decode_push(&buf[..n]) {
            Ok(p) if p.kind == TYPE_DOM => p,
            Ok(_) => {
                inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Err(_) => {
                inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        inner.counters.pushes.fetch_add(1, Ordering::Relaxed);
        let taken = deliver(&inner, &push.data);
        let ack = encode_ack(push.last_ref_time);
        if taken.is_empty() {
            let _ = sender.send_to(&ack, from);
            continue;
        }
        let sender = sender.clone();
        tokio::spawn(async move {
            let all = async {
                for t in taken {
                    t.await;
                }
            };
            let _ = tokio::time::timeout(TAKE_PATIENCE, all).await;
            let _ = sender.send_to(&ack, from);
        });
    }
}

/// Hands one pushed `ServiceInfo` JSON to the sinks of its service; what resolves once they
/// took it.
fn deliver(inner: &Inner, data: &str) -> Vec<crate::protocol::Taken> {
    let parsed: Result<ServiceInfoJson, _> = serde_json::from_str(data);
    let Some((service, clusters, json)) = parsed.ok().and_then(|json| {
        let service = ServiceKey::from_grouped(inner.namespace.as_str(), &json.name).ok()?;
        let clusters: Vec<ClusterName> = json
            .clusters
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        Some((service, clusters, json))
    }) else {
        inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    };
    // Only answers for every cluster are subscribed to.
    if !clusters.is_empty() {
        return Vec::new();
    }
    let sinks = lock(&inner.sinks)
        .get(&service)
        .cloned()
        .unwrap_or_default();
    if sinks.is_empty() {
        return Vec::new();
    }
    let Ok(info) = json.to_info(service, clusters, 0) else {
        inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    };
    let taken = sinks
        .iter()
        .filter_map(|sink| sink.push_taken(info.clone()))
        .collect();
    inner.counters.delivered.fetch_add(1, Ordering::Relaxed);
    taken
}
