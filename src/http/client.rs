//! [`HttpClientTransport`]: a [`ClientTransport`] that speaks the Nacos v1 open API, so a
//! [`crate::NamingClient`] can use nacre servers or real Nacos servers over HTTP.
//!
//! | call | request |
//! | --- | --- |
//! | `register_instance` | `POST /nacos/v1/ns/instance` (form body) |
//! | `batch_register_instance` | one `POST /nacos/v1/ns/instance` per instance (v1 has no batch call, so this is not atomic) |
//! | `deregister_instance` | `DELETE /nacos/v1/ns/instance` |
//! | `send_beat` | `PUT /nacos/v1/ns/instance/beat`: with the `beat` JSON until a server answers `lightBeatEnabled`, then light (`ip`, `port`, `clusterName`); code 20404 answers [`BeatAnswer::NotFound`] |
//! | `query_service` | `GET /nacos/v1/ns/instance/list` |
//! | `list_services` | `GET /nacos/v1/ns/service/list` |
//! | push | UDP, as Nacos 1.x clients: a subscribed service's `GET /nacos/v1/ns/instance/list` carries `udpPort` and `clientIP`, received by a [`crate::udp::UdpPushReceiver`] |
//!
//! **Push over UDP.** A subscribed service's list queries subscribe a local UDP receiver at
//! the server, which pushes every change to it, as Nacos pushes to its v1 clients; the pulls,
//! every `cacheMillis` (10 s for a client that is pushed to), stay the safety net. Requests
//! name the client `nacre:v<version>` in `User-Agent`, an agent nacre servers push to (Nacos
//! servers push only to the agents they know: against one, the client lives on its pulls).
//! [`HttpClientTransport::with_udp_push`] turns push off.
//!
//! **Several servers.** The transport talks to one server at a time. When it cannot be reached,
//! times out or answers 5xx, the next one in the list is tried, and the first that answers
//! becomes the one used from then on, as the Nacos clients do. A 4xx answer is the server's
//! refusal and is returned as [`TransportError::Server`].

use super::client_push::Receivers;
use super::json::{BeatJson, BeatRequestJson, ServiceListJson, CODE_RESOURCE_NOT_FOUND};
use super::paths::{BEAT_PATH, INSTANCE_LIST_PATH, INSTANCE_PATH, SERVICE_LIST_PATH};
use crate::model::{excerpt, Instance, ServiceKey, ServiceName};
use crate::protocol::json::ServiceInfoJson;
use crate::protocol::{
    BeatAnswer, BeatInfo, BeatTransport, ClientTransport, DrainAction, DrainReport, PushTransport,
    ServerListError, ServiceInfo, ServiceListQuery, ServiceQuery, TransportError, DRAIN_PARAM,
};
use crate::registry::ServiceList;
use crate::udp::NACRE_AGENT;
use async_trait::async_trait;
use reqwest::Method;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Inner {
    servers: Vec<String>,
    active: AtomicUsize,
    client: reqwest::Client,
    light_beats: AtomicBool,
    udp_push: AtomicBool,
    receivers: Receivers,
}

/// See the module documentation. Cheap to clone; clones share the connection pool and the
/// active server.
///
/// ```no_run
/// use nacre::http::HttpClientTransport;
/// use nacre::model::DEFAULT_GROUP;
/// use nacre::{Instance, NamingClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = HttpClientTransport::new(["127.0.0.1:8848", "127.0.0.1:8849"])?;
/// let client = NamingClient::builder(transport).build()?;
/// client
///     .register_instance("orders", DEFAULT_GROUP, Instance::new("10.0.0.1", 8080)?)
///     .await?;
/// let all = client.get_all_instances("orders", DEFAULT_GROUP, &[], false).await?;
/// # let _ = all;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpClientTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientTransport")
            .field("servers", &self.inner.servers)
            .field("active", &self.inner.active.load(Ordering::Relaxed))
            .field(
                "light_beats",
                &self.inner.light_beats.load(Ordering::Relaxed),
            )
            .finish()
    }
}

/// Requests give up after this long by default (the Python and Java clients use 3 to 5 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

fn base_url(server: &str) -> Result<String, ServerListError> {
    let bad = || ServerListError::BadAddress(server.to_owned());
    let trimmed = server.trim();
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("http", trimmed));
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(bad());
    }
    let url = format!("{scheme}://{rest}");
    let parsed = reqwest::Url::parse(&url).map_err(|_| bad())?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(url)
}

impl HttpClientTransport {
    /// A transport to `servers` (`host:port` or `http://host:port`), with a
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new<S: AsRef<str>>(
        servers: impl IntoIterator<Item = S>,
    ) -> Result<Self, ServerListError> {
        Self::with_timeout(servers, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A transport to `servers` whose requests give up after `timeout`. It connects directly,
    /// ignoring any `HTTP_PROXY` settings; pass your own client to
    /// [`HttpClientTransport::with_client`] for anything else.
    pub fn with_timeout<S: AsRef<str>>(
        servers: impl IntoIterator<Item = S>,
        timeout: Duration,
    ) -> Result<Self, ServerListError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| ServerListError::Client(e.to_string()))?;
        Self::with_client(servers, client)
    }

