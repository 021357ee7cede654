//! [`NacreMetrics`]: the collector that turns a node's state and counters into metric
//! families at each scrape.

use crate::front::push::PushHub;
use crate::front::Backend;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::fmt::Error;

/// nacre's metrics over one node, read at each scrape: see the [module docs](super) for the
/// list. Register it with [`NacreMetrics::register`]; cheap to clone.
#[derive(Clone)]
#[must_use]
pub struct NacreMetrics {
    backend: Backend,
    hubs: Vec<(String, PushHub)>,
    #[cfg(feature = "http")]
    transport: Option<crate::http::HttpPeerTransport>,
    audit: Option<std::sync::Arc<crate::front::access::Audit>>,
    #[cfg(feature = "control")]
    control: Option<crate::control::ControlNode>,
}

impl std::fmt::Debug for NacreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NacreMetrics")
            .field(
                "hubs",
                &self.hubs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl NacreMetrics {
    /// The metrics of `backend` (a [`crate::Registry`] or a [`crate::cluster::ClusterNode`]).
    pub fn new(backend: impl Into<Backend>) -> Self {
        Self {
            backend: backend.into(),
            hubs: Vec::new(),
            #[cfg(feature = "http")]
            transport: None,
            audit: None,
            #[cfg(feature = "control")]
            control: None,
        }
    }

    /// Reports the state of `node`, this member of the control group, too
    /// (`nacre_control_leader`, `nacre_control_term`, `nacre_control_applied_index`; absent
    /// without it).
    #[cfg(feature = "control")]
    #[cfg_attr(docsrs, doc(cfg(feature = "control")))]
    pub fn control(mut self, node: crate::control::ControlNode) -> Self {
        self.control = Some(node);
        self
    }

    /// Counts the access decisions of `audit` too (`nacre_access_total`, by `front` and
    /// `outcome`; absent without it, as when auth is off).
    pub fn audit(mut self, audit: std::sync::Arc<crate::front::access::Audit>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Counts the pushes and subscriptions of `hub` too, under the label `front="{front}"`
    /// (`nacre-server` gives the UDP push's hub as `udp` and the gRPC front's as `grpc`).
    pub fn push_hub(mut self, front: impl Into<String>, hub: PushHub) -> Self {
        self.hubs.push((front.into(), hub));
        self
    }

    /// Reads the sync bytes per peer from `transport`, the one the cluster node sends through
    /// (`nacre_distro_sync_bytes_total`; absent without it).
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn http_transport(mut self, transport: crate::http::HttpPeerTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Registers this collector in `registry`.
    pub fn register(self, registry: &mut prometheus_client::registry::Registry) {
        registry.register_collector(Box::new(self));
    }
}

/// One gauge or counter sample, without labels, under its own descriptor.
fn single<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    value: V,
) -> Result<(), Error>
where
    V: prometheus_client::encoding::EncodeGaugeValue
        + prometheus_client::encoding::EncodeCounterValue,
{
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    match kind {
        MetricType::Counter => metric.encode_counter::<NoLabelSet, _, u64>(&value, None),
        _ => metric.encode_gauge(&value),
    }
}

/// A labelled family of counters: `(label value, value)` pairs under one label name.
fn counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(String, u64)],
) -> Result<(), Error> {
    if values.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value_label, value) in values {
        let labels = [(label, value_label.as_str())];
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(value, None)?;
    }
    Ok(())
}

/// What one pass over the snapshots counts.
#[derive(Default)]
struct Census {
    services: u64,
    healthy: u64,
    unhealthy: u64,
}

