//! The fronts `nacre-server` runs beside the v1 API when the build has them: the 2.x gRPC API
//! (feature `grpc`) and the web console (feature `console`). This is the one file of the
//! server with `cfg(feature)` lines, one per front: a front the build lacks is simply not in
//! the list [`bind`] returns, so the rest of the server is written once, with no
//! feature-off twin.

use super::{ServerConfig, ServerError};
use crate::front::access::Access;
use crate::front::push::PushHub;
use crate::front::Backend;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// The gRPC front's name (its metrics label, and how [`super::RunningServer::grpc_addr`]
/// finds its listener).
pub(super) const GRPC: &str = "grpc";

/// Tells a front's clients to move to one of the given members (client addresses), waiting
/// at most the given time for them to go.
pub(super) struct HandOver(Box<HandOverFn>);

type HandOverFn = dyn Fn(
        Vec<String>,
        std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    + Send
    + Sync;

impl HandOver {
    /// Tells the clients to move to one of `to`, waiting at most `wait`.
    pub(super) async fn run(&self, to: Vec<String>, wait: std::time::Duration) {
        (self.0)(to, wait).await;
    }
}

impl std::fmt::Debug for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandOver")
    }
}

/// A front the server runs beside the v1 API.
pub(super) trait Front: Send {
    /// Its name, as metrics and logs label it (`grpc`).
    fn name(&self) -> &'static str;
    /// The address it listens on, when it has a listener of its own.
    fn addr(&self) -> Option<SocketAddr> {
        None
    }
    /// Its push hub, for the subscriber listing and the metrics.
    fn hub(&self) -> Option<PushHub> {
        None
    }
    /// Drains requested on this front wait on `drainer` (every hub of the node).
    fn drains(&self, drainer: &crate::front::drain::Drainer) {
        let _ = drainer;
    }
    /// Routes it adds to the HTTP listener.
    fn router(&self) -> Option<axum::Router> {
        None
    }
    /// What tells its clients to move to another member before the server stops, if it can
    /// (gRPC: [`crate::grpc::GrpcFront::hand_over`]).
    fn hand_over(&self) -> Option<HandOver> {
        None
    }
    /// Starts serving its own listener, if it has one, until `stop` is triggered.
    fn serve(self: Box<Self>, stop: super::serve::Shutdown) -> Option<JoinHandle<()>> {
        let _ = stop;
        None
    }
}

/// Binds every front this build has, over `backend`.
pub(super) async fn bind(
    config: &ServerConfig,
    backend: &Backend,
    access: Option<&Access>,
    tls: Option<&crate::front::tls::TlsConfig>,
    control: Option<&std::sync::Arc<crate::control::ClosableControl>>,
) -> Result<Vec<Box<dyn Front>>, ServerError> {
    // `mut` and the parameters go unused in a build without fronts.
    #[allow(unused_mut)]
    let mut fronts: Vec<Box<dyn Front>> = Vec::new();
    #[cfg(feature = "grpc")]
    fronts.push(Box::new(Grpc::bind(config, backend, access, tls).await?));
    #[cfg(feature = "console")]
    {
        let console = crate::console::Console::new(backend.clone())
            .stream_limits(config.console_streams, config.console_stream_lifetime)
            .host_check(crate::http::HostCheck::new(&config.allowed_hosts));
        let console = match access {
            Some(access) => console.access(access.clone()),
            None => console,
        };
        let console = match control {
            Some(control) => console.control(control.clone()),
            None => console,
        };
        fronts.push(Box::new(Console(console)));
    }
    #[cfg(feature = "dns")]
    if let Some(dns) = Dns::bind(config, backend, access.is_some()).await? {
        fronts.push(Box::new(dns));
    }
    #[cfg(not(feature = "dns"))]
    if config.dns_port.is_some() {
        return Err(ServerError::Config(super::ConfigError::BadValue {
            setting: "--dns-port".into(),
            value: config.dns_port.unwrap_or_default().to_string(),
            expected: "nothing: this build has no DNS front (cargo feature dns)",
        }));
    }
    let _ = (config, backend, access, tls, control);
    Ok(fronts)
}

/// The DNS front on `--dns-port` (UDP and TCP, the same port), when given.
#[cfg(feature = "dns")]
struct Dns {
    front: crate::dns::DnsFront,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    addr: SocketAddr,
}

