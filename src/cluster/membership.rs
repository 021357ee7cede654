//! [`Membership`]: the static member list and which peers are alive, as a pure state machine.
//!
//! Peers are judged by when they were last heard from (any request from them, and any answer
//! but a refusal, counts) against `now`; nothing here reads a clock. A peer starts out presumed
//! up and ready, as if heard at start, so a fresh node's owner table lists every member from
//! the start and it does not take every service for itself before its first ping round.
//!
//! The list must name this node: a node left out of its own list is a configuration mistake
//! that would also leave it out of its peers' lists (they refuse a stranger), so
//! [`Membership::new`] refuses it with [`MembershipError::NotAMember`].
//!
//! Peers going down and coming back are logged (`tracing`, target `nacre::cluster::membership`):
//! down at `warn`, up at `info`.
//!
//! It also says which peers have not been up and serving for a given span
//! ([`Membership::not_serving_for`]): a peer counts from the first time it is heard to say it
//! serves after it was down, starting or never heard (a presumed peer does not count), and
//! starts again from zero when it goes down or says it is starting; and when every peer was
//! last heard from ([`Membership::heard_from_all_at`]). The cluster core keeps a removal of
//! persistent data until every peer has been serving for a whole tombstone retention, and has
//! been heard from a whole retention after the removal (see [`crate::store`], "Removals of
//! persistent data").

use super::error::MembershipError;
use super::mapper::DistroMapper;
use super::node_id::NodeId;
use crate::clock::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PeerState {
    last_heard: Timestamp,
    ready: bool,
    up: bool,
    /// Since when the peer has been up and said it serves, without a break; `None` while it
    /// is down, starting, or not heard to say so since this node started.
    serving_since: Option<Timestamp>,
}

/// Who is in the cluster and who is alive.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    me: NodeId,
    peers: BTreeMap<NodeId, PeerState>,
}

impl Membership {
    /// `members` is the static list; it must include `me`, or this is
    /// [`MembershipError::NotAMember`]. Every other member starts presumed up and ready at
    /// `now`.
    pub(crate) fn new(
        me: NodeId,
        members: &[NodeId],
        now: Timestamp,
    ) -> Result<Self, MembershipError> {
        if !members.contains(&me) {
            return Err(MembershipError::NotAMember {
                me,
                members: members.to_vec(),
            });
        }
        let peers = members
            .iter()
            .filter(|m| **m != me)
            .map(|m| {
                (
                    m.clone(),
                    PeerState {
                        last_heard: now,
                        ready: true,
                        up: true,
                        serving_since: None,
                    },
                )
            })
            .collect();
        Ok(Self { me, peers })
    }

    /// Every peer, up or not.
    pub(crate) fn peers(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.peers.keys()
    }

    /// Whether `peer` is a member other than this node.
    pub(crate) fn is_peer(&self, peer: &NodeId) -> bool {
        self.peers.contains_key(peer)
    }

    /// When `peer` was last heard from (any request, any answer but a refusal; at start, the
    /// time the membership was made). `None` for a non-member and for this node.
    pub(crate) fn last_heard(&self, peer: &NodeId) -> Option<Timestamp> {
        self.peers.get(peer).map(|p| p.last_heard)
    }

    /// When the first peer that is up now goes down unless heard from (its last contact plus
    /// `down_after`), if any is up.
    pub(crate) fn next_down(&self, down_after: Duration) -> Option<Timestamp> {
        self.peers
            .values()
            .filter(|p| p.up)
            .map(|p| p.last_heard + down_after)
            .min()
    }

