//! The failure preview: what a member's stop, or a planned member list, would do to the
//! registry, computed from the owner table and the local registry without changing anything.
//!
//! [`compute_preview`] is pure: it takes the membership as this member sees it
//! ([`PreviewBasis`]), the local registry's read side, the change ([`PreviewChange`]) and
//! `now`, reads no clock and writes nothing. [`super::ClusterNode::preview`] gathers the live
//! inputs and calls it; [`DistroCore::preview`] does the same for a host (or the simulator)
//! that drives the core itself.
//!
//! ## What it predicts, and how
//!
//! - **Owners.** The owner table after the change is [`DistroMapper::new`] over the healthy
//!   members less the stopped one (a stop), or over the planned list. A service whose owner
//!   differs moves; with the hash taken modulo the member count, services also move between
//!   members that stay ([`ServiceForecast::moved`]).
//! - **When a stop is noticed.** Every member pings every peer each
//!   [`DistroConfig::ping_interval`](super::DistroConfig::ping_interval), and a peer not heard
//!   from for [`DistroConfig::peer_down_after`](super::DistroConfig::peer_down_after) is
//!   marked down at the member's next poll (one comes at least every ping interval), which
//!   rebuilds its owner table at once. The expected time is this member's last contact with
//!   the stopping one plus `peer_down_after` (its stop taken to be `now`; for this member's
//!   own stop, `now` plus `peer_down_after`); every survivor heard from it within a ping
//!   interval of the stop, so all notice it within [`Detection::earliest`] and
//!   [`Detection::latest`]. The model takes the expected time as every survivor's takeover.
//!   A planned list is taken to be in force on every member at `now`: the preview says what
//!   moves and what that costs, not how long a rolling restart takes.
//! - **What the new owner does.** Beats are not replicated: they reach the owner only, and a
//!   member that takes a service over knows last-beat times only as old as the last write
//!   replicated to it. So it grants the service a grace period from the takeover: its sweep
//!   counts no silence before then (`core/peers.rs`, [`crate::health::sweep()`]), judging an
//!   instance by `max(last beat, takeover)`, and it sweeps at once. The old owner, when it
//!   stays up, judged with the true last beats until it lost the service; a stopped one
//!   judges nothing from `now` on. Verdicts follow [`crate::health::judge`]: unhealthy after
//!   the instance's beat timeout (its `preserved.*` override, else
//!   [`crate::HealthConfig::beat_timeout`]), removed after its delete timeout, both counted
//!   from that base. A sweep runs at the deadline or up to
//!   [`crate::HealthConfig::min_sweep_gap`] later. So an instance already silent when its
//!   service moves is removed a whole delete timeout after the takeover, not after its last
//!   beat: the grace delays removals too.
//! - **Two scenarios per instance.** For every ephemeral instance of a moved service, and for
//!   every instance the caller names as losing its only contact
//!   ([`PreviewOptions::beats_stop`]), the preview gives [`InstanceForecast::if_beats_stop`]:
//!   when it turns unhealthy and is removed, and by which member, if its client's beats stop
//!   at `now`. If they keep coming through a member that stays up, it stays healthy (or turns
//!   healthy at its next beat): a survivor forwards a beat to the owner in its table, applies
//!   it locally when that owner is down (AP), and the new owner applies what reaches it, so
//!   a beat arrives well inside the grace's beat timeout. Persistent instances are counted,
//!   not forecast: no beat judges them, and their probes move with the owner.
//! - **Which instances lose their beats.** Nothing in a member's registry says through which
//!   member a client beats: a v1 client beats through any server of its list and moves on
//!   when one fails, and a 2.x gRPC client's instances are kept alive by beats from the
//!   member holding its connection (`crate::grpc`), which stop with that member until the
//!   client reconnects elsewhere and registers again. The connection tag an instance carries
//!   (`Liveness::owner`) names the connection, not the member. So the caller says which
//!   instances lose their only contact, when it knows (the stopping member's gRPC front
//!   does); [`PreviewTotals::expected`] counts only those (every other client keeps
//!   beating), and [`PreviewTotals::if_beats_stop`] the worst case (every forecast client
//!   stops).
//! - **Pushes.** An owner change alone changes no instance, so it pushes nothing; a service
//!   is pushed when a verdict changes it. The push hubs live above the cluster layer, so the
//!   caller may pass subscriber counts ([`PreviewOptions::subscribers`]).
//!
//! ## Precision and limits
//!
//! **Last beats.** The local registry is a replica, and beats reach the owner only: for a
//! service this member does not own, the last-beat times here are those of the last write
//! replicated to it. So an instance is judged from its last beat as known here only when
//! this member owns its service, or when it is unhealthy here (the owner's flip carried the
//! beat it had, and no beat came since, or a flip back would have followed). Otherwise
//! ([`InstanceForecast::last_beat_assumed`]) its client is taken to have beaten until `now`,
//! the premise of "its beats stop now": the owner may have heard its last beat up to one beat
//! interval earlier, and a verdict that counts from it (on a service that stays with its
//! owner) comes up to that much earlier. A verdict that counts from a takeover does not
//! depend on it.
//!
//! **Deadlines.** Each time is a deadline: the verdict comes at it or up to a sweep gap later;
//! one that counts from a takeover may also be off by the spread of detection across the
//! survivors (at most a ping interval). Every time is `now` or later: a verdict already
//! overdue comes at the next sweep. Detection assumes a network that delivers: a survivor
//! that lost messages from the stopping member before the stop notices it earlier.
//!
//! The lists in the answer hold at most [`PreviewOptions::detail_limit`] services and as many
//! instances (default [`DEFAULT_DETAIL_LIMIT`], at most [`MAX_DETAIL_LIMIT`]): services in
//! key order, instances by their first predicted change. The totals count everything.
//!
//! ## Differences from Nacos
//!
//! Nacos has no such feature: nothing in it says, before a member goes, which services its
//! loss moves or what follows. (The grace period on takeover it predicts is nacre's own: see
//! [`crate::cluster`].)

