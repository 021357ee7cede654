//! Prometheus metrics of a node (cargo feature `metrics`): [`NacreMetrics`], a
//! [`prometheus_client`] collector that reads the node's counters and state at each scrape,
//! and (with feature `http`) [`HttpMetrics`], an axum layer that counts requests by route and
//! status, and [`router`], which serves a registry at `GET /metrics` in the Prometheus text
//! format. `nacre-server` serves all of them.
//!
//! ```
//! use nacre::metrics::{encode, NacreMetrics};
//! use nacre::{Instance, Registry, ServiceKey};
//!
//! let node = Registry::default();
//! node.register_instance(&ServiceKey::named("orders")?, Instance::new("10.0.0.1", 8080)?)?;
//!
//! // The host's own registry: nacre's metrics go beside the host's.
//! let mut registry = prometheus_client::registry::Registry::default();
//! NacreMetrics::new(node.clone()).register(&mut registry);
//! let text = encode(&registry)?;
//! assert!(text.contains(r#"nacos_monitor{module="naming",name="ipCount"} 1"#), "{text}");
//! assert!(text.contains("nacre_registrations_total 1"), "{text}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Why `prometheus-client`
//!
//! The crate of the Prometheus project itself: its [`Collector`](prometheus_client::collector::Collector)
//! is called at scrape time, so nacre's core needs no metrics dependency at all. The core keeps
//! what it already kept (snapshots, the Distro core's counters, the push hubs' counters) plus
//! a few relaxed atomics ([`crate::RegistryStats`]), and this module turns them into metric
//! families when Prometheus asks. Gauges such as the instance counts are then read from the
//! same snapshot a query would see, never drift from it, and cost nothing between scrapes.
//! There is no global recorder to install (the `metrics` facade needs one, and its
//! Prometheus exporter brings an HTTP server and a dozen crates); a host registers nacre's
//! collector into the [`prometheus_client::registry::Registry`] it already has. Its
//! dependencies are four small crates (`dtoa`, `itoa`, `parking_lot`, and a derive macro).
//!
//! ## The metrics, and their names in Nacos
//!
//! Where Nacos has a metric, nacre uses its name and labels; the rest are `nacre_*`.
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `nacos_monitor{module="naming",name="serviceCount"}` | gauge | services held |
//! | `nacos_monitor{module="naming",name="ipCount"}` | gauge | instances held |
//! | `nacos_monitor{module="naming",name="subscriberCount"}` | gauge | push subscriptions of the hubs given |
//! | `nacos_monitor{module="naming",name="totalPush"}` | gauge | pushes sent, retries included |
//! | `nacos_monitor{module="naming",name="failedPush"}` | gauge | pushes that failed |
//! | `nacre_instances{health="healthy"\|"unhealthy"}` | gauge | instances by health |
//! | `nacre_ready` | gauge | 1 when the node is ready (0 while a cluster member loads, or commits to its disk fail: [`crate::front::NotReady`]) |
//! | `nacre_registrations_total`, `nacre_deregistrations_total` | counter | instances registered, deregistered ([`crate::RegistryStats`]) |
//! | `nacre_beats_total` | counter | beats taken |
//! | `nacre_marked_unhealthy_total`, `nacre_evictions_total` | counter | instances the health check marked unhealthy, removed |
//! | `nacre_push_total{front}`, `nacre_push_acked_total{front}`, `nacre_push_failed_total{front}` | counter | pushes per push hub (`udp`, `grpc`) |
//! | `nacre_push_subscriptions{front}` | gauge | subscriptions per push hub |
//! | `nacre_distro_sync_batches_total{peer}`, `nacre_distro_sync_records_total{peer}`, `nacre_distro_sync_failures_total{peer}` | counter | Distro sync batches sent, service records in them, batches not acknowledged ([`crate::cluster::PeerSyncStats`]) |
//! | `nacre_distro_sync_bytes_total{peer}` | counter | bytes of sync requests (with an [`crate::http::HttpPeerTransport`] given) |
//! | `nacre_distro_removals_held` | gauge | removals of persistent data kept past the tombstone retention because some member has not been up for a whole retention ([`crate::cluster::CoreStats::removals_held`]; see [`crate::store`]) |
//! | `nacre_control_leader` | gauge | 1 when this member leads the control group (with a [`crate::control::ControlNode`] given, feature `control`; `nacre-server` gives it with `--data-dir`) |
//! | `nacre_control_term`, `nacre_control_applied_index` | gauge | the control group's Raft term, and the last log index applied here |
//! | `http_server_requests_seconds{method,uri,status}` | histogram | HTTP requests by route pattern and status ([`HttpMetrics`]) |
//!
//! Differences from Nacos: Nacos' `nacos_monitor` values are gauges that it resets (pushes)
//! and counts incrementally; nacre's are read from state at scrape time, and `totalPush` /
//! `failedPush` only grow. Nacos gets `http_server_requests_seconds` from Spring Boot as a
//! summary; nacre's is a histogram, whose `_count` and `_sum` series have the same names and
//! labels (`uri` is the route pattern; `UNKNOWN` for a path no route matched), so queries on
//! them work on both. Nacos' JVM and config-module metrics have no counterpart; Nacos shows its Raft groups'
//! leader and term in `GET /nacos/v1/core/cluster/nodes` (`raftMetaData`), nacre in the
//! `nacre_control_*` gauges.

/// The `prometheus-client` crate this module builds on, so a host uses the same version.
pub use prometheus_client;

mod collector;
#[cfg(feature = "http")]
mod http;

pub use collector::NacreMetrics;
#[cfg(feature = "http")]
pub use http::{router, Counted, HttpMetrics, PROMETHEUS_PATH};

/// The `Content-Type` of [`encode`]'s output: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Encodes everything in `registry` in the Prometheus text format ([`CONTENT_TYPE`]).
pub fn encode(registry: &prometheus_client::registry::Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, registry)?;
    Ok(text)
}
