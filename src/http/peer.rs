//! Peer traffic over HTTP: the route a node serves its peers on ([`peer_router`],
//! `POST /nacre/v1/peer`) and the [`Transport`] that calls it ([`HttpPeerTransport`]).
//!
//! Each request is one [`Envelope`] (sender id and [`PeerRequest`]); the answer is the
//! [`PeerResponse`]. A node's id is the `host:port` its peer listener is reached at, as in
//! Nacos' `cluster.conf`, so the transport needs no address book.
//!
//! ## Formats
//!
//! Bodies are in the binary peer format ([`crate::cluster::encode_message`], content type
//! [`PEER_CONTENT_TYPE`]), which starts with its format version: a body of another version is
//! answered `415 Unsupported Media Type` naming both versions, and logged at `warn` (at most
//! once a minute, `debug` in between). The sender's transport turns a 415, like a 403, into
//! [`PeerResponse::Rejected`], so the sending node logs that peer as one that refuses it.
//!
//! For debugging, the route also takes and answers JSON (`Content-Type: application/json`,
//! the same serde types) when the request names this build's version in the
//! [`PEER_VERSION_HEADER`] header, so a message can be written or read by hand:
//!
//! ```text
//! curl -H 'content-type: application/json' -H 'x-nacre-peer-version: 1' \
//!      -H 'x-nacre-cluster-secret: ...' \
//!      -d '{"from":"10.0.0.2:8848","request":{"Ping":{"ready":true}}}' \
//!      http://10.0.0.1:8848/nacre/v1/peer
//! ```
//!
//! [`HttpPeerTransport::with_format`] makes a transport send JSON too (about five times the bytes;
//! see BENCHMARKS.md). The format is not compatible across nacre versions: every member must
//! run the same build.
//!
//! Both ends take a [`PeerAuth`]. With [`PeerAuth::Secret`] the transport sends the secret in
//! the [`CLUSTER_SECRET_HEADER`] header, and the route compares it in constant time before it
//! reads the body: a request without it, or with another one, is answered `403 Forbidden`
//! with the reason, and reaches nothing (no merge, no contact recorded). The transport turns
//! a 403 into [`PeerResponse::Rejected`], so a member whose secret differs is logged as a
//! peer that refuses this node. [`PeerAuth::InsecureNone`] sends and checks nothing.
//!
//! Differences from Nacos: the header name is fixed (Nacos makes the identity key
//! configurable); the secret has a minimum length
//! ([`ClusterSecret::MIN_LEN`](crate::cluster::ClusterSecret::MIN_LEN)); and a member
//! refuses to start without one unless told otherwise (Nacos starts and accepts anything). As
//! with Nacos, the secret crosses the network in clear over plain HTTP: it proves membership,
//! it does not hide the traffic. Serve the route where only members can reach it, or behind
//! TLS.
//!
//! A control-plane request ([`PeerRequest::Control`], the control group's Raft messages) is
//! answered on the runtime through [`PeerHandler::receive_control`], which awaits the member's
//! Raft; every other request on the blocking pool through [`PeerHandler::receive`].
//!
//! A body that does not decode is answered 400: names and instance fields are checked as they
//! are decoded, so one bad name refuses the whole message. What decodes is still checked
//! record by record when it is merged ([`crate::store::MergeRules`]).

use crate::cluster::{
    decode_message, encode_message, encode_request, AuthError, CodecError, Envelope, NodeId,
    PeerAuth, PeerError, PeerHandler, PeerRequest, PeerResponse, PeerTransport, WIRE_VERSION,
};
use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path peers post to.
pub const PEER_PATH: &str = "/nacre/v1/peer";

/// The header that carries the cluster secret (Nacos: the value of
/// `nacos.core.auth.server.identity.key`).
pub const CLUSTER_SECRET_HEADER: &str = "x-nacre-cluster-secret";

/// The content type of a binary peer message.
pub const PEER_CONTENT_TYPE: &str = "application/x-nacre-peer";

/// The header a JSON peer request names its format version in (the binary format carries it
/// in its first bytes).
pub const PEER_VERSION_HEADER: &str = "x-nacre-peer-version";

/// How long the route stays at `debug` after it logged a peer of another format version at
/// `warn`.
const VERSION_WARN_EVERY: Duration = Duration::from_secs(60);

/// What a peer body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PeerFormat {
    /// The binary peer format ([`crate::cluster::encode_message`]): what members send.
    #[default]
    Binary,
    /// JSON, with the version in [`PEER_VERSION_HEADER`]: for debugging.
    Json,
}

impl PeerFormat {
    fn of(headers: &HeaderMap) -> Self {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            PeerFormat::Json
        } else {
            PeerFormat::Binary
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            PeerFormat::Binary => PEER_CONTENT_TYPE,
            PeerFormat::Json => "application/json",
        }
    }

    fn encode<T: serde::Serialize>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            PeerFormat::Binary => encode_message(value).map_err(|e| e.to_string()),
            PeerFormat::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(self, body: &[u8]) -> Result<T, CodecError> {
        match self {
            PeerFormat::Binary => decode_message(body),
            PeerFormat::Json => {
                serde_json::from_slice(body).map_err(|e| CodecError::Malformed(e.to_string()))
            }
        }
    }
}