mod answer;
mod timeline;

pub use answer::{
    At, Detection, Fate, InstanceForecast, Outcome, PredictedEvent, Preview, PreviewRules,
    PreviewTotals, ServiceForecast, ServiceRef,
};

use super::core::DistroCore;
use super::mapper::DistroMapper;
use super::node_id::NodeId;
use crate::clock::Timestamp;
use crate::health::{BeatTimeouts, HealthConfig};
use crate::model::{InstanceKey, ServiceKey};
use crate::registry::RegistryReader;
use crate::store::{InstanceEntry, ServiceSnapshot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use timeline::{detect, ms, Judging, Top};

/// How many services, and how many instances, a [`Preview`] lists in detail by default.
pub const DEFAULT_DETAIL_LIMIT: usize = 100;
/// The most services, and instances, a [`Preview`] lists in detail, whatever the caller asks.
pub const MAX_DETAIL_LIMIT: usize = 1_000;

/// The change to preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PreviewChange {
    /// `member` stops now (a crash or a kill: it hands nothing over).
    Stop {
        /// The member that stops.
        member: NodeId,
    },
    /// The healthy members become exactly `members`, on every member, now.
    Members {
        /// The planned members (order and duplicates do not matter).
        members: Vec<NodeId>,
    },
}

/// The membership as one member sees it: what [`compute_preview`] needs besides the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewBasis {
    /// The member computing the preview (whose registry is read).
    pub me: NodeId,
    /// The static member list, this member included.
    pub members: Vec<NodeId>,
    /// The current owner table: the healthy members.
    pub owners: DistroMapper,
    /// When this member last heard from each peer.
    pub last_heard: BTreeMap<NodeId, Timestamp>,
    /// How long a peer stays silent before it is marked down.
    pub peer_down_after: Duration,
    /// How often members ping each other (and poll at the latest).
    pub ping_interval: Duration,
}

/// Subscribers of a service, as the push hubs count them.
pub type SubscriberCount<'a> = &'a dyn Fn(&ServiceKey) -> usize;
/// Whether an instance of a service loses its only contact with the change.
pub type BeatsStop<'a> = &'a dyn Fn(&ServiceKey, &InstanceKey) -> bool;

/// What the caller knows that the cluster layer does not. `Default` knows nothing and lists
/// [`DEFAULT_DETAIL_LIMIT`] entries.
pub struct PreviewOptions<'a> {
    /// Subscribers of a service, from the push hubs (counts are `None` without it).
    pub subscribers: Option<SubscriberCount<'a>>,
    /// Whether an instance loses its only contact with the change (its beats stop), such as
    /// an instance of a gRPC connection held by the stopping member.
    pub beats_stop: Option<BeatsStop<'a>>,
    /// How many services, and instances, to list in detail (at most [`MAX_DETAIL_LIMIT`]).
    pub detail_limit: usize,
}

impl Default for PreviewOptions<'_> {
    fn default() -> Self {
        Self {
            subscribers: None,
            beats_stop: None,
            detail_limit: DEFAULT_DETAIL_LIMIT,
        }
    }
}

impl std::fmt::Debug for PreviewOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewOptions")
            .field("subscribers", &self.subscribers.is_some())
            .field("beats_stop", &self.beats_stop.is_some())
            .field("detail_limit", &self.detail_limit)
            .finish()
    }
}

