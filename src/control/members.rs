//! [`ControlMembers`]: the voters of the control group, from the cluster's static member list
//! (`--members`), each under the Raft id [`raft_node_id`] gives its address.
//!
//! The list is checked once, when it is built: it must name this member, and no two members
//! may share a Raft id ([`MembersError::IdCollision`] names both; with a 64-bit hash this is
//! about 1 in 2^64 per pair, but two members under one id would be one voter to Raft, and the
//! group's majority would be wrong). Duplicated addresses count once, as Distro counts them.
//!
//! ```
//! use nacre::cluster::NodeId;
//! use nacre::control::ControlMembers;
//!
//! let a = NodeId::new("10.0.0.1:8848")?;
//! let b = NodeId::new("10.0.0.2:8848")?;
//! let members = ControlMembers::new(&a, &[a.clone(), b])?;
//! assert_eq!(members.len(), 2);
//! assert_eq!(members.me(), &a);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use openraft::BasicNode;

use super::types::raft_node_id;
use crate::cluster::NodeId;

/// Why a member list cannot make a control group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembersError {
    /// The list does not name this member.
    #[error("the member list does not name this member ({0})")]
    NotAMember(NodeId),
    /// Two members' addresses hash to the same Raft id.
    #[error(
        "members {first} and {second} have the same Raft node id {id:#018x}: change one \
         address' spelling (say, a host name for an IP)"
    )]
    IdCollision {
        /// One member.
        first: NodeId,
        /// The other.
        second: NodeId,
        /// Their common id.
        id: u64,
    },
}

/// The voters of a control group, by Raft id, and which one this member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMembers {
    me: NodeId,
    my_id: u64,
    by_id: BTreeMap<u64, NodeId>,
}

impl ControlMembers {
    /// The group of `members` (the static member list), seen from `me`.
    pub fn new(me: &NodeId, members: &[NodeId]) -> Result<Self, MembersError> {
        Self::with_ids(me, members, raft_node_id)
    }

    /// [`ControlMembers::new`] with the id function given (tests give one that collides).
    fn with_ids(
        me: &NodeId,
        members: &[NodeId],
        raft_node_id: fn(&str) -> u64,
    ) -> Result<Self, MembersError> {
        let mut by_id: BTreeMap<u64, NodeId> = BTreeMap::new();
        for member in members {
            let id = raft_node_id(member.as_str());
            match by_id.get(&id) {
                Some(other) if other != member => {
                    return Err(MembersError::IdCollision {
                        first: other.clone(),
                        second: member.clone(),
                        id,
                    })
                }
                _ => {
                    by_id.insert(id, member.clone());
                }
            }
        }
        let Some(my_id) = by_id.iter().find(|(_, m)| *m == me).map(|(id, _)| *id) else {
            return Err(MembersError::NotAMember(me.clone()));
        };
        Ok(ControlMembers {
            me: me.clone(),
            my_id,
            by_id,
        })
    }

    /// A group of one: this member alone (a standalone node).
    pub fn alone(me: &NodeId) -> Self {
        let my_id = raft_node_id(me.as_str());
        ControlMembers {
            me: me.clone(),
            my_id,
            by_id: BTreeMap::from([(my_id, me.clone())]),
        }
    }

    /// This member.
    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// This member's Raft id.
    pub fn my_id(&self) -> u64 {
        self.my_id
    }

    /// How many voters.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Never true: a group names at least this member.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether this member is the one that initializes a new group: the lowest Raft id.
    pub fn initializes(&self) -> bool {
        self.by_id.keys().next() == Some(&self.my_id)
    }

    /// The member whose Raft id is `id`.
    pub fn address(&self, id: u64) -> Option<&NodeId> {
        self.by_id.get(&id)
    }

    /// The membership openraft is initialized with.
    pub(crate) fn raft_nodes(&self) -> BTreeMap<u64, BasicNode> {
        self.by_id
            .iter()
            .map(|(id, member)| (*id, BasicNode::new(member.as_str())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).expect("valid")
    }

    #[test]
    fn the_list_must_name_this_member() {
        let (a, b) = (id("a:1"), id("b:1"));
        assert_eq!(
            ControlMembers::new(&a, std::slice::from_ref(&b)),
            Err(MembersError::NotAMember(a.clone()))
        );
        let members = ControlMembers::new(&a, &[a.clone(), b.clone(), a.clone()]).expect("ok");
        assert_eq!(members.len(), 2);
        let lowest = [&a, &b]
            .into_iter()
            .min_by_key(|m| raft_node_id(m.as_str()))
            .expect("two");
        assert_eq!(members.initializes(), lowest == &a);
    }

    #[test]
    fn two_members_under_one_raft_id_are_refused_by_name() {
        // An id function under which "a:1" and "b:1" collide (same length).
        let by_len = |s: &str| s.len() as u64;
        let (a, b, c) = (id("a:1"), id("b:1"), id("cc:1"));
        assert_eq!(
            ControlMembers::with_ids(&c, &[a.clone(), c.clone(), b.clone()], by_len),
            Err(MembersError::IdCollision {
                first: a,
                second: b,
                id: 3
            })
        );
        let err = ControlMembers::with_ids(&c, &[id("a:1"), id("b:1")], by_len)
            .expect_err("collides")
            .to_string();
        assert!(err.contains("a:1") && err.contains("b:1"), "{err}");
    }
}
