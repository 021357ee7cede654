//! [`DistroConfig`]: the Distro timing and batching knobs, with Nacos-like defaults.

use std::time::Duration;

/// Distro timing, batching and bounds. The defaults follow Nacos: sync about 1 s after a
/// change (or as soon as 1000 changed instances are waiting), retry a failed sync after 3 s,
/// compare checksums every 5 s. Nacos has no counterpart to the last two bounds
/// (`max_pending_per_peer`, `max_clock_skew`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistroConfig {
    /// How long a change waits before it is sent, so changes batch up.
    pub sync_delay: Duration,
    /// How many changed instances make a batch go out at once, and the most one message holds.
    pub batch_count: usize,
    /// How long after a failed sync (or snapshot request) to try again.
    pub retry_delay: Duration,
    /// How often each node sends checksums of the services it is responsible for.
    pub verify_interval: Duration,
    /// How often each node pings every peer.
    pub ping_interval: Duration,
    /// A peer not heard from for this long is down and leaves the mapper.
    pub peer_down_after: Duration,
    /// How long to wait for a peer's answer before taking the request as failed.
    pub request_timeout: Duration,
    /// The most changed instances one peer's sync queue holds (a service-level change counts as
    /// one). A queue that grows past it (its peer is down, or keeps refusing) is dropped whole,
    /// and the peer is brought up to date by the repair path instead: the periodic verify,
    /// where each owner sends its checksums and a peer whose copy differs fetches the
    /// service. Default 100 000.
    pub max_pending_per_peer: usize,
    /// How far ahead of this node's clock a peer's version stamps and beat times may be:
    /// versions beyond it are refused, beat times clamped to it (see
    /// [`crate::store::MergeRules`]). Default 5 s.
    pub max_clock_skew: Duration,
    /// How long a loading node waits before it serves empty when some peers answer "starting
    /// too" but others do not answer at all. A peer that does not answer may be the one holding
    /// the data, so the node keeps asking (every [`DistroConfig::retry_delay`]); only a round in
    /// which *every* peer answers "starting" proves there is nothing to load. Past this wait it
    /// serves empty all the same, with a warning, so that a fresh cluster with one member down
    /// for good still starts. The trade-off: a node that restarts while the peers holding the
    /// data stay unreachable this long serves without their data, and gets it only through
    /// replication and the periodic verify once they are back. Default 30 s.
    pub empty_start_after: Duration,
    /// About how many instances one snapshot chunk holds (whole services are sent, so a chunk
    /// holds at least one service, and may pass this by the last one's size). A starting node
    /// loads a snapshot chunk by chunk, so no single message (nor the time the answering node
    /// spends building it under the protocol lock) grows with the registry. Default 10 000.
    pub snapshot_chunk_instances: usize,
    /// The most services one verify fetch asks for; the rest are asked for once the answer is
    /// in, so one fetch message stays bounded however many services differ. Default 100.
    pub fetch_chunk_services: usize,
    /// How many buckets verify hashes services into (see `core/verify.rs`): each round sends
    /// one sum per bucket, and only a bucket that differs is compared service by service. So a
    /// round between nodes that agree costs this many numbers, and a difference costs the
    /// services of its bucket. 0 sends every service's checksum instead (O(services) per
    /// round: Nacos' own verify). At most 65 536. Default 1024: about 10 KB
    /// per round and peer, and about 100 services per bucket at 100 000 services.
    pub verify_buckets: usize,
}

impl DistroConfig {
    /// How long a removal takes, at most, to reach a member that is up and serving, when it
    /// does not come in the snapshot the member loaded (it came back with every other member,
    /// or the removal is newer): three verify rounds (the owner's checksums, the fetch or the
    /// record sent back) and a retry. 18 s with the defaults. A removal of persistent data is
    /// kept until every member has been serving for at least this long (see
    /// [`crate::store`], "Removals of persistent data").
    pub(crate) fn removal_reach(&self) -> Duration {
        self.verify_interval
            .saturating_mul(3)
            .saturating_add(self.retry_delay)
    }
}

impl Default for DistroConfig {
    fn default() -> Self {
        Self {
            sync_delay: Duration::from_secs(1),
            batch_count: 1000,
            retry_delay: Duration::from_secs(3),
            verify_interval: Duration::from_secs(5),
            ping_interval: Duration::from_secs(1),
            peer_down_after: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            max_pending_per_peer: 100_000,
            max_clock_skew: crate::store::DEFAULT_MAX_CLOCK_SKEW,
            empty_start_after: Duration::from_secs(30),
            snapshot_chunk_instances: 10_000,
            fetch_chunk_services: 100,
            verify_buckets: 1024,
        }
    }
}