/// Why a preview cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreviewError {
    /// The member to stop is not in the member list.
    #[error("`{member}` is not a member of this cluster (members: {})", list(.members))]
    UnknownMember {
        /// The member asked about.
        member: NodeId,
        /// The member list.
        members: Vec<NodeId>,
    },
    /// The member to stop is not in the owner table (down, or still starting): its stop
    /// moves nothing.
    #[error("`{0}` owns no service now (it is down or still starting): stopping it moves nothing")]
    NotServing(NodeId),
    /// No member would be left to own the services.
    #[error("no member would be left to own the services")]
    NoMemberLeft,
    /// This member's owner table is empty, or it does not serve yet: its registry is not the
    /// cluster's.
    #[error("member {0} does not serve yet: its registry and owner table are not the cluster's")]
    NotReady(NodeId),
}

fn list(members: &[NodeId]) -> String {
    let names: Vec<&str> = members.iter().map(NodeId::as_str).collect();
    format!("[{}]", names.join(", "))
}

/// Computes the preview of `change` at `now`: see the module documentation.
///
/// Fails when the member to stop is not a member ([`PreviewError::UnknownMember`]) or owns
/// nothing now ([`PreviewError::NotServing`]), when no member would be left
/// ([`PreviewError::NoMemberLeft`]), and when the owner table is empty
/// ([`PreviewError::NotReady`]).
pub fn compute_preview(
    basis: &PreviewBasis,
    registry: &RegistryReader,
    change: &PreviewChange,
    now: Timestamp,
    options: &PreviewOptions<'_>,
) -> Result<Preview, PreviewError> {
    let before = &basis.owners;
    if before.members().is_empty() {
        return Err(PreviewError::NotReady(basis.me.clone()));
    }
    let (after, detection) = match change {
        PreviewChange::Stop { member } => {
            if !basis.members.contains(member) {
                return Err(PreviewError::UnknownMember {
                    member: member.clone(),
                    members: basis.members.clone(),
                });
            }
            if !before.members().contains(member) {
                return Err(PreviewError::NotServing(member.clone()));
            }
            let rest = before.members().iter().filter(|m| *m != member).cloned();
            let detection = detect(basis, member, now);
            (DistroMapper::new(rest.collect()), Some(detection))
        }
        PreviewChange::Members { members } => (DistroMapper::new(members.clone()), None),
    };
    if after.members().is_empty() {
        return Err(PreviewError::NoMemberLeft);
    }
    let takeover = detection.map_or(now, |(_, at)| at);
    let health = registry.health_config();
    let limit = options.detail_limit.min(MAX_DETAIL_LIMIT);
    let mut tally = Tally {
        basis,
        options,
        after: &after,
        now,
        takeover,
        health,
        totals: PreviewTotals::default(),
        services: Top::new(limit),
        instances: Top::new(limit),
    };
    registry.store().for_each(|snap| tally.service(snap));
    Ok(Preview {
        change: change.clone(),
        computed_by: basis.me.clone(),
        now_epoch_ms: now.as_millis(),
        owners_before: before.members().to_vec(),
        owners_after: after.members().to_vec(),
        detection: detection.map(|(d, _)| d),
        takeover: At::of(takeover, now),
        rules: PreviewRules {
            unhealthy_after_ms: ms(health.beat_timeout),
            remove_after_ms: ms(health.delete_timeout),
            min_sweep_gap_ms: ms(health.min_sweep_gap),
            peer_down_after_ms: ms(basis.peer_down_after),
            ping_interval_ms: ms(basis.ping_interval),
        },
        totals: tally.totals,
        detail_limit: limit,
        services: tally.services.into_values(),
        instances: tally.instances.into_values(),
    })
}

/// What [`compute_preview`] gathers, service by service.
struct Tally<'a> {
    basis: &'a PreviewBasis,
    options: &'a PreviewOptions<'a>,
    after: &'a DistroMapper,
    now: Timestamp,
    takeover: Timestamp,
    health: &'a HealthConfig,
    totals: PreviewTotals,
    services: Top<ServiceKey, ServiceForecast>,
    instances: Top<(At, ServiceKey, InstanceKey), InstanceForecast>,
}