    /// A transport to `servers` over a client the host configured (timeouts, proxy, TLS...).
    pub fn with_client<S: AsRef<str>>(
        servers: impl IntoIterator<Item = S>,
        client: reqwest::Client,
    ) -> Result<Self, ServerListError> {
        let servers = servers
            .into_iter()
            .map(|s| base_url(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err(ServerListError::Empty);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                servers,
                active: AtomicUsize::new(0),
                client,
                light_beats: AtomicBool::new(false),
                udp_push: AtomicBool::new(true),
                receivers: Receivers::default(),
            }),
        })
    }

    /// The base URLs of the servers, in the order they are tried.
    pub fn servers(&self) -> &[String] {
        &self.inner.servers
    }

    /// The index of the server the next call goes to first.
    pub fn active_server(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Turns UDP push on (the default) or off. Off, the transport offers no push and a
    /// subscribed client learns of changes by its pulls alone.
    pub fn with_udp_push(self, enabled: bool) -> Self {
        self.inner.udp_push.store(enabled, Ordering::Relaxed);
        self
    }

    pub(super) fn receivers(&self) -> &Receivers {
        &self.inner.receivers
    }

    /// Whether beats are sent light (without the instance data) now.
    pub fn light_beats(&self) -> bool {
        self.inner.light_beats.load(Ordering::Relaxed)
    }

    /// Sends one call to the active server, moving on to the next on failure; returns the body
    /// of a 2xx answer. Parameters go in the query string for `GET` and `DELETE` and in a form
    /// body otherwise, as the Java client sends them.
    async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<String, TransportError> {
        self.call_within(method, path, params, None).await
    }

    /// [`Self::call`], with a timeout of its own rather than the client's (a drain's answer
    /// comes after its wait).
    async fn call_within(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<String, TransportError> {
        let servers = &self.inner.servers;
        let start = self.inner.active.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for step in 0..servers.len() {
            let index = (start + step) % servers.len();
            let url = format!("{}{path}", servers[index]);
            let request = self
                .inner
                .client
                .request(method.clone(), &url)
                .header(reqwest::header::USER_AGENT, NACRE_AGENT);
            let request = match timeout {
                Some(t) => request.timeout(t),
                None => request,
            };
            let request = if method == Method::GET || method == Method::DELETE {
                request.query(params)
            } else {
                request.form(params)
            };
            let answer = match request.send().await {
                Ok(a) => a,
                Err(e) => {
                    failures.push(format!("{url}: {e}"));
                    continue;
                }
            };
            let status = answer.status();
            let body = match answer.text().await {
                Ok(b) => b,
                Err(e) => {
                    failures.push(format!("{url}: reading the answer failed: {e}"));
                    continue;
                }
            };
            if status.is_server_error() {
                failures.push(format!("{url}: HTTP {status}: {}", excerpt(&body)));
                continue;
            }
            self.inner.active.store(index, Ordering::Relaxed);
            if status.is_success() {
                return Ok(body);
            }
            return Err(TransportError::Server {
                code: status.as_u16(),
                message: body,
            });
        }
        Err(TransportError::Unreachable {
            reason: failures.join("; "),
        })
    }

    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, TransportError> {
        let body = self.call(method, path, params).await?;
        serde_json::from_str(&body).map_err(|e| TransportError::Malformed {
            reason: format!("{path} answered `{}`: {e}", excerpt(&body)),
        })
    }
}

fn service_params(service: &ServiceKey) -> Vec<(&'static str, String)> {
    vec![
        ("namespaceId", service.namespace().to_string()),
        ("serviceName", service.grouped_name()),
        ("groupName", service.group().to_string()),
    ]
}

fn instance_params(service: &ServiceKey, instance: &Instance) -> Vec<(&'static str, String)> {
    let mut params = service_params(service);
    params.extend([
        ("ip", instance.ip().to_string()),
        ("port", instance.port().to_string()),
        ("clusterName", instance.cluster().to_string()),
        ("ephemeral", instance.ephemeral().to_string()),
    ]);
    params
}

#[async_trait]
impl ClientTransport for HttpClientTransport {
    async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let mut params = instance_params(service, instance);
        let metadata =
            serde_json::to_string(instance.metadata()).map_err(|e| TransportError::Malformed {
                reason: format!("metadata could not be encoded: {e}"),
            })?;
        params.extend([
            ("weight", instance.weight().to_string()),
            ("enabled", instance.enabled().to_string()),
            ("healthy", instance.healthy().to_string()),
            ("metadata", metadata),
        ]);
        self.call(Method::POST, INSTANCE_PATH, &params).await?;
        Ok(())
    }

    async fn batch_register_instance(
        &self,
        service: &ServiceKey,
        instances: &[Instance],
    ) -> Result<(), TransportError> {
        for instance in instances {
            self.register_instance(service, instance).await?;
        }
        Ok(())
    }

    async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let params = instance_params(service, instance);
        self.call(Method::DELETE, INSTANCE_PATH, &params).await?;
        Ok(())
    }

    async fn drain_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
        action: DrainAction,
        wait: Duration,
    ) -> Result<DrainReport, TransportError> {
        let mut params = instance_params(service, instance);
        params.push((DRAIN_PARAM, wait.as_millis().to_string()));
        let method = match action {
            DrainAction::Deregister => Method::DELETE,
            DrainAction::Disable => {
                // A `PUT` sets weight and metadata too: send the instance's own.
                let metadata = serde_json::to_string(instance.metadata()).map_err(|e| {
                    TransportError::Malformed {
                        reason: format!("metadata: {e}"),
                    }
                })?;
                params.extend([
                    ("enabled", "false".to_owned()),
                    ("weight", instance.weight().to_string()),
                    ("metadata", metadata),
                ]);
                Method::PUT
            }
        };
        // The answer comes after the wait: give the request that long on top of the usual.
        let timeout = wait.saturating_add(DEFAULT_REQUEST_TIMEOUT);
        let body = self
            .call_within(method, INSTANCE_PATH, &params, Some(timeout))
            .await?;
        serde_json::from_str(&body).map_err(|e| TransportError::Malformed {
            reason: format!("{INSTANCE_PATH} answered `{}`: {e}", excerpt(&body)),
        })
    }

    async fn query_service(&self, query: &ServiceQuery) -> Result<ServiceInfo, TransportError> {
        let mut params = service_params(&query.service);
        let clusters: Vec<&str> = query.clusters.iter().map(|c| c.as_str()).collect();
        params.push(("clusters", clusters.join(",")));
        params.push(("healthyOnly", query.healthy_only.to_string()));
        if let Some(push) = self.inner.receivers.params(query) {
            params.extend(push);
        }
        let answer: ServiceInfoJson = self
            .call_json(Method::GET, INSTANCE_LIST_PATH, &params)
            .await?;
        let hosts = answer
            .hosts
            .iter()
            .map(|h| {
                h.to_instance().map_err(|e| TransportError::Malformed {
                    reason: format!("host {}:{} is not a valid instance: {e}", h.ip, h.port),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServiceInfo {
            service: query.service.clone(),
            clusters: query.clusters.clone(),
            hosts,
            cache_millis: answer.cache_millis,
            last_ref_time: answer.last_ref_time,
            revision: 0,
            checksum: answer.checksum,
            reach_protection_threshold: answer.reach_protection_threshold,
        })
    }

    async fn list_services(&self, query: &ServiceListQuery) -> Result<ServiceList, TransportError> {
        let params = [
            ("namespaceId", query.namespace.to_string()),
            ("groupName", query.group.to_string()),
            ("pageNo", query.page_no.to_string()),
            ("pageSize", query.page_size.to_string()),
        ];
        let answer: ServiceListJson = self
            .call_json(Method::GET, SERVICE_LIST_PATH, &params)
            .await?;
        let services = answer
            .doms
            .iter()
            .map(|name| {
                // A 1.x server may answer grouped names; keep the service part.
                let bare = name.rsplit("@@").next().unwrap_or(name);
                ServiceName::new(bare).map_err(|e| TransportError::Malformed {
                    reason: format!("service name `{}` is not valid: {e}", excerpt(name)),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServiceList {
            count: answer.count,
            services,
        })
    }

    /// Beats: `PUT /nacos/v1/ns/instance/beat`.
    fn beats(&self) -> Option<&dyn BeatTransport> {
        Some(self)
    }

    /// Pushes over UDP (a [`crate::udp::UdpPushReceiver`] per namespace), unless turned off with
    /// [`HttpClientTransport::with_udp_push`].
    fn pushes(&self) -> Option<&dyn PushTransport> {
        if self.inner.udp_push.load(Ordering::Relaxed) {
            Some(self)
        } else {
            None
        }
    }
}

#[async_trait]
impl BeatTransport for HttpClientTransport {
    async fn send_beat(&self, beat: &BeatInfo) -> Result<BeatAnswer, TransportError> {
        let mut params = service_params(&beat.service);
        if self.light_beats() {
            params.extend([
                ("ip", beat.instance.ip().to_string()),
                ("port", beat.instance.port().to_string()),
                ("clusterName", beat.instance.cluster().to_string()),
            ]);
        } else {
            let json = BeatRequestJson::from_instance(&beat.instance, &beat.service, beat.period);
            let json = serde_json::to_string(&json).map_err(|e| TransportError::Malformed {
                reason: format!("the beat could not be encoded: {e}"),
            })?;
            params.push(("beat", json));
        }
        let answer: BeatJson = self.call_json(Method::PUT, BEAT_PATH, &params).await?;
        if answer.code == CODE_RESOURCE_NOT_FOUND {
            return Ok(BeatAnswer::NotFound);
        }
        self.inner
            .light_beats
            .store(answer.light_beat_enabled, Ordering::Relaxed);
        let interval = if answer.client_beat_interval > 0 {
            Duration::from_millis(answer.client_beat_interval)
        } else {
            beat.period
        };
        Ok(BeatAnswer::Ok {
            client_beat_interval: interval,
            light_beat_enabled: answer.light_beat_enabled,
        })
    }
}
