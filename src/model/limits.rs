//! [`Limits`]: the bounds a registry keeps on what its clients can make it store, and
//! [`LimitExceeded`], the typed refusal of a write that would go over one.
//!
//! A registry is shared by every client that can reach it, so no client may grow it without
//! bound. Each bound below is a field of [`Limits`] with the default given; a refused write
//! changes nothing that is stored.
//!
//! | bound | default | checked on | Nacos 2.5 |
//! | --- | --- | --- | --- |
//! | [`max_metadata_bytes`](Limits::max_metadata_bytes): one instance's metadata, keys plus values | 4 KiB | register, update, beat with data | 1,024 characters (`nacos.naming.service.metadata.length`, its parameter checker), HTTP 400 |
//! | [`max_service_metadata_bytes`](Limits::max_service_metadata_bytes): one service's metadata | 4 KiB | create and update service | the same 1,024-character check |
//! | [`max_instances_per_service`](Limits::max_instances_per_service) | 1,000,000 | a write that adds instances | none |
//! | [`max_services_per_namespace`](Limits::max_services_per_namespace) | 100,000 | a write that creates a service | none for naming (its config module has namespace quotas, answered with HTTP 429) |
//! | [`max_namespaces`](Limits::max_namespaces): namespaces holding at least one service | 1,000 | a write that creates a namespace's first service | none: Nacos namespaces are made in the console and kept in its database, while nacre's exist as long as they hold a service |
//! | [`beat_interval_range`](Limits::beat_interval_range), [`beat_timeout_range`](Limits::beat_timeout_range), [`delete_timeout_range`](Limits::delete_timeout_range): the `preserved.*` metadata | 500 ms to 60 s, 500 ms to 1 h, 500 ms to 1 h | register, update, beat with data | no range; only that the interval is at most the two timeouts (`NamingUtils.checkInstanceIsLegal`) |
//! | [`empty_service_expiry`](Limits::empty_service_expiry): how long a service without instances is kept | 60 s | the health sweep | `EmptyServiceAutoCleanerV2`: `nacos.naming.clean.empty-service.expired-time`, 60 s since the service last changed, checked every 60 s, so 60 to 120 s |
//!
//! Two more bounds are kept elsewhere: the tombstones of removed instances and services are
//! collected after [`crate::HealthConfig::tombstone_ttl`] (see [`crate::store`]), and event
//! delivery holds at most one snapshot per watched service and one event per subscriber
//! whatever the write rate (see [`crate::events`]).
//!
//! Differences from Nacos, on purpose:
//! - The `preserved.*` timings have ranges. Without them one client could make its instance
//!   practically immortal (a delete timeout of years) or make the health driver wake every
//!   millisecond (a timeout of 1 ms). Values outside a range are refused with
//!   [`ValidationError::TimingOutOfRange`], naming the key.
//! - An empty service is removed exactly [`Limits::empty_service_expiry`] after its last
//!   instance left (the sweep wakes at that deadline), and never while it holds settings set
//!   explicitly ([`crate::Registry::create_service`] or [`crate::Registry::update_service`]):
//!   Nacos removes those too and lets their metadata expire a minute later, so a service made
//!   in the console vanishes if nothing registers in it.
//! - The caps on services and namespaces are refused with [`LimitExceeded`], which the HTTP
//!   front answers with 429, as Nacos answers its config quotas.
//!
//! Caps apply to client writes. Records replicated from peers are merged without them: each
//! service is created by the one member responsible for it, which checked the caps against
//! its own view, so a cluster can exceed a cap only by the creations that raced on different
//! members within one sync round. (Checking what peers send, names and sizes included, is
//! part of peer authentication.)
//!
//! ```
//! use nacre::{Instance, Limits, Registry, StoreError, ServiceKey};
//! use nacre::model::LimitExceeded;
//!
//! let registry = Registry::builder()
//!     .limits(Limits { max_services_per_namespace: 1, ..Limits::default() })
//!     .build();
//! let inst = Instance::new("10.0.0.1", 8080)?;
//! registry.register_instance(&ServiceKey::named("orders")?, inst.clone())?;
//! let err = registry.register_instance(&ServiceKey::named("billing")?, inst).unwrap_err();
//! assert!(matches!(err, StoreError::Limit(LimitExceeded::Services { max: 1, .. })));
//! assert!(registry.service(&ServiceKey::named("billing")?).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::error::ValidationError;
use super::instance::{
    Instance, PRESERVED_HEART_BEAT_INTERVAL, PRESERVED_HEART_BEAT_TIMEOUT,
    PRESERVED_IP_DELETE_TIMEOUT,
};
use super::name::NamespaceId;
use super::service_key::ServiceKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The range a `preserved.*` timing may take, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimingRange {
    /// The shortest duration accepted.
    pub min: Duration,
    /// The longest duration accepted.
    pub max: Duration,
}

