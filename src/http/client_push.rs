//! UDP push for [`HttpClientTransport`]: the transport is a [`PushTransport`] through a
//! [`UdpPushReceiver`] per namespace, bound on the local address that routes to the server.
//! A subscribed service's list queries carry `udpPort` and `clientIP`, which subscribes the
//! receiver at the server (and renews it with every pull); pushes go to the client's
//! [`PushSink`]s, and its pulls stay the safety net.

use super::client::HttpClientTransport;
use crate::model::{NamespaceId, ServiceKey};
use crate::protocol::{PushSink, PushTransport, ServiceQuery, TransportError};
use crate::udp::UdpPushReceiver;
use crate::util::lock;
use async_trait::async_trait;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

/// The receivers of one transport, by namespace.
#[derive(Default)]
pub(super) struct Receivers {
    by_namespace: Mutex<HashMap<NamespaceId, UdpPushReceiver>>,
    /// Serializes binding, so two first subscriptions bind one receiver.
    binding: tokio::sync::Mutex<()>,
}

impl Receivers {
    /// The `udpPort` and `clientIP` to send with `query`, when pushes of it are wanted.
    pub(super) fn params(&self, query: &ServiceQuery) -> Option<[(&'static str, String); 2]> {
        if !query.clusters.is_empty() {
            return None;
        }
        let map = lock(&self.by_namespace);
        let receiver = map.get(query.service.namespace())?;
        if !receiver.wants(&query.service) {
            return None;
        }
        let local = receiver.local_addr();
        Some([
            ("udpPort", local.port().to_string()),
            ("clientIP", local.ip().to_string()),
        ])
    }

    fn get(&self, namespace: &NamespaceId) -> Option<UdpPushReceiver> {
        lock(&self.by_namespace).get(namespace).cloned()
    }
}

/// `host:port` of a base URL (`http://host:port`).
fn authority(base: &str) -> Option<(String, u16)> {
    let url = reqwest::Url::parse(base).ok()?;
    let port = url.port_or_known_default()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    Some((host.to_owned(), port))
}

/// The servers' IP addresses (those that resolve).
async fn server_ips(servers: &[String]) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for (host, port) in servers.iter().filter_map(|s| authority(s)) {
        if let Ok(found) = tokio::net::lookup_host((host.as_str(), port)).await {
            ips.extend(found.map(|a| a.ip()));
        }
    }
    ips
}

/// The local IP address that routes to `server` (what the server should push to).
fn local_ip_towards(server: IpAddr) -> Option<IpAddr> {
    let unspecified = match server {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let probe = std::net::UdpSocket::bind(SocketAddr::new(unspecified, 0)).ok()?;
    probe.connect(SocketAddr::new(server, 9)).ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}

impl HttpClientTransport {
    /// The receiver for `namespace`, bound on first use.
    async fn receiver(&self, namespace: &NamespaceId) -> Result<UdpPushReceiver, TransportError> {
        let receivers = self.receivers();
        if let Some(r) = receivers.get(namespace) {
            return Ok(r);
        }
        let _binding = receivers.binding.lock().await;
        if let Some(r) = receivers.get(namespace) {
            return Ok(r);
        }
        let unreachable = |reason: String| TransportError::Unreachable { reason };
        let active = &self.servers()[self.active_server() % self.servers().len()];
        let active_ips = server_ips(std::slice::from_ref(active)).await;
        let local = active_ips
            .first()
            .and_then(|ip| local_ip_towards(*ip))
            .ok_or_else(|| unreachable(format!("no local address routes to {active}")))?;
        let trusted = server_ips(self.servers()).await;
        let receiver = UdpPushReceiver::bind(namespace.clone(), SocketAddr::new(local, 0), trusted)
            .await
            .map_err(|e| unreachable(format!("the UDP push receiver could not bind: {e}")))?;
        lock(&receivers.by_namespace).insert(namespace.clone(), receiver.clone());
        Ok(receiver)
    }

    /// The UDP push receivers, by namespace (for their addresses and counters).
    pub fn push_receivers(&self) -> Vec<UdpPushReceiver> {
        lock(&self.receivers().by_namespace)
            .values()
            .cloned()
            .collect()
    }
}

/// Pushes over UDP: see the module documentation.
#[async_trait]
impl PushTransport for HttpClientTransport {
    async fn subscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        let receiver = self.receiver(service.namespace()).await?;
        if receiver.add(service, pushes) {
            // The first query with `udpPort` subscribes at the server; its answer is the
            // current state, taken as the first push.
            let query = ServiceQuery {
                service: service.clone(),
                clusters: Vec::new(),
                healthy_only: false,
            };
            let info = crate::protocol::ClientTransport::query_service(self, &query).await?;
            pushes.push(info);
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        // The server's subscription expires 10 s after the last query that renewed it.
        if let Some(r) = self.receivers().get(service.namespace()) {
            r.remove(service, pushes);
        }
        Ok(())
    }
}
