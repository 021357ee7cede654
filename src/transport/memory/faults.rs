//! [`FaultModel`]: what the in-process network does to each message — drops, delays,
//! partitions, crashed nodes — decided by a seeded generator so a run can be replayed.

use crate::cluster::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Faults on one direction of one link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// Chance that a request (or its answer) is lost, from 0.0 to 1.0.
    pub drop_rate: f64,
    /// One-way delay.
    pub delay: Duration,
    /// Extra one-way delay, uniform from zero to this.
    pub jitter: Duration,
}

impl LinkFaults {
    /// A perfect link: no loss, no delay.
    pub const PERFECT: LinkFaults = LinkFaults {
        drop_rate: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
    };
}

impl Default for LinkFaults {
    fn default() -> Self {
        Self::PERFECT
    }
}

/// What happens to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// It arrives after this one-way delay.
    Deliver(Duration),
    /// It is lost: the sender sees a timeout.
    Drop,
    /// The receiver is crashed or on the other side of a partition.
    Unreachable,
}

/// The network's faults. Every random choice comes from one generator seeded at creation, so
/// the same sequence of calls gives the same faults.
#[derive(Debug, Clone)]
pub struct FaultModel {
    default: LinkFaults,
    links: BTreeMap<(NodeId, NodeId), LinkFaults>,
    groups: Option<Vec<BTreeSet<NodeId>>>,
    crashed: BTreeSet<NodeId>,
    rng: fastrand::Rng,
}

impl FaultModel {
    /// A perfect network whose future randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            default: LinkFaults::PERFECT,
            links: BTreeMap::new(),
            groups: None,
            crashed: BTreeSet::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Faults for every link without its own.
    pub fn set_default(&mut self, faults: LinkFaults) {
        self.default = faults;
    }

    /// Faults for messages from `from` to `to`.
    pub fn set_link(&mut self, from: &NodeId, to: &NodeId, faults: LinkFaults) {
        self.links.insert((from.clone(), to.clone()), faults);
    }

    /// Removes every per-link setting and the default faults (partitions and crashes stay).
    pub fn clear_link_faults(&mut self) {
        self.links.clear();
        self.default = LinkFaults::PERFECT;
    }

    /// Splits the network: nodes in different groups cannot reach each other. A node in no
    /// group can reach nobody.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        self.groups = Some(groups.iter().map(|g| g.iter().cloned().collect()).collect());
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Whether a partition is in force.
    pub fn is_partitioned(&self) -> bool {
        self.groups.is_some()
    }

    /// Marks a node crashed: nothing reaches it.
    pub fn crash(&mut self, node: &NodeId) {
        self.crashed.insert(node.clone());
    }

    /// Marks a node running again.
    pub fn restart(&mut self, node: &NodeId) {
        self.crashed.remove(node);
    }

    /// Whether `node` is crashed.
    pub fn is_crashed(&self, node: &NodeId) -> bool {
        self.crashed.contains(node)
    }

    /// Whether a message from `from` can reach `to` at all (ignoring loss).
    pub fn can_reach(&self, from: &NodeId, to: &NodeId) -> bool {
        if self.crashed.contains(from) || self.crashed.contains(to) {
            return false;
        }
        match &self.groups {
            None => true,
            Some(groups) => groups.iter().any(|g| g.contains(from) && g.contains(to)),
        }
    }

    /// Decides the fate of one message from `from` to `to`.
    pub fn decide(&mut self, from: &NodeId, to: &NodeId) -> Delivery {
        if !self.can_reach(from, to) {
            return Delivery::Unreachable;
        }
        let link = self
            .links
            .get(&(from.clone(), to.clone()))
            .copied()
            .unwrap_or(self.default);
        if link.drop_rate > 0.0 && self.rng.f64() < link.drop_rate {
            return Delivery::Drop;
        }
        let jitter = if link.jitter.is_zero() {
            Duration::ZERO
        } else {
            let micros = u64::try_from(link.jitter.as_micros()).unwrap_or(u64::MAX);
            Duration::from_micros(self.rng.u64(0..=micros))
        };
        Delivery::Deliver(link.delay + jitter)
    }

    /// A random number from the model's generator (for simulations that want one stream).
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let faults = LinkFaults {
            drop_rate: 0.3,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(10),
        };
        let run = |seed| {
            let mut m = FaultModel::new(seed);
            m.set_default(faults);
            (0..200)
                .map(|_| m.decide(&id("a"), &id("b")))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let drops = run(7).iter().filter(|d| **d == Delivery::Drop).count();
        assert!((30..90).contains(&drops), "{drops}");
    }

    #[test]
    fn partitions_and_crashes_cut_links() {
        let (a, b, c) = (id("a"), id("b"), id("c"));
        let mut m = FaultModel::new(1);
        m.partition(&[std::slice::from_ref(&a), &[b.clone(), c.clone()]]);
        assert_eq!(m.decide(&a, &b), Delivery::Unreachable);
        assert_eq!(m.decide(&b, &c), Delivery::Deliver(Duration::ZERO));
        m.heal();
        m.crash(&c);
        assert!(m.can_reach(&a, &b));
        assert!(!m.can_reach(&a, &c) && !m.can_reach(&c, &a));
        m.restart(&c);
        assert!(m.can_reach(&a, &c));
    }
}
