//! [`ClientTransport`]: how a [`crate::client::NamingClient`] talks to the registry servers, and
//! the serde message types that cross it.
//!
//! The trait is shaped after the Nacos v1 open API, so that an HTTP implementation is a direct
//! mapping: `register_instance` is `POST /nacos/v1/ns/instance`, `send_beat` is
//! `PUT /nacos/v1/ns/instance/beat` (answering `clientBeatInterval`, or code 20404 for an
//! unknown instance), `query_service` is `GET /nacos/v1/ns/instance/list` (answering a
//! [`ServiceInfo`]: `hosts`, `cacheMillis`, `lastRefTime`, ...), `list_services` is
//! `GET /nacos/v1/ns/service/list`. Beats and pushes are capabilities
//! ([`BeatTransport`], [`PushTransport`]): pushes are delivered to a [`PushSink`] the client
//! hands to [`PushTransport::subscribe`]; over a transport that cannot push the client lives
//! on its pulls.
//!
//! The in-process implementation is [`crate::transport::memory::MemoryClientTransport`].

use crate::model::{ClusterName, GroupName, Instance, NamespaceId, ServiceKey};
use crate::registry::ServiceList;
use crate::store::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Why a transport call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No server could be reached (every node down, connection refused, timed out). The client
    /// answers reads from its cache or its failover files when it sees this.
    #[error("no registry server could be reached: {reason}")]
    Unreachable {
        /// What went wrong, for the log.
        reason: String,
    },
    /// A server answered and refused the request, for a reason the registry names.
    #[error("the registry refused the request: {0}")]
    Registry(#[from] StoreError),
    /// A server answered with an error the transport could not map to a [`StoreError`]
    /// (an HTTP status and body, say).
    #[error("the registry answered with error {code}: {message}")]
    Server {
        /// The status or error code the server sent.
        code: u16,
        /// The message it sent.
        message: String,
    },
    /// A server answered something that could not be understood.
    #[error("the registry answered something malformed: {reason}")]
    Malformed {
        /// What was wrong with it.
        reason: String,
    },
}

impl TransportError {
    /// Whether this means "no server reachable" (as opposed to "a server said no").
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TransportError::Unreachable { .. })
    }
}

/// Why a client transport refused its list of servers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerListError {
    /// No server was given.
    #[error("the server list is empty")]
    Empty,
    /// An entry is not `host:port` or an `http://` URL.
    #[error("`{0}` is not a server address (`host:port` or `http://host:port`)")]
    BadAddress(String),
    /// The transport's own client (HTTP, gRPC) could not be set up.
    #[error("the client could not be set up: {0}")]
    Client(String),
}

/// Durations on the wire are whole milliseconds, as Nacos sends them.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(crate::util::millis(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A query for one service's instances (`GET /nacos/v1/ns/instance/list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceQuery {
    /// The service.
    pub service: ServiceKey,
    /// The clusters to answer for; empty means all.
    pub clusters: Vec<ClusterName>,
    /// Whether to answer only healthy, enabled instances of weight above 0 (the server applies
    /// its protect threshold then). The client asks with `false` and filters itself.
    pub healthy_only: bool,
}

/// What a server knows of one service: Nacos' `ServiceInfo`.
///
/// It is both the answer to [`ClientTransport::query_service`] and the content of a push, and
/// it is what the client's failover files hold (as JSON).
///
/// ```
/// use nacre::client::ServiceInfo;
/// use nacre::{Instance, ServiceKey};
/// let info = ServiceInfo::new(
///     ServiceKey::named("orders").unwrap(),
///     vec![Instance::new("10.0.0.1", 8080).unwrap()],
/// );
/// let json = serde_json::to_string(&info).unwrap();
/// assert!(json.contains("\"cacheMillis\":10000"));
/// let back: ServiceInfo = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, info);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// The service.
    pub service: ServiceKey,
    /// The clusters this answers for; empty means all.
    #[serde(default)]
    pub clusters: Vec<ClusterName>,
    /// The instances.
    #[serde(default)]
    pub hosts: Vec<Instance>,
    /// How long the client may use this answer before asking again, in milliseconds (Nacos'
    /// `cacheMillis`, 10 000 by default). 0 means "use the client's default".
    #[serde(default)]
    pub cache_millis: u64,
    /// When the server produced this answer, in milliseconds since the UNIX epoch. The client
    /// ignores an answer older than the one it holds.
    #[serde(default)]
    pub last_ref_time: u64,
    /// The server's revision of the service (0 if unknown). Revisions of different servers are
    /// not comparable; informational.
    #[serde(default)]
    pub revision: u64,
    /// The server's checksum of the service (empty if unknown). Informational.
    #[serde(default)]
    pub checksum: String,
    /// Whether a healthy-only answer hit the service's protect threshold and so lists unhealthy
    /// instances too.
    #[serde(default)]
    pub reach_protection_threshold: bool,
}

/// Nacos' default `cacheMillis`: clients refresh a subscribed service every 10 s.
pub const DEFAULT_CACHE_MILLIS: u64 = 10_000;

