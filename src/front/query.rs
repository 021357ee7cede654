//! [`ServiceAnswer`]: the one answer to "which instances does this service have", shared by
//! every list answer and every push, so a query and a push can never disagree, whatever the
//! front.
//!
//! The rules, as the Nacos server applies them to `GET /nacos/v1/ns/instance/list`:
//! - only the clusters asked for (all when none is named);
//! - only enabled instances;
//! - the **protect threshold**, on every answer whatever `healthy_only` says (Nacos'
//!   `ServiceUtil.selectInstancesWithHealthyProtection`): when the healthy share of the
//!   enabled instances in those clusters is at or below the service's protect threshold,
//!   every enabled instance is listed **and reported healthy** ([`ServiceAnswer::reports_healthy`];
//!   [`ServiceAnswer::to_info`] copies them so), and the answer says
//!   `reach_protection_threshold`. So a client that picks among the healthy hosts it was
//!   given hands one out, as [`crate::RegistryReader::select_one_healthy_instance`] does over the
//!   same registry: every reader agrees;
//! - otherwise, with `healthy_only`, only healthy ones.
//! - `cacheMillis` as the front configures it, `lastRefTime` from the registry's clock, and the
//!   service's checksum.
//!
//! **Difference from Nacos 2.5**: with `healthy_only` and the threshold reached, Nacos 2.5
//! counts the share over the healthy instances it already kept (so it never trips, and lists
//! only the healthy ones); nacre lists every enabled instance, as Nacos 1.x did and as the
//! threshold means. Clients rarely ask healthy-only (the Java client never does).
//!
//! Weight is not filtered here: the Nacos server lists weight-0 instances, and clients skip
//! them when they pick.
//!
//! An answer holds the service's snapshot (one `Arc`), not copies of its instances: the HTTP
//! front serializes straight from it, the in-memory transport and the push hub copy it into a
//! [`ServiceInfo`] with [`ServiceAnswer::to_info`].
//!
//! ```
//! use nacre::client::ServiceQuery;
//! use nacre::front::ServiceAnswer;
//! use nacre::{Instance, InstanceKey, InstanceUpdate, Registry, ServiceKey};
//! let registry = Registry::default();
//! let orders = ServiceKey::named("orders")?;
//! registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
//! registry.register_instance(&orders, Instance::new("10.0.0.2", 8080)?)?;
//! let off = InstanceUpdate { enabled: Some(false), ..Default::default() };
//! registry.update_instance(&orders, &InstanceKey::in_default_cluster("10.0.0.2", 8080)?, off)?;
//!
//! let query = ServiceQuery { service: orders, clusters: vec![], healthy_only: false };
//! let answer = ServiceAnswer::new(&registry, &query, 10_000);
//! assert_eq!(answer.hosts().count(), 1); // the disabled instance is not listed
//! assert_eq!(answer.to_info().hosts.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::model::{ClusterName, Instance, ServiceKey};
use crate::protocol::{ServiceInfo, ServiceQuery};
use crate::registry::RegistryReader;
use crate::store::ServiceSnapshot;
use std::sync::Arc;

/// `cacheMillis` for a client the server does not push to: it must pull often (Nacos 2.x
/// answers v1 clients without a push target so).
pub const PULL_CACHE_MILLIS: u64 = 3_000;

/// `cacheMillis` for a client the server pushes to: the pull is only a safety net.
pub const PUSH_CACHE_MILLIS: u64 = 10_000;

/// The answer to a [`ServiceQuery`]: see the module documentation.
#[derive(Debug, Clone)]
pub struct ServiceAnswer {
    service: ServiceKey,
    clusters: Vec<ClusterName>,
    snapshot: Option<Arc<ServiceSnapshot>>,
    healthy_only: bool,
    protected: bool,
    cache_millis: u64,
    last_ref_time: u64,
}

