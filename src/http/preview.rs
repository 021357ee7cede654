//! The failure preview over HTTP: `GET /nacre/v1/cluster/preview?stop=MEMBER` (nacre's own)
//! answers what stopping `MEMBER` now would do — which services change owner, when the
//! survivors notice, when the instances whose beats stop turn unhealthy and are removed, and
//! which services get pushed (with their subscriber counts on this member) — as
//! [`crate::cluster::Preview`] JSON, computed on this member by
//! [`crate::cluster::ClusterNode::preview_with`] without changing anything.
//! `?members=a,b,c` previews a planned member list instead; `limit` caps the detailed lists
//! (default 100, at most 1 000; the totals count everything).
//!
//! It reveals services and addresses of every namespace, so with auth on it needs read
//! permission on everything (as the node's counters do). A standalone node answers 400 (there
//! is no cluster to preview); a member not serving yet 503; an unknown member 400.

use super::error::ApiError;
use super::params::{ParamError, Params};
use super::state::Api;
use crate::cluster::{NodeId, Preview, PreviewChange, PreviewError, PreviewOptions};
use crate::model::ServiceKey;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// `GET`: the failure preview.
pub const PREVIEW_PATH: &str = "/nacre/v1/cluster/preview";

fn member(name: &'static str, text: &str) -> Result<NodeId, ParamError> {
    NodeId::new(text.trim())
        .map_err(|_| ParamError::malformed(name, text, "a member id, host:port"))
}

/// The change a request asks about.
fn change(p: &Params) -> Result<PreviewChange, ParamError> {
    match (p.get("stop"), p.get("members")) {
        (Some(stop), None) => Ok(PreviewChange::Stop {
            member: member("stop", stop)?,
        }),
        (None, Some(list)) => Ok(PreviewChange::Members {
            members: list
                .split(',')
                .filter(|m| !m.trim().is_empty())
                .map(|m| member("members", m))
                .collect::<Result<_, _>>()?,
        }),
        _ => Err(ParamError::malformed(
            "stop",
            "",
            "either stop=MEMBER or members=A,B,C",
        )),
    }
}

/// `GET /nacre/v1/cluster/preview`: see the module documentation.
pub(crate) async fn preview(State(api): Api, p: Params) -> Result<Response, ApiError> {
    let change = change(&p)?;
    let limit = p.positive_or("limit", crate::cluster::DEFAULT_DETAIL_LIMIT)?;
    let Some(node) = api.backend.cluster_node() else {
        return Ok((
            StatusCode::BAD_REQUEST,
            "this node is standalone: there is no cluster to preview",
        )
            .into_response());
    };
    let hubs: Vec<_> = api
        .udp
        .iter()
        .map(|u| u.hub().clone())
        .chain(api.hubs.iter().cloned())
        .collect();
    let registry = api.backend.registry().clone();
    let subscribers = move |service: &ServiceKey| {
        hubs.iter()
            .map(|h| h.subscribers(service).len())
            .sum::<usize>()
            + registry.listeners(service).len()
    };
    let options = PreviewOptions {
        subscribers: Some(&subscribers),
        beats_stop: None,
        detail_limit: limit.min(crate::cluster::MAX_DETAIL_LIMIT),
    };
    match node.preview_with(&change, &options) {
        Ok(preview) => Ok(Json::<Preview>(preview).into_response()),
        Err(e @ PreviewError::NotReady(_)) => {
            Ok((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response())
        }
        Err(e) => Ok((StatusCode::BAD_REQUEST, e.to_string()).into_response()),
    }
}
