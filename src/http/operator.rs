//! The operator and probe endpoints: `GET /nacos/v1/ns/operator/metrics` (read by the Java 1.x
//! and Node clients' `getServerStatus`, and by Spring Cloud's health indicator), and the
//! console's liveness and readiness probes.

use super::state::Api;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

/// The answer of `GET /nacos/v1/ns/operator/metrics`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetricsJson {
    /// `UP` when the node is ready, `DOWN` while it is not (a cluster member loading, a
    /// failing disk: see [`crate::front::NotReady`]).
    status: &'static str,
    service_count: usize,
    instance_count: usize,
    /// The services (and their instances) this node is responsible for: all of them on a
    /// standalone node.
    responsible_service_count: usize,
    responsible_instance_count: usize,
    /// UDP push counters (absent when the front does not push).
    #[serde(skip_serializing_if = "Option::is_none")]
    udp_push: Option<UdpPushJson>,
}

/// UDP push counters, in `/operator/metrics`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UdpPushJson {
    subscriptions: usize,
    pushes: u64,
    acked: u64,
    retried: u64,
    failed: u64,
    expired: u64,
    datagrams: u64,
    bytes: u64,
    gzipped: u64,
    too_large: u64,
}

impl UdpPushJson {
    fn of(push: &crate::udp::UdpPush) -> Self {
        let s = push.stats();
        Self {
            subscriptions: push.hub().subscription_count(),
            pushes: s.push.pushes,
            acked: s.push.acked,
            retried: s.push.retried,
            failed: s.push.failed,
            expired: s.push.expired,
            datagrams: s.datagrams,
            bytes: s.bytes,
            gzipped: s.gzipped,
            too_large: s.too_large,
        }
    }
}

/// `GET /nacos/v1/ns/operator/metrics`: `{"status":"UP", ...counts}`.
pub(crate) async fn metrics(State(api): Api) -> Json<MetricsJson> {
    let node = api.backend.cluster_node();
    let mapper = node.map(|n| (n.id().clone(), n.mapper()));
    let mut m = MetricsJson {
        status: if api.backend.readiness().is_ok() {
            "UP"
        } else {
            "DOWN"
        },
        service_count: 0,
        instance_count: 0,
        responsible_service_count: 0,
        responsible_instance_count: 0,
        udp_push: api.udp.as_ref().map(UdpPushJson::of),
    };
    api.backend.registry().store().for_each(|snap| {
        let instances = snap.instance_count();
        m.service_count += 1;
        m.instance_count += instances;
        let responsible = mapper
            .as_ref()
            .is_none_or(|(me, mapper)| mapper.is_owner(me, snap.key()));
        if responsible {
            m.responsible_service_count += 1;
            m.responsible_instance_count += instances;
        }
    });
    Json(m)
}

/// `GET /nacos/v1/console/health/liveness`: `OK` while the process answers.
pub(crate) async fn liveness() -> &'static str {
    "OK"
}

/// `GET /nacos/v1/console/health/readiness`: `OK` when the node is ready; 503 with the reason
/// while it is not (a cluster member loading its snapshot, commits to its disk failing: see
/// [`crate::front::NotReady`]).
pub(crate) async fn readiness(State(api): Api) -> (StatusCode, String) {
    match api.backend.readiness() {
        Ok(()) => (StatusCode::OK, "OK".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()),
    }
}
