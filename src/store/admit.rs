//! What a node accepts from its peers: [`MergeRules`], and why a replicated record was refused
//! ([`RecordRefusal`]).
//!
//! Records that arrive from peers are checked like client writes before [`Store::merge`]
//! applies them, one instance at a time, so one bad record does not stop the rest of its
//! batch:
//!
//! - names and instance fields are checked as they are decoded (a [`ServiceKey`],
//!   [`InstanceKey`] or [`Instance`] cannot be made invalid), so a message that breaks them does
//!   not decode at all and is refused whole by the transport;
//! - the instance must fit this node's [`Limits`] (metadata size, instances per service), and
//!   the key it is sent under must be its own key;
//! - service settings must be valid (protect threshold within 0..=1);
//! - a version stamp more than [`MergeRules::max_skew`] ahead of this node's clock is
//!   **refused**, and a last-beat time that far ahead is **clamped** to `now + max_skew`.
//!
//! Why refuse one and clamp the other: a version is the record's identity in the merge order
//! ([`super::join`]) and in the checksums peers compare. Rewriting it would make this
//! node's copy differ from the sender's for ever (verify would fetch it again every round), and
//! keeping it would let one record outrank every later write (a stamp of `u64::MAX` can never
//! be deregistered, and the version clocks that observe it would saturate, so later writes
//! would tie instead of win). A beat time is only this node's knowledge of liveness; nodes
//! legitimately differ on it, and clamping bounds what a skewed or forged one can do: the
//! instance lives at most `max_skew` longer than its last real beat, never for ever.
//!
//! [`Store::merge`]: super::Store::merge
//! [`ServiceKey`]: crate::model::ServiceKey
//! [`Instance`]: crate::model::Instance

use super::replica::{InstanceRecord, ServiceMeta};
use super::version::Version;
use crate::clock::Timestamp;
use crate::model::{InstanceKey, Limits, ValidationError};
use std::time::Duration;

/// The default [`MergeRules::max_skew`]: 5 s, well above what NTP-synchronised hosts drift
/// and what a burst of writes can push a version clock ahead of its wall clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// What a node accepts from its peers: see the module documentation.
///
/// ```
/// use nacre::store::MergeRules;
/// use nacre::Limits;
/// let rules = MergeRules::new(Limits::default());
/// assert_eq!(rules.max_skew, std::time::Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeRules {
    /// The sizes this node accepts (the registry's own limits).
    pub limits: Limits,
    /// How far ahead of this node's clock a peer's version stamps and beat times may be
    /// (default [`DEFAULT_MAX_CLOCK_SKEW`]).
    pub max_skew: Duration,
}

impl MergeRules {
    /// Rules with `limits` and the default skew.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            max_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }

    /// The latest time a peer may claim, for a receiver whose clock reads `now`.
    pub fn horizon(&self, now: Timestamp) -> Timestamp {
        now + self.max_skew
    }

    /// Refuses a version stamped beyond the [`MergeRules::horizon`].
    pub fn check_version(&self, version: Version, now: Timestamp) -> Result<(), RecordRefusal> {
        let horizon = self.horizon(now);
        if version.stamp > horizon.as_micros() {
            return Err(RecordRefusal::FutureVersion {
                stamp: version.stamp,
                horizon,
            });
        }
        Ok(())
    }

    /// A beat time no later than the [`MergeRules::horizon`], and whether it had to be
    /// clamped.
    pub fn clamp_beat(&self, last_beat: Timestamp, now: Timestamp) -> (Timestamp, bool) {
        let horizon = self.horizon(now);
        if last_beat > horizon {
            (horizon, true)
        } else {
            (last_beat, false)
        }
    }

    /// Checks one instance record (not the room left in its service: the merge does that).
    pub fn check_instance(
        &self,
        record: &InstanceRecord,
        now: Timestamp,
    ) -> Result<(), RecordRefusal> {
        self.check_version(record.written, now)?;
        self.check_version(record.version, now)?;
        if let Some(instance) = &record.data {
            let own = instance.key();
            if own != record.key {
                return Err(RecordRefusal::KeyMismatch {
                    key: record.key.clone(),
                    own,
                });
            }
            self.limits.check_instance(instance)?;
        }
        Ok(())
    }

    /// Checks a record's service-level state.
    pub fn check_meta(&self, meta: &ServiceMeta, now: Timestamp) -> Result<(), RecordRefusal> {
        self.check_version(meta.version, now)?;
        super::ops::check_threshold(&meta.settings)?;
        self.limits
            .check_service_metadata(&meta.settings.metadata)?;
        Ok(())
    }
}

