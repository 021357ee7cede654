//! The client's selection rules over a cached instance list, as the Nacos Java client applies
//! them.
//!
//! - `get_all_instances`: every instance of the clusters asked for, whatever its state.
//! - `select_instances(healthy_only)`: enabled instances with weight above 0 and, with
//!   `healthy_only`, healthy — the same meaning as [`crate::RegistryReader::select_instances`], so
//!   the flag means one thing in nacre whichever handle you hold. **Difference from the Java
//!   client**: its `selectInstances(healthy = false)` lists the unhealthy instances *only*;
//!   here `false` means "healthy or not". Filter on [`Instance::healthy`] for the Java
//!   meaning.
//! - `select_one_healthy_instance`: one healthy, enabled instance of weight above 0, picked at
//!   random in proportion to weight.

use crate::model::{ClusterName, Instance};
use crate::store::pick_by_weight;

fn in_clusters<'a>(
    hosts: &'a [Instance],
    clusters: &'a [ClusterName],
) -> impl Iterator<Item = &'a Instance> + 'a {
    hosts
        .iter()
        .filter(move |i| clusters.is_empty() || clusters.contains(i.cluster()))
}

fn usable(instance: &Instance, healthy_only: bool) -> bool {
    (instance.healthy() || !healthy_only) && instance.enabled() && instance.weight() > 0.0
}

/// Every instance of `clusters` (all if empty).
pub(crate) fn all(hosts: &[Instance], clusters: &[ClusterName]) -> Vec<Instance> {
    in_clusters(hosts, clusters).cloned().collect()
}

/// Enabled instances of `clusters` with weight above 0 and, with `healthy_only`, healthy.
pub(crate) fn usable_instances(
    hosts: &[Instance],
    clusters: &[ClusterName],
    healthy_only: bool,
) -> Vec<Instance> {
    in_clusters(hosts, clusters)
        .filter(|i| usable(i, healthy_only))
        .cloned()
        .collect()
}

/// One healthy, enabled instance of `clusters` with weight above 0, in proportion to weight;
/// `unit` is the random draw in `0.0..1.0`.
pub(crate) fn pick_healthy<'a>(
    hosts: &'a [Instance],
    clusters: &'a [ClusterName],
    unit: f64,
) -> Option<&'a Instance> {
    pick_by_weight(
        || in_clusters(hosts, clusters).filter(|i| usable(i, true)),
        unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<Instance> {
        vec![
            Instance::builder("10.0.0.1", 80)
                .weight(1.0)
                .build()
                .unwrap(),
            Instance::builder("10.0.0.2", 80)
                .weight(3.0)
                .build()
                .unwrap(),
            Instance::builder("10.0.0.3", 80)
                .weight(0.0)
                .build()
                .unwrap(),
            Instance::builder("10.0.0.4", 80)
                .healthy(false)
                .build()
                .unwrap(),
            Instance::builder("10.0.0.5", 80)
                .enabled(false)
                .build()
                .unwrap(),
            Instance::builder("10.0.0.6", 80)
                .cluster("b")
                .build()
                .unwrap(),
        ]
    }

    fn ips(list: &[Instance]) -> Vec<&str> {
        list.iter().map(|i| i.ip().as_str()).collect()
    }

    #[test]
    fn healthy_only_narrows_the_usable_instances() {
        let h = hosts();
        let default = [ClusterName::default()];
        assert_eq!(
            ips(&usable_instances(&h, &default, true)),
            ["10.0.0.1", "10.0.0.2"]
        );
        assert_eq!(
            ips(&usable_instances(&h, &default, false)),
            ["10.0.0.1", "10.0.0.2", "10.0.0.4"]
        );
        assert_eq!(all(&h, &default).len(), 5);
        assert_eq!(all(&h, &[]).len(), 6);
    }

    #[test]
    fn weighted_pick_follows_the_cumulative_weights() {
        let h = hosts();
        let default = [ClusterName::default()];
        let pick = |u| pick_healthy(&h, &default, u).map(|i| i.ip().as_str());
        assert_eq!(pick(0.0), Some("10.0.0.1"));
        assert_eq!(pick(0.24), Some("10.0.0.1"));
        assert_eq!(pick(0.25), Some("10.0.0.2"));
        assert_eq!(pick(0.999_999), Some("10.0.0.2"));
        assert_eq!(pick(1.0), Some("10.0.0.2"));
    }

    #[test]
    fn nothing_to_pick_among_unusable_instances() {
        let h = vec![
            Instance::builder("10.0.0.3", 80)
                .weight(0.0)
                .build()
                .unwrap(),
            Instance::builder("10.0.0.4", 80)
                .healthy(false)
                .build()
                .unwrap(),
        ];
        assert!(pick_healthy(&h, &[], 0.5).is_none());
    }
}
