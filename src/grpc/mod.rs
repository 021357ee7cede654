//! nacre over gRPC (cargo feature `grpc`): the Nacos 2.x naming protocol, which every current
//! Nacos client speaks (Java 2.x/3.x and Spring Cloud Alibaba, nacos-sdk-rust, nacos-sdk-go
//! v2, nacos-sdk-python 3.x), with server push and connection-bound instances, and a
//! [`GrpcClientTransport`] for nacre's own [`crate::NamingClient`].
//!
//! It is a wire format over the shared [`crate::front`] layer: writes are
//! [`crate::Command`]s through [`crate::front::Backend`], queries and pushes are the one
//! [`crate::front::ServiceAnswer`], pushes go through the [`crate::front::push::PushHub`] (a
//! connection is one more [`crate::front::push::PushTarget`]). So an instance registered over
//! v1 HTTP, a health flip or an eviction reaches gRPC subscribers exactly as a gRPC write does.
//!
//! | message | answer |
//! | --- | --- |
//! | `ServerCheckRequest` | `ServerCheckResponse` with the `connectionId` |
//! | `ConnectionSetupRequest` (first on the bi-stream) | none: the connection is registered; with an `abilityTable`, the server's `SetupAckRequest` |
//! | `HealthCheckRequest` | `HealthCheckResponse` |
//! | `InstanceRequest` (`registerInstance`, `deregisterInstance`) | `InstanceResponse`; the instance lives while the connection does |
//! | `BatchInstanceRequest` (`batchRegisterInstance`) | `BatchInstanceResponse`; replaces what the connection publishes in the service |
//! | `PersistentInstanceRequest` | `InstanceResponse`; a persistent instance, not bound to the connection |
//! | `ServiceQueryRequest` | `QueryServiceResponse` with the `serviceInfo` |
//! | `SubscribeServiceRequest` | `SubscribeServiceResponse` with the `serviceInfo`; then pushes |
//! | `ServiceListRequest` | `ServiceListResponse` (`count`, `serviceNames`) |
//! | (server →) `NotifySubscriberRequest` | the client's `NotifySubscriberResponse` acks it |
//! | (server →) `ClientDetectionRequest` | the client's `ClientDetectionResponse` |
//! | (server →) `ConnectResetRequest` (on a graceful stop: [`handover`]) | the client's `ConnectResetResponse`, read and ignored |
//! | (server →) `SetupAckRequest` (after a setup with an `abilityTable`) | none |
//!
//! Error codes as Nacos sends them: 300 while a cluster member is still loading, 301 for a
//! connection that has not sent its `ConnectionSetupRequest`, 302 for an unknown message type;
//! a refused request answers its code (400 for bad input, 503 when the responsible member is
//! unreachable) as an `ErrorResponse`.
//!
//! ## Differences from Nacos
//! - A body that is not the JSON expected answers 400 (Nacos: 502).
//! - `checksum` in `ServiceInfo` is nacre's own digest (Nacos 2.x leaves it empty).
//! - Abilities are negotiated as in Nacos 2.3+: `ServerCheckResponse` says
//!   `supportAbilityNegotiation: true`, and a client whose `ConnectionSetupRequest` carries an
//!   `abilityTable` is sent a `SetupAckRequest` with the server's (`supportPersistentInstanceByGrpc:
//!   true`, so the Java 2.3+ client sends persistent instances as `PersistentInstanceRequest`;
//!   `fuzzyWatch`, `lock` and `mcp` false). Clients that send no table (Java 2.2, the Rust
//!   client) are sent none and work as before.
//! - On a graceful stop the server sends every client a `ConnectResetRequest` naming another
//!   member, and keeps what the clients registered while they move ([`handover`]); Nacos
//!   sends one only from its load-balancing admin routes.
//! - A push that is not acked is sent again after the ack timeout a bounded number of times
//!   ([`crate::front::push::PushConfig::retries`]), and a connection whose pushes keep failing
//!   is dropped (Nacos retries without a bound).
//! - Connection-bound instances are kept alive by beats from the member holding the
//!   connection (see `server.rs`): if that member dies they leave every member within the
//!   30 s delete timeout plus a sync round.
//! - Nacos keeps what each client publishes apart; nacre keeps one record per instance, and
//!   the member that applies a connection's registration remembers which connection
//!   registered it last ([`crate::Registry::register_for`]). A connection's close withdraws
//!   only what it still owns there, so a client that reconnected through another member and
//!   registered again keeps its instance when its stale connection on the first member is
//!   closed. (Should the responsible member change in between, the new one knows no owner
//!   and the close removes the instance until the live connection's next beat restores it.)
//! - A connection keeps at most 256 bytes of its setup's `clientVersion`, once (every push
//!   target of its subscriptions shares it), and nothing of its `tenant` and `labels`; Nacos
//!   keeps all of them as sent.
//! - One connection holds at most [`GrpcConfig::max_subscriptions_per_connection`]
//!   subscriptions (5 000); Nacos has no per-connection bound.
//! - Auth is off unless the host turns it on ([`GrpcFront::with_access`]); then every naming
//!   request needs the `accessToken` of a caller with the permission, and a refusal is the
//!   request's own response type with `errorCode` 403, as in Nacos (see `access.rs`). A
//!   service list shows a caller the services it may read, where Nacos refuses it. No config
//!   module.
//! - TLS (feature `tls`, `GrpcFront::with_tls`) is all or nothing on the port: Nacos'
//!   `nacos.remote.server.rpc.tls.compatibility` (plaintext and TLS on one port) has no
//!   counterpart. See `crate::front::tls`.
//!
//! ## Serving
//!
//! ```no_run
//! use nacre::grpc::{GrpcConfig, GrpcFront};
//! use nacre::Registry;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::default();
//! let _health = registry.spawn_health_driver();
//! let front = GrpcFront::new(registry, GrpcConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9848").await?;
//! front.serve(listener).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Or add [`GrpcFront::request_service`] and [`GrpcFront::bi_stream_service`] to your own
//! `tonic::transport::Server`; it must hand tonic the peer address (tonic's own server does),
//! because a connection is named by it.