#[cfg(feature = "dns")]
impl Dns {
    async fn bind(
        config: &ServerConfig,
        backend: &Backend,
        auth: bool,
    ) -> Result<Option<Self>, ServerError> {
        let Some(port) = config.dns_port else {
            return Ok(None);
        };
        // DNS carries no credentials: with auth on, answering anyone who reaches the port is
        // an operator's explicit choice.
        if auth && !config.dns_open {
            return Err(ServerError::Config(super::ConfigError::BadValue {
                setting: "--dns-port".into(),
                value: port.to_string(),
                expected: "no DNS front while auth is on (DNS carries no credentials, so it would answer anyone who reaches the port): give --dns-open to serve it anyway",
            }));
        }
        let dns = crate::dns::DnsConfig {
            domain: config.dns_domain.clone(),
            ttl: config.dns_ttl,
            queries_per_second: config.dns_queries_per_second,
            burst: config.dns_queries_per_second.saturating_mul(2),
            tcp: config.dns_connections,
            ..crate::dns::DnsConfig::default()
        };
        let front = crate::dns::DnsFront::new(backend.clone(), dns).map_err(|e| {
            ServerError::Config(super::ConfigError::BadValue {
                setting: "--dns-domain".into(),
                value: e.to_string(),
                expected: "a domain name, such as nacre or svc.example.com",
            })
        })?;
        // TCP first: with port 0 it picks the port, and UDP takes the same one.
        let (tcp, addr) = super::listen(SocketAddr::new(config.bind, port)).await?;
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Some(Self {
            front,
            udp,
            tcp,
            addr,
        }))
    }
}

#[cfg(feature = "dns")]
impl Front for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }
    fn addr(&self) -> Option<SocketAddr> {
        Some(self.addr)
    }
    fn serve(self: Box<Self>, stop: super::serve::Shutdown) -> Option<JoinHandle<()>> {
        let Dns {
            front, udp, tcp, ..
        } = *self;
        Some(tokio::spawn(async move {
            let udp_stop = stop.clone();
            let over_udp = front.serve_udp(udp, async move { udp_stop.stopped().await });
            let over_tcp = front.serve_tcp(tcp, async move { stop.stopped().await });
            let (udp, tcp) = tokio::join!(over_udp, over_tcp);
            for (what, result) in [("UDP", udp), ("TCP", tcp)] {
                if let Err(error) = result {
                    tracing::error!(%error, over = what, "the DNS listener failed");
                }
            }
        }))
    }
}

/// The Nacos 2.x gRPC API on `--grpc-port` (the HTTP port + 1000 by default), over TLS
/// when the server has it.
#[cfg(feature = "grpc")]
struct Grpc {
    front: crate::grpc::GrpcFront,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

#[cfg(feature = "grpc")]
impl Grpc {
    async fn bind(
        config: &ServerConfig,
        backend: &Backend,
        access: Option<&Access>,
        tls: Option<&crate::front::tls::TlsConfig>,
    ) -> Result<Self, ServerError> {
        let Some(port) = config.grpc_port() else {
            return Err(ServerError::Config(super::ConfigError::BadValue {
                setting: "--grpc-port".into(),
                value: format!("{} + 1000", config.port),
                expected: "a port number (0-65535): set --grpc-port",
            }));
        };
        let (listener, addr) = super::listen(SocketAddr::new(config.bind, port)).await?;
        let grpc = crate::grpc::GrpcConfig {
            register_own_address_only: config.register_own_address_only,
            ..config.grpc
        };
        let mut front = crate::grpc::GrpcFront::new(backend.clone(), grpc);
        if let Some(access) = access {
            front = front.with_access(access.clone());
        }
        if let Some(tls) = tls {
            front = front.with_tls(tls.grpc());
        }
        Ok(Self {
            front,
            listener,
            addr,
        })
    }
}

#[cfg(feature = "grpc")]
impl Front for Grpc {
    fn name(&self) -> &'static str {
        GRPC
    }
    fn addr(&self) -> Option<SocketAddr> {
        Some(self.addr)
    }
    fn hub(&self) -> Option<PushHub> {
        Some(self.front.hub().clone())
    }
    fn drains(&self, drainer: &crate::front::drain::Drainer) {
        let _ = self.front.clone().with_drains(drainer.clone());
    }
    fn hand_over(&self) -> Option<HandOver> {
        let front = self.front.clone();
        Some(HandOver(Box::new(move |to, wait| {
            let front = front.clone();
            Box::pin(async move {
                front.hand_over(&to, wait).await;
            })
        })))
    }
    fn serve(self: Box<Self>, stop: super::serve::Shutdown) -> Option<JoinHandle<()>> {
        let Grpc {
            front, listener, ..
        } = *self;
        Some(tokio::spawn(async move {
            // On shutdown every connection is sent GOAWAY, so clients move to another server.
            let stopped = async move { stop.stopped().await };
            if let Err(error) = front.serve_until(listener, stopped).await {
                tracing::error!(%error, "the gRPC listener failed");
            }
        }))
    }
}

/// The web console at `/console/`.
#[cfg(feature = "console")]
struct Console(crate::console::Console);

#[cfg(feature = "console")]
impl Front for Console {
    fn name(&self) -> &'static str {
        "console"
    }
    fn router(&self) -> Option<axum::Router> {
        Some(self.0.router())
    }
}
