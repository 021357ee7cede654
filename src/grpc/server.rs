//! [`GrpcFront`]: the Nacos 2.x naming protocol over the shared front layer. It turns each
//! request into a [`Command`], a [`ServiceAnswer`] or a push-hub subscription, and keeps the
//! connection table (`grpc/connections.rs`) with the instances each connection published.
//!
//! ## Connection-bound instances
//!
//! A 2.x client sends no beats: its ephemeral instances live while its connection lives. nacre
//! builds this on the beat-based core, as DESIGN.md sketches: the member that holds the
//! connection beats for each of its instances, through the ordinary route of a beat
//! ([`Backend::execute`] with [`Command::beat_with`], so on a cluster the member responsible
//! for the service hears it, and an instance evicted meanwhile comes back with its data).
//! - While the connection lives, the instance is healthy on every member: beats reach the
//!   responsible member every [`crate::HealthConfig::beat_interval`] (or the instance's
//!   `preserved.heart.beat.interval`), far inside the 15 s limit.
//! - When the connection closes (the client left, its stream broke, or detection dropped it),
//!   every instance it published is deregistered at once, through the same route, and every
//!   subscription it held is cancelled; subscribers get the push. Peers learn it in the next
//!   sync round (about 1 s).
//! - When the member holding the connection dies, nobody beats any more: its instances turn
//!   unhealthy after 15 s and are removed after 30 s on every member, by the ordinary rules.
//!   They are never immortal. (Nacos 2.x removes them when the client's connection to another
//!   member re-registers them, or after its own client expiry; the bound here is the 30 s
//!   delete timeout plus a sync round.)

use super::connections::{bounded_client_version, Connections};
use super::messages::{
    self, clusters, error_payload, to_payload, Answer, BatchInstanceRequest, ClientAnswer,
    ConnectionSetupRequest, Empty, InstanceRequest, ServerRequest, ServiceListRequest,
    ServiceQueryRequest, SubscribeServiceRequest, CODE_BAD_REQUEST, CODE_NO_HANDLER, CODE_STARTING,
    CODE_UNAVAILABLE, CODE_UNREGISTERED,
};
use super::proto::Payload;
use super::target::ConnTarget;
use super::GrpcConfig;
use crate::cluster::ClusterError;
use crate::front::push::{AckId, PushHub};
use crate::front::{Backend, ErrorClass, ServiceAnswer};
use crate::health::BeatTimeouts;
use crate::model::{Instance, ServiceKey, ValidationError};
use crate::protocol::json::NameStyle;
use crate::protocol::ServiceQuery;
use crate::registry::Command;
use crate::timeline::with_origin;
use crate::util::{lock, TaskSlot};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{mpsc, Notify};
use tonic::Status;

pub(crate) use super::outbound::Outbound;
use super::outbound::OutboundStream;

pub(crate) struct Shared {
    pub(crate) backend: Backend,
    pub(crate) config: GrpcConfig,
    pub(crate) table: Mutex<Connections>,
    pub(crate) streams: Mutex<HashMap<SocketAddr, Outbound>>,
    pub(crate) hub: PushHub,
    /// Drains over every hub of the node ([`GrpcFront::with_drains`]); this front's own hub
    /// when unset.
    pub(crate) drainer: std::sync::OnceLock<crate::front::drain::Drainer>,
    /// How to close each admitted connection on the wire (see `accept.rs`).
    pub(crate) kills: Mutex<HashMap<SocketAddr, Arc<super::accept::Kill>>>,
    pub(crate) wake: Arc<Notify>,
    /// Connections the hub gave up on (their pushes kept failing), to be closed.
    pub(crate) close_tx: mpsc::UnboundedSender<SocketAddr>,
    close_rx: Mutex<Option<mpsc::UnboundedReceiver<SocketAddr>>>,
    keeper: TaskSlot,
    /// The last pushed `serviceInfo`, serialized (see [`super::target`]).
    pub(crate) notify_memo: crate::front::push::RoundMemo<Arc<str>>,
    /// Set once the hub and the keeper run, so a request does not take their locks.
    started: std::sync::atomic::AtomicBool,
    /// Set by [`GrpcFront::hand_over`]: a closing connection leaves its instances registered
    /// (see [`super::handover`]).
    pub(crate) handing_over: std::sync::atomic::AtomicBool,
    /// Auth, when the host turned it on ([`GrpcFront::with_access`]).
    pub(crate) access: std::sync::OnceLock<crate::front::access::Access>,
    /// TLS on the front's own listener, when the host turned it on (`GrpcFront::with_tls`).
    #[cfg(feature = "tls")]
    pub(crate) tls: std::sync::OnceLock<Arc<rustls::ServerConfig>>,
}