impl ServiceInfo {
    /// An answer for every cluster of `service` holding `hosts`, with the default
    /// `cacheMillis` and no time or revision.
    pub fn new(service: ServiceKey, hosts: Vec<Instance>) -> Self {
        Self {
            service,
            clusters: Vec::new(),
            hosts,
            cache_millis: DEFAULT_CACHE_MILLIS,
            last_ref_time: 0,
            revision: 0,
            checksum: String::new(),
            reach_protection_threshold: false,
        }
    }

    /// `cache_millis` as a duration, or `None` when it is 0 (use the client's default).
    pub fn cache_duration(&self) -> Option<Duration> {
        (self.cache_millis > 0).then(|| Duration::from_millis(self.cache_millis))
    }
}

/// A query for one page of service names (`GET /nacos/v1/ns/service/list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceListQuery {
    /// The namespace.
    pub namespace: NamespaceId,
    /// The group.
    pub group: GroupName,
    /// The page, from 1.
    pub page_no: usize,
    /// Names per page.
    pub page_size: usize,
}

/// One heartbeat: which instance, with its data, and how often the client means to beat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeatInfo {
    /// The service.
    pub service: ServiceKey,
    /// The instance, as the client registered it.
    pub instance: Instance,
    /// The interval the client beats at now.
    #[serde(with = "millis")]
    pub period: Duration,
}

/// What a server answers to a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BeatAnswer {
    /// The beat was recorded.
    #[serde(rename_all = "camelCase")]
    Ok {
        /// How often to beat from now on (Nacos' `clientBeatInterval`).
        #[serde(with = "millis")]
        client_beat_interval: Duration,
        /// Whether later beats may leave out the instance data.
        light_beat_enabled: bool,
    },
    /// The server does not know the instance (Nacos' code 20404): evicted, or lost in a
    /// restart. The client registers it again.
    NotFound,
}

/// Where a transport delivers pushed [`ServiceInfo`]s for a client. Cheap to clone; every clone
/// feeds the same [`PushReceiver`] and has the same [`PushSink::id`].
///
/// ```
/// use nacre::client::{PushSink, ServiceInfo};
/// use nacre::ServiceKey;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (sink, mut pushes) = PushSink::channel();
/// assert!(sink.push(ServiceInfo::new(ServiceKey::named("orders").unwrap(), vec![])));
/// assert_eq!(pushes.recv().await.unwrap().service.service().as_str(), "orders");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct PushSink {
    id: u64,
    tx: mpsc::UnboundedSender<(ServiceInfo, Option<Receipt>)>,
}

/// The receiving end of a [`PushSink`].
#[derive(Debug)]
pub struct PushReceiver {
    rx: mpsc::UnboundedReceiver<(ServiceInfo, Option<Receipt>)>,
}

/// Handed along with a push by [`PushSink::push_taken`]: the client drops it once it has taken
/// the push (applied it to its cache, and its listeners returned from the change), which
/// resolves the transport's [`Taken`]. A transport acks the server then, so a server's drain
/// (see [`crate::front::drain`]) returns only once the consumer acts on the change.
#[derive(Debug)]
pub struct Receipt(tokio::sync::oneshot::Sender<()>);

impl Receipt {
    /// Resolves when the transport stopped waiting for it (it gave up, or went away): the
    /// client need not hold it any longer.
    pub async fn closed(&mut self) {
        self.0.closed().await;
    }
}

/// Resolves when the client has taken a push (its [`Receipt`] was dropped), or never had it
/// (its receiver is gone).
#[derive(Debug)]
pub struct Taken(tokio::sync::oneshot::Receiver<()>);

impl std::future::Future for Taken {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

static NEXT_SINK_ID: AtomicU64 = AtomicU64::new(1);

impl PushSink {
    /// A new sink and its receiver.
    pub fn channel() -> (PushSink, PushReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = NEXT_SINK_ID.fetch_add(1, Ordering::Relaxed);
        (PushSink { id, tx }, PushReceiver { rx })
    }

    /// Identifies the receiving client: a transport shared by several clients keeps their
    /// subscriptions apart by it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Delivers one push. Never blocks; callable from any thread. Returns `false` when the
    /// receiver is gone (the client was dropped), so the transport can drop the subscription.
    pub fn push(&self, info: ServiceInfo) -> bool {
        self.tx.send((info, None)).is_ok()
    }