/// The largest peer request accepted: sync batches and checksum lists of large registries are
/// bigger than axum's 2 MB default.
pub const MAX_PEER_REQUEST_BYTES: usize = 256 * 1024 * 1024;

/// Who the peer route lets through.
#[derive(Debug, Clone)]
pub(crate) enum PeerGate {
    /// As the [`PeerAuth`] says.
    Auth(PeerAuth),
    /// Nobody: the host gave no [`PeerAuth`] (see [`super::NacosApi::peer_auth`]).
    Closed,
}

impl PeerGate {
    fn check(&self, presented: Option<&HeaderValue>) -> Result<(), AuthError> {
        match self {
            PeerGate::Auth(auth) => auth.check(presented.map(HeaderValue::as_bytes)),
            PeerGate::Closed => Err(AuthError::NotConfigured),
        }
    }
}

struct PeerRoute {
    handler: Arc<dyn PeerHandler>,
    gate: PeerGate,
    /// When a peer of another format version was last logged at `warn`.
    version_warned: Mutex<Option<Instant>>,
}

impl PeerRoute {
    /// Logs a request of another format version: at `warn` at most once a minute.
    fn log_version(&self, e: &CodecError) {
        let now = Instant::now();
        let warn = {
            let mut last = crate::util::lock(&self.version_warned);
            let due = last.is_none_or(|t| now.duration_since(t) >= VERSION_WARN_EVERY);
            if due {
                *last = Some(now);
            }
            due
        };
        if warn {
            tracing::warn!(error = %e, "refused a peer request in another wire format version");
        } else {
            tracing::debug!(error = %e, "refused a peer request in another wire format version");
        }
    }
}

/// The peer route over `handler` (usually a [`crate::cluster::ClusterNode`]), letting through
/// the requests `auth` accepts.
///
/// ```
/// use nacre::cluster::{ClusterNode, ClusterSecret, NodeId, PeerAuth};
/// use nacre::http::{peer_router, HttpPeerTransport};
/// use std::sync::Arc;
///
/// let me = NodeId::new("127.0.0.1:8848")?;
/// let peer = NodeId::new("127.0.0.1:8849")?;
/// // In production, read it from a file: ClusterSecret::from_file(path).
/// let auth = PeerAuth::Secret(ClusterSecret::new("a-long-shared-cluster-secret")?);
/// let transport = Arc::new(HttpPeerTransport::new(me.clone(), auth.clone()));
/// let node = ClusterNode::builder(me.clone(), vec![me, peer], transport).build()?;
/// let app: axum::Router = peer_router(Arc::new(node), auth);
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn peer_router(handler: Arc<dyn PeerHandler>, auth: PeerAuth) -> Router {
    gated_router(handler, PeerGate::Auth(auth))
}

/// The peer route behind `gate`.
pub(crate) fn gated_router(handler: Arc<dyn PeerHandler>, gate: PeerGate) -> Router {
    Router::new()
        .route(PEER_PATH, post(receive))
        .with_state(Arc::new(PeerRoute {
            handler,
            gate,
            version_warned: Mutex::new(None),
        }))
}

async fn receive(State(route): State<Arc<PeerRoute>>, request: Request) -> Response {
    // Before the body is read: a sender that is not a member does not get to make this node
    // buffer up to MAX_PEER_REQUEST_BYTES.
    if let Err(e) = route
        .gate
        .check(request.headers().get(CLUSTER_SECRET_HEADER))
    {
        tracing::debug!(error = %e, "peer request refused");
        let how = match e {
            AuthError::NotConfigured => {
                "give this node the cluster's secret (nacre-server: --cluster-secret-file; \
                 library: NacosApi::peer_auth)"
            }
            _ => "send the cluster's shared secret in the x-nacre-cluster-secret header",
        };
        return (
            StatusCode::FORBIDDEN,
            format!("peer request refused: {e}; {how}"),
        )
            .into_response();
    }
    let format = PeerFormat::of(request.headers());
    if format == PeerFormat::Json {
        let named = request
            .headers()
            .get(PEER_VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u8>().ok());
        if named != Some(WIRE_VERSION) {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "a JSON peer request must name wire format version {WIRE_VERSION} in the \
                     {PEER_VERSION_HEADER} header"
                ),
            )
                .into_response();
        }
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_PEER_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the body could not be read (at most {MAX_PEER_REQUEST_BYTES} bytes): {e}"),
            )
                .into_response()
        }
    };
    let envelope: Envelope = match format.decode(&body) {
        Ok(e) => e,
        Err(e @ (CodecError::Version { .. } | CodecError::NotPeerMessage { .. })) => {
            route.log_version(&e);
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("the body is not a peer envelope this node can read: {e}"),
            )
                .into_response();
        }
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
    // A control request awaits the member's Raft and never blocks: it is answered here.
    let handler = route.handler.clone();
    let answer = match envelope.request {
        PeerRequest::Control(request) => Ok(handler.receive_control(&envelope.from, request).await),
        request => {
            tokio::task::spawn_blocking(move || handler.receive(&envelope.from, request)).await
        }
    };
    match answer.map(|response| format.encode(&response)) {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the answer could not be encoded: {e}"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the peer request failed: {e}"),
        )
            .into_response(),
    }
}