mod accept;
mod access;
mod client;
mod connections;
pub mod handover;
mod keeper;
pub(crate) mod messages;
mod outbound;
pub mod proto;
pub(crate) mod server;
mod service;
mod target;

pub use client::GrpcClientTransport;
pub use server::GrpcFront;
pub use service::{BiStreamService, RequestService, BI_STREAM_PATH, REQUEST_PATH};

pub use crate::front::grpc_config::GrpcConfig;

/// Nacos clients find the gRPC port at the HTTP port plus this.
pub const GRPC_PORT_OFFSET: u16 = 1000;

impl GrpcFront {
    /// Serves the front on `listener` until the future is dropped or the listener fails, with
    /// every bound of [`GrpcConfig`]: connections admitted at accept (in total and per
    /// address) and closed without a live bi-stream, streams per connection, message sizes,
    /// a request timeout, HTTP/2 keepalive. Accepted connections get `TCP_NODELAY`.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
    ) -> Result<(), tonic::transport::Error> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// Serves over TLS with `config` (feature `tls`): [`GrpcFront::serve`] and
    /// [`GrpcFront::serve_until`] then run each admitted connection's handshake, within the
    /// setup timeout ([`GrpcConfig::setup_timeout`]), before tonic reads a byte of it. Give it
    /// [`crate::front::tls::TlsConfig::grpc`]; a `config` that offers no ALPN protocol is
    /// given `h2`, which grpc-java and netty require of a TLS server. Set it before serving;
    /// a second call is ignored. (A host mounting the services on its own tonic server keeps
    /// its own TLS.)
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls(self, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
        let config = if config.alpn_protocols.is_empty() {
            let mut with_h2 = (*config).clone();
            with_h2.alpn_protocols = vec![crate::front::tls::ALPN_H2.to_vec()];
            std::sync::Arc::new(with_h2)
        } else {
            config
        };
        let _ = self.shared.tls.set(config);
        self
    }

    /// [`GrpcFront::serve`] until `stop` resolves; then the server sends every connection
    /// HTTP/2 `GOAWAY` and returns once the requests in flight are answered.
    pub async fn serve_until(
        &self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), tonic::transport::Error> {
        self.start();
        let config = &self.shared.config;
        let gate = crate::front::gate::ConnectionGate::new("gRPC connection", config.connections);
        let incoming = tokio_stream::wrappers::ReceiverStream::new(accept::spawn(
            listener,
            gate,
            std::sync::Arc::downgrade(&self.shared),
            config.setup_timeout,
            self.tls_acceptor(),
        ));
        tonic::transport::Server::builder()
            .max_concurrent_streams(config.max_streams_per_connection)
            .timeout(config.request_timeout)
            .http2_keepalive_interval(Some(config.keepalive_interval))
            .http2_keepalive_timeout(Some(config.keepalive_timeout))
            .add_service(self.request_service())
            .add_service(self.bi_stream_service())
            .serve_with_incoming_shutdown(incoming, stop)
            .await
    }
}

impl GrpcFront {
    /// The TLS side of [`GrpcFront::serve_until`]'s listener, if [`GrpcFront::with_tls`] set it.
    #[cfg(feature = "tls")]
    fn tls_acceptor(&self) -> accept::Tls {
        let config = self.shared.tls.get()?.clone();
        Some(std::sync::Arc::new(crate::front::tls::TlsAcceptor::new(
            config, "gRPC",
        )))
    }

    /// No TLS in a build without feature `tls`.
    #[cfg(not(feature = "tls"))]
    fn tls_acceptor(&self) -> accept::Tls {
        None
    }
}
