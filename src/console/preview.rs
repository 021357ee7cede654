//! The console's failure preview: `GET /console/api/members` (this node's member list, empty
//! when standalone) and `GET /console/api/preview?stop=MEMBER`, the same
//! [`crate::cluster::Preview`] as `GET /nacre/v1/cluster/preview` answers (see
//! [`crate::http`]), for the page's "If a member stops" panel. Both need read permission on
//! everything with auth on: a preview names services of every namespace.

use super::api::{Api, ConsoleError};
use super::auth::Caller;
use crate::cluster::{NodeId, Preview, PreviewChange, PreviewError, PreviewOptions};
use crate::front::access::Need;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// The member list, as the page offers it.
#[derive(Debug, Serialize)]
pub(super) struct Members {
    /// This member's id (`None` standalone).
    me: Option<String>,
    /// Every member, this one included (empty standalone).
    members: Vec<String>,
}

/// `GET /console/api/members`.
pub(super) async fn members(
    caller: Caller,
    State(state): Api,
) -> Result<Json<Members>, ConsoleError> {
    caller.check(&Need::NodeReport)?;
    let node = state.backend.cluster_node();
    Ok(Json(Members {
        me: node.map(|n| n.id().to_string()),
        members: node
            .map(|n| n.members().map(NodeId::to_string).collect())
            .unwrap_or_default(),
    }))
}

/// `?stop=MEMBER`.
#[derive(Debug, Deserialize)]
pub(super) struct StopQuery {
    stop: String,
}

/// `GET /console/api/preview?stop=MEMBER`: 400 standalone or for an unknown member, 503 while
/// this member does not serve.
pub(super) async fn preview(
    caller: Caller,
    State(state): Api,
    Query(q): Query<StopQuery>,
) -> Result<Response, ConsoleError> {
    caller.check(&Need::NodeReport)?;
    let Some(node) = state.backend.cluster_node() else {
        return Ok((
            StatusCode::BAD_REQUEST,
            "this node is standalone: no member to stop",
        )
            .into_response());
    };
    let member = NodeId::new(q.stop.trim())?;
    let registry = state.backend.registry().clone();
    let listeners = move |service: &crate::model::ServiceKey| registry.listeners(service).len();
    let options = PreviewOptions {
        subscribers: Some(&listeners),
        ..PreviewOptions::default()
    };
    Ok(
        match node.preview_with(&PreviewChange::Stop { member }, &options) {
            Ok(p) => Json::<Preview>(p).into_response(),
            Err(e @ PreviewError::NotReady(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
            }
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
    )
}