/// Whether `addr` has a live bi-stream.
pub(crate) fn has_stream(shared: &Shared, addr: &SocketAddr) -> bool {
    lock(&shared.streams).contains_key(addr)
}

/// The Nacos 2.x gRPC naming front over a node. Cheap to clone. Serve it with
/// [`GrpcFront::serve`], or mount [`GrpcFront::request_service`] and
/// [`GrpcFront::bi_stream_service`] on your own tonic server.
#[derive(Clone)]
pub struct GrpcFront {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for GrpcFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcFront")
            .field("connections", &lock(&self.shared.table).len())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl GrpcFront {
    /// The front over `backend` (a [`crate::Registry`] or a [`crate::cluster::ClusterNode`]).
    pub fn new(backend: impl Into<Backend>, config: GrpcConfig) -> Self {
        let backend = backend.into();
        let hub = PushHub::named(backend.registry().clone(), config.push, "grpc");
        let (close_tx, close_rx) = mpsc::unbounded_channel();
        Self {
            shared: Arc::new(Shared {
                table: Mutex::new(Connections::new(config)),
                backend,
                config,
                streams: Mutex::new(HashMap::new()),
                hub,
                drainer: std::sync::OnceLock::new(),
                kills: Mutex::new(HashMap::new()),
                wake: Arc::new(Notify::new()),
                close_tx,
                close_rx: Mutex::new(Some(close_rx)),
                keeper: TaskSlot::default(),
                notify_memo: Default::default(),
                started: std::sync::atomic::AtomicBool::new(false),
                handing_over: std::sync::atomic::AtomicBool::new(false),
                access: std::sync::OnceLock::new(),
                #[cfg(feature = "tls")]
                tls: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Turns auth on: every naming request (connection setup and health checks aside) needs
    /// the `accessToken` of a caller with the permission, in the payload's metadata headers
    /// (where Nacos clients put it) or the body's `headers`; a refusal is the request's own
    /// response type with `errorCode` 403, as Nacos answers, and nothing changes. Set it
    /// before serving; a second call is ignored.
    pub fn with_access(self, access: crate::front::access::Access) -> Self {
        let _ = self.shared.access.set(access);
        self
    }

    /// Drains requested on this front (`drainMillis` on a `deregisterInstance`) wait on the
    /// hubs of `drainer` (give it every hub of the node: a gRPC client's drain must reach
    /// the v1 clients too). Without it they wait on this front's hub alone. Set it before
    /// serving; a second call is ignored.
    pub fn with_drains(self, drainer: crate::front::drain::Drainer) -> Self {
        let _ = self.shared.drainer.set(drainer);
        self
    }

    /// The push hub (its counters, its subscribers).
    pub fn hub(&self) -> &PushHub {
        &self.shared.hub
    }

    /// Closes every connection, as a server going away does: each one's stream ends, its
    /// subscriptions are cancelled and its instances deregistered. Clients connect again (to
    /// this server, or another).
    pub async fn close_connections(&self) {
        let addrs: Vec<SocketAddr> = lock(&self.shared.streams).keys().copied().collect();
        for addr in addrs {
            close(&self.shared, addr).await;
        }
    }

    /// Connections open now.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.table).len()
    }

    /// Starts the push hub and the keeper (beats for connection-bound instances, detection)
    /// on the current tokio runtime. Serving calls it; starting twice does nothing.
    pub fn start(&self) {
        use std::sync::atomic::Ordering;
        if self.shared.started.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.hub.start();
        let Some(close_rx) = lock(&self.shared.close_rx).take() else {
            return;
        };
        self.shared.keeper.start(|| {
            super::keeper::run(
                Arc::downgrade(&self.shared),
                self.shared.wake.clone(),
                self.shared.backend.registry().clock().clone(),
                close_rx,
            )
        });
    }

    /// Answers one unary request from the connection at `addr`.
    pub(crate) async fn request(&self, addr: Option<SocketAddr>, payload: Payload) -> Payload {
        self.start();
        let shared = &self.shared;
        let now = shared.backend.registry().clock().now();
        let kind = payload.kind().to_owned();
        if kind == "ServerCheckRequest" {
            return self.server_check(addr, now);
        }
        let registered = addr.and_then(|a| {
            let mut table = lock(&shared.table);
            table.touch(&a, now);
            table.get(&a).map(|c| c.registered)
        });
        if registered != Some(true) {
            return error_payload(CODE_UNREGISTERED, "Connection is unregistered.");
        }
        let Some(addr) = addr else {
            return error_payload(CODE_UNREGISTERED, "Connection is unregistered.");
        };
        if shared.backend.cluster_node().is_some_and(|n| !n.is_ready()) {
            return error_payload(CODE_STARTING, "Server is starting, please try later.");
        }
        let json = payload.json();
        let mut caller = None;
        let viewer = match self.access(&kind, addr, &payload, &mut caller) {
            Ok(viewer) => viewer,
            Err(refused) => return *refused,
        };
        // What a write changes is recorded as this connection's (see `crate::timeline`);
        // built only for a write.
        let origin = || {
            let mut origin = crate::timeline::Origin::front("grpc")
                .addr(addr)
                .identity(caller.as_ref().map(|c| c.to_string()));
            origin.connection = lock(&shared.table).get(&addr).map(|c| c.id.clone());
            origin
        };
        let result = match kind.as_str() {
            "HealthCheckRequest" => Ok(to_payload("HealthCheckResponse", &Answer::ok(Empty {}))),
            "InstanceRequest" => match parse(json) {
                Ok(r) => with_origin(origin(), self.instance(addr, r, true)).await,
                Err(e) => Err(e),
            },
            "PersistentInstanceRequest" => match parse(json) {
                Ok(r) => with_origin(origin(), self.instance(addr, r, false)).await,
                Err(e) => Err(e),
            },
            "BatchInstanceRequest" => match parse(json) {
                Ok(r) => with_origin(origin(), self.batch(addr, r)).await,
                Err(e) => Err(e),
            },
            "ServiceQueryRequest" => parse(json).and_then(|r| self.query(r)),
            "SubscribeServiceRequest" => parse(json).and_then(|r| self.subscribe(addr, r)),
            "ServiceListRequest" => parse(json).and_then(|r| self.list(r, viewer)),
            other => Err(ErrorAnswer(
                CODE_NO_HANDLER,
                format!("RequestHandler Not Found: {}", crate::model::excerpt(other)),
            )),
        };
        result.unwrap_or_else(|ErrorAnswer(code, message)| error_payload(code, &message))
    }

    fn server_check(&self, addr: Option<SocketAddr>, now: crate::Timestamp) -> Payload {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ServerCheck {
            connection_id: String,
            support_ability_negotiation: bool,
        }
        let id = match addr {
            Some(a) => match lock(&self.shared.table).open(a, now) {
                Some(c) => c.id.clone(),
                None => return error_payload(CODE_UNAVAILABLE, "too many connections"),
            },
            None => return error_payload(CODE_UNREGISTERED, "the connection has no address"),
        };
        // The keeper forgets an entry that never opens its bi-stream: it must know the entry's
        // deadline, or it sleeps past it.
        self.shared.wake.notify_one();
        to_payload(
            "ServerCheckResponse",
            &Answer::ok(ServerCheck {
                connection_id: id,
                support_ability_negotiation: true,
            }),
        )
    }

    async fn instance(
        &self,
        addr: SocketAddr,
        r: InstanceRequest,
        ephemeral: bool,
    ) -> Result<Payload, ErrorAnswer> {
        #[derive(Serialize)]
        struct Kind {
            r#type: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            drain: Option<crate::protocol::DrainReport>,
        }
        let shared = &self.shared;
        let drainer = shared.drainer.get_or_init(|| {
            crate::front::drain::Drainer::new(vec![shared.hub.clone()], Default::default())
                .with_listeners(shared.backend.registry().clone())
        });
        let wait = drainer
            .wait(r.drain_millis, Some(addr.ip()))
            .map_err(|e| ErrorAnswer(i32::from(e.class().http_status()), e.to_string()))?;
        let service = r.head.service_key()?;
        let kind = r.r#type.unwrap_or_default();
        let data = r
            .instance
            .ok_or_else(|| ErrorAnswer(CODE_BAD_REQUEST, "`instance` is missing".into()))?;
        let instance = data.into_instance(Some(ephemeral))?;
        let backend = &self.shared.backend;
        let mut drain = None;
        if wait.is_some() && kind != "deregisterInstance" {
            return Err(ErrorAnswer(
                CODE_BAD_REQUEST,
                "drainMillis is for deregisterInstance only".into(),
            ));
        }
        match kind.as_str() {
            "registerInstance" => {
                self.own_address(addr, [&instance])?;
                // A connection-bound instance is registered as this connection's.
                let command = if ephemeral {
                    let tag = lock(&self.shared.table).tag(&addr);
                    Command::register_for(&service, vec![instance.clone()], tag)
                } else {
                    Command::register(&service, instance.clone())
                };
                backend.execute(command).await?;
                if ephemeral {
                    self.own(addr, &service, instance);
                }
            }
            "deregisterInstance" => {
                // Disowned first, so the keeper's next beat cannot bring it back.
                let key = instance.key();
                lock(&self.shared.table).disown(&addr, &service, &key);
                let write = backend.execute(Command::deregister(&service, &key));
                let drained = wait.is_some();
                let (_, report) = drainer.around(&service, &key, wait, write).await?;
                drain = drained.then_some(report);
            }
            other => {
                return Err(ErrorAnswer(
                    CODE_BAD_REQUEST,
                    format!("Unsupported request type {}", crate::model::excerpt(other)),
                ))
            }
        }
        Ok(to_payload(
            "InstanceResponse",
            &Answer::ok(Kind {
                r#type: kind,
                drain,
            }),
        ))
    }

    /// With [`GrpcConfig::register_own_address_only`], refuses (403) a registration of an
    /// address other than the connection's own.
    fn own_address<'a>(
        &self,
        addr: SocketAddr,
        instances: impl IntoIterator<Item = &'a Instance>,
    ) -> Result<(), ErrorAnswer> {
        if !self.shared.config.register_own_address_only {
            return Ok(());
        }
        instances.into_iter().try_for_each(|i| {
            crate::front::access::own_address(i.ip().as_str(), addr.ip())
                .map_err(|why| ErrorAnswer(403, why))
        })
    }

    fn own(&self, addr: SocketAddr, service: &ServiceKey, instance: Instance) {
        let registry = self.shared.backend.registry();
        let interval = BeatTimeouts::resolve(instance.timing_overrides(), registry.health_config())
            .beat_interval;
        let now = registry.clock().now();
        lock(&self.shared.table).own(&addr, service, instance, interval, now);
        self.shared.wake.notify_one();
    }

    async fn batch(
        &self,
        addr: SocketAddr,
        r: BatchInstanceRequest,
    ) -> Result<Payload, ErrorAnswer> {
        #[derive(Serialize)]
        struct Kind {
            r#type: &'static str,
        }
        let service = r.head.service_key()?;
        let instances = r
            .instances
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.into_instance(Some(true)))
            .collect::<Result<Vec<_>, _>>()?;
        self.own_address(addr, &instances)?;
        let backend = &self.shared.backend;
        let tag = lock(&self.shared.table).tag(&addr);
        backend
            .execute(Command::register_for(&service, instances.clone(), tag))
            .await?;
        // The batch replaces what this connection publishes in the service.
        let kept: BTreeSet<_> = instances.iter().map(Instance::key).collect();
        let dropped: Vec<_> = {
            let table = lock(&self.shared.table);
            table
                .get(&addr)
                .and_then(|c| c.instances.get(&service))
                .map(|set| set.keys().filter(|k| !kept.contains(*k)).cloned().collect())
                .unwrap_or_default()
        };
        for key in dropped {
            lock(&self.shared.table).disown(&addr, &service, &key);
            backend
                .execute(Command::deregister_for(&service, &key, tag))
                .await?;
        }
        for instance in instances {
            self.own(addr, &service, instance);
        }
        Ok(to_payload(
            "BatchInstanceResponse",
            &Answer::ok(Kind {
                r#type: "batchRegisterInstance",
            }),
        ))
    }

    /// A `kind` answer carrying the `serviceInfo` of `query`. The service info's text comes
    /// from [`crate::front::json::service_info_body`], kept with the service's snapshot, so
    /// repeated queries of an unchanged service serialize only the envelope; the answer's bytes
    /// are the same as serializing it whole.
    fn service_info(&self, query: &ServiceQuery, kind: &str, message: &str) -> Payload {
        let registry = self.shared.backend.registry();
        let answer = ServiceAnswer::new(registry, query, self.shared.config.push.cache_millis);
        let mut envelope = Answer::ok(messages::Empty {});
        envelope.set_message(message);
        match crate::front::json::service_info_body(
            &answer,
            NameStyle::Plain,
            registry.health_config(),
        ) {
            Ok(info) => messages::to_payload_with(kind, &envelope, "serviceInfo", &info),
            Err(e) => error_payload(messages::RESULT_FAIL, &format!("encoding failed: {e}")),
        }
    }

    fn query(&self, r: ServiceQueryRequest) -> Result<Payload, ErrorAnswer> {
        let query = ServiceQuery {
            service: r.head.service_key()?,
            clusters: clusters(r.cluster.as_deref())?,
            healthy_only: r.healthy_only.unwrap_or(false),
        };
        Ok(self.service_info(&query, "QueryServiceResponse", ""))
    }

    fn subscribe(
        &self,
        addr: SocketAddr,
        r: SubscribeServiceRequest,
    ) -> Result<Payload, ErrorAnswer> {
        let query = ServiceQuery {
            service: r.head.service_key()?,
            clusters: clusters(r.clusters.as_deref())?,
            healthy_only: false,
        };
        let shared = &self.shared;
        let target = ConnTarget::key_of(&addr);
        if r.subscribe.unwrap_or(true) {
            let stream = lock(&shared.streams).get(&addr).cloned();
            let Some(stream) = stream else {
                return Err(ErrorAnswer(
                    CODE_UNREGISTERED,
                    "the connection has no open stream to push to".into(),
                ));
            };
            let subscription = (query.service.clone(), query.clusters.clone());
            // Counted and reserved under one lock, so requests racing on one connection
            // cannot pass the cap together.
            let (agent, reserved) = {
                let mut table = lock(&shared.table);
                let Some(conn) = table.get_mut(&addr) else {
                    return Err(ErrorAnswer(
                        CODE_UNREGISTERED,
                        "the connection is not registered".into(),
                    ));
                };
                let held = conn.subscriptions.len();
                let max = shared.config.max_subscriptions_per_connection;
                if !conn.subscriptions.contains(&subscription) && held >= max {
                    return Err(ErrorAnswer(
                        i32::from(ErrorClass::OverLimit.http_status()),
                        format!(
                            "this connection holds {held} subscriptions, the most one may (max_subscriptions_per_connection {max})"
                        ),
                    ));
                }
                let reserved = conn.subscriptions.insert(subscription.clone());
                (conn.client_version.clone(), reserved)
            };
            let t = ConnTarget::new(addr, agent, stream, Arc::downgrade(shared));
            if !shared
                .hub
                .subscribe(&query.service, &query.clusters, Arc::new(t))
            {
                if reserved {
                    if let Some(c) = lock(&shared.table).get_mut(&addr) {
                        c.subscriptions.remove(&subscription);
                    }
                }
                return Err(ErrorAnswer(CODE_UNAVAILABLE, "the push hub is full".into()));
            }
        } else {
            shared
                .hub
                .unsubscribe(&query.service, &query.clusters, &target);
            if let Some(c) = lock(&shared.table).get_mut(&addr) {
                c.subscriptions
                    .remove(&(query.service.clone(), query.clusters.clone()));
            }
        }
        Ok(self.service_info(&query, "SubscribeServiceResponse", "success"))
    }

    fn list(
        &self,
        r: ServiceListRequest,
        viewer: Option<crate::front::access::Viewer>,
    ) -> Result<Payload, ErrorAnswer> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            count: usize,
            service_names: Vec<String>,
        }
        let namespace = crate::model::NamespaceId::new(r.head.namespace())?;
        let group = crate::model::GroupName::new(r.head.group())?;
        let page_no = usize::try_from(r.page_no.unwrap_or(1).max(1)).unwrap_or(1);
        let page_size = usize::try_from(r.page_size.unwrap_or(10).clamp(1, 10_000)).unwrap_or(10);
        let registry = self.shared.backend.registry();
        let (count, service_names) = match viewer {
            // A caller who may read only some of the group sees those.
            Some(viewer) => {
                use crate::front::catalog::{self, ServiceFilter, TextFilter};
                let filter = ServiceFilter {
                    group: TextFilter::Exact(group.to_string()),
                    viewer: Some(viewer),
                    ..ServiceFilter::in_namespace(&namespace)
                };
                let page = catalog::page(
                    catalog::list_services(registry, &filter),
                    page_no,
                    page_size,
                );
                let names = page.items.iter().map(|s| s.key().service().to_string());
                (page.count, names.collect())
            }
            None => {
                let page = registry.get_service_list(&namespace, &group, page_no, page_size);
                let names = page.services.iter().map(ToString::to_string);
                (page.count, names.collect())
            }
        };
        Ok(to_payload(
            "ServiceListResponse",
            &Answer::ok(List {
                count,
                service_names,
            }),
        ))
    }

