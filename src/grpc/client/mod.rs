//! [`GrpcClientTransport`]: a [`ClientTransport`] that speaks Nacos 2.x gRPC, so a
//! [`crate::NamingClient`] can use nacre or Nacos servers over gRPC and be pushed to.
//!
//! - One connection at a time: `ServerCheckRequest`, then the bi-stream with its
//!   `ConnectionSetupRequest`, on one HTTP/2 connection (the server names the connection by
//!   its address). A `HealthCheckRequest` every 5 s keeps it alive and notices a dead one.
//! - Instances live by the connection, so the transport offers no beat capability: the client
//!   sends no beats. It remembers what it registered and subscribed; when the connection
//!   breaks it connects again — to the next server in the list if need be — and registers and
//!   subscribes everything again (Nacos' *redo*).
//! - Pushes (`NotifySubscriberRequest`) reach the client's [`PushSink`]s and are acked with a
//!   `NotifySubscriberResponse`; detection probes are answered.

mod stream;
mod transport;
mod wire;

use self::stream::{keep_alive, read_stream};
use self::wire::{batch_body, call, decode, instance_body, subscribe_body, Refused};
use crate::grpc::proto::Payload;
use crate::grpc::service::BI_STREAM_PATH;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::protocol::{PushSink, ServerListError, TransportError};
use crate::util::lock;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// What the client published, to publish again after a reconnect.
#[derive(Default)]
struct Published {
    single: BTreeMap<(ServiceKey, InstanceKey), Instance>,
    batches: BTreeMap<ServiceKey, Vec<Instance>>,
    subscriptions: HashMap<ServiceKey, HashMap<u64, PushSink>>,
}

struct Conn {
    grpc: tonic::client::Grpc<Channel>,
    /// Held so the bi-stream stays open: the stream ends when every sender is gone.
    _outbound: mpsc::Sender<Payload>,
    alive: Arc<AtomicBool>,
}

struct Inner {
    servers: Vec<Endpoint>,
    active: AtomicUsize,
    timeout: Duration,
    conn: tokio::sync::Mutex<Option<Conn>>,
    published: Mutex<Published>,
    next_id: AtomicU64,
    reconnects: AtomicU64,
}

/// See the module documentation. Cheap to clone; clones share the connection.
///
/// ```no_run
/// use nacre::grpc::GrpcClientTransport;
/// use nacre::model::DEFAULT_GROUP;
/// use nacre::{Instance, NamingClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // The gRPC port: a Nacos server's HTTP port plus 1000.
/// let transport = GrpcClientTransport::new(["127.0.0.1:9848"])?;
/// let client = NamingClient::builder(transport).build()?;
/// client
///     .register_instance("orders", DEFAULT_GROUP, Instance::new("10.0.0.1", 8080)?)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GrpcClientTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GrpcClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClientTransport")
            .field("servers", &self.inner.servers.len())
            .field("active", &self.inner.active.load(Ordering::Relaxed))
            .finish()
    }
}

fn endpoint(server: &str, timeout: Duration) -> Result<Endpoint, ServerListError> {
    let bad = || ServerListError::BadAddress(server.to_owned());
    let trimmed = server.trim().trim_end_matches('/');
    let url = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    Endpoint::from_shared(url)
        // No request timeout on the channel: each call has its own (`wire::call`), so a
        // drain can wait longer than a plain request.
        .map(|e| e.connect_timeout(timeout))
        .map_err(|_| bad())
}

fn unreachable(reason: impl Into<String>) -> TransportError {
    TransportError::Unreachable {
        reason: reason.into(),
    }
}

impl GrpcClientTransport {
    /// A transport to the gRPC ports of `servers` (`host:port` or `http://host:port`), with
    /// requests that give up after 3 s.
    pub fn new<S: AsRef<str>>(
        servers: impl IntoIterator<Item = S>,
    ) -> Result<Self, ServerListError> {
        Self::with_timeout(servers, Duration::from_secs(3))
    }

