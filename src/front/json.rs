//! The Nacos JSON of a [`ServiceAnswer`]: [`ServiceInfoJsonRef::from_answer`] and
//! [`service_info_body`], the answer's text kept per snapshot. The shapes themselves are the
//! protocol's ([`crate::protocol::json`]); this is where a server's answer meets them.

use super::ServiceAnswer;
use crate::health::HealthConfig;
use crate::protocol::json::{joined, name, InstanceJsonRef, NameStyle, ServiceInfoJsonRef};

impl<'a> ServiceInfoJsonRef<'a> {
    /// The JSON of a [`ServiceAnswer`]; `grouped` is the service's grouped name (the hosts
    /// borrow it).
    pub fn from_answer(
        answer: &'a ServiceAnswer,
        grouped: &'a str,
        style: NameStyle,
        health: &HealthConfig,
    ) -> Self {
        let service = answer.service();
        Self {
            name: name(service, style),
            group_name: service.group().as_str(),
            clusters: joined(answer.clusters()),
            cache_millis: answer.cache_millis(),
            hosts: answer
                .hosts()
                .map(|i| {
                    InstanceJsonRef::new(i, service, grouped, health)
                        .reported_healthy(answer.reports_healthy(i))
                })
                .collect(),
            last_ref_time: answer.last_ref_time(),
            checksum: answer.checksum(),
            all_ips: false,
            reach_protection_threshold: answer.reach_protection_threshold(),
            valid: true,
        }
    }
}

/// What [`service_info_body`] keeps per snapshot and query shape: the answer's JSON around
/// the two numbers that differ between answers (`cacheMillis`, `lastRefTime`).
struct BodyParts {
    /// Up to and including `"cacheMillis":`.
    head: Box<[u8]>,
    /// From the `,` after `cacheMillis` (the hosts) up to and including `"lastRefTime":`.
    mid: Box<[u8]>,
    /// The rest.
    tail: Box<[u8]>,
}

/// Stand-ins for the two per-answer numbers while the kept text is made: 20-digit numbers that
/// no other field of the answer can hold.
const CACHE_MILLIS_MARK: u64 = u64::MAX;
const LAST_REF_TIME_MARK: u64 = u64::MAX - 1;

impl BodyParts {
    fn make(answer: &ServiceAnswer, style: NameStyle, health: &HealthConfig) -> Option<Self> {
        let grouped = answer.service().grouped_name();
        let mut json = ServiceInfoJsonRef::from_answer(answer, &grouped, style, health);
        json.cache_millis = CACHE_MILLIS_MARK;
        json.last_ref_time = LAST_REF_TIME_MARK;
        let text = serde_json::to_vec(&json).ok()?;
        // Keys and string values are quoted, so only the answer's own fields can read
        // `"cacheMillis":` or `"lastRefTime":` followed by a bare number.
        let cache = format!("\"cacheMillis\":{CACHE_MILLIS_MARK}");
        let last = format!("\"lastRefTime\":{LAST_REF_TIME_MARK}");
        let at_cache = find(&text, cache.as_bytes())?;
        let at_last = find(&text, last.as_bytes())?;
        let number = |key_at: usize, key: &str| key_at + key.len() - 20;
        let cache_end = number(at_cache, &cache);
        let last_end = number(at_last, &last);
        (cache_end < at_last).then(|| Self {
            head: text[..cache_end].into(),
            mid: text[cache_end + 20..last_end].into(),
            tail: text[last_end + 20..].into(),
        })
    }