    /// Opens the bi-stream of the connection at `addr`: what arrives on `inbound` is read on a
    /// task of its own; what the server sends goes out through the returned receiver.
    pub(crate) fn open_stream(
        &self,
        addr: SocketAddr,
    ) -> Result<(OutboundStream, StreamGuard), Status> {
        self.start();
        let shared = &self.shared;
        let now = shared.backend.registry().clock().now();
        {
            let mut table = lock(&shared.table);
            let Some(conn) = table.open(addr, now) else {
                return Err(Status::resource_exhausted("too many connections"));
            };
            conn.streaming = true;
            conn.last_active = now;
        }
        let (tx, rx) = Outbound::channel(
            shared.config.stream_buffer,
            shared.config.max_queued_bytes_per_connection,
        );
        let queue = tx.id();
        lock(&shared.streams).insert(addr, tx);
        shared.wake.notify_one();
        Ok((
            rx,
            StreamGuard {
                addr,
                queue,
                shared: Arc::downgrade(shared),
            },
        ))
    }

    /// One message that arrived on the bi-stream of `addr`.
    pub(crate) fn on_stream_message(&self, addr: SocketAddr, payload: &Payload) {
        let shared = &self.shared;
        let now = shared.backend.registry().clock().now();
        let json = payload.json();
        match payload.kind() {
            "ConnectionSetupRequest" => {
                let setup: ConnectionSetupRequest =
                    serde_json::from_slice(json).unwrap_or_default();
                let registered = match lock(&shared.table).get_mut(&addr) {
                    Some(c) => {
                        c.registered = true;
                        c.client_version =
                            bounded_client_version(setup.client_version.as_deref().unwrap_or(""));
                        c.last_active = now;
                        true
                    }
                    None => false,
                };
                // A client that sent its abilities waits for the server's (Nacos 2.3+: the
                // connection fails after 5 s without them). Clients that send none (Java 2.2,
                // nacos-sdk-rust) are sent nothing, as Nacos does.
                if registered && setup.ability_table.is_some() {
                    let stream = lock(&shared.streams).get(&addr).cloned();
                    let ack = to_payload("SetupAckRequest", &messages::SetupAckRequest::new());
                    if let Some(stream) = stream {
                        let _ = stream.try_send(ack);
                    }
                }
            }
            "NotifySubscriberResponse" => {
                let answer: ClientAnswer = serde_json::from_slice(json).unwrap_or_default();
                lock(&shared.table).touch(&addr, now);
                if answer.result_code == Some(messages::RESULT_OK) {
                    if let Some(id) = request_id(&answer) {
                        shared.hub.ack(&ConnTarget::key_of(&addr), AckId(id));
                    }
                }
            }
            "ClientDetectionResponse" => {
                let answer: ClientAnswer = serde_json::from_slice(json).unwrap_or_default();
                let mut table = lock(&shared.table);
                match request_id(&answer) {
                    Some(id) if answer.result_code == Some(messages::RESULT_OK) => {
                        table.answered_probe(&addr, id, now);
                    }
                    _ => table.touch(&addr, now),
                }
            }
            _ => lock(&shared.table).touch(&addr, now),
        }
    }
}

