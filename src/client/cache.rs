//! [`ServiceCache`]: the client's in-memory copy of the services it watches, and the rule for
//! taking in a new answer ([`decide`]).
//!
//! One entry per watched service, holding the whole service (every cluster): the client asks
//! the server for all clusters and filters locally, so listeners and reads on different cluster
//! sets share one entry, one pull and one push subscription. (Nacos keys its cache by
//! `service@@clusters` and so pulls the same service once per cluster set.)
//!
//! An answer, whether pushed or pulled, goes through [`decide`]:
//! - an answer older than the cached one (`lastRefTime`) is ignored, so a slow pull reply cannot
//!   undo a newer push;
//! - with push-empty protection on (the default), an empty answer does not replace a non-empty
//!   entry: a server that restarted and has not yet heard from the providers again would
//!   otherwise make every consumer drop every instance;
//! - an answer with the same instances as the cached one updates the entry quietly: no event,
//!   no disk write;
//! - anything else is a change: the entry is replaced, and the change is handed (under the
//!   cache lock, so in order) to the event dispatcher and the failover writer.
//!
//! Answers are normalized first: instances sorted by cluster then endpoint, duplicates of one
//! cluster and endpoint dropped, so "the same instances" does not depend on the order a server
//! lists them in.

use crate::clock::Timestamp;
use crate::model::ServiceKey;
use crate::protocol::ServiceInfo;
use crate::store::ServiceSnapshot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// What to do with a new answer for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing cached yet: take it.
    New,
    /// Different instances: take it and tell listeners.
    Changed,
    /// Same instances: refresh the entry quietly.
    Unchanged,
    /// Older than the cached answer: ignore it.
    Stale,
    /// Empty while the cache is not, with push-empty protection on: ignore it.
    EmptyIgnored,
    /// The service is not watched (any more): nothing is kept.
    Unwatched,
}

impl Decision {
    /// Whether the instance list changed (listeners and the disk hear of it).
    pub(crate) fn is_change(self) -> bool {
        matches!(self, Decision::New | Decision::Changed)
    }
}

/// The rule for taking in `new` when `old` is cached. Both must be normalized.
pub(crate) fn decide(
    old: Option<&ServiceInfo>,
    new: &ServiceInfo,
    push_empty_protection: bool,
) -> Decision {
    let Some(old) = old else {
        return Decision::New;
    };
    if new.last_ref_time < old.last_ref_time {
        return Decision::Stale;
    }
    if push_empty_protection && new.hosts.is_empty() && !old.hosts.is_empty() {
        return Decision::EmptyIgnored;
    }
    if new.hosts == old.hosts {
        Decision::Unchanged
    } else {
        Decision::Changed
    }
}

/// Sorts the instances by cluster then endpoint and drops repeated cluster + endpoint pairs
/// (the first one listed stays).
pub(crate) fn normalize(mut info: ServiceInfo) -> ServiceInfo {
    info.hosts
        .sort_by(|a, b| (a.cluster(), a.endpoint()).cmp(&(b.cluster(), b.endpoint())));
    info.hosts.dedup_by(|later, earlier| {
        later.cluster() == earlier.cluster() && later.endpoint() == earlier.endpoint()
    });
    info
}

struct Entry {
    info: Arc<ServiceInfo>,
    /// The same instances as a snapshot, for the event dispatcher (built once per change).
    snapshot: Arc<ServiceSnapshot>,
}

#[derive(Default)]
struct Inner {
    /// Watched services; `None` until the first answer arrives.
    slots: HashMap<ServiceKey, Option<Entry>>,
    /// The revision the next changed entry gets: one counter for the whole cache, so revisions
    /// strictly increase per service even across unwatch and watch again.
    next_revision: u64,
}

/// What [`ServiceCache::apply`] did.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// The decision taken.
    pub(crate) decision: Decision,
    /// The entry's content afterwards (the answer itself if the service is not watched).
    pub(crate) current: Arc<ServiceInfo>,
}

/// See the module documentation.
pub(crate) struct ServiceCache {
    inner: Mutex<Inner>,
    push_empty_protection: bool,
}

impl std::fmt::Debug for ServiceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCache")
            .field("watched", &self.lock().slots.len())
            .field("push_empty_protection", &self.push_empty_protection)
            .finish()
    }
}

