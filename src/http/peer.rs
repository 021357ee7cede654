//! Peer traffic over HTTP: the route a node serves its peers on ([`peer_router`],
//! `POST /nacre/v1/peer`) and the [`Transport`] that calls it ([`HttpTransport`]).
//!
//! Each request is one JSON [`Envelope`] (sender id and [`PeerRequest`]); the answer is the
//! JSON [`PeerResponse`]. A node's id is the `host:port` its HTTP listener is reached at, as in
//! Nacos' `cluster.conf`, so the transport needs no address book.
//!
//! The route trusts the sender id it is given: serve it only where peers (not clients from
//! elsewhere) can reach it, such as loopback or a private network. A sender that is not a
//! member is refused by the protocol ([`PeerResponse::Rejected`]).

use crate::cluster::{
    Envelope, NodeId, PeerError, PeerHandler, PeerRequest, PeerResponse, Transport,
};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;

/// The path peers post to.
pub const PEER_PATH: &str = "/nacre/v1/peer";

/// The largest peer request accepted: sync batches and checksum lists of large registries are
/// bigger than axum's 2 MB default.
pub const MAX_PEER_REQUEST_BYTES: usize = 256 * 1024 * 1024;

/// The peer route over `handler` (usually a [`crate::cluster::ClusterNode`]).
///
/// ```
/// use nacre::cluster::{ClusterNode, NodeId};
/// use nacre::http::{peer_router, HttpTransport};
/// use std::sync::Arc;
///
/// let me = NodeId::new("127.0.0.1:8848").unwrap();
/// let peer = NodeId::new("127.0.0.1:8849").unwrap();
/// let transport = Arc::new(HttpTransport::new(me.clone()));
/// let node = ClusterNode::builder(me.clone(), vec![me, peer], transport).build()?;
/// let app: axum::Router = peer_router(Arc::new(node));
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn peer_router(handler: Arc<dyn PeerHandler>) -> Router {
    Router::new()
        .route(PEER_PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_PEER_REQUEST_BYTES))
        .with_state(handler)
}

async fn receive(State(handler): State<Arc<dyn PeerHandler>>, body: Bytes) -> Response {
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the body is not a peer envelope: {e}"),
            )
                .into_response()
        }
    };
    // The handler takes the node's protocol lock, which the node's driver holds while it runs
    // a health sweep; wait for it on the blocking pool rather than on an HTTP worker.
    let answer =
        tokio::task::spawn_blocking(move || handler.receive(&envelope.from, envelope.request))
            .await;
    match answer {
        Ok(response) => Json(response).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the peer request failed: {e}"),
        )
            .into_response(),
    }
}

/// A [`Transport`] that posts each request to the peer's [`PEER_PATH`] at
/// `http://{peer id}`. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    me: NodeId,
    client: reqwest::Client,
}

impl HttpTransport {
    /// The transport of node `me`, with a 5 s request timeout (the node puts its own, usually
    /// shorter, timeout around every call as well).
    ///
    /// # Panics
    /// If the HTTP client cannot be set up (the system's TLS or resolver configuration cannot
    /// be loaded), which does not happen with the features this crate enables.
    pub fn new(me: NodeId) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .expect("an HTTP client without TLS always builds");
        Self::with_client(me, client)
    }

    /// The transport of node `me` over a client the host configured.
    pub fn with_client(me: NodeId, client: reqwest::Client) -> Self {
        Self { me, client }
    }

    /// The id this transport sends as.
    pub fn id(&self) -> &NodeId {
        &self.me
    }
}

fn classify(to: &NodeId, e: &reqwest::Error) -> PeerError {
    if e.is_timeout() {
        PeerError::Timeout(to.clone())
    } else if e.is_connect() {
        PeerError::Unreachable(to.clone())
    } else {
        PeerError::Failed {
            peer: to.clone(),
            reason: e.to_string(),
        }
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, to: &NodeId, request: PeerRequest) -> Result<PeerResponse, PeerError> {
        let envelope = Envelope {
            from: self.me.clone(),
            request,
        };
        let url = format!("http://{to}{PEER_PATH}");
        let answer = self
            .client
            .post(url)
            .json(&envelope)
            .send()
            .await
            .map_err(|e| classify(to, &e))?;
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            return Err(PeerError::Failed {
                peer: to.clone(),
                reason: format!("HTTP {status}: {}", crate::model::excerpt(&body)),
            });
        }
        answer
            .json::<PeerResponse>()
            .await
            .map_err(|e| classify(to, &e))
    }
}
