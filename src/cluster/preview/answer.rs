//! What [`super::compute_preview`] answers: serde-serializable, camelCase JSON.

use super::PreviewChange;
use crate::clock::Timestamp;
use crate::cluster::NodeId;
use crate::model::ServiceKey;
use serde::Serialize;

/// A predicted time: from `now`, and since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct At {
    /// Milliseconds after `now`.
    pub in_ms: u64,
    /// Milliseconds since the UNIX epoch.
    pub epoch_ms: u64,
}

impl At {
    pub(super) fn of(t: Timestamp, now: Timestamp) -> Self {
        let in_ms = u64::try_from(t.saturating_since(now).as_millis()).unwrap_or(u64::MAX);
        Self {
            in_ms,
            epoch_ms: t.as_millis(),
        }
    }
}

/// When the survivors notice a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// The expected time (see the module documentation), taken as the takeover.
    pub expected: At,
    /// The earliest a survivor may notice it.
    pub earliest: At,
    /// The latest a survivor may notice it (on a network that delivers).
    pub latest: At,
    /// How long ago this member last heard from the stopping one (`None`: it is this member).
    pub last_heard_ms_ago: Option<u64>,
}

/// The rules the preview applied (defaults; an instance's overrides win for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRules {
    /// Silence after which an instance turns unhealthy.
    pub unhealthy_after_ms: u64,
    /// Silence after which it is removed.
    pub remove_after_ms: u64,
    /// How late a verdict may come after its deadline.
    pub min_sweep_gap_ms: u64,
    /// Silence after which a peer is marked down.
    pub peer_down_after_ms: u64,
    /// How often members ping each other.
    pub ping_interval_ms: u64,
}

/// A service, by its three names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    /// Its namespace.
    pub namespace: String,
    /// Its group.
    pub group: String,
    /// Its name.
    pub name: String,
}

impl From<&ServiceKey> for ServiceRef {
    fn from(key: &ServiceKey) -> Self {
        Self {
            namespace: key.namespace().as_str().to_owned(),
            group: key.group().as_str().to_owned(),
            name: key.service().as_str().to_owned(),
        }
    }
}

/// One predicted verdict: when, and by which member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictedEvent {
    /// When (a deadline: the sweep comes at it or up to a sweep gap later).
    pub at: At,
    /// The member whose sweep gives it.
    pub by: NodeId,
}

/// What happens to an instance whose client stops beating at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fate {
    /// When it turns unhealthy (`None`: it is unhealthy already, or its delete timeout is not
    /// longer than its beat timeout, so it goes without being marked).
    pub unhealthy: Option<PredictedEvent>,
    /// When it is removed.
    pub removed: PredictedEvent,
}

impl Fate {
    pub(super) fn first(&self) -> &At {
        self.unhealthy.as_ref().map_or(&self.removed.at, |u| &u.at)
    }
}

/// One ephemeral instance the change may affect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceForecast {
    /// Its service.
    pub service: ServiceRef,
    /// Its cluster.
    pub cluster: String,
    /// Its address.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// Whether it is healthy now, here.
    pub healthy: bool,
    /// The last beat the forecast counts from, milliseconds since the epoch.
    pub last_beat_epoch_ms: u64,
    /// Whether that is `now`, assumed because this member neither owns the service nor
    /// holds the instance as unhealthy (see the module documentation, "Last beats"); the
    /// owner's own may be up to one beat interval earlier.
    pub last_beat_assumed: bool,
    /// Whether the caller said its beats stop with the change.
    pub beats_stop: bool,
    /// What happens if its beats stop now.
    pub if_beats_stop: Fate,
}

/// One service whose owner changes, or that holds an instance whose beats stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceForecast {
    /// The service.
    pub service: ServiceRef,
    /// Its owner now.
    pub old_owner: NodeId,
    /// Its owner after the change.
    pub new_owner: NodeId,
    /// Whether the owner changes.
    pub moved: bool,
    /// Its instances.
    pub instances: usize,
    /// Its ephemeral instances.
    pub ephemeral: usize,
    /// Its instances the caller said lose their beats.
    pub beats_stop: usize,
    /// Its subscribers, when the caller gave counts and the service may change (it holds an
    /// ephemeral instance forecast).
    pub subscribers: Option<usize>,
    /// Its first change (and push) if every forecast instance's beats stop.
    pub first_change_if_beats_stop: Option<At>,
    /// Its first change (and push) if only the instances named as losing their beats do.
    pub first_change_expected: Option<At>,
}

/// What a scenario changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Instances that turn unhealthy.
    pub unhealthy: usize,
    /// Instances removed.
    pub removed: usize,
    /// Services that change, so are pushed.
    pub services_pushed: usize,
    /// Their subscribers, when the caller gave counts.
    pub subscribers_pushed: Option<u64>,
    /// The first change.
    pub first_change: Option<At>,
    /// The last change.
    pub last_change: Option<At>,
}

impl Outcome {
    pub(super) fn add(&mut self, fate: &Fate) {
        self.unhealthy += usize::from(fate.unhealthy.is_some());
        self.removed += 1;
        let first = *fate.first();
        self.first_change = Some(self.first_change.map_or(first, |f| f.min(first)));
        let last = fate.removed.at;
        self.last_change = Some(self.last_change.map_or(last, |l| l.max(last)));
    }
    pub(super) fn pushed(&mut self, subscribers: Option<usize>) {
        self.services_pushed += 1;
        if let Some(n) = subscribers {
            let n = u64::try_from(n).unwrap_or(u64::MAX);
            self.subscribers_pushed = Some(self.subscribers_pushed.unwrap_or(0).saturating_add(n));
        }
    }
}

/// Counts over the whole registry (the lists hold at most the detail limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewTotals {
    /// Services in this member's registry.
    pub services: usize,
    /// Services whose owner changes.
    pub services_moved: usize,
    /// Instances on those services.
    pub instances_moved: usize,
    /// Persistent instances among them (not judged by beats: not forecast).
    pub persistent_moved: usize,
    /// Instances the caller said lose their beats.
    pub beats_stop: usize,
    /// Services forecast (moved, or holding an instance whose beats stop), listed or not.
    pub services_forecast: usize,
    /// Instances forecast (listed or not).
    pub instances_forecast: usize,
    /// If every forecast instance's beats stop now.
    pub if_beats_stop: Outcome,
    /// If only the instances named as losing their beats stop.
    pub expected: Outcome,
}

/// The answer: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The change.
    pub change: PreviewChange,
    /// The member that computed it (whose registry it read).
    pub computed_by: NodeId,
    /// `now`, milliseconds since the epoch.
    pub now_epoch_ms: u64,
    /// The owner table now.
    pub owners_before: Vec<NodeId>,
    /// The owner table after the change.
    pub owners_after: Vec<NodeId>,
    /// When a stop is noticed (`None` for a planned list, in force at `now`).
    pub detection: Option<Detection>,
    /// When the new owners take over (their grace periods start).
    pub takeover: At,
    /// The rules applied.
    pub rules: PreviewRules,
    /// Counts.
    pub totals: PreviewTotals,
    /// The most entries each list holds.
    pub detail_limit: usize,
    /// Services that move or hold an instance whose beats stop, in key order.
    pub services: Vec<ServiceForecast>,
    /// Instances forecast, by first predicted change.
    pub instances: Vec<InstanceForecast>,
}