impl ServiceCache {
    pub(crate) fn new(push_empty_protection: bool) -> Self {
        Self {
            inner: Mutex::new(Inner {
                slots: HashMap::new(),
                next_revision: 1,
            }),
            push_empty_protection,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        crate::util::lock(&self.inner)
    }

    /// Starts keeping `key`. Answers for services not watched are not stored.
    pub(crate) fn watch(&self, key: &ServiceKey) {
        self.lock().slots.entry(key.clone()).or_insert(None);
    }

    /// Stops keeping `key` and forgets its entry.
    pub(crate) fn unwatch(&self, key: &ServiceKey) {
        self.lock().slots.remove(key);
    }

    /// The cached answer for `key`.
    pub(crate) fn get(&self, key: &ServiceKey) -> Option<Arc<ServiceInfo>> {
        self.lock()
            .slots
            .get(key)
            .and_then(Option::as_ref)
            .map(|e| e.info.clone())
    }

    /// The cached instances of `key` as a snapshot (what a new listener gets first).
    pub(crate) fn snapshot(&self, key: &ServiceKey) -> Option<Arc<ServiceSnapshot>> {
        self.lock()
            .slots
            .get(key)
            .and_then(Option::as_ref)
            .map(|e| e.snapshot.clone())
    }

    /// Takes in an answer (normalized here) by the rule of [`decide`]. When the instance list
    /// changed, `on_change` runs with the new entry while the cache is still locked, so changes
    /// reach it in the order they were applied; it must not block.
    pub(crate) fn apply(
        &self,
        info: ServiceInfo,
        on_change: impl FnOnce(&Arc<ServiceInfo>, &Arc<ServiceSnapshot>),
    ) -> Applied {
        let info = normalize(info);
        let mut inner = self.lock();
        let Inner {
            slots,
            next_revision,
        } = &mut *inner;
        let Some(slot) = slots.get_mut(&info.service) else {
            return Applied {
                decision: Decision::Unwatched,
                current: Arc::new(info),
            };
        };
        let decision = decide(
            slot.as_ref().map(|e| &*e.info),
            &info,
            self.push_empty_protection,
        );
        match (decision, slot.as_mut()) {
            (Decision::Stale | Decision::EmptyIgnored, Some(entry)) => Applied {
                decision,
                current: entry.info.clone(),
            },
            (Decision::Unchanged, Some(entry)) => {
                entry.info = Arc::new(info);
                Applied {
                    decision,
                    current: entry.info.clone(),
                }
            }
            _ => {
                let revision = *next_revision;
                *next_revision += 1;
                let snapshot = Arc::new(ServiceSnapshot::from_instances(
                    info.service.clone(),
                    revision,
                    info.hosts.iter().cloned(),
                    Timestamp::ZERO,
                ));
                let info = Arc::new(info);
                on_change(&info, &snapshot);
                *slot = Some(Entry {
                    info: info.clone(),
                    snapshot,
                });
                Applied {
                    decision,
                    current: info,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;

    fn info(hosts: &[(&str, u16)], at: u64) -> ServiceInfo {
        let hosts = hosts
            .iter()
            .map(|(ip, port)| Instance::new(ip, *port).unwrap())
            .collect();
        let mut i = ServiceInfo::new(ServiceKey::named("orders").unwrap(), hosts);
        i.last_ref_time = at;
        normalize(i)
    }

    #[test]
    fn first_answer_is_new() {
        assert_eq!(decide(None, &info(&[], 1), true), Decision::New);
    }

    #[test]
    fn same_instances_in_another_order_are_unchanged() {
        let old = info(&[("10.0.0.1", 80), ("10.0.0.2", 80)], 1);
        let new = info(&[("10.0.0.2", 80), ("10.0.0.1", 80)], 2);
        assert_eq!(decide(Some(&old), &new, true), Decision::Unchanged);
    }

    #[test]
    fn different_instances_are_a_change() {
        let old = info(&[("10.0.0.1", 80)], 1);
        let new = info(&[("10.0.0.1", 81)], 2);
        assert_eq!(decide(Some(&old), &new, true), Decision::Changed);
    }

    #[test]
    fn an_older_answer_is_stale() {
        let old = info(&[("10.0.0.1", 80)], 5);
        let new = info(&[("10.0.0.2", 80)], 4);
        assert_eq!(decide(Some(&old), &new, true), Decision::Stale);
    }

    #[test]
    fn an_empty_answer_is_ignored_only_with_protection() {
        let old = info(&[("10.0.0.1", 80)], 1);
        let empty = info(&[], 2);
        assert_eq!(decide(Some(&old), &empty, true), Decision::EmptyIgnored);
        assert_eq!(decide(Some(&old), &empty, false), Decision::Changed);
        let was_empty = info(&[], 1);
        assert_eq!(decide(Some(&was_empty), &empty, true), Decision::Unchanged);
    }

    #[test]
    fn normalize_drops_duplicate_endpoints() {
        let i = info(&[("10.0.0.1", 80), ("10.0.0.1", 80), ("10.0.0.0", 80)], 1);
        assert_eq!(i.hosts.len(), 2);
        assert_eq!(i.hosts[0].ip().as_str(), "10.0.0.0");
    }

    #[test]
    fn apply_publishes_only_real_changes_with_rising_revisions() {
        let cache = ServiceCache::new(true);
        let key = ServiceKey::named("orders").unwrap();
        cache.watch(&key);
        let mut revisions = Vec::new();
        for answer in [
            info(&[("10.0.0.1", 80)], 1),
            info(&[("10.0.0.1", 80)], 2),
            info(&[], 3),
            info(&[("10.0.0.2", 80)], 4),
        ] {
            cache.apply(answer, |_, snap| revisions.push(snap.revision()));
        }
        assert_eq!(revisions, vec![1, 2]);
        assert_eq!(cache.get(&key).unwrap().hosts[0].ip().as_str(), "10.0.0.2");
    }

    #[test]
    fn answers_for_unwatched_services_are_not_kept() {
        let cache = ServiceCache::new(true);
        let applied = cache.apply(info(&[("10.0.0.1", 80)], 1), |_, _| {
            panic!("nothing is published for an unwatched service")
        });
        assert_eq!(applied.decision, Decision::Unwatched);
        assert_eq!(applied.current.hosts.len(), 1);
        assert!(cache.get(&ServiceKey::named("orders").unwrap()).is_none());
    }
}
