//! [`GrpcConfig`]: the timing and bounds of the gRPC front (`crate::grpc`, feature `grpc`). It
//! lives here, with no feature, so that `nacre-server`'s settings hold it (and print its
//! defaults) in a build without the front; `crate::grpc::GrpcConfig` is the same type.
//!
//! Every bound of the port is here, each with its `nacre-server` flag:
//!
//! | bound | default | Nacos | on breach |
//! | --- | --- | --- | --- |
//! | [`GrpcConfig::connections`] (`--grpc-max-connections`, `--grpc-max-connections-per-ip`) | 10 000; 1 000 per address | none | the TCP connection is closed at accept, before anything is read |
//! | [`GrpcConfig::setup_timeout`] (`--grpc-setup-timeout`) | 30 s | none | a TCP connection without a live bi-stream this long (it never sent its preface, never set up, or its connection was dropped) is closed |
//! | [`GrpcConfig::max_streams_per_connection`] (`--grpc-max-streams-per-connection`) | 128 | unbounded | HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: a client waits, a stream past it is refused |
//! | [`GrpcConfig::max_request_bytes`] (`--grpc-max-request-bytes`) | 1 MiB | 10 MiB | a request declaring more is refused with `RESOURCE_EXHAUSTED` before its body is read |
//! | [`GrpcConfig::max_stream_message_bytes`] | 64 KiB | 10 MiB | the same for a message on the bi-stream (setup, acks) |
//! | [`GrpcConfig::request_timeout`] (`--grpc-request-timeout`) | 15 s | none | a request not read and answered in time ends with `CANCELLED`; its partial body is freed |
//! | [`GrpcConfig::keepalive_interval`], [`GrpcConfig::keepalive_timeout`] | 60 s, 20 s | 2 h, 20 s | an HTTP/2 PING unanswered in time closes the connection |
//! | [`GrpcConfig::max_queued_bytes_per_connection`] (`--grpc-max-queued-bytes-per-connection`) | 16 MiB | unbounded | a push that would queue more for a connection not reading counts as failed; three failures drop it |
//! | [`GrpcConfig::max_subscriptions_per_connection`] | 5 000 | unbounded | 429 |
//!
//! The message limits are smaller than Nacos' 10 MiB because a request the server holds
//! while its body trickles in costs memory for as long as the client likes: a 1 MiB request
//! still carries a batch registration of some three thousand instances.

use super::gate::GateLimits;
use super::push::PushConfig;
use std::time::Duration;

/// Timing and bounds of the gRPC front: see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcConfig {
    /// A connection silent this long is sent a `ClientDetectionRequest` (Nacos: 20 s).
    pub idle_before_probe: Duration,
    /// A connection that does not answer a detection within this is dropped (Nacos: 5 s).
    pub probe_timeout: Duration,
    /// A connection that has no live bi-stream this long after it was accepted (or after its
    /// bi-stream closed) is closed (default 30 s).
    pub setup_timeout: Duration,
    /// TCP connections held at once, in total and per source address (default 10 000 and
    /// 1 000); more are closed at accept. (A host serving the front on a server of its own
    /// gets the total as a cap on set-up connections.)
    pub connections: GateLimits,
    /// Concurrent HTTP/2 streams per connection (default 128).
    pub max_streams_per_connection: u32,
    /// Largest unary request, in bytes (default 1 MiB).
    pub max_request_bytes: usize,
    /// Largest message a client sends on its bi-stream, in bytes (default 64 KiB).
    pub max_stream_message_bytes: usize,
    /// Longest a unary request may take to arrive and be answered (default 15 s).
    pub request_timeout: Duration,
    /// Interval of the server's HTTP/2 keepalive PINGs (default 60 s).
    pub keepalive_interval: Duration,
    /// A keepalive PING unanswered this long closes the connection (default 20 s).
    pub keepalive_timeout: Duration,
    /// Messages queued per connection for its bi-stream (default 1 024); a push that finds
    /// the queue full counts as failed.
    pub stream_buffer: usize,
    /// Bytes queued per connection for its bi-stream (default 16 MiB); a push that would go
    /// past it counts as failed, so a client that stops reading is dropped after
    /// [`PushConfig::max_failures`] pushes, holding at most this much meanwhile.
    pub max_queued_bytes_per_connection: usize,
    /// Push subscriptions one connection may hold (default 5 000; Nacos has no such bound): a
    /// `SubscribeServiceRequest` beyond it is refused with code 429, so one connection cannot
    /// fill the push hub ([`PushConfig::max_subscriptions`], 100 000) for every other client.
    pub max_subscriptions_per_connection: usize,
    /// The push hub: merge window (500 ms, as Nacos), ack timeout (5 s), retries, failures
    /// before a connection is dropped, `cacheMillis` (10 000).
    pub push: PushConfig,
    /// Accept a registration only when its `ip` is the connection's own address
    /// ([`crate::front::access::own_address`]; `--register-own-address-only`, off by default).
    pub register_own_address_only: bool,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            idle_before_probe: Duration::from_secs(20),
            probe_timeout: Duration::from_secs(5),
            setup_timeout: Duration::from_secs(30),
            connections: GateLimits::default(),
            max_streams_per_connection: 128,
            max_request_bytes: 1024 * 1024,
            max_stream_message_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(15),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            stream_buffer: 1024,
            max_queued_bytes_per_connection: 16 * 1024 * 1024,
            max_subscriptions_per_connection: super::push::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            push: PushConfig {
                retries: 3,
                ..PushConfig::default()
            },
            register_own_address_only: false,
        }
    }
}
