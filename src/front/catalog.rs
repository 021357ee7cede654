//! The service catalogue: which services a node holds, filtered and paged, with the counts a
//! console shows. Every front that lists services reads it here, so two listings cannot
//! disagree about what exists or how a page is cut: the v1 `GET /nacos/v1/ns/service/list`
//! (with `groupName=*`), `.../service/names` and `.../catalog/services`; a 2.x
//! `ServiceListRequest` could use it too.
//!
//! - [`ServiceFilter`] says which services: one namespace or all, and a [`TextFilter`] on the
//!   group and on the service name;
//! - [`list_services`] answers them in key order (namespace, group, service), as shared
//!   snapshots (nothing is copied);
//! - [`page`] cuts one page (`page_no` from 1) and keeps the total;
//! - [`ServiceSummary`] is one line of a console's list: clusters, instances, healthy ones, and
//!   whether the protect threshold is reached.
//!
//! ```
//! use nacre::front::catalog::{self, ServiceFilter, TextFilter};
//! use nacre::{Instance, Registry, ServiceKey};
//! let registry = Registry::default();
//! for (group, name) in [("shop", "orders"), ("shop", "carts"), ("billing", "invoices")] {
//!     let key = ServiceKey::new("public", group, name)?;
//!     registry.register_instance(&key, Instance::new("10.0.0.1", 80)?)?;
//! }
//! let filter = ServiceFilter {
//!     service: TextFilter::Contains("r".to_owned()),
//!     ..ServiceFilter::in_namespace(&"public".parse()?)
//! };
//! let found = catalog::list_services(&registry, &filter);
//! let names: Vec<String> = found.iter().map(|s| s.key().grouped_name()).collect();
//! assert_eq!(names, ["shop@@carts", "shop@@orders"]);
//!
//! let first = catalog::page(found, 1, 1);
//! assert_eq!((first.count, first.items.len()), (2, 1));
//! let summary = catalog::ServiceSummary::of(&first.items[0]);
//! assert_eq!((summary.instance_count, summary.healthy_count), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::access::Viewer;
use crate::model::{NamespaceId, ServiceKey};
use crate::registry::RegistryReader;
use crate::store::{InstancesView, Selection, ServiceSnapshot};
use std::sync::Arc;

/// How a name is matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TextFilter {
    /// Every name.
    #[default]
    Any,
    /// This name exactly.
    Exact(String),
    /// Names that contain this text (case-sensitive; an empty text matches every name).
    Contains(String),
}

impl TextFilter {
    /// `Contains(text)`, or `Any` when `text` is absent or blank.
    pub fn containing(text: Option<&str>) -> Self {
        match text.map(str::trim) {
            Some(t) if !t.is_empty() => TextFilter::Contains(t.to_owned()),
            _ => TextFilter::Any,
        }
    }

    /// Whether `name` passes.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            TextFilter::Any => true,
            TextFilter::Exact(exact) => name == exact,
            TextFilter::Contains(part) => name.contains(part.as_str()),
        }
    }
}

/// Which services [`list_services`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    /// One namespace, or every namespace when `None`.
    pub namespace: Option<NamespaceId>,
    /// The group.
    pub group: TextFilter,
    /// The service name (without its group).
    pub service: TextFilter,
    /// Only services that hold at least one instance (Nacos' `hasIpCount`).
    pub with_instances_only: bool,
    /// With auth on, a caller who may read only some of the services: only those.
    pub viewer: Option<Viewer>,
}

impl ServiceFilter {
    /// Every service of `namespace`.
    pub fn in_namespace(namespace: &NamespaceId) -> Self {
        Self {
            namespace: Some(namespace.clone()),
            ..Self::default()
        }
    }

    /// Whether the service behind `snapshot` passes.
    pub fn accepts(&self, snapshot: &ServiceSnapshot) -> bool {
        let key = snapshot.key();
        self.namespace
            .as_ref()
            .is_none_or(|ns| key.namespace() == ns)
            && self.group.matches(key.group().as_str())
            && self.service.matches(key.service().as_str())
            && (!self.with_instances_only || snapshot.instance_count() > 0)
            && self.visible(key)
    }

    /// Whether the caller may see `key` (always, without a [`Viewer`]).
    pub fn visible(&self, key: &ServiceKey) -> bool {
        self.viewer.as_ref().is_none_or(|v| v.may_read(key))
    }
}

/// The services that pass `filter`, in key order (namespace, group, service). Removed services
/// are never listed; a service created empty is. With a namespace, only that namespace's
/// services are looked at, from the store's sorted list of live keys (no walk of the others,
/// no sort); names are matched before a snapshot is loaded.
pub fn list_services(
    registry: &RegistryReader,
    filter: &ServiceFilter,
) -> Vec<Arc<ServiceSnapshot>> {
    if let Some(namespace) = &filter.namespace {
        let store = registry.store();
        let keys = store.live_keys_of(namespace);
        return keys
            .as_slice()
            .iter()
            .filter(|k| {
                filter.group.matches(k.group().as_str())
                    && filter.service.matches(k.service().as_str())
                    && filter.visible(k)
            })
            .filter_map(|k| store.load(k))
            // Names and visibility are matched above.
            .filter(|s| !filter.with_instances_only || s.instance_count() > 0)
            .collect();
    }
    let mut found: Vec<Arc<ServiceSnapshot>> = registry
        .store()
        .snapshots()
        .into_iter()
        .filter(|s| filter.accepts(s))
        .collect();
    found.sort_unstable_by(|a, b| a.key().cmp(b.key()));
    found
}

/// One page of a listing, and how many items the whole listing holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// How many items there are on all pages.
    pub count: usize,
    /// The items on this page.
    pub items: Vec<T>,
}

/// Page `page_no` (from 1; 0 is taken as 1) of `items`, `page_size` a page. A page past the
/// end is empty.
pub fn page<T>(items: Vec<T>, page_no: usize, page_size: usize) -> Page<T> {
    let count = items.len();
    let start = page_no.saturating_sub(1).saturating_mul(page_size);
    let items = items.into_iter().skip(start).take(page_size).collect();
    Page { count, items }
}

/// A service as a console's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    /// The service.
    pub key: ServiceKey,
    /// How many clusters hold instances.
    pub cluster_count: usize,
    /// How many instances it holds, whatever their state.
    pub instance_count: usize,
    /// How many of them are healthy (enabled or not, as Nacos counts them here).
    pub healthy_count: usize,
    /// Whether a healthy-only query of the whole service reaches the protect threshold now (and
    /// so lists unhealthy instances too): the same decision every list answer makes.
    pub protect_threshold_reached: bool,
}

impl ServiceSummary {
    /// The summary of one snapshot.
    pub fn of(snapshot: &Arc<ServiceSnapshot>) -> Self {
        let key = snapshot.key().clone();
        let view = InstancesView::new(&key, Some(snapshot.clone()), &[], Selection::Healthy);
        Self {
            cluster_count: snapshot.cluster_names().count(),
            instance_count: snapshot.instance_count(),
            healthy_count: snapshot
                .entries()
                .filter(|e| e.instance().healthy())
                .count(),
            protect_threshold_reached: view.protect_threshold_reached(),
            key,
        }
    }
}
