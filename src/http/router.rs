//! [`NacosApi`]: the axum [`Router`] of the Nacos v1 naming API over a [`Backend`].

use super::paths::*;
use super::peer::{gated_router, PeerGate};
use super::state::ApiState;
use super::{catalog, health, instance, operator, service, subscribers};
use crate::cluster::PeerAuth;
use crate::front::push::PushHub;
use crate::front::Backend;
use crate::front::PULL_CACHE_MILLIS;
use crate::udp::UdpPush;
use axum::routing::{any, get, put};
use axum::Router;
use std::sync::Arc;

/// Builds the Nacos v1 naming API over a node.
///
/// On a [`Backend::Cluster`] the router also serves the peer route
/// ([`super::PEER_PATH`]), so one listener carries both client and peer traffic, as a Nacos
/// server's does. That route lets through only what [`NacosApi::peer_auth`] allows: until it is
/// set, it refuses every peer request (403), so a cluster member cannot be served
/// unauthenticated by accident. [`NacosApi::without_peer_route`] leaves it out, for hosts that
/// serve it on a listener of its own ([`super::peer_router`]).
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
    udp: Option<UdpPush>,
    hubs: Vec<PushHub>,
    drain: crate::front::drain::DrainConfig,
    /// `None`: a drainer of the router's own, over its hubs.
    drainer: Option<crate::front::drain::Drainer>,
    /// `None`: no peer route.
    peer: Option<PeerGate>,
    /// `None`: any `Host`.
    host_check: Option<super::HostCheck>,
    /// `None`: no auth (every request is served).
    access: Option<crate::front::access::Access>,
    own_address: bool,
    /// `None`: no namespace API, and `PUT /cluster` answers 501.
    #[cfg(feature = "control")]
    control: Option<Arc<dyn crate::control::ControlPlane>>,
    /// `None`: no user, role and permission API.
    #[cfg(all(feature = "control", feature = "auth"))]
    users: Option<Arc<crate::control::LayeredIdentity>>,
    /// `None`: no active health checks run.
    checks: Option<Arc<dyn crate::probe::CheckSettings>>,
    /// What `GET /nacos/serverlist` lists.
    server_list: super::ServerList,
}

impl NacosApi {
    /// The API over `backend` (a [`crate::Registry`] or a [`crate::cluster::ClusterNode`]).
    pub fn new(backend: impl Into<Backend>) -> Self {
        Self {
            backend: backend.into(),
            cache_millis: PULL_CACHE_MILLIS,
            udp: None,
            hubs: Vec::new(),
            drain: crate::front::drain::DrainConfig::default(),
            drainer: None,
            peer: Some(PeerGate::Closed),
            host_check: None,
            access: None,
            own_address: false,
            #[cfg(feature = "control")]
            control: None,
            #[cfg(all(feature = "control", feature = "auth"))]
            users: None,
            checks: None,
            server_list: super::ServerList::default(),
        }
    }

    /// How the peer route of a cluster member authenticates its peers (see
    /// [`crate::cluster::PeerAuth`]); give the same to the node's
    /// [`super::HttpPeerTransport`]. Without it the route refuses every peer request. Ignored
    /// for a standalone registry, which has no peer route.
    ///
    /// ```
    /// use nacre::cluster::{ClusterSecret, PeerAuth};
    /// use nacre::http::NacosApi;
    /// # let node = nacre::Registry::default();
    /// let secret = ClusterSecret::new("a-long-shared-cluster-secret")?;
    /// let app: axum::Router = NacosApi::new(node).peer_auth(PeerAuth::Secret(secret)).router();
    /// # let _ = app;
    /// # Ok::<(), nacre::cluster::SecretError>(())
    /// ```
    pub fn peer_auth(mut self, auth: PeerAuth) -> Self {
        self.peer = Some(PeerGate::Auth(auth));
        self
    }

    /// Leaves the peer route out of this router, for a host that serves it on a listener of its
    /// own ([`super::peer_router`]), such as `nacre-server --peer-port`.
    pub fn without_peer_route(mut self) -> Self {
        self.peer = None;
        self
    }

    /// The `cacheMillis` answered with instance lists to clients that are not pushed to: how
    /// often they pull. Default 3 000, as Nacos 2.x answers them. (Clients pushed to get
    /// the push's, 10 000 by default.)
    pub fn cache_millis(mut self, millis: u64) -> Self {
        self.cache_millis = millis;
        self
    }