    /// A transport whose requests give up after `timeout`.
    pub fn with_timeout<S: AsRef<str>>(
        servers: impl IntoIterator<Item = S>,
        timeout: Duration,
    ) -> Result<Self, ServerListError> {
        let servers = servers
            .into_iter()
            .map(|s| endpoint(s.as_ref(), timeout))
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err(ServerListError::Empty);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                servers,
                active: AtomicUsize::new(0),
                timeout,
                conn: tokio::sync::Mutex::new(None),
                published: Mutex::new(Published::default()),
                next_id: AtomicU64::new(1),
                reconnects: AtomicU64::new(0),
            }),
        })
    }

    /// The index of the server in use (or tried next).
    pub fn active_server(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// How many connections were made so far (the first one included).
    pub fn connections_made(&self) -> u64 {
        self.inner.reconnects.load(Ordering::Relaxed)
    }

    /// Closes the connection (the server then releases everything it published). The next
    /// call connects again and publishes it all again.
    pub async fn disconnect(&self) {
        if let Some(conn) = self.inner.conn.lock().await.take() {
            conn.alive.store(false, Ordering::Release);
        }
    }

    fn request_id(&self) -> String {
        self.inner
            .next_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string()
    }

    /// The live connection, connecting (and publishing everything again) if there is none.
    /// (Boxed: connecting starts the keep-alive task, which may connect again.)
    fn connection(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<tonic::client::Grpc<Channel>, TransportError>>
                + Send
                + '_,
        >,
    > {
        Box::pin(self.connect_if_needed())
    }

    async fn connect_if_needed(&self) -> Result<tonic::client::Grpc<Channel>, TransportError> {
        let mut guard = self.inner.conn.lock().await;
        if let Some(conn) = guard.as_ref() {
            if conn.alive.load(Ordering::Acquire) {
                return Ok(conn.grpc.clone());
            }
        }
        *guard = None;
        let count = self.inner.servers.len();
        let start = self.inner.active.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for step in 0..count {
            let index = (start + step) % count;
            match self.connect(index).await {
                Ok(conn) => {
                    self.inner.active.store(index, Ordering::Relaxed);
                    self.inner.reconnects.fetch_add(1, Ordering::Relaxed);
                    let grpc = conn.grpc.clone();
                    *guard = Some(conn);
                    drop(guard);
                    self.redo(&grpc).await;
                    return Ok(grpc);
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(unreachable(failures.join("; ")))
    }

    async fn connect(&self, index: usize) -> Result<Conn, TransportError> {
        let endpoint = &self.inner.servers[index];
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(format!("{}: {e}", endpoint.uri())))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        let check = call(
            &mut grpc,
            self.inner.timeout,
            self.payload("ServerCheckRequest", json!({})),
        )
        .await?;
        if check.kind() != "ServerCheckResponse" {
            return Err(unreachable(format!(
                "{} answered the server check with {}",
                endpoint.uri(),
                check.kind()
            )));
        }
        let (outbound, rx) = mpsc::channel::<Payload>(64);
        let setup = self.payload(
            "ConnectionSetupRequest",
            json!({
                "clientVersion": concat!("nacre:", env!("CARGO_PKG_VERSION")),
                "tenant": "",
                "labels": {"source": "sdk", "module": "naming"},
                "abilityTable": {},
            }),
        );
        outbound
            .send(setup)
            .await
            .map_err(|_| unreachable("the stream closed at once"))?;
        grpc.ready()
            .await
            .map_err(|e| unreachable(format!("{}: {e}", endpoint.uri())))?;
        let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(BI_STREAM_PATH);
        let response = grpc
            .streaming(tonic::Request::new(ReceiverStream::new(rx)), path, codec)
            .await
            .map_err(|e| unreachable(format!("{}: {e}", endpoint.uri())))?;
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(read_stream(
            Arc::downgrade(&self.inner),
            response.into_inner(),
            outbound.downgrade(),
            alive.clone(),
        ));
        // The server registers the connection when it reads the setup: wait for that.
        for attempt in 0..20u32 {
            let answer = call(
                &mut grpc,
                self.inner.timeout,
                self.payload("HealthCheckRequest", json!({})),
            )
            .await?;
            if answer.kind() == "HealthCheckResponse" {
                break;
            }
            if attempt == 19 {
                return Err(unreachable(format!(
                    "{} never registered the connection",
                    endpoint.uri()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10 << attempt.min(5))).await;
        }
        tokio::spawn(keep_alive(
            Arc::downgrade(&self.inner),
            grpc.clone(),
            alive.clone(),
        ));
        Ok(Conn {
            grpc,
            _outbound: outbound,
            alive,
        })
    }

    /// Publishes everything again on a fresh connection. Failures are left to the next
    /// reconnect.
    async fn redo(&self, grpc: &tonic::client::Grpc<Channel>) {
        let (single, batches, subscribed) = {
            let p = lock(&self.inner.published);
            (
                p.single
                    .iter()
                    .map(|((s, _), i)| (s.clone(), i.clone()))
                    .collect::<Vec<_>>(),
                p.batches.clone(),
                p.subscriptions.keys().cloned().collect::<Vec<_>>(),
            )
        };
        let mut grpc = grpc.clone();
        for (service, instance) in single {
            let body = instance_body(&service, "registerInstance", &instance);
            let _ = call(
                &mut grpc,
                self.inner.timeout,
                self.payload("InstanceRequest", body),
            )
            .await;
        }
        for (service, instances) in batches {
            let body = batch_body(&service, &instances);
            let _ = call(
                &mut grpc,
                self.inner.timeout,
                self.payload("BatchInstanceRequest", body),
            )
            .await;
        }
        for service in subscribed {
            let body = subscribe_body(&service, true);
            let _ = call(
                &mut grpc,
                self.inner.timeout,
                self.payload("SubscribeServiceRequest", body),
            )
            .await;
        }
    }

    fn payload(&self, kind: &str, mut body: Value) -> Payload {
        if let Some(map) = body.as_object_mut() {
            map.insert("headers".into(), json!({}));
            map.insert("requestId".into(), Value::String(self.request_id()));
        }
        Payload::new(kind, body.to_string().into_bytes())
    }

    /// Sends one request, connecting first if needed; a broken connection is retried once on
    /// a fresh one. Returns the answer of type `expect`.
    async fn send(&self, kind: &str, body: Value, expect: &str) -> Result<Value, TransportError> {
        self.send_within(kind, body, expect, self.inner.timeout)
            .await
    }

    /// [`Self::send`] with a timeout of its own (a drain's answer comes after its wait).
    async fn send_within(
        &self,
        kind: &str,
        body: Value,
        expect: &str,
        timeout: Duration,
    ) -> Result<Value, TransportError> {
        let mut last = None;
        for _ in 0..2 {
            let mut grpc = self.connection().await?;
            match call(&mut grpc, timeout, self.payload(kind, body.clone())).await {
                Ok(answer) => return decode(&answer, expect).map_err(|e| self.on_refusal(e)),
                Err(e) => {
                    self.disconnect().await;
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| unreachable("no answer")))
    }

    /// A 301 means the server forgot the connection: drop it, so the next call reconnects.
    fn on_refusal(&self, e: Refused) -> TransportError {
        if e.code == 301 {
            let inner = self.inner.clone();
            tokio::spawn(async move {
                if let Some(conn) = inner.conn.lock().await.take() {
                    conn.alive.store(false, Ordering::Release);
                }
            });
        }
        TransportError::Server {
            code: u16::try_from(e.code).unwrap_or(500),
            message: e.message,
        }
    }
}
