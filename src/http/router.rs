//! [`NacosApi`]: the axum [`Router`] of the Nacos v1 naming API over a [`Backend`].

use super::peer::peer_router;
use super::{catalog, health, instance, operator, service};
use crate::front::Backend;
use crate::front::PULL_CACHE_MILLIS;
use axum::routing::{any, get, put};
use axum::Router;
use std::sync::Arc;

/// `POST`/`DELETE`/`PUT`/`PATCH`/`GET`: register, deregister, update, patch, read one
/// instance.
pub const INSTANCE_PATH: &str = "/nacos/v1/ns/instance";
/// `PUT`: a heartbeat.
pub const BEAT_PATH: &str = "/nacos/v1/ns/instance/beat";
/// `GET`: a service's instances.
pub const INSTANCE_LIST_PATH: &str = "/nacos/v1/ns/instance/list";
/// Any method: every instance of a service with its health (`ip:port_healthy`).
pub const INSTANCE_STATUSES_PATH: &str = "/nacos/v1/ns/instance/statuses";
/// `PUT`: set the health of a persistent instance.
pub const HEALTH_INSTANCE_PATH: &str = "/nacos/v1/ns/health/instance";
/// `PUT`: the same as [`HEALTH_INSTANCE_PATH`] (Nacos serves both).
pub const HEALTH_PATH: &str = "/nacos/v1/ns/health";
/// `POST`/`DELETE`/`PUT`/`GET`: create, remove, update, read a service.
pub const SERVICE_PATH: &str = "/nacos/v1/ns/service";
/// `GET`: one page of service names.
pub const SERVICE_LIST_PATH: &str = "/nacos/v1/ns/service/list";
/// Any method: the grouped service names of each namespace, searched by `expr`.
pub const SERVICE_NAMES_PATH: &str = "/nacos/v1/ns/service/names";
/// `GET`: one page of services with counts, or with their instances (the console's list).
pub const CATALOG_SERVICES_PATH: &str = "/nacos/v1/ns/catalog/services";
/// Any method: one page of the instances of one cluster of a service.
pub const CATALOG_INSTANCES_PATH: &str = "/nacos/v1/ns/catalog/instances";
/// `GET`: the server's status and counts.
pub const METRICS_PATH: &str = "/nacos/v1/ns/operator/metrics";
/// `GET`: liveness probe.
pub const LIVENESS_PATH: &str = "/nacos/v1/console/health/liveness";
/// `GET`: readiness probe.
pub const READINESS_PATH: &str = "/nacos/v1/console/health/readiness";

/// What the handlers share.
pub(crate) struct ApiState {
    pub(crate) backend: Backend,
    pub(crate) cache_millis: u64,
}

/// Builds the Nacos v1 naming API over a node.
///
/// On a [`Backend::Cluster`] the router also serves the peer route
/// ([`super::PEER_PATH`]), so one listener carries both client and peer traffic, as a Nacos
/// server's does.
///
/// ```
/// use nacre::http::NacosApi;
/// use nacre::Registry;
/// let app: axum::Router = NacosApi::new(Registry::default()).cache_millis(3_000).router();
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct NacosApi {
    backend: Backend,
    cache_millis: u64,
}

impl NacosApi {
    /// The API over `backend` (a [`crate::Registry`] or a [`crate::cluster::ClusterNode`]).
    pub fn new(backend: impl Into<Backend>) -> Self {
        Self {
            backend: backend.into(),
            cache_millis: PULL_CACHE_MILLIS,
        }
    }

    /// The `cacheMillis` answered with instance lists: how often clients pull. Default 3 000,
    /// as Nacos 2.x answers v1 clients it does not push to (the v1 front pushes to nobody
    /// yet).
    pub fn cache_millis(mut self, millis: u64) -> Self {
        self.cache_millis = millis;
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        let peer = self.backend.cluster_node().cloned();
        let state = Arc::new(ApiState {
            backend: self.backend,
            cache_millis: self.cache_millis,
        });
        let api = Router::new()
            .route(
                INSTANCE_PATH,
                get(instance::detail)
                    .post(instance::register)
                    .put(instance::update)
                    .patch(instance::patch)
                    .delete(instance::deregister),
            )
            .route(BEAT_PATH, put(instance::beat))
            .route(INSTANCE_LIST_PATH, get(instance::list))
            .route(INSTANCE_STATUSES_PATH, any(instance::statuses))
            .route(HEALTH_INSTANCE_PATH, put(health::update))
            .route(HEALTH_PATH, put(health::update))
            .route(
                SERVICE_PATH,
                get(service::detail)
                    .post(service::create)
                    .put(service::update)
                    .delete(service::remove),
            )
            .route(SERVICE_LIST_PATH, get(service::list))
            .route(SERVICE_NAMES_PATH, any(service::names))
            .route(CATALOG_SERVICES_PATH, get(catalog::services))
            .route(CATALOG_INSTANCES_PATH, any(catalog::instances))
            .route(METRICS_PATH, get(operator::metrics))
            .route(LIVENESS_PATH, get(operator::liveness))
            .route(READINESS_PATH, get(operator::readiness))
            .with_state(state);
        match peer {
            Some(node) => api.merge(peer_router(Arc::new(node))),
            None => api,
        }
    }
}

/// The Nacos v1 naming API over `backend`, with the defaults. Shorthand for
/// `NacosApi::new(backend).router()`.
pub fn router(backend: impl Into<Backend>) -> Router {
    NacosApi::new(backend).router()
}