    /// Pushes to the v1 clients that ask for it (`udpPort` with `/instance/list`) through
    /// `push`, which must watch the same registry (see [`crate::udp`]). Without it nobody is
    /// pushed to. For the peer address of a query without `clientIP`, serve the router with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn udp_push(mut self, push: UdpPush) -> Self {
        self.udp = Some(push);
        self
    }

    /// Lists the subscribers of `hub` too in `GET /nacos/v1/ns/service/subscribers` (the
    /// gRPC front's hub, the in-memory transport's). The UDP push's own hub and the
    /// registry's listeners are always listed.
    pub fn subscribers_from(mut self, hub: PushHub) -> Self {
        self.hubs.push(hub);
        self
    }

    /// The bound of drains (`drainMillis` on `DELETE` and `PUT .../instance`): see
    /// [`crate::front::drain`]. Drains wait on the UDP push's hub and every hub given to
    /// [`Self::subscribers_from`].
    pub fn drain(mut self, config: crate::front::drain::DrainConfig) -> Self {
        self.drain = config;
        self
    }

    /// Drains through `drainer` instead of one of the router's own: a node whose fronts
    /// share one drainer waits on all their hubs and bounds their drains together (see
    /// [`crate::front::drain`]). [`Self::drain`] is then unused.
    pub fn drainer(mut self, drainer: crate::front::drain::Drainer) -> Self {
        self.drainer = Some(drainer);
        self
    }

    /// Refuses (421) a request whose `Host` is a name `check` does not admit: see
    /// [`super::HostCheck`]. The peer route is not checked (it is authenticated).
    pub fn host_check(mut self, check: super::HostCheck) -> Self {
        self.host_check = Some(check);
        self
    }

    /// Turns auth on: the login routes are served, and every other route (the health probes
    /// aside) needs a token with the permission (see the `access` module docs). The peer
    /// route keeps the cluster secret and never takes a user token.
    pub fn access(mut self, access: crate::front::access::Access) -> Self {
        self.access = Some(access);
        self
    }

    /// Accepts a registration (an instance's `POST` or `PUT`, a beat that carries its
    /// instance) only when its `ip` is the address the request comes from
    /// ([`crate::front::access::own_address`]); others get 403 and nothing changes. Needs
    /// the accept loop's `ConnectInfo` (as `nacre-server` serves).
    pub fn register_own_address_only(mut self) -> Self {
        self.own_address = true;
        self
    }

    /// Serves Nacos' namespace API (`/nacos/v1/console/namespaces`,
    /// `/nacos/v2/console/namespace`) over `control` (see [`super::namespaces`]), keeps the
    /// operators' edits of instances (`PUT`/`PATCH /nacos/v1/ns/instance`) as overrides in it
    /// and serves them at [`INSTANCE_OVERRIDE_PATH`]. [`NacosApi::router`] also lays those
    /// overrides over every registration of the backend's registry
    /// ([`crate::Registry::attach_overrides`], unless the host attached its own). Without it
    /// those paths answer 404 and edits are not kept.
    #[cfg(feature = "control")]
    pub fn control(mut self, control: Arc<dyn crate::control::ControlPlane>) -> Self {
        self.control = Some(control);
        self
    }

    /// Serves Nacos' user, role and permission API (`/nacos/v1/auth/users`, `/roles`,
    /// `/permissions`, global admin only; see [`super::users`]) over the control plane given
    /// to [`NacosApi::control`], for the users of `identity` (whose control plane that must
    /// be). Served only with both and with [`NacosApi::access`]; otherwise those paths answer
    /// 404 (the login routes stay).
    #[cfg(all(feature = "control", feature = "auth"))]
    pub fn users_api(mut self, identity: Arc<crate::control::LayeredIdentity>) -> Self {
        self.users = Some(identity);
        self
    }

    /// Says that active health checks run ([`crate::probe::Prober`]) with `checks`:
    /// `PUT /nacos/v1/ns/health/instance` then refuses (400, as Nacos) an instance whose
    /// cluster is checked, and the service detail shows each cluster's checker from it when
    /// the control plane has no settings for the cluster.
    pub fn health_checks(mut self, checks: Arc<dyn crate::probe::CheckSettings>) -> Self {
        self.checks = Some(checks);
        self
    }

    /// What `GET /nacos/serverlist` lists (see [`super::ServerList`]; by default the members,
    /// or the address a standalone node was reached at).
    pub fn server_list(mut self, list: super::ServerList) -> Self {
        self.server_list = list;
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        #[cfg(feature = "control")]
        if let Some(control) = &self.control {
            self.backend.local_registry().attach_overrides(Arc::new(
                crate::control::ControlOverrides::new(control.clone()),
            ));
        }
        #[cfg(feature = "control")]
        let namespaces = self
            .control
            .clone()
            .map(|control| super::namespaces::router(control, self.backend.clone()));
        #[cfg(all(feature = "control", feature = "auth"))]
        let users_control = self.control.clone();
        #[cfg(feature = "control")]
        let clusters = super::cluster::router(self.control.clone(), self.backend.clone());
        let host_check = self.host_check;
        let own_address = self.own_address;
        let access = self.access;
        let peer = self.backend.cluster_node().cloned().zip(self.peer);
        let drainer = self.drainer.unwrap_or_else(|| {
            crate::front::drain::Drainer::new(
                self.udp
                    .iter()
                    .map(|u| u.hub().clone())
                    .chain(self.hubs.iter().cloned())
                    .collect(),
                self.drain,
            )
            .with_listeners(self.backend.registry().clone())
        });
        let state = Arc::new(ApiState {
            drainer,
            backend: self.backend,
            cache_millis: self.cache_millis,
            udp: self.udp,
            hubs: self.hubs,
            checks: self.checks,
            #[cfg(feature = "control")]
            control: self.control,
            server_list: self.server_list,
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
            .route(
                METADATA_BATCH_PATH,
                put(super::metadata_batch::update).delete(super::metadata_batch::delete),
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
            .route(SUBSCRIBERS_PATH, get(subscribers::list))
            .route(
                super::timeline::INSTANCE_TIMELINE_PATH,
                get(super::timeline::read),
            )
            .route(super::preview::PREVIEW_PATH, get(super::preview::preview))
            .route(SERVICE_NAMES_PATH, any(service::names))
            .route(CATALOG_SERVICES_PATH, get(catalog::services))
            .route(CATALOG_INSTANCES_PATH, any(catalog::instances))
            .route(METRICS_PATH, get(operator::metrics))
            .route(LIVENESS_PATH, get(operator::liveness))
            .route(READINESS_PATH, get(operator::readiness))
            .route(super::PROMETHEUS_PATH, get(super::prometheus::all))
            .route(
                super::PROMETHEUS_NAMESPACE_PATH,
                get(super::prometheus::namespace),
            )
            .route(
                super::PROMETHEUS_SERVICE_PATH,
                get(super::prometheus::service),
            )
            .route(
                super::server_list::SERVER_LIST_PATH,
                get(super::server_list::server_list),
            )
            .with_state(state.clone())
            .merge(super::v2::routes(state.clone()));
        #[cfg(feature = "control")]
        let api = api.merge(
            Router::new()
                .route(
                    INSTANCE_OVERRIDE_PATH,
                    get(super::overrides::read).delete(super::overrides::clear),
                )
                .with_state(state),
        );
        #[cfg(feature = "control")]
        let api = match namespaces {
            Some(namespaces) => api.merge(namespaces),
            None => api,
        };
        #[cfg(feature = "control")]
        let api = api.merge(clusters);
        #[cfg(all(feature = "control", feature = "auth"))]
        let api = match (users_control, self.users, &access) {
            (Some(control), Some(identity), Some(_)) => {
                api.merge(super::users::router(control, identity))
            }
            _ => api,
        };
        // Inside the access check, so the caller it found is named.
        let api = api.layer(axum::middleware::from_fn(super::timeline::scope));
        let api = match own_address {
            true => api.layer(axum::middleware::from_fn(super::access::own_address)),
            false => api,
        };
        let api = match &access {
            Some(access) => api
                .layer(axum::middleware::from_fn_with_state(
                    access.clone(),
                    super::access::check,
                ))
                .merge(super::access::login_router(
                    access.clone(),
                    crate::front::access::Front::Http,
                )),
            None => api.merge(super::access::open_login_router()),
        }
        .layer(axum::middleware::from_fn(super::origin::refuse_cross_site));
        let api = match &host_check {
            Some(check) => check.layer(api),
            None => api,
        };
        match peer {
            Some((node, gate)) => {
                if matches!(gate, PeerGate::Closed) {
                    tracing::warn!(
                        "the peer route of this cluster member refuses every request: no cluster secret was given (NacosApi::peer_auth)"
                    );
                }
                api.merge(gated_router(Arc::new(node), gate))
            }
            None => api,
        }
    }
}

/// The Nacos v1 naming API over `backend`, with the defaults. Shorthand for
/// `NacosApi::new(backend).router()`.
pub fn router(backend: impl Into<Backend>) -> Router {
    NacosApi::new(backend).router()
}