/// Why one replicated record (an instance, or a service's settings) was not merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordRefusal {
    /// A record of persistent data the control plane holds: each member applies the control
    /// plane's log itself, and Distro does not move it (see [`crate::store::ControlledInstance`]).
    #[error("persistent instances are held by the control plane's log, not replicated by Distro")]
    ControlOwned,
    /// It broke a validation rule or a limit of this node.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A live record sent under another instance's key.
    #[error(
        "a record for {} in cluster {} carries the instance {} in cluster {}",
        key.endpoint, key.cluster, own.endpoint, own.cluster
    )]
    KeyMismatch {
        /// The key it was sent under.
        key: InstanceKey,
        /// The instance's own key.
        own: InstanceKey,
    },
    /// Its version is stamped further ahead of this node's clock than the allowed skew.
    #[error(
        "version stamp {stamp} µs is beyond this node's clock plus the allowed skew ({horizon})"
    )]
    FutureVersion {
        /// The stamp, in microseconds.
        stamp: u64,
        /// The latest stamp accepted at the time.
        horizon: Timestamp,
    },
    /// A new instance would take its service over this node's instance limit.
    #[error("the service would hold {would_hold} instances; the limit is {max}")]
    TooManyInstances {
        /// How many it would hold.
        would_hold: usize,
        /// The limit.
        max: usize,
    },
}

/// One refused record: the instance it was about (`None` for the service-level state) and
/// why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The instance, or `None` for the service's settings.
    pub instance: Option<InstanceKey>,
    /// Why.
    pub reason: RecordRefusal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    fn live(stamp: u64, beat: Timestamp) -> InstanceRecord {
        let instance = Instance::new("10.0.0.1", 80).unwrap();
        InstanceRecord {
            key: instance.key(),
            written: Version { stamp, origin: 7 },
            version: Version { stamp, origin: 7 },
            last_beat: beat,
            data: Some(instance),
            evicted: None,
        }
    }

    #[test]
    fn a_version_up_to_the_skew_ahead_is_accepted_and_beyond_it_refused() {
        let rules = MergeRules::new(Limits::default());
        let now = at(100);
        let edge = (now + rules.max_skew).as_micros();
        assert_eq!(rules.check_instance(&live(edge, now), now), Ok(()));
        assert!(matches!(
            rules.check_instance(&live(edge + 1, now), now),
            Err(RecordRefusal::FutureVersion { .. })
        ));
        assert!(matches!(
            rules.check_instance(&live(u64::MAX, now), now),
            Err(RecordRefusal::FutureVersion { .. })
        ));
    }

    #[test]
    fn a_beat_beyond_the_skew_is_clamped_to_it() {
        let rules = MergeRules::new(Limits::default());
        let now = at(100);
        assert_eq!(rules.clamp_beat(at(99), now), (at(99), false));
        assert_eq!(rules.clamp_beat(at(105), now), (at(105), false));
        assert_eq!(rules.clamp_beat(at(1_000_000), now), (at(105), true));
        assert_eq!(
            rules.clamp_beat(Timestamp::from_micros(u64::MAX), now),
            (at(105), true)
        );
    }

    #[test]
    fn a_live_record_under_another_key_or_over_the_limits_is_refused() {
        let rules = MergeRules::new(Limits {
            max_metadata_bytes: 8,
            ..Limits::default()
        });
        let now = at(100);
        let mut wrong_key = live(1, now);
        wrong_key.key = InstanceKey::in_default_cluster("10.0.0.2", 80).unwrap();
        assert!(matches!(
            rules.check_instance(&wrong_key, now),
            Err(RecordRefusal::KeyMismatch { .. })
        ));
        let big = Instance::builder("10.0.0.1", 80)
            .metadata("k", "a value longer than eight bytes")
            .build()
            .unwrap();
        let mut fat = live(1, now);
        fat.data = Some(big);
        assert!(matches!(
            rules.check_instance(&fat, now),
            Err(RecordRefusal::Invalid(
                ValidationError::MetadataTooLarge { .. }
            ))
        ));
    }

    #[test]
    fn service_settings_over_the_metadata_limit_are_refused() {
        let rules = MergeRules::new(Limits {
            max_service_metadata_bytes: 8,
            ..Limits::default()
        });
        let now = at(100);
        let mut settings = crate::store::ServiceSettings::default();
        settings
            .metadata
            .insert("k".into(), "a value longer than eight bytes".into());
        let meta = ServiceMeta {
            settings,
            removed: false,
            explicit: true,
            version: Version {
                stamp: 1,
                origin: 7,
            },
        };
        assert!(matches!(
            rules.check_meta(&meta, now),
            Err(RecordRefusal::Invalid(
                ValidationError::ServiceMetadataTooLarge { .. }
            ))
        ));
        let mut small = meta;
        small.settings.metadata.clear();
        assert_eq!(rules.check_meta(&small, now), Ok(()));
    }
}