fn request_id(answer: &ClientAnswer) -> Option<u64> {
    answer.request_id.as_deref()?.trim().parse().ok()
}

/// Closes its connection when the bi-stream's reader ends.
pub(crate) struct StreamGuard {
    addr: SocketAddr,
    /// The stream's own queue: a later bi-stream of the same connection replaces it, and
    /// then this stream's end closes nothing.
    queue: super::outbound::QueueId,
    shared: Weak<Shared>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let current = lock(&shared.streams)
                .get(&self.addr)
                .is_some_and(|s| s.is(&self.queue));
            if current {
                let _ = shared.close_tx.send(self.addr);
                shared.wake.notify_one();
            }
        }
    }
}

/// Closes the connection at `addr`: forgets it, ends its stream, cancels its subscriptions and
/// deregisters every instance it published.
pub(crate) async fn close(shared: &Arc<Shared>, addr: SocketAddr) {
    let Some(conn) = lock(&shared.table).close(&addr) else {
        return;
    };
    lock(&shared.streams).remove(&addr);
    // Closed on the wire too, so its client reconnects (see `accept.rs`).
    if let Some(kill) = lock(&shared.kills).remove(&addr) {
        kill.kill();
    }
    shared.hub.remove_target(&ConnTarget::key_of(&addr));
    if shared
        .handing_over
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        // The client registers them again through another member (`super::handover`).
        return;
    }
    for (service, set) in conn.instances {
        for key in set.into_keys() {
            // Another connection may publish the same instance (a client that reconnected).
            if lock(&shared.table).owns(&service, &key) {
                continue;
            }
            // Only if no other connection (through another member) registered it since.
            let origin = crate::timeline::Origin::front("grpc")
                .connection(&conn.id)
                .addr(addr)
                .reason("its connection closed");
            let withdraw = shared
                .backend
                .execute(Command::deregister_for(&service, &key, conn.tag));
            let _ = with_origin(origin, withdraw).await;
        }
    }
}

