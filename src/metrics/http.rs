//! [`HttpMetrics`]: HTTP requests by method, route and status, as an axum layer; [`router`]:
//! `GET /metrics` over a [`prometheus_client`] registry.

use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;
use std::time::Instant;

/// The path [`router`] serves the metrics at.
pub const PROMETHEUS_PATH: &str = "/metrics";

/// The upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 8] = [0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0];

/// The labels of one request: Spring Boot's (which Nacos' `http_server_requests_seconds`
/// carries) `method`, `uri` (the route pattern) and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RequestLabels {
    method: axum::http::Method,
    uri: Arc<str>,
    status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        let status = self.status.to_string();
        [
            ("method", self.method.as_str()),
            ("uri", &*self.uri),
            ("status", status.as_str()),
        ]
        .encode(encoder)
    }
}

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Counts and times HTTP requests by method, route pattern and status, as
/// `http_server_requests_seconds` (a histogram). Add [`HttpMetrics::layer`] to a router with
/// [`Router::layer`] (so it sees each route's pattern), and register the family with
/// [`HttpMetrics::register`]. Cheap to clone; clones count together.
///
/// ```
/// use nacre::metrics::{router, HttpMetrics, NacreMetrics};
/// use nacre::Registry;
/// use std::sync::Arc;
///
/// let node = Registry::default();
/// let http = HttpMetrics::new();
/// let mut registry = prometheus_client::registry::Registry::default();
/// NacreMetrics::new(node.clone()).register(&mut registry);
/// http.register(&mut registry);
/// let app: axum::Router = nacre::http::router(node)
///     .merge(router(Arc::new(registry)))
///     .layer(http.layer());
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetrics {
    /// No request counted yet.
    pub fn new() -> Self {
        Self {
            requests: Family::new_with_constructor(new_histogram),
        }
    }

    /// Registers the `http_server_requests_seconds` family in `registry`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "http_server_requests_seconds",
            "HTTP requests by method, route pattern (uri) and status, and how long they took",
            self.requests.clone(),
        );
    }

    /// The layer that counts every request through the router it is applied to (with
    /// [`Router::layer`]); a path no route matched counts under `uri="UNKNOWN"`, a method
    /// other than the nine of HTTP/1.1 under `method="OTHER"`, so the number of series stays
    /// bounded whatever clients send. The same as
    /// passing a clone of `self`, which is a [`tower::Layer`] itself.
    pub fn layer(&self) -> HttpMetrics {
        self.clone()
    }
}

/// The request's method, or `OTHER` for one outside HTTP's usual nine: a client cannot grow
/// the number of series by inventing methods.
fn known_method(method: &axum::http::Method) -> axum::http::Method {
    use axum::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if KNOWN.contains(method) {
        method.clone()
    } else {
        Method::from_bytes(b"OTHER").unwrap_or_default()
    }
}

impl<S> tower::Layer<S> for HttpMetrics {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.clone(),
        }
    }
}

/// A service whose requests an [`HttpMetrics`] counts (made by its [`tower::Layer`]).
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: HttpMetrics,
}

impl<S, B> tower::Service<axum::http::Request<B>> for Counted<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let method = known_method(request.method());
        let uri: Arc<str> = match request.extensions().get::<MatchedPath>() {
            Some(path) => Arc::from(path.as_str()),
            None => Arc::from("UNKNOWN"),
        };
        let started = Instant::now();
        let future = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let response = future.await?;
            let labels = RequestLabels {
                method,
                uri,
                status: response.status().as_u16(),
            };
            metrics
                .requests
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}

/// `GET /metrics`: everything in `registry`, in the Prometheus text format
/// ([`super::CONTENT_TYPE`]). Merge it into the host's router.
pub fn router(registry: Arc<prometheus_client::registry::Registry>) -> Router {
    Router::new()
        .route(PROMETHEUS_PATH, get(scrape))
        .with_state(registry)
}

async fn scrape(State(registry): State<Arc<prometheus_client::registry::Registry>>) -> Response {
    match super::encode(&registry) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(super::CONTENT_TYPE),
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded",
        )
            .into_response(),
    }
}