/// A [`PeerTransport`] that posts each request to the peer's [`PEER_PATH`] at
/// `http://{peer id}`, in the binary peer format ([`PeerFormat`]), with the cluster secret
/// when its [`PeerAuth`] has one. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct HttpPeerTransport {
    me: NodeId,
    client: reqwest::Client,
    secret: Option<HeaderValue>,
    format: PeerFormat,
    /// Bytes of sync requests sent, per peer (see [`HttpPeerTransport::sync_bytes`]).
    sync_bytes: Arc<std::sync::Mutex<std::collections::BTreeMap<NodeId, u64>>>,
}

impl std::fmt::Debug for HttpPeerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPeerTransport")
            .field("me", &self.me)
            .field("authenticated", &self.secret.is_some())
            .field("format", &self.format)
            .finish()
    }
}

impl HttpPeerTransport {
    /// The transport of node `me`, authenticating as `auth` says, with a 5 s request timeout
    /// (the node puts its own, usually shorter, timeout around every call as well).
    ///
    /// # Panics
    /// If the HTTP client cannot be set up (the system's TLS or resolver configuration cannot
    /// be loaded), which does not happen with the features this crate enables.
    pub fn new(me: NodeId, auth: PeerAuth) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .expect("an HTTP client without TLS always builds");
        Self::with_client(me, client, auth)
    }

    /// The transport of node `me` over a client the host configured.
    pub fn with_client(me: NodeId, client: reqwest::Client, auth: PeerAuth) -> Self {
        let secret = auth.secret().and_then(|s| {
            // A ClusterSecret holds visible ASCII only, which is always a valid header value.
            let mut value = HeaderValue::from_str(s.expose()).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Self {
            me,
            client,
            secret,
            format: PeerFormat::Binary,
            sync_bytes: Arc::default(),
        }
    }

    /// The same transport sending `format` ([`PeerFormat::Json`] to read the traffic while
    /// debugging; every node's route reads both).
    pub fn with_format(mut self, format: PeerFormat) -> Self {
        self.format = format;
        self
    }

    /// The id this transport sends as.
    pub fn id(&self) -> &NodeId {
        &self.me
    }

    /// Bytes of the sync requests ([`PeerRequest::Sync`]) posted to each peer so far (the
    /// bodies in this transport's [`PeerFormat`], whether or not the peer took them), in id
    /// order. Clones share the counts.
    pub fn sync_bytes(&self) -> Vec<(NodeId, u64)> {
        crate::util::lock(&self.sync_bytes)
            .iter()
            .map(|(peer, bytes)| (peer.clone(), *bytes))
            .collect()
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
impl PeerTransport for HttpPeerTransport {
    async fn send(&self, to: &NodeId, request: PeerRequest) -> Result<PeerResponse, PeerError> {
        let failed = |reason: String| PeerError::Failed {
            peer: to.clone(),
            reason,
        };
        let is_sync = matches!(request, PeerRequest::Sync { .. });
        let body = match self.format {
            PeerFormat::Binary => encode_request(&self.me, &request).map_err(|e| e.to_string()),
            PeerFormat::Json => serde_json::to_vec(&Envelope {
                from: self.me.clone(),
                request,
            })
            .map_err(|e| e.to_string()),
        }
        .map_err(failed)?;
        let url = format!("http://{to}{PEER_PATH}");
        if is_sync {
            *crate::util::lock(&self.sync_bytes)
                .entry(to.clone())
                .or_default() += body.len() as u64;
        }
        let mut post = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, self.format.content_type())
            .header(PEER_VERSION_HEADER, WIRE_VERSION.to_string())
            .body(body);
        if let Some(value) = &self.secret {
            post = post.header(CLUSTER_SECRET_HEADER, value.clone());
        }
        let answer = post.send().await.map_err(|e| classify(to, &e))?;
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            let reason = format!("HTTP {status}: {}", crate::model::excerpt(&body));
            if status == StatusCode::FORBIDDEN || status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                // The peer refuses this node (its secret, or its wire format version): as a
                // protocol refusal, so the node logs it as one.
                return Ok(PeerResponse::Rejected(reason));
            }
            return Err(failed(reason));
        }
        let bytes = answer.bytes().await.map_err(|e| classify(to, &e))?;
        self.format
            .decode::<PeerResponse>(&bytes)
            .map_err(|e| failed(format!("the answer does not decode: {e}")))
    }
}
