//! nacre over HTTP (cargo feature `http`): the Nacos v1 naming open API as an axum
//! [`axum::Router`] over a node, peer traffic for clusters, an HTTP
//! [`crate::client::ClientTransport`], and the server behind the `nacre-server` binary.
//!
//! Existing Nacos clients (Java 1.x, Python `nacos-sdk-python`, Go v1...) can register,
//! beat and discover against a nacre node unchanged; nacre's own [`crate::NamingClient`] can
//! use a nacre or Nacos server through [`HttpClientTransport`].
//!
//! | endpoint | what it does |
//! | --- | --- |
//! | `POST /nacos/v1/ns/instance` | register (`serviceName`, `groupName`, `namespaceId`, `ip`, `port`, `clusterName`, `weight`, `enabled`, `healthy`, `ephemeral`, `metadata`) → `ok` |
//! | `DELETE /nacos/v1/ns/instance` | deregister → `ok` (also for an unknown instance); without `clusterName`, or with another one, the one ephemeral instance on that ip:port is meant, as in Nacos 2.x |
//! | `PUT /nacos/v1/ns/instance` | change `weight`, `enabled`, `metadata` of a registered instance (found by ip:port as for `DELETE`) → `ok` |
//! | `GET /nacos/v1/ns/instance` | one instance: `service`, `ip`, `port`, `clusterName`, `weight`, `healthy`, `instanceId`, `metadata` |
//! | `PUT /nacos/v1/ns/instance/beat` | heartbeat, with the `beat` JSON or light → `clientBeatInterval`, `code` (10200, or 20404 for an unknown instance), `lightBeatEnabled` |
//! | `GET /nacos/v1/ns/instance/list` | `name`, `groupName`, `clusters`, `cacheMillis`, `hosts[]`, `lastRefTime`, `checksum`, `reachProtectionThreshold`...; `clusters` and `healthyOnly` filter |
//! | `POST`, `PUT`, `DELETE`, `GET /nacos/v1/ns/service` | create, update, remove, read a service (`protectThreshold`, `metadata`) |
//! | `GET /nacos/v1/ns/service/list` | `{"count":N,"doms":[...]}` for `pageNo`, `pageSize`, `groupName`, `namespaceId` |
//! | `GET /nacos/v1/ns/operator/metrics` | `{"status":"UP","serviceCount":N,"instanceCount":N,"responsibleServiceCount":N,"responsibleInstanceCount":N}` (`DOWN` while a cluster member loads) |
//! | `GET /nacos/v1/console/health/liveness`, `.../readiness` | probes: `OK`; readiness answers 503 while a cluster member loads |
//! | `POST /nacre/v1/peer` | peer traffic, on cluster nodes only, with the cluster secret in the `x-nacre-cluster-secret` header ([`peer_router`]; 403 without it) |
//!
//! Parameters are read from the query string and from a form body alike; a bad one answers
//! 400 with a message naming it ([`ParamError`]), never 500. See [`params`] for the parsing
//! rules and [`ApiError`] for every status.
//!
//! ## Differences from Nacos
//!
//! - `PUT /instance` changes only the fields it is given and needs the instance to exist
//!   (Nacos' v1 replaces the whole instance, and for non-Java clients registers it); `healthy`
//!   is ignored there, as health is the beats' business.
//! - Values are checked strictly: Nacos takes a malformed flag as `false` and answers 500 for
//!   a malformed number; nacre answers 400. Weights must be within 0..=10000.
//! - No selectors (only `{"type":"none"}` is accepted), no cluster-level health checkers or
//!   metadata, no auth (`accessToken` and `ak`/`sk` signatures are ignored), no UDP push yet:
//!   lists answer `cacheMillis` 3000, as Nacos answers clients it does not push to, so v1
//!   clients pull every 3 s. (gRPC clients are pushed to: see the `grpc` feature.)
//! - The protect threshold applies to every list, and a protected list reports every
//!   instance healthy, as Nacos does; but a healthy-only list that hits it lists every enabled
//!   instance (as Nacos 1.x did), where Nacos 2.5 lists only the healthy ones (see
//!   [`crate::front::ServiceAnswer`]).
//! - `checksum` is a 16-digit hex digest of nacre's own, not Nacos' MD5.
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
//! an [`HttpTransport`], and gives both the cluster's [`crate::cluster::PeerAuth`]
//! ([`NacosApi::peer_auth`]); node ids are the `host:port` peers reach each other at. The
//! `nacre-server` binary ([`server`]) does exactly that from flags.

mod client;
mod client_push;
mod error;
mod instance;
pub mod json;
mod operator;
pub mod params;
mod peer;
mod push;
mod router;
pub mod server;
mod service;
mod subscribers;

pub use crate::front::Backend;
pub use client::{HttpClientTransport, ServerListError, DEFAULT_REQUEST_TIMEOUT};
pub use error::ApiError;
pub use params::{ParamError, Params};
pub use peer::{
    peer_router, HttpTransport, CLUSTER_SECRET_HEADER, MAX_PEER_REQUEST_BYTES, PEER_PATH,
};
pub use router::{
    router, NacosApi, BEAT_PATH, INSTANCE_LIST_PATH, INSTANCE_PATH, LIVENESS_PATH, METRICS_PATH,
    READINESS_PATH, SERVICE_LIST_PATH, SERVICE_PATH, SUBSCRIBERS_PATH,
};
pub use server::{start, ConfigError, RunningServer, SecretSource, ServerConfig, ServerError};