impl ServiceAnswer {
    /// Answers `query` from `registry`'s current snapshot of the service, with `cache_millis`.
    pub fn new(registry: &RegistryReader, query: &ServiceQuery, cache_millis: u64) -> Self {
        // The healthy view decides the protect threshold; the hosts are read from its snapshot,
        // so the decision and the list come from one state of the service.
        let view = registry.select_instances(&query.service, &query.clusters, true);
        Self {
            service: query.service.clone(),
            clusters: query.clusters.clone(),
            snapshot: view.snapshot().cloned(),
            healthy_only: query.healthy_only,
            protected: view.protect_threshold_reached(),
            cache_millis,
            last_ref_time: registry.clock().now().as_millis(),
        }
    }

    /// The service asked about.
    pub fn service(&self) -> &ServiceKey {
        &self.service
    }
    /// The clusters asked for; empty means all.
    pub fn clusters(&self) -> &[ClusterName] {
        &self.clusters
    }
    /// The snapshot the answer reads, if the service exists.
    pub fn snapshot(&self) -> Option<&Arc<ServiceSnapshot>> {
        self.snapshot.as_ref()
    }
    /// Whether the service is at its protect threshold, so the answer lists every enabled
    /// instance and reports each healthy.
    pub fn reach_protection_threshold(&self) -> bool {
        self.protected
    }

    /// The `healthy` flag the answer reports for `instance`: its own, or `true` while the
    /// protect threshold is reached (Nacos marks the protected instances healthy).
    pub fn reports_healthy(&self, instance: &Instance) -> bool {
        self.protected || instance.healthy()
    }
    /// Whether only healthy instances were asked for.
    pub fn healthy_only(&self) -> bool {
        self.healthy_only
    }
    /// Nacos' `cacheMillis`.
    pub fn cache_millis(&self) -> u64 {
        self.cache_millis
    }
    /// When the answer was made, in milliseconds since the UNIX epoch (Nacos' `lastRefTime`).
    pub fn last_ref_time(&self) -> u64 {
        self.last_ref_time
    }
    /// The service's revision on this node (0 when it does not exist).
    pub fn revision(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.revision())
    }
    /// The service's checksum, 16 hex digits (empty when it does not exist).
    pub fn checksum(&self) -> String {
        self.snapshot
            .as_ref()
            .map(|s| format!("{:016x}", s.checksum()))
            .unwrap_or_default()
    }

    /// The instances listed, ordered by cluster then endpoint. (A plain iterator with no
    /// destructor: it borrow-checks as the last expression of a block.)
    pub fn hosts(&self) -> Hosts<'_> {
        let flat: &[Arc<Instance>] = match &self.snapshot {
            Some(s) => s.instances_flat(),
            None => &[],
        };
        Hosts {
            inner: flat.iter(),
            answer: self,
        }
    }

    fn lists(&self, instance: &Instance) -> bool {
        (self.clusters.is_empty() || self.clusters.contains(instance.cluster()))
            && instance.enabled()
            && (!self.healthy_only || self.protected || instance.healthy())
    }

    /// The answer as a [`ServiceInfo`] (copies the listed instances, each with the health
    /// [`ServiceAnswer::reports_healthy`] gives it).
    pub fn to_info(&self) -> ServiceInfo {
        ServiceInfo {
            service: self.service.clone(),
            clusters: self.clusters.clone(),
            hosts: self
                .hosts()
                .map(|i| {
                    let mut copy = Instance::clone(i);
                    copy.set_healthy(self.reports_healthy(i));
                    copy
                })
                .collect(),
            cache_millis: self.cache_millis,
            last_ref_time: self.last_ref_time,
            revision: self.revision(),
            checksum: self.checksum(),
            reach_protection_threshold: self.protected,
        }
    }
}

/// The instances a [`ServiceAnswer`] lists, from [`ServiceAnswer::hosts`].
#[derive(Debug, Clone)]
pub struct Hosts<'a> {
    inner: std::slice::Iter<'a, Arc<Instance>>,
    answer: &'a ServiceAnswer,
}

impl<'a> Iterator for Hosts<'a> {
    type Item = &'a Arc<Instance>;

    fn next(&mut self) -> Option<Self::Item> {
        let answer = self.answer;
        self.inner.by_ref().find(|i| answer.lists(i))
    }
}
