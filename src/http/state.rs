//! [`ApiState`]: what the handlers of [`super::NacosApi`] share. It lives apart from the router
//! so that the handlers depend on it and the router on the handlers, not on each other.

use crate::front::push::PushHub;
use crate::front::Backend;
use crate::udp::UdpPush;
use axum::extract::State;
use std::sync::Arc;

/// What the handlers share.
pub(crate) struct ApiState {
    pub(crate) backend: Backend,
    pub(crate) cache_millis: u64,
    pub(crate) udp: Option<UdpPush>,
    pub(crate) hubs: Vec<PushHub>,
    /// Drains over the UDP hub and `hubs`.
    pub(crate) drainer: crate::front::drain::Drainer,
    /// How each cluster is checked, when active health checks run (`NacosApi::health_checks`).
    pub(crate) checks: Option<Arc<dyn crate::probe::CheckSettings>>,
    /// The control plane: operators' overrides, and the cluster settings the service detail
    /// shows (feature `control`).
    #[cfg(feature = "control")]
    pub(crate) control: Option<Arc<dyn crate::control::ControlPlane>>,
    /// What `GET /nacos/serverlist` lists.
    pub(crate) server_list: super::ServerList,
}

/// The state as a handler extracts it.
pub(crate) type Api = State<Arc<ApiState>>;