impl TimingRange {
    /// From `min` to `max`, both included.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }
    /// Whether `d` lies in the range.
    pub fn contains(&self, d: Duration) -> bool {
        self.min <= d && d <= self.max
    }
}

/// The bounds a registry enforces on what it stores. See the module documentation for each
/// default and how it compares with Nacos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest metadata of one instance, keys plus values, in bytes (default 4 KiB).
    pub max_metadata_bytes: usize,
    /// Most instances one service may hold (default 1,000,000).
    pub max_instances_per_service: usize,
    /// Most services one namespace may hold (default 100,000). Services kept only as
    /// tombstones do not count.
    pub max_services_per_namespace: usize,
    /// Most namespaces that may hold services at once (default 1,000). A namespace counts
    /// while it holds at least one service.
    pub max_namespaces: usize,
    /// Largest metadata of one service's settings, keys plus values, in bytes (default 4 KiB).
    pub max_service_metadata_bytes: usize,
    /// Accepted values of `preserved.heart.beat.interval` (default 500 ms to 60 s).
    pub beat_interval_range: TimingRange,
    /// Accepted values of `preserved.heart.beat.timeout` (default 500 ms to 1 h).
    pub beat_timeout_range: TimingRange,
    /// Accepted values of `preserved.ip.delete.timeout` (default 500 ms to 1 h).
    pub delete_timeout_range: TimingRange,
    /// How long a service is kept after its last instance left, unless it holds settings set
    /// explicitly (default 60 s, as Nacos). `None` keeps empty services forever.
    pub empty_service_expiry: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        const HALF_SECOND: Duration = Duration::from_millis(500);
        Self {
            max_metadata_bytes: 4 * 1024,
            max_instances_per_service: 1_000_000,
            max_services_per_namespace: 100_000,
            max_namespaces: 1_000,
            max_service_metadata_bytes: 4 * 1024,
            beat_interval_range: TimingRange::new(HALF_SECOND, Duration::from_secs(60)),
            beat_timeout_range: TimingRange::new(HALF_SECOND, Duration::from_secs(3600)),
            delete_timeout_range: TimingRange::new(HALF_SECOND, Duration::from_secs(3600)),
            empty_service_expiry: Some(Duration::from_secs(60)),
        }
    }
}

/// Size of `metadata` in bytes: every key plus every value.
pub(crate) fn metadata_size(metadata: &BTreeMap<String, String>) -> usize {
    metadata.iter().map(|(k, v)| k.len() + v.len()).sum()
}

impl Limits {
    /// Checks what [`Instance`]'s builder cannot know: the metadata size and the `preserved.*`
    /// timing ranges this registry accepts.
    pub fn check_instance(&self, instance: &Instance) -> Result<(), ValidationError> {
        let size = instance.metadata_size();
        if size > self.max_metadata_bytes {
            return Err(ValidationError::MetadataTooLarge {
                size,
                max: self.max_metadata_bytes,
            });
        }
        let timing = instance.timing_overrides();
        for (key, value, range) in [
            (
                PRESERVED_HEART_BEAT_INTERVAL,
                timing.beat_interval,
                self.beat_interval_range,
            ),
            (
                PRESERVED_HEART_BEAT_TIMEOUT,
                timing.beat_timeout,
                self.beat_timeout_range,
            ),
            (
                PRESERVED_IP_DELETE_TIMEOUT,
                timing.delete_timeout,
                self.delete_timeout_range,
            ),
        ] {
            if let Some(value) = value.filter(|v| !range.contains(*v)) {
                return Err(ValidationError::TimingOutOfRange {
                    key,
                    value,
                    min: range.min,
                    max: range.max,
                });
            }
        }
        Ok(())
    }

