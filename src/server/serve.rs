//! [`serve`]: the HTTP accept loop of `nacre-server`, hardened: header-read, body-read and
//! idle timeouts, a cap on concurrent connections, a body size cap (413), and graceful
//! shutdown. (`axum::serve` has none of the timeouts; hosts that mount [`crate::http::NacosApi`]
//! on their own server keep their own policy.)
//!
//! | limit | default | on breach |
//! | --- | --- | --- |
//! | [`ServeConfig::header_timeout`] | 10 s | the connection is closed (slow or idle headers, keep-alive idle included) |
//! | [`ServeConfig::body_timeout`] | 10 s | 408 Request Timeout |
//! | [`ServeConfig::idle_timeout`] | 60 s | an idle keep-alive connection is closed |
//! | [`ServeConfig::max_connections`] | 10 000 | a new connection is closed at once (counted) |
//! | [`ServeConfig::max_connections_per_ip`] | 1 000 | a new connection from an address holding that many is closed at once (counted) |
//! | [`ServeConfig::max_body_bytes`] | 1 MiB | 413 Payload Too Large |
//!
//! Nacos (Tomcat) defaults for comparison: 20 s connection timeout, 10 000 connections, a
//! 2 MB form body; Tomcat has no share per address.
//!
//! The caps are a [`ConnectionGate`] (see [`crate::front::gate`]): refusals, and errors of
//! `accept` itself (out of file descriptors), are logged at most once per 10 s with the count
//! left unlogged. Each request carries its connection's [`Slot`], so a handler that holds its
//! connection open for a stream (the console's events) can give the place back and be bounded
//! by a gate of its own.
//!
//! **TLS** (`--tls-cert`): given a `rustls` configuration, each admitted connection's TLS
//! handshake runs first, bounded by [`ServeConfig::header_timeout`] (a client that never
//! finishes it frees its place then); a failed handshake closes the connection and is logged
//! at most once per 10 s (see [`crate::front::tls`]). Then HTTP is served over the TLS stream
//! exactly as over TCP.
//!
//! **Graceful shutdown**: [`Shutdown::trigger`] stops accepting; every open connection is told
//! to finish its request in flight and close; [`serve`] returns when they all did (the caller
//! bounds the wait).

use crate::front::gate::{ConnectionGate, GateLimits, RefusalLog, Slot, REFUSAL_LOG_INTERVAL};
use crate::front::tls::TlsAcceptor;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Timeouts and caps of [`serve`]: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeConfig {
    /// Time to receive a request's headers, and the longest a keep-alive connection waits
    /// for the next request's first bytes.
    pub header_timeout: Duration,
    /// Time to receive a request's body once its headers arrived.
    pub body_timeout: Duration,
    /// An open connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Connections served at once from one source address; more from it are closed as they
    /// arrive.
    pub max_connections_per_ip: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: crate::front::gate::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: crate::front::gate::DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Counters of [`serve`].
#[derive(Debug, Default)]
pub struct ServeStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicUsize,
    in_flight: AtomicUsize,
}

impl ServeStats {
    /// Connections accepted.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Connections closed at once for want of a place ([`ServeConfig::max_connections`],
    /// [`ServeConfig::max_connections_per_ip`]).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Tells a running [`serve`] to shut down gracefully. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A trigger not pulled yet.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }
    /// Stops accepting and closes every connection once its request in flight is answered.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }
    /// Resolves once it is triggered.
    pub async fn stopped(&self) {
        triggered(&mut self.subscribe()).await;
    }
    fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

async fn triggered(rx: &mut watch::Receiver<bool>) {
    // An error means the trigger is gone: nobody can shut down any more, so never resolve.
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves `router` on `listener` with `config` until `shutdown` is triggered and every
/// connection has closed; over TLS with `tls` (see the module documentation; give it
/// [`crate::front::tls::TlsConfig::http1`]). Handlers see the peer address as
/// `Extension<ConnectInfo<SocketAddr>>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Shutdown,
    stats: Arc<ServeStats>,
) {
    let tls = tls.map(|tls| Arc::new(TlsAcceptor::new(tls, "HTTP")));
    let router = router.layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes));
    let gate = ConnectionGate::new(
        "HTTP connection",
        GateLimits {
            max_total: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
        },
    );
    let accept_errors = RefusalLog::new(REFUSAL_LOG_INTERVAL);
    let mut stop = shutdown.subscribe();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = triggered(&mut stop) => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections as we go.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                crate::front::gate::accept_failed(&accept_errors, "HTTP", &error).await;
                continue;
            }
        };
        let Ok(ticket) = gate.admit(peer.ip()) else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let slot = Slot::new(ticket);
        let _ = stream.set_nodelay(true);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let router = router.clone();
        let stats = stats.clone();
        let tls = tls.clone();
        let mut stop = shutdown.subscribe();
        connections.spawn(async move {
            let conn = Conn {
                peer,
                slot: slot.clone(),
                router,
                config,
                stats: stats.clone(),
            };
            match tls {
                None => serve_connection(conn, stream, &mut stop).await,
                Some(tls) => {
                    let handshake = tls.handshake(stream, peer, config.header_timeout);
                    let secured = tokio::select! {
                        secured = handshake => secured,
                        () = triggered(&mut stop) => None,
                    };
                    if let Some(stream) = secured {
                        serve_connection(conn, stream, &mut stop).await;
                    }
                }
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
            slot.give_back();
        });
    }
    while connections.join_next().await.is_some() {}
}

/// One admitted connection, its stream aside (TCP, or TLS over it).
struct Conn {
    peer: SocketAddr,
    slot: Slot,
    router: Router,
    config: ServeConfig,
    stats: Arc<ServeStats>,
}

/// Serves HTTP/1.1 on `stream`, the connection `conn` admitted, until it closes.
async fn serve_connection<S>(conn: Conn, stream: S, stop: &mut watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Conn {
        peer,
        slot,
        router,
        config,
        stats,
    } = conn;
    let activity = Arc::new(Activity::default());
    let seen = activity.clone();
    let body_timeout = config.body_timeout;
    let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut()
            .insert(axum::Extension(ConnectInfo(peer)));
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(slot.clone());
        let router = router.clone();
        let seen = seen.clone();
        let stats = stats.clone();
        async move {
            let _busy = seen.start();
            stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let _counted = InFlight(stats);
            let req = req.map(|body| axum::body::Body::new(TimedBody::new(body, body_timeout)));
            router.oneshot(req).await
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle_check = tokio::time::sleep(config.idle_timeout / 4);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = triggered(stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = idle_check, if !closing => {
                if activity.idle_for() >= config.idle_timeout {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Requests in flight on a connection, and when the last one ended.
struct Activity {
    busy: AtomicUsize,
    since: std::sync::Mutex<std::time::Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            busy: AtomicUsize::new(0),
            since: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }
}

impl Activity {
    fn start(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
    fn idle_for(&self) -> Duration {
        if self.busy.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        crate::util::lock(&self.since).elapsed()
    }
}

struct Busy(Arc<Activity>);

struct InFlight(Arc<ServeStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *crate::util::lock(&self.0.since) = std::time::Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body that fails once it has taken longer than its deadline to arrive.
struct TimedBody {
    inner: Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(crate::http::BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
