//! `GET /nacos/v1/ns/service/subscribers`: who hears of a service's changes on this node —
//! the v1 clients pushed to over UDP, the clients of any other push hub the API was given
//! (the gRPC front's, the in-memory transport's), and the registry's in-process listeners.
//!
//! The answer is Nacos': `{"subscribers":[{"addrStr","agent","app","ip","port",
//! "namespaceId","serviceName","cluster"}],"count":N}`, paged by `pageNo` (default 1) and
//! `pageSize` (default 1000). In-process listeners have the address `in-process#<id>`, no
//! ip, port 0 and the agent [`crate::front::push::IN_PROCESS_AGENT`].
//!
//! Difference from Nacos: a cluster member lists its own subscribers only (Nacos'
//! `aggregation=true`, its default, asks every member); `aggregation` is ignored.

use super::error::ApiError;
use super::params::Params;
use super::state::Api;
use crate::front::push::{SubscriberInfo, IN_PROCESS_AGENT};
use crate::model::ServiceKey;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use std::net::SocketAddr;

/// One subscriber, as Nacos lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriberJson {
    addr_str: String,
    agent: String,
    app: String,
    ip: String,
    port: u16,
    namespace_id: String,
    service_name: String,
    cluster: String,
}

/// The answer.
#[derive(Debug, Serialize)]
pub(crate) struct SubscribersJson {
    subscribers: Vec<SubscriberJson>,
    count: usize,
}

fn entry(
    service: &ServiceKey,
    addr: String,
    agent: String,
    app: String,
    cluster: String,
) -> SubscriberJson {
    let (ip, port) = match addr.parse::<SocketAddr>() {
        Ok(a) => (a.ip().to_string(), a.port()),
        Err(_) => (String::new(), 0),
    };
    SubscriberJson {
        addr_str: addr,
        agent,
        app,
        ip,
        port,
        namespace_id: service.namespace().to_string(),
        service_name: service.grouped_name(),
        cluster,
    }
}

fn from_hub(service: &ServiceKey, sub: SubscriberInfo) -> SubscriberJson {
    let clusters: Vec<&str> = sub.clusters.iter().map(|c| c.as_str()).collect();
    let d = sub.details;
    entry(service, d.addr, d.agent, d.app, clusters.join(","))
}

/// `GET /nacos/v1/ns/service/subscribers`: see the module documentation.
pub(crate) async fn list(State(api): Api, p: Params) -> Result<Json<SubscribersJson>, ApiError> {
    let service = p.service_key()?;
    let page_no = p.positive_or("pageNo", 1)?;
    let page_size = p.positive_or("pageSize", 1000)?;
    let mut all: Vec<SubscriberJson> = Vec::new();
    let hubs = api.udp.iter().map(|u| u.hub()).chain(api.hubs.iter());
    for hub in hubs {
        all.extend(
            hub.subscribers(&service)
                .into_iter()
                .map(|s| from_hub(&service, s)),
        );
    }
    for (id, clusters) in api.backend.registry().listeners(&service) {
        let clusters: Vec<&str> = clusters.iter().map(|c| c.as_str()).collect();
        all.push(entry(
            &service,
            format!("in-process#{}", id.0),
            IN_PROCESS_AGENT.to_owned(),
            String::new(),
            clusters.join(","),
        ));
    }
    let count = all.len();
    let start = (page_no - 1).saturating_mul(page_size).min(count);
    let end = start.saturating_add(page_size).min(count);
    let subscribers = all.drain(start..end).collect();
    Ok(Json(SubscribersJson { subscribers, count }))
}