    /// Delivers one push and returns what resolves once the client has taken it (see
    /// [`Receipt`]); `None` when the receiver is gone.
    pub fn push_taken(&self, info: ServiceInfo) -> Option<Taken> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send((info, Some(Receipt(tx))))
            .is_ok()
            .then_some(Taken(rx))
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl PushReceiver {
    /// The next push, or `None` once every sink is dropped.
    pub async fn recv(&mut self) -> Option<ServiceInfo> {
        self.rx.recv().await.map(|(info, _)| info)
    }

    /// The next push with its [`Receipt`], if the transport asked for one: drop the receipt
    /// once the push is taken.
    pub async fn recv_with_receipt(&mut self) -> Option<(ServiceInfo, Option<Receipt>)> {
        self.rx.recv().await
    }

    /// The next push if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<ServiceInfo> {
        self.rx.try_recv().ok().map(|(info, _)| info)
    }
}

/// The client's side of the wire: everything a [`crate::client::NamingClient`] asks of the
/// servers. Implement it to put nacre's client on a network; use
/// [`crate::transport::memory::MemoryClientTransport`] to talk to in-process nodes.
///
/// The trait is the core every transport has: writes and reads. Two capabilities come on top,
/// and a transport offers them by overriding [`ClientTransport::beats`] and
/// [`ClientTransport::pushes`]:
/// - [`BeatTransport`]: instances live by heartbeats (Nacos v1). A transport whose instances
///   live by their connection (Nacos 2.x gRPC) offers none, and the client sends no beats.
/// - [`PushTransport`]: the server pushes changes. Without it the client lives on its pulls,
///   every `cacheMillis`.
///
/// Contract: `Err(TransportError::Unreachable)` means no server could be asked; the client
/// then serves reads from its cache or failover files and keeps retrying. A transport that
/// knows several servers tries the next before giving up.
///
/// Implementing it needs `#[async_trait]`, re-exported as [`crate::async_trait`].
#[async_trait]
pub trait ClientTransport: Send + Sync + 'static {
    /// Registers (or replaces) one instance.
    async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError>;

    /// Registers several instances of one service in one step.
    async fn batch_register_instance(
        &self,
        service: &ServiceKey,
        instances: &[Instance],
    ) -> Result<(), TransportError>;

    /// Removes one instance. Removing an unknown instance is not an error.
    async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError>;

    /// Takes `instance` out of rotation (`action`: deregisters it, or sets `enabled=false`)
    /// and waits up to `wait` for every subscriber of the service to take a push without it
    /// (see [`crate::front::drain`]); answers what they did. Default: refused with code 501,
    /// for transports that cannot drain.
    async fn drain_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
        action: super::DrainAction,
        wait: std::time::Duration,
    ) -> Result<super::DrainReport, TransportError> {
        let _ = (service, instance, action, wait);
        Err(TransportError::Server {
            code: 501,
            message: "this transport cannot drain".to_owned(),
        })
    }

    /// Asks for a service's instances.
    async fn query_service(&self, query: &ServiceQuery) -> Result<ServiceInfo, TransportError>;

    /// Asks for one page of service names.
    async fn list_services(&self, query: &ServiceListQuery) -> Result<ServiceList, TransportError>;

    /// The beat capability, if instances on this transport live by heartbeats (default: none).
    fn beats(&self) -> Option<&dyn BeatTransport> {
        None
    }

    /// The push capability, if the server pushes changes over this transport (default: none).
    fn pushes(&self) -> Option<&dyn PushTransport> {
        None
    }
}

/// Heartbeats: see [`ClientTransport::beats`].
#[async_trait]
pub trait BeatTransport: Send + Sync {
    /// Sends one heartbeat.
    async fn send_beat(&self, beat: &BeatInfo) -> Result<BeatAnswer, TransportError>;
}

/// Server push: see [`ClientTransport::pushes`].
///
/// [`PushTransport::subscribe`] is idempotent and cheap when nothing changed: the client calls
/// it again before every pull, so a server that lost the subscription (restart, or the
/// transport moved to another server) gets it back, as Nacos 1.x clients renew their UDP push
/// target with every query.
#[async_trait]
pub trait PushTransport: Send + Sync {
    /// Asks for every change of `service` (all clusters) to be pushed to `pushes`.
    async fn subscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError>;

    /// Stops the pushes of `service` to `pushes`.
    async fn unsubscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beat_answer_uses_nacos_field_names_and_millis() {
        let ok = BeatAnswer::Ok {
            client_beat_interval: Duration::from_secs(5),
            light_beat_enabled: true,
        };
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(
            json,
            r#"{"ok":{"clientBeatInterval":5000,"lightBeatEnabled":true}}"#
        );
        assert_eq!(serde_json::from_str::<BeatAnswer>(&json).unwrap(), ok);
        assert_eq!(
            serde_json::from_str::<BeatAnswer>(r#""notFound""#).unwrap(),
            BeatAnswer::NotFound
        );
    }

    #[test]
    fn service_info_with_a_bad_host_is_refused() {
        let json = r#"{"service":{"namespace":"public","group":"DEFAULT_GROUP","service":"orders"},
                       "hosts":[{"ip":"10.0.0.1","port":0}]}"#;
        assert!(serde_json::from_str::<ServiceInfo>(json).is_err());
    }

    #[test]
    fn service_info_fills_missing_fields_with_defaults() {
        let json =
            r#"{"service":{"namespace":"public","group":"DEFAULT_GROUP","service":"orders"}}"#;
        let info: ServiceInfo = serde_json::from_str(json).unwrap();
        assert!(info.hosts.is_empty());
        assert_eq!(info.cache_duration(), None);
    }
}
