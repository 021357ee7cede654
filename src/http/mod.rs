//! nacre over HTTP (cargo feature `http`): the Nacos v1 naming open API as an axum
//! [`axum::Router`] over a node, peer traffic for clusters, an HTTP
//! [`crate::protocol::ClientTransport`], and the server behind the `nacre-server` binary.
//!
//! Existing Nacos clients (Java 1.x, Python `nacos-sdk-python`, Go v1...) can register,
//! beat and discover against a nacre node unchanged; nacre's own [`crate::NamingClient`] can
//! use a nacre or Nacos server through [`HttpClientTransport`].
//!
//! | endpoint | what it does |
//! | --- | --- |
//! | `POST /nacos/v1/ns/instance` | register (`serviceName`, `groupName`, `namespaceId`, `ip`, `port`, `clusterName`, `weight`, `enabled`, `healthy`, `ephemeral`, `metadata`) → `ok` |
//! | `DELETE /nacos/v1/ns/instance` | deregister → `ok` (also for an unknown instance); without `clusterName`, or with another one, the one ephemeral instance on that ip:port is meant, as in Nacos 2.x |
//! | `PUT /nacos/v1/ns/instance` | update as Nacos 2.x: `weight` (absent: 1) and `enabled` (absent: true) set, `metadata` laid over the instance's own (found by ip:port as for `DELETE`) → `ok`; an unknown service 400, an unknown instance `ok` with nothing stored |
//! | `PATCH /nacos/v1/ns/instance` | change only the `weight`, `enabled`, `metadata` given (metadata laid over the instance's own) of the instance in `clusterName` (default `DEFAULT`) → `ok`; an unknown instance 404 |
//! | `GET /nacos/v1/ns/instance` | one instance: `service`, `ip`, `port`, `clusterName`, `weight`, `healthy`, `instanceId`, `metadata` |
//! | `PUT`, `DELETE /nacos/v1/ns/instance/metadata/batch` | set or remove the `metadata` keys of the `instances` listed (JSON `[{"ip","port","clusterName"}]`; none: every instance of the service) → `{"updated":["ip:port:unknown:cluster:ephemeral",...]}` ([`metadata_batch`]) |
//! | `PUT /nacos/v1/ns/instance/beat` | heartbeat, with the `beat` JSON or light → `clientBeatInterval`, `code` (10200, or 20404 for an unknown instance), `lightBeatEnabled` |
//! | `GET /nacos/v1/ns/instance/list` | `name`, `groupName`, `clusters`, `cacheMillis`, `hosts[]`, `lastRefTime`, `checksum`, `reachProtectionThreshold`...; `clusters` and `healthyOnly` filter; with `udpPort` (and `app`) from a client Nacos pushes to, subscribes the address the query came from to UDP push at that port (`clientIP` is not trusted: see [`crate::udp`]) and answers `cacheMillis` 10000 (3000 otherwise) |
//! | `GET /nacos/v1/ns/instance/statuses` | `key=namespace##group@@service` (namespace optional) → `{"ips":["10.0.0.1:8080_true",...]}`, every instance |
//! | `PUT /nacos/v1/ns/health/instance` (or `/health`) | set `healthy` (or `valid`) of a persistent instance (`clusterName`, `ip`, `port`) → `ok`; an ephemeral one 400 (its beats decide), an unknown one `ok`; with [`NacosApi::health_checks`], 400 for a cluster whose checker is not `NONE`, as Nacos |
//! | `PUT /nacos/v1/ns/cluster` | a cluster's settings (`clusterName`, `checkPort`, `useInstancePort4Check`, `healthChecker`, `metadata`) in the control plane → `ok`, with feature `control` (`cluster` module docs; 501 without [`NacosApi::control`]) |
//! | `POST`, `PUT`, `DELETE`, `GET /nacos/v1/ns/service` | create, update, remove, read a service (`protectThreshold`, `metadata`) |
//! | `GET /nacos/v1/ns/service/list` | `{"count":N,"doms":[...]}` for `pageNo`, `pageSize`, `groupName`, `namespaceId`; `groupName=*`: every group, names as `group@@service` |
//! | `GET /nacos/v1/ns/service/subscribers` | `serviceName`, `pageNo` (1), `pageSize` (1000) → `{"subscribers":[{"addrStr","agent","app","ip","port","namespaceId","serviceName","cluster"}],"count":N}`: UDP push targets, other push hubs' subscribers (gRPC), in-process listeners |
//! | `GET /nacos/v1/ns/service/names` | `{"services":{ns:["group@@service",...]},"META-INF/services":{...},"count":N}` for `namespaceId` (blank: all) and `expr` (a part of the grouped name) |
//! | `GET /nacos/v1/ns/catalog/services` | the console's list: `pageNo`, `pageSize`, `namespaceId`, `groupNameParam`, `serviceNameParam`, `hasIpCount` → `{"count":N,"serviceList":[{"name","groupName","clusterCount","ipCount","healthyInstanceCount","triggerFlag"}]}`; with `withInstances=true` an array of `{"serviceName","groupName","metadata","clusterMap":{...}}` |
//! | `GET /nacos/v1/ns/catalog/instances` | `serviceName`, `clusterName`, `pageNo`, `pageSize` → `{"list":[instance...],"count":N}` |
//! | `GET /nacos/v1/ns/operator/metrics` | `{"status":"UP","serviceCount":N,"instanceCount":N,"responsibleServiceCount":N,"responsibleInstanceCount":N,"udpPush":{...}}` (`DOWN` while the node is not ready, see below; `udpPush`: subscriptions, pushes, acks, retries, failures, datagrams, bytes) |
//! | `GET /nacos/v1/console/health/liveness`, `.../readiness` | probes: `OK`; readiness answers 503 with the reason while a cluster member loads or commits to the node's disk fail ([`crate::front::NotReady`]) |
//! | `/nacos/v2/ns/...` and `/nacos/v3/admin/ns/...` | Nacos 2.2+'s v2 open API for naming (instance, list, metadata batch, beat, service, health, catalog, operator) and Nacos 3's admin routes for the same, in the `{"code","message","data"}` envelope with Nacos' codes ([`v2`], with every difference from Nacos) |
//! | `/nacos/v3/client/ns/instance[/list]`, `/nacos/v3/admin/core/state/{liveness,readiness}`, `/nacos/v3/admin/core/cluster/node/list` | Nacos 3's client naming API and core state routes ([`v3`]) |
//! | `GET /nacos/prometheus[/namespaceId/{ns}[/service/{name}]]` | Prometheus HTTP service discovery: `[{"targets":["ip:port"],"labels":{"__meta_clusterName",...}}]`, one element per instance ([`prometheus`]) |
//! | `GET /nacos/serverlist` | the members as Nacos' address server lists them, one `host:port` a line, for clients configured with an `endpoint` (open, like the probes; see [`ServerList`]) |
//! | `/nacos/v1/console/namespaces`, `/nacos/v2/console/namespace[/list]` | Nacos' namespace API over the control plane, with feature `control` and [`NacosApi::control`] ([`namespaces`]) |
//! | `/nacos/v1/auth/users`, `/roles`, `/permissions` | Nacos' user, role and permission API over the control plane, global admin only, with features `control` and `auth` and [`NacosApi::users_api`] ([`users`]) |
//! | `GET`/`DELETE /nacos/v1/ns/instance/override` | nacre's own: read (one instance with `ip`, `port`; else the service's) or clear the operators' overrides, with feature `control` and [`NacosApi::control`] (`overrides`) |
//! | `POST /nacre/v1/peer` | peer traffic, on cluster nodes only, with the cluster secret in the `x-nacre-cluster-secret` header ([`peer_router`]; 403 without it) |
//!
//! Parameters are read from the query string and from a form body alike; a bad one answers
//! 400 with a message naming it ([`ParamError`]), never 500. See [`params`] for the parsing
//! rules and [`ApiError`] for every status.
//!
//! ## Differences from Nacos
//!
//! - `PUT` and `PATCH /instance` write into the instance, and, with a control plane
//!   ([`NacosApi::control`]), keep what they set as the instance id's override (`overrides`):
//!   every later registration of that id (a re-registration, a reconnect's redo, a client
//!   restart) takes it, on every member. Nacos 2.x keeps what they send beside the registered
//!   instance (keyed by ip:port:cluster) and shows the two merged, but a gRPC client's
//!   re-registration still re-enables a disabled instance (alibaba/nacos #10975, #11890). A
//!   `PUT` for an address nobody registered yet is kept for an instance that registers there
//!   later, as in Nacos. Metadata keys an earlier edit set stay set (Nacos drops those a later
//!   `PUT` leaves out); `DELETE /nacos/v1/ns/instance/override` (nacre's own) clears the
//!   override. Without a control plane the edit is the instance's only, and a re-registration
//!   replaces it. `healthy` is not read there, as in Nacos 2.x.
//! - `PUT /instance` without `clusterName` also reaches the one ephemeral instance on that
//!   ip:port in another cluster (as `DELETE` does); Nacos 2.x' `PUT` writes for cluster
//!   `DEFAULT` then. `PATCH` looks in the cluster named only, as Nacos does.
//! - `PUT /health/instance`: with [`NacosApi::health_checks`] (active checks run, as in
//!   `nacre-server`) it answers 400 `health check is still working` unless the cluster's
//!   checker is `NONE` (its default is TCP), as Nacos; without, nothing checks persistent
//!   instances and the write is taken (Nacos' `NONE`). An ephemeral instance answers 400
//!   either way (Nacos answers `ok` and changes nothing).
//! - The `app` parameter is kept where Nacos 2.x keeps it: a list query's `app` in the
//!   record of a UDP-push subscriber (`/service/subscribers`); on register it is accepted and
//!   not stored (Nacos puts the `app` header into its client's attributes, which nacre has
//!   not).
//! - `/service/subscribers` lists this node's subscribers only (Nacos' default
//!   `aggregation=true` asks every member); in-process listeners are listed as
//!   `in-process#<id>`.
//! - Searches (`expr`, `groupNameParam`, `serviceNameParam`) match a part of the name, as
//!   text; Nacos builds a Java regular expression around them. Listings come in name order;
//!   Nacos' come in hash order, and `catalog/services` there returns every service when fewer
//!   than `pageSize` match, whatever `pageNo`; nacre cuts pages the same way everywhere.
//! - `instance/statuses` also takes a `key` without its group (`DEFAULT_GROUP`, or
//!   `groupName`); Nacos refuses it.
//! - `catalog/services?withInstances=true` fills in `namespace`, `protectThreshold`,
//!   `selector` and each cluster's `clusterName`, `healthChecker` and `metadata`, which Nacos
//!   leaves null or 0 there.
//! - Values are checked strictly: Nacos takes a malformed flag as `false` and answers 500 for
//!   a malformed number; nacre answers 400. Weights must be within 0..=10000.
//! - No selectors (only `{"type":"none"}` is accepted). Cluster settings (checker, metadata)
//!   need the control plane; without one the service detail shows each cluster's checker as
//!   the active checks see it (`TCP` with [`NacosApi::health_checks`], else `NONE`) and no
//!   metadata.
//! - UDP push follows Nacos 1.x (see [`crate::udp`] for its own differences); pushes go out
//!   only when the API is given a [`crate::udp::UdpPush`] (`nacre-server` always does).
//! - Not served: `/instance/metadata/batch`, `/catalog/service`, `/health/checkers`,
//!   `/operator/switches`, `/operator/servers` and the raft/distro internals;
//!   they answer 404.
//! - The protect threshold applies to every list, and a protected list reports every
//!   instance healthy, as Nacos does; but a healthy-only list that hits it lists every enabled
//!   instance (as Nacos 1.x did), where Nacos 2.5 lists only the healthy ones (see
//!   [`crate::front::ServiceAnswer`]).
//! - `checksum` is a 16-digit hex digest of nacre's own, not Nacos' MD5.
//! - A request that changes state and that a browser marks as coming from another site (an
//!   `Origin` that is not the server, or `Sec-Fetch-Site: cross-site`) is refused with 403
//!   (`origin.rs`); Nacos takes it. Nacos clients send neither header.
//! - Given an [`crate::front::access::AccessControl`] ([`NacosApi::access`]), the login routes
//!   are served and every other route needs a token with the permission (see [`access`]); a
//!   list needs read permission on its whole group, where Nacos filters what it lists.
//! - Given a [`HostCheck`] ([`NacosApi::host_check`]), a request whose `Host` is a name the
//!   server does not answer to is refused with 421 (against DNS rebinding); Nacos checks no
//!   `Host`.
//!
//! ## Example
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use nacre::http::NacosApi;
//! use nacre::{ManualClock, Registry, ServiceKey};
//! use tower::ServiceExt; // for `oneshot`
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let registry = Registry::builder().clock(ManualClock::new()).build();
//! let app = NacosApi::new(registry.clone()).router();
//!
//! let register = Request::post("/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080")
//!     .body(Body::empty())?;
//! let answer = app.clone().oneshot(register).await?;
//! assert_eq!(answer.status(), StatusCode::OK);
//! assert_eq!(registry.get_all_instances(&ServiceKey::named("orders")?, &[]).len(), 1);
//!
//! let bad = Request::post("/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=0")
//!     .body(Body::empty())?;
//! assert_eq!(app.oneshot(bad).await?.status(), StatusCode::BAD_REQUEST);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Serving it (this binds a port, so it is not run as a test):
//!
//! ```no_run
//! use nacre::http::NacosApi;
//! use nacre::Registry;
//!
//! # async fn run() -> std::io::Result<()> {
//! let registry = Registry::default();
//! let _health = registry.spawn_health_driver();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8848").await?;
//! axum::serve(listener, NacosApi::new(registry).router()).await
//! # }
//! ```
//!
//! A cluster member serves the same router over a [`crate::cluster::ClusterNode`] built with
//! an [`HttpPeerTransport`], and gives both the cluster's [`crate::cluster::PeerAuth`]
//! ([`NacosApi::peer_auth`]); node ids are the `host:port` peers reach each other at. The
//! `nacre-server` binary (`crate::server`, feature `server`) does exactly that from flags.