    fn assemble(&self, cache_millis: u64, last_ref_time: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + self.mid.len() + self.tail.len() + 40);
        out.extend_from_slice(&self.head);
        out.extend_from_slice(cache_millis.to_string().as_bytes());
        out.extend_from_slice(&self.mid);
        out.extend_from_slice(last_ref_time.to_string().as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The JSON of a [`ServiceAnswer`], exactly as [`ServiceInfoJsonRef::from_answer`] serializes
/// it, made once per snapshot and query shape: the text is kept with the service's snapshot
/// ([`crate::store::ServiceSnapshot::memo`]) and only `cacheMillis` and `lastRefTime` are
/// written into it per answer. Repeated lists of an unchanged service therefore cost a lookup
/// and a copy, not a walk over its instances; any change publishes a new snapshot and the next
/// answer makes the text again.
///
/// ```
/// use nacre::protocol::ServiceQuery;
/// use nacre::front::json::service_info_body;
/// use nacre::protocol::json::{NameStyle, ServiceInfoJsonRef};
/// use nacre::front::ServiceAnswer;
/// use nacre::{HealthConfig, Instance, Registry, ServiceKey};
/// let registry = Registry::default();
/// let orders = ServiceKey::named("orders")?;
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
/// let query = ServiceQuery { service: orders, clusters: vec![], healthy_only: false };
/// let answer = ServiceAnswer::new(&registry, &query, 3_000);
/// let health = HealthConfig::default();
/// let grouped = answer.service().grouped_name();
/// let direct = serde_json::to_vec(&ServiceInfoJsonRef::from_answer(
///     &answer, &grouped, NameStyle::Grouped, &health,
/// ))?;
/// assert_eq!(service_info_body(&answer, NameStyle::Grouped, &health)?, direct);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn service_info_body(
    answer: &ServiceAnswer,
    style: NameStyle,
    health: &HealthConfig,
) -> Result<Vec<u8>, serde_json::Error> {
    let direct = || {
        let grouped = answer.service().grouped_name();
        serde_json::to_vec(&ServiceInfoJsonRef::from_answer(
            answer, &grouped, style, health,
        ))
    };
    let Some(snapshot) = answer.snapshot() else {
        return direct();
    };
    let mut key = crate::store::Fnv::new();
    key.bytes(b"front::json::service_info_body");
    key.u64(u64::from(style == NameStyle::Grouped));
    key.u64(u64::from(answer.healthy_only()));
    for c in answer.clusters() {
        key.bytes(c.as_str().as_bytes());
    }
    let parts = snapshot.memo(key.finish(), || BodyParts::make(answer, style, health));
    match &*parts {
        Some(parts) => Ok(parts.assemble(answer.cache_millis(), answer.last_ref_time())),
        None => direct(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServiceQuery;
    use crate::store::ServiceSettings;
    use crate::{Instance, ManualClock, Registry, ServiceKey};
    use std::time::Duration;

    /// A server's answer and the `ServiceInfo` a client keeps of it (a push, a cache entry, a
    /// failover file) serialize to the same bytes, in both name styles: healthy and unhealthy
    /// hosts, a protected answer, metadata and a timing override.
    #[test]
    fn an_answer_and_its_info_serialize_to_the_same_bytes() {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let orders = ServiceKey::new("dev", "shop", "orders").unwrap();
        let settings = ServiceSettings {
            protect_threshold: 0.9,
            ..ServiceSettings::default()
        };
        registry.create_service(&orders, settings).unwrap();
        let keeps = Instance::builder("10.0.0.1", 8080)
            .metadata("version", "1.2")
            .metadata("preserved.heart.beat.interval", "2000")
            .cluster("hz")
            .build()
            .unwrap();
        registry.register_instance(&orders, keeps.clone()).unwrap();
        registry
            .register_instance(&orders, Instance::new("10.0.0.2", 8080).unwrap())
            .unwrap();
        clock.advance(Duration::from_secs(10));
        registry.heartbeat(&orders, &keeps.key()).unwrap();
        clock.advance(Duration::from_secs(6));
        registry.check_health();
        let health = *registry.health_config();
        for healthy_only in [false, true] {
            let query = ServiceQuery {
                service: orders.clone(),
                clusters: vec![],
                healthy_only,
            };
            let answer = ServiceAnswer::new(&registry, &query, 3_000);
            assert_eq!(answer.hosts().count(), 2);
            if healthy_only {
                assert!(answer.reach_protection_threshold());
            }
            let info = answer.to_info();
            let grouped = orders.grouped_name();
            for style in [NameStyle::Grouped, NameStyle::Plain] {
                let from_answer = serde_json::to_vec(&ServiceInfoJsonRef::from_answer(
                    &answer, &grouped, style, &health,
                ))
                .unwrap();
                let from_info = serde_json::to_vec(&ServiceInfoJsonRef::from_info(
                    &info, &grouped, style, &health,
                ))
                .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&from_answer),
                    String::from_utf8_lossy(&from_info)
                );
                let kept = service_info_body(&answer, style, &health).unwrap();
                assert_eq!(kept, from_answer);
            }
        }
    }
}