/// Sends a request of the server's (`ClientDetectionRequest`...) on the stream of `addr`;
/// returns whether it could be queued.
pub(crate) fn send_on_stream<T: Serialize>(
    shared: &Shared,
    addr: &SocketAddr,
    kind: &str,
    body: &ServerRequest<T>,
) -> bool {
    let stream = lock(&shared.streams).get(addr).cloned();
    stream.is_some_and(|s| s.try_send(to_payload(kind, body)).is_ok())
}

/// Why a request was refused: a Nacos error code and a message.
#[derive(Debug)]
pub(crate) struct ErrorAnswer(i32, String);

impl From<ValidationError> for ErrorAnswer {
    fn from(e: ValidationError) -> Self {
        ErrorAnswer(CODE_BAD_REQUEST, e.to_string())
    }
}

impl From<ClusterError> for ErrorAnswer {
    fn from(e: ClusterError) -> Self {
        let code = match ErrorClass::of(&e) {
            ErrorClass::BadRequest => CODE_BAD_REQUEST,
            ErrorClass::Unavailable => CODE_UNAVAILABLE,
            ErrorClass::NotFound => 404,
            ErrorClass::OverLimit => i32::from(ErrorClass::OverLimit.http_status()),
            _ => messages::RESULT_FAIL,
        };
        ErrorAnswer(code, e.to_string())
    }
}

fn parse<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, ErrorAnswer> {
    serde_json::from_slice(json).map_err(|e| {
        ErrorAnswer(
            CODE_BAD_REQUEST,
            format!("the request body is not the JSON expected: {e}"),
        )
    })
}