pub mod access;
mod catalog;
mod client;
mod client_push;
#[cfg(feature = "control")]
mod cluster;
mod error;
mod health;
mod host;
mod instance;
pub(crate) mod json;
pub mod metadata_batch;
#[cfg(feature = "control")]
mod namespace_error;
#[cfg(feature = "control")]
pub mod namespaces;
mod operator;
pub(crate) mod origin;
#[cfg(feature = "control")]
mod overrides;
pub mod params;
mod paths;
mod peer;
mod preview;
pub mod prometheus;
mod push;
mod router;
mod server_list;
mod service;
mod state;
mod subscribers;
mod timeline;
#[cfg(all(feature = "control", feature = "auth"))]
pub mod users;
pub mod v2;
pub mod v3;

pub use crate::front::Backend;
pub use access::guarded;
pub use client::{HttpClientTransport, DEFAULT_REQUEST_TIMEOUT};
pub use error::{ApiError, BodyTimeout};
pub use host::HostCheck;
#[cfg(feature = "control")]
pub use namespace_error::NamespaceApiError;
pub use params::{ParamError, Params};
pub use paths::{
    BEAT_PATH, CATALOG_INSTANCES_PATH, CATALOG_SERVICES_PATH, CLUSTER_PATH, HEALTH_INSTANCE_PATH,
    HEALTH_PATH, INSTANCE_LIST_PATH, INSTANCE_OVERRIDE_PATH, INSTANCE_PATH, INSTANCE_STATUSES_PATH,
    LIVENESS_PATH, METADATA_BATCH_PATH, METRICS_PATH, NAMESPACES_PATH, NAMESPACE_V2_LIST_PATH,
    NAMESPACE_V2_PATH, READINESS_PATH, SERVICE_LIST_PATH, SERVICE_NAMES_PATH, SERVICE_PATH,
    SUBSCRIBERS_PATH,
};
pub use peer::{
    peer_router, HttpPeerTransport, PeerFormat, CLUSTER_SECRET_HEADER, MAX_PEER_REQUEST_BYTES,
    PEER_CONTENT_TYPE, PEER_PATH, PEER_VERSION_HEADER,
};
pub use preview::PREVIEW_PATH;
pub use prometheus::{PROMETHEUS_NAMESPACE_PATH, PROMETHEUS_PATH, PROMETHEUS_SERVICE_PATH};
pub use router::{router, NacosApi};
pub use server_list::{ServerList, SERVER_LIST_PATH};
pub use timeline::INSTANCE_TIMELINE_PATH;