impl Collector for NacreMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let registry = self.backend.registry();
        let mut census = Census::default();
        registry.store().for_each(|snap| {
            census.services += 1;
            for instance in snap.instances_flat() {
                if instance.healthy() {
                    census.healthy += 1;
                } else {
                    census.unhealthy += 1;
                }
            }
        });
        let (mut subscribers, mut pushes, mut failed) = (0u64, 0u64, 0u64);
        let mut per_hub = Vec::with_capacity(self.hubs.len());
        for (front, hub) in &self.hubs {
            let stats = hub.stats();
            let subscriptions = hub.subscription_count() as u64;
            subscribers += subscriptions;
            pushes += stats.pushes;
            failed += stats.failed;
            per_hub.push((front.clone(), stats, subscriptions));
        }

        let mut monitor = encoder.encode_descriptor(
            "nacos_monitor",
            "Nacos' naming monitor: serviceCount, ipCount, subscriberCount, totalPush, failedPush",
            None,
            MetricType::Gauge,
        )?;
        for (name, value) in [
            ("serviceCount", census.services),
            ("ipCount", census.healthy + census.unhealthy),
            ("subscriberCount", subscribers),
            ("totalPush", pushes),
            ("failedPush", failed),
        ] {
            let labels = [("module", "naming"), ("name", name)];
            monitor.encode_family(&labels)?.encode_gauge(&value)?;
        }

        let mut instances = encoder.encode_descriptor(
            "nacre_instances",
            "Instances held, by health",
            None,
            MetricType::Gauge,
        )?;
        for (health, value) in [("healthy", census.healthy), ("unhealthy", census.unhealthy)] {
            let labels = [("health", health)];
            instances.encode_family(&labels)?.encode_gauge(&value)?;
        }
        let ready = self.backend.readiness().is_ok();
        single(
            &mut encoder,
            "nacre_ready",
            "1 when the node is ready; 0 while a cluster member loads its snapshot or commits \
             to its disk fail",
            MetricType::Gauge,
            u64::from(ready),
        )?;

        let stats = registry.stats();
        for (name, help, value) in [
            (
                "nacre_registrations",
                "Instances registered",
                stats.registrations,
            ),
            (
                "nacre_deregistrations",
                "Instances deregistered by a client or the host",
                stats.deregistrations,
            ),
            ("nacre_beats", "Heartbeats taken", stats.beats),
            (
                "nacre_marked_unhealthy",
                "Instances the health check marked unhealthy",
                stats.marked_unhealthy,
            ),
            (
                "nacre_evictions",
                "Instances the health check removed for want of beats",
                stats.evictions,
            ),
        ] {
            single(&mut encoder, name, help, MetricType::Counter, value)?;
        }

        if !per_hub.is_empty() {
            let pick = |f: fn(&crate::front::push::PushStats) -> u64| -> Vec<(String, u64)> {
                per_hub.iter().map(|(n, s, _)| (n.clone(), f(s))).collect()
            };
            counters(
                &mut encoder,
                "nacre_push",
                "Pushes sent, retries included",
                "front",
                &pick(|s| s.pushes),
            )?;
            counters(
                &mut encoder,
                "nacre_push_acked",
                "Pushes delivered or acknowledged",
                "front",
                &pick(|s| s.acked),
            )?;
            counters(
                &mut encoder,
                "nacre_push_failed",
                "Pushes that failed after every retry",
                "front",
                &pick(|s| s.failed),
            )?;
            let mut subs = encoder.encode_descriptor(
                "nacre_push_subscriptions",
                "Push subscriptions",
                None,
                MetricType::Gauge,
            )?;
            for (front, _, subscriptions) in &per_hub {
                let labels = [("front", front.as_str())];
                subs.encode_family(&labels)?.encode_gauge(subscriptions)?;
            }
        }

        if let Some(audit) = &self.audit {
            use crate::front::access::{Front, Outcome};
            let mut metric = encoder.encode_descriptor(
                "nacre_access",
                "Access decisions with auth on, by front and outcome (read, write, login; \
                 refused: login_failed, no_token, bad_token, forbidden)",
                None,
                MetricType::Counter,
            )?;
            for front in Front::ALL {
                for outcome in Outcome::ALL {
                    let labels = [("front", front.as_str()), ("outcome", outcome.as_str())];
                    metric
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&audit.count(front, outcome), None)?;
                }
            }
        }
        #[cfg(feature = "control")]
        if let Some(control) = &self.control {
            single(
                &mut encoder,
                "nacre_control_leader",
                "1 when this member leads the control group",
                MetricType::Gauge,
                u64::from(control.is_leader()),
            )?;
            single(
                &mut encoder,
                "nacre_control_term",
                "The control group's Raft term as this member knows it",
                MetricType::Gauge,
                control.term(),
            )?;
            single(
                &mut encoder,
                "nacre_control_applied_index",
                "The index of the last control log entry this member applied",
                MetricType::Gauge,
                control.applied_index().unwrap_or(0),
            )?;
        }
        if let Some(node) = self.backend.cluster_node() {
            let (peers, held) =
                node.with_core(|core| (core.peer_stats().clone(), core.stats().removals_held));
            single(
                &mut encoder,
                "nacre_distro_removals_held",
                "Removals of persistent data kept past the tombstone retention until every member \
                 has been up for a whole retention",
                MetricType::Gauge,
                held,
            )?;
            let each = |f: fn(&crate::cluster::PeerSyncStats) -> u64| -> Vec<(String, u64)> {
                peers.iter().map(|(p, s)| (p.to_string(), f(s))).collect()
            };
            counters(
                &mut encoder,
                "nacre_distro_sync_batches",
                "Distro sync batches sent",
                "peer",
                &each(|s| s.batches),
            )?;
            counters(
                &mut encoder,
                "nacre_distro_sync_records",
                "Service records carried by Distro sync batches",
                "peer",
                &each(|s| s.records),
            )?;
            counters(
                &mut encoder,
                "nacre_distro_sync_failures",
                "Distro sync batches the peer did not acknowledge",
                "peer",
                &each(|s| s.failures),
            )?;
            #[cfg(feature = "http")]
            if let Some(transport) = &self.transport {
                let bytes: Vec<(String, u64)> = transport
                    .sync_bytes()
                    .into_iter()
                    .map(|(p, b)| (p.to_string(), b))
                    .collect();
                counters(
                    &mut encoder,
                    "nacre_distro_sync_bytes",
                    "Bytes of Distro sync requests sent",
                    "peer",
                    &bytes,
                )?;
            }
        }
        Ok(())
    }
}
