//! [`ClusterMap`]: a service's clusters by name, as a small sorted vector.
//!
//! A service has one cluster, or a few. It held them in an `imbl::OrdMap`, whose every node
//! is allocated for 16 entries whatever it holds: about 1.1 KB per service for its one
//! cluster, which at 10 instances per service was a quarter of an instance's memory. A vector
//! sized to its clusters holds one in 64 bytes. A write to the service copies the vector along
//! with the rest of the snapshot (the clusters themselves are shared, one reference count
//! each), which for a handful of clusters costs less than an `OrdMap` path copy.

use super::snapshot::ClusterSnapshot;
use crate::model::ClusterName;

/// A service's clusters, sorted by name, with no name twice.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterMap(Vec<(ClusterName, ClusterSnapshot)>);

impl ClusterMap {
    fn find(&self, name: &ClusterName) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.cmp(name))
    }

    /// The cluster named `name`.
    pub(crate) fn get(&self, name: &ClusterName) -> Option<&ClusterSnapshot> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// The cluster named `name`, to change.
    pub(crate) fn get_mut(&mut self, name: &ClusterName) -> Option<&mut ClusterSnapshot> {
        let i = self.find(name).ok()?;
        Some(&mut self.0[i].1)
    }

    /// The cluster named `name`, made empty first if there is none.
    pub(crate) fn get_or_default(&mut self, name: ClusterName) -> &mut ClusterSnapshot {
        let i = match self.find(&name) {
            Ok(i) => i,
            Err(i) => {
                // Exactly one more: a vector's first growth would otherwise make room for four.
                self.0.reserve_exact(1);
                self.0.insert(i, (name, ClusterSnapshot::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Sets the cluster named `name` to `cluster`.
    pub(crate) fn insert(&mut self, name: ClusterName, cluster: ClusterSnapshot) {
        *self.get_or_default(name) = cluster;
    }

    /// Removes the cluster named `name`, if there is one.
    pub(crate) fn remove(&mut self, name: &ClusterName) -> Option<ClusterSnapshot> {
        let i = self.find(name).ok()?;
        let (_, cluster) = self.0.remove(i);
        self.0.shrink_to_fit();
        Some(cluster)
    }

    /// Every cluster with its name, in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ClusterName, &ClusterSnapshot)> + '_ {
        self.0.iter().map(|(n, c)| (n, c))
    }

    /// The names, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &ClusterName> + '_ {
        self.0.iter().map(|(n, _)| n)
    }

    /// The clusters, in name order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &ClusterSnapshot> + '_ {
        self.0.iter().map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ClusterName {
        ClusterName::new(s).unwrap()
    }

    #[test]
    fn clusters_stay_sorted_and_sized_to_what_they_hold() {
        let mut map = ClusterMap::default();
        for n in ["b", "a", "c", "a"] {
            map.get_or_default(name(n)).persistent += 1;
        }
        let names: Vec<&str> = map.keys().map(ClusterName::as_str).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(map.get(&name("a")).map(|c| c.persistent), Some(2));
        assert_eq!(map.0.capacity(), 3, "no room kept beyond the clusters held");
        assert!(map.remove(&name("b")).is_some());
        assert!(map.remove(&name("b")).is_none());
        assert_eq!(map.0.capacity(), 2);
        assert!(map.get_mut(&name("b")).is_none());
        map.insert(name("b"), ClusterSnapshot::default());
        let names: Vec<&str> = map.keys().map(ClusterName::as_str).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(map.values().count(), 3);
        assert_eq!(map.iter().count(), 3);
    }
}