    /// Checks the size of a service's metadata.
    pub fn check_service_metadata(
        &self,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), ValidationError> {
        let size = metadata_size(metadata);
        if size > self.max_service_metadata_bytes {
            return Err(ValidationError::ServiceMetadataTooLarge {
                size,
                max: self.max_service_metadata_bytes,
            });
        }
        Ok(())
    }
}

/// A write refused because it would take the registry over one of its [`Limits`]. Each
/// variant names the field of [`Limits`] it hit ([`LimitExceeded::limit`]). It crosses the
/// wire between cluster members unchanged, so a write forwarded to the member responsible for
/// its service is refused with the same value as a local one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// The service would hold more instances than
    /// [`Limits::max_instances_per_service`].
    #[error(
        "service {service} would hold {would_hold} instances; \
         the limit (max_instances_per_service) is {max}"
    )]
    Instances {
        /// The service.
        service: ServiceKey,
        /// How many it would hold.
        would_hold: usize,
        /// The configured limit.
        max: usize,
    },
    /// A new service in a namespace that already holds [`Limits::max_services_per_namespace`].
    #[error(
        "namespace {namespace} holds {max} services already; \
         the limit (max_services_per_namespace) is {max}"
    )]
    Services {
        /// The namespace.
        namespace: NamespaceId,
        /// The configured limit.
        max: usize,
    },
    /// The first service of a new namespace, while [`Limits::max_namespaces`] namespaces hold
    /// services already.
    #[error(
        "namespace {namespace} would be a new one, and {max} namespaces hold services already; \
         the limit (max_namespaces) is {max}"
    )]
    Namespaces {
        /// The namespace that would be added.
        namespace: NamespaceId,
        /// The configured limit.
        max: usize,
    },
}

impl LimitExceeded {
    /// The name of the [`Limits`] field that was hit.
    pub fn limit(&self) -> &'static str {
        match self {
            LimitExceeded::Instances { .. } => "max_instances_per_service",
            LimitExceeded::Services { .. } => "max_services_per_namespace",
            LimitExceeded::Namespaces { .. } => "max_namespaces",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_meta(key: &str, value: &str) -> Instance {
        Instance::builder("10.0.0.1", 80)
            .metadata(key, value)
            .build()
            .unwrap()
    }

    #[test]
    fn each_timing_key_is_checked_against_its_own_range() {
        let limits = Limits::default();
        for (key, max_ms) in [
            (PRESERVED_HEART_BEAT_INTERVAL, 60_000u64),
            (PRESERVED_HEART_BEAT_TIMEOUT, 3_600_000),
            (PRESERVED_IP_DELETE_TIMEOUT, 3_600_000),
        ] {
            for ok in [500, max_ms] {
                assert_eq!(
                    limits.check_instance(&with_meta(key, &ok.to_string())),
                    Ok(())
                );
            }
            for bad in [499, max_ms + 1] {
                let err = limits
                    .check_instance(&with_meta(key, &bad.to_string()))
                    .unwrap_err();
                assert!(
                    matches!(err, ValidationError::TimingOutOfRange { key: k, value, .. }
                        if k == key && value == Duration::from_millis(bad)),
                    "{key}={bad}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn service_metadata_size_counts_keys_and_values() {
        let limits = Limits {
            max_service_metadata_bytes: 4,
            ..Limits::default()
        };
        let mut meta = BTreeMap::new();
        meta.insert("ab".to_owned(), "cd".to_owned());
        assert_eq!(limits.check_service_metadata(&meta), Ok(()));
        meta.insert("e".to_owned(), String::new());
        assert_eq!(
            limits.check_service_metadata(&meta),
            Err(ValidationError::ServiceMetadataTooLarge { size: 5, max: 4 })
        );
    }
}