    /// Whether `peer` is currently up.
    pub(crate) fn is_up(&self, peer: &NodeId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.up)
    }

    /// Records that `peer` was heard from at `now`; `ready` if it said whether it serves.
    /// Returns whether the set of healthy members changed.
    pub(crate) fn heard(&mut self, peer: &NodeId, ready: Option<bool>, now: Timestamp) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        let before = (p.up, p.ready);
        p.last_heard = p.last_heard.max(now);
        p.up = true;
        if let Some(r) = ready {
            p.ready = r;
            match (r, p.serving_since) {
                (false, _) => p.serving_since = None,
                (true, None) => p.serving_since = Some(now),
                (true, Some(_)) => {}
            }
        }
        if !before.0 {
            tracing::info!(%peer, ready = p.ready, "peer is up again");
        } else if before.1 != p.ready {
            tracing::debug!(%peer, ready = p.ready, "peer changed readiness");
        }
        before != (p.up, p.ready)
    }

    /// Takes `peer` as serving, without having heard it say so (it concluded it serves by the
    /// same rule as this node). Hearing from it later corrects this either way.
    pub(crate) fn presume_ready(&mut self, peer: &NodeId) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.ready = true;
        }
    }

    /// Marks peers not heard from for `down_after` as down. Returns whether anything changed.
    pub(crate) fn refresh(&mut self, now: Timestamp, down_after: Duration) -> bool {
        let mut changed = false;
        for (id, p) in &mut self.peers {
            let up = now.saturating_since(p.last_heard) < down_after;
            if up != p.up {
                p.up = up;
                if !up {
                    p.serving_since = None;
                }
                changed = true;
                if !up {
                    tracing::warn!(
                        peer = %id,
                        silent_for = ?now.saturating_since(p.last_heard),
                        "peer is down: not heard from within peer_down_after; its services move to the other members"
                    );
                }
            }
        }
        changed
    }

    /// The peers that have not been up and serving, without a break, for at least `span`
    /// at `now` (see the module documentation), in id order.
    pub(crate) fn not_serving_for(&self, now: Timestamp, span: Duration) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                !p.up
                    || p.serving_since
                        .is_none_or(|since| now.saturating_since(since) < span)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The latest time by which every peer is known to have been heard from: the earliest
    /// last contact among them (`now` without peers).
    pub(crate) fn heard_from_all_at(&self, now: Timestamp) -> Timestamp {
        self.peers
            .values()
            .map(|p| p.last_heard)
            .fold(now, Timestamp::min)
    }

    /// The mapper over this node (if `me_ready`) and every peer that is up and ready.
    pub(crate) fn mapper(&self, me_ready: bool) -> DistroMapper {
        let mut healthy: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.up && p.ready)
            .map(|(id, _)| id.clone())
            .collect();
        if me_ready {
            healthy.push(self.me.clone());
        }
        DistroMapper::new(healthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    #[test]
    fn a_silent_peer_goes_down_after_the_timeout_and_comes_back_when_heard() {
        let t0 = Timestamp::from_millis(1_000);
        let mut m = Membership::new(id("a"), &[id("a"), id("b"), id("c")], t0).unwrap();
        assert_eq!(m.mapper(true).members().len(), 3);
        m.heard(&id("b"), Some(true), t0 + Duration::from_secs(3));
        assert!(!m.refresh(t0 + Duration::from_millis(4_999), Duration::from_secs(5)));
        assert!(m.refresh(t0 + Duration::from_secs(5), Duration::from_secs(5)));
        assert!(!m.is_up(&id("c")));
        assert!(m.is_up(&id("b")));
        assert_eq!(m.mapper(true).members(), &[id("a"), id("b")]);
        assert!(m.heard(&id("c"), None, t0 + Duration::from_secs(6)));
        assert_eq!(m.mapper(true).members().len(), 3);
    }

    #[test]
    fn peers_that_are_not_ready_stay_out_of_the_mapper() {
        let t0 = Timestamp::from_millis(0);
        let mut m = Membership::new(id("a"), &[id("a"), id("b")], t0).unwrap();
        assert!(m.heard(&id("b"), Some(false), t0));
        assert_eq!(m.mapper(true).members(), &[id("a")]);
        assert_eq!(m.mapper(false).members(), &[] as &[NodeId]);
        assert!(
            !m.heard(&id("zz"), Some(true), t0),
            "strangers are not members"
        );
    }

    #[test]
    fn a_peer_counts_as_serving_from_when_it_says_so_until_it_goes_down_or_restarts() {
        let t0 = Timestamp::from_millis(1_000);
        let s = Duration::from_secs;
        let down_after = s(5);
        let mut m = Membership::new(id("a"), &[id("a"), id("b"), id("c")], t0).unwrap();
        // Presumed up and ready at start, but never heard to say so: not serving yet.
        assert_eq!(m.not_serving_for(t0, s(0)), vec![id("b"), id("c")]);
        m.heard(&id("b"), Some(true), t0 + s(1));
        m.heard(&id("c"), None, t0 + s(1));
        assert_eq!(m.not_serving_for(t0 + s(1), s(0)), vec![id("c")]);
        assert_eq!(m.not_serving_for(t0 + s(10), s(10)), vec![id("b"), id("c")]);
        // Pings keep it serving; its first "serving" is what counts.
        for t in 2..=11 {
            m.heard(&id("b"), Some(true), t0 + s(t));
            m.heard(&id("c"), Some(true), t0 + s(t));
            m.refresh(t0 + s(t), down_after);
        }
        assert_eq!(m.not_serving_for(t0 + s(11), s(10)), vec![id("c")]);
        assert!(m.not_serving_for(t0 + s(12), s(10)).is_empty());
        // c restarts: it says it is starting, and counts from zero once it serves again.
        m.heard(&id("c"), Some(false), t0 + s(12));
        m.heard(&id("c"), Some(true), t0 + s(13));
        assert_eq!(m.not_serving_for(t0 + s(22), s(10)), vec![id("c")]);
        // b goes silent: down after `down_after`, and from zero when heard again.
        assert!(m.refresh(t0 + s(17), down_after));
        assert_eq!(m.not_serving_for(t0 + s(17), s(0)), vec![id("b")]);
        m.heard(&id("b"), Some(true), t0 + s(18));
        assert_eq!(m.not_serving_for(t0 + s(27), s(10)), vec![id("b")]);
        assert_eq!(m.not_serving_for(t0 + s(28), s(10)), vec![] as Vec<NodeId>);
    }

    #[test]
    fn every_peer_is_heard_from_by_the_earliest_last_contact() {
        let t0 = Timestamp::from_millis(1_000);
        let s = Duration::from_secs;
        let mut m = Membership::new(id("a"), &[id("a"), id("b"), id("c")], t0).unwrap();
        assert_eq!(m.heard_from_all_at(t0 + s(9)), t0);
        m.heard(&id("b"), Some(true), t0 + s(4));
        m.heard(&id("c"), None, t0 + s(6));
        assert_eq!(m.heard_from_all_at(t0 + s(9)), t0 + s(4));
        let alone = Membership::new(id("a"), &[id("a")], t0).unwrap();
        assert_eq!(alone.heard_from_all_at(t0 + s(9)), t0 + s(9));
    }

    #[test]
    fn a_fresh_membership_lists_every_member_in_the_mapper() {
        let t0 = Timestamp::from_millis(0);
        let m = Membership::new(id("b"), &[id("a"), id("b"), id("c")], t0).unwrap();
        assert_eq!(m.mapper(true).members(), &[id("a"), id("b"), id("c")]);
    }

    #[test]
    fn a_node_left_out_of_its_own_member_list_is_refused_with_the_fix() {
        let t0 = Timestamp::from_millis(0);
        let err = Membership::new(id("c"), &[id("a"), id("b")], t0).unwrap_err();
        assert_eq!(
            err,
            MembershipError::NotAMember {
                me: id("c"),
                members: vec![id("a"), id("b")]
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("`c` is not in the member list [a, b]"),
            "{message}"
        );
        assert!(
            message.contains("--node-id must be one of --members"),
            "{message}"
        );
    }
}