impl Tally<'_> {
    /// Counts one service, and forecasts its instances if it moves or some lose their beats.
    fn service(&mut self, snap: &ServiceSnapshot) {
        self.totals.services += 1;
        let key = snap.key();
        let (Some(old), Some(new)) = (self.basis.owners.owner(key), self.after.owner(key)) else {
            return;
        };
        let moved = old != new;
        let beats_stop = self.options.beats_stop;
        if !moved && beats_stop.is_none() {
            return;
        }
        // A member that stays up judges until it notices the change; one that leaves, until
        // now; an owner that keeps the service, all along.
        let old_until = if !moved {
            Timestamp::from_micros(u64::MAX)
        } else if self.after.members().contains(old) {
            self.takeover
        } else {
            self.now
        };
        let judging = Judging {
            now: self.now,
            old,
            old_until,
            new,
            from: self.takeover,
        };
        let mut service = ServiceForecast {
            service: ServiceRef::from(key),
            old_owner: old.clone(),
            new_owner: new.clone(),
            moved,
            instances: 0,
            ephemeral: 0,
            beats_stop: 0,
            subscribers: None,
            first_change_if_beats_stop: None,
            first_change_expected: None,
        };
        for entry in snap.entries() {
            let ikey = entry.instance().key();
            let stops = beats_stop.is_some_and(|f| f(key, &ikey));
            if !moved && !stops {
                continue;
            }
            service.instances += 1;
            service.beats_stop += usize::from(stops);
            if entry.ephemeral() {
                service.ephemeral += 1;
                self.instance(&mut service, &judging, (key, ikey, entry), stops);
            }
        }
        if !moved && service.beats_stop == 0 {
            return;
        }
        let totals = &mut self.totals;
        if moved {
            totals.services_moved += 1;
            totals.instances_moved += service.instances;
            totals.persistent_moved += service.instances - service.ephemeral;
        }
        totals.beats_stop += service.beats_stop;
        totals.services_forecast += 1;
        if service.first_change_if_beats_stop.is_some() {
            service.subscribers = self.options.subscribers.map(|f| f(key));
            totals.if_beats_stop.pushed(service.subscribers);
        }
        if service.first_change_expected.is_some() {
            totals.expected.pushed(service.subscribers);
        }
        if self.services.admits(key) {
            self.services.insert(key.clone(), service);
        }
    }

    /// Forecasts one ephemeral instance; `stops` if the caller said its beats stop.
    fn instance(
        &mut self,
        service: &mut ServiceForecast,
        judging: &Judging<'_>,
        (key, ikey, entry): (&ServiceKey, InstanceKey, &InstanceEntry),
        stops: bool,
    ) {
        // See "Last beats" in the module documentation.
        let known = *judging.old == self.basis.me || !entry.healthy();
        let heard = entry.liveness().last_beat();
        let last = if known { heard } else { heard.max(self.now) };
        let timeouts = BeatTimeouts::resolve(entry.overrides(), self.health);
        let fate = judging.fate(last, entry.healthy(), &timeouts);
        let first = *fate.first();
        self.totals.instances_forecast += 1;
        self.totals.if_beats_stop.add(&fate);
        earliest(&mut service.first_change_if_beats_stop, first);
        if stops {
            self.totals.expected.add(&fate);
            earliest(&mut service.first_change_expected, first);
        }
        let order = (first, key.clone(), ikey);
        if !self.instances.admits(&order) {
            return;
        }
        let instance = entry.instance();
        let detail = InstanceForecast {
            service: service.service.clone(),
            cluster: instance.cluster().as_str().to_owned(),
            ip: instance.ip().as_str().to_owned(),
            port: instance.port(),
            healthy: entry.healthy(),
            last_beat_epoch_ms: last.as_millis(),
            last_beat_assumed: !known,
            beats_stop: stops,
            if_beats_stop: fate,
        };
        self.instances.insert(order, detail);
    }
}

fn earliest(slot: &mut Option<At>, at: At) {
    *slot = Some(slot.map_or(at, |s| s.min(at)));
}

impl DistroCore {
    /// The membership as this member sees it, for [`compute_preview`].
    pub fn preview_basis(&self) -> PreviewBasis {
        let membership = self.membership();
        let mut members: Vec<NodeId> = membership.peers().cloned().collect();
        members.push(self.id().clone());
        members.sort();
        let last_heard = membership
            .peers()
            .filter_map(|p| Some((p.clone(), membership.last_heard(p)?)))
            .collect();
        PreviewBasis {
            me: self.id().clone(),
            members,
            owners: DistroMapper::clone(&self.routing().mapper()),
            last_heard,
            peer_down_after: self.config().peer_down_after,
            ping_interval: self.config().ping_interval,
        }
    }

    /// The preview of `change` at `now`, from this member's membership and registry (see
    /// [`compute_preview`]); [`PreviewError::NotReady`] while it does not serve.
    pub fn preview(
        &self,
        change: &PreviewChange,
        now: Timestamp,
        options: &PreviewOptions<'_>,
    ) -> Result<Preview, PreviewError> {
        if !self.is_ready() {
            return Err(PreviewError::NotReady(self.id().clone()));
        }
        compute_preview(&self.preview_basis(), self.registry(), change, now, options)
    }
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "preview_sim_tests.rs"]
mod sim_tests;
