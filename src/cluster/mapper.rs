//! [`DistroMapper`]: which member is responsible for which service.
//!
//! Responsibility is a stable hash of the service key (FNV-1a over namespace, group and
//! service; not Rust's randomly seeded hasher) modulo the number of healthy members, indexing
//! the members in sorted order. Every node that sees the same healthy members gives the same
//! answer.

use super::node_id::NodeId;
use crate::model::ServiceKey;
use crate::store::Fnv;

/// Maps services to the healthy member responsible for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistroMapper {
    members: Vec<NodeId>,
}

/// The stable hash behind [`DistroMapper`].
pub fn distro_hash(key: &ServiceKey) -> u64 {
    let mut h = Fnv::new();
    h.bytes(key.namespace().as_str().as_bytes());
    h.bytes(key.group().as_str().as_bytes());
    h.bytes(key.service().as_str().as_bytes());
    h.finish()
}

impl DistroMapper {
    /// A mapper over `healthy` members (sorted and deduplicated here).
    pub fn new(mut healthy: Vec<NodeId>) -> Self {
        healthy.sort();
        healthy.dedup();
        Self { members: healthy }
    }

    /// The healthy members, sorted.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// The member responsible for `key`; `None` only when there are no healthy members.
    pub fn owner(&self, key: &ServiceKey) -> Option<&NodeId> {
        if self.members.is_empty() {
            return None;
        }
        let n = self.members.len() as u64;
        // `n` is at least 1, and the index is below `members.len()`.
        self.members.get((distro_hash(key) % n) as usize)
    }

    /// Whether `node` is responsible for `key`.
    pub fn is_owner(&self, node: &NodeId, key: &ServiceKey) -> bool {
        self.owner(key) == Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<NodeId> {
        names.iter().map(|n| NodeId::new(n).unwrap()).collect()
    }

    #[test]
    fn every_node_agrees_whatever_order_it_lists_members_in() {
        let a = DistroMapper::new(ids(&["n1", "n2", "n3"]));
        let b = DistroMapper::new(ids(&["n3", "n1", "n2", "n1"]));
        for i in 0..500 {
            let key = ServiceKey::named(&format!("svc-{i}")).unwrap();
            assert_eq!(a.owner(&key), b.owner(&key));
        }
    }

    #[test]
    fn the_hash_is_stable_across_runs() {
        // Pinned: a change here would move every service on upgrade.
        let key = ServiceKey::named("orders").unwrap();
        assert_eq!(distro_hash(&key), distro_hash(&key.clone()));
        let mut h = Fnv::new();
        h.bytes(b"public");
        h.bytes(b"DEFAULT_GROUP");
        h.bytes(b"orders");
        assert_eq!(distro_hash(&key), h.finish());
    }

    #[test]
    fn services_spread_over_all_members() {
        let m = DistroMapper::new(ids(&["n1", "n2", "n3", "n4", "n5"]));
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..5000 {
            let key = ServiceKey::named(&format!("svc-{i}")).unwrap();
            *counts.entry(m.owner(&key).unwrap().clone()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 5);
        assert!(
            counts.values().all(|c| (800..1200).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn no_members_no_owner() {
        let key = ServiceKey::named("orders").unwrap();
        assert_eq!(DistroMapper::new(vec![]).owner(&key), None);
    }
}
