//! Helpers shared by the integration test crates (one per topic, `tests/<topic>/main.rs`):
//! registry and clock setup, names, instances and durations. A crate includes this module
//! with `#[path = "../common/mod.rs"] mod common;` and uses only part of it.
#![allow(dead_code)]

pub(crate) mod fixtures;
#[cfg(feature = "grpc")]
pub(crate) mod raw_grpc;

use nacre::{Instance, Limits, ManualClock, Registry, ServiceKey};
use std::time::Duration;

/// A standalone registry on `clock`.
pub(crate) fn registry_on(clock: &ManualClock) -> Registry {
    Registry::builder().clock(clock.clone()).build()
}

/// A standalone registry on `clock` with `limits`.
pub(crate) fn registry_with(clock: &ManualClock, limits: Limits) -> Registry {
    Registry::builder()
        .clock(clock.clone())
        .limits(limits)
        .build()
}

/// A manual clock, a registry on it, and the key of the `orders` service.
pub(crate) fn setup() -> (ManualClock, Registry, ServiceKey) {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    (clock, registry, key("orders"))
}

/// The key of `service` in the default namespace and group.
pub(crate) fn key(service: &str) -> ServiceKey {
    ServiceKey::named(service).unwrap()
}

/// The key of `service` in `namespace`, default group.
pub(crate) fn in_ns(namespace: &str, service: &str) -> ServiceKey {
    ServiceKey::new(namespace, "DEFAULT_GROUP", service).unwrap()
}

/// An instance at `ip:8080` with the defaults.
pub(crate) fn inst(ip: &str) -> Instance {
    Instance::new(ip, 8080).unwrap()
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
