//! Fuzzing with proptest (cargo-fuzz needs a nightly toolchain): arbitrary input through the v1 HTTP parameter parser and router, the peer message decoder and a
//! cluster node's peer handler, and merges of arbitrary replica records. Nothing may panic,
//! and the invariants each module documents must hold.
//!
//! - `params`: [`nacre::http::Params`] and every extraction method (feature `http`);
//! - `router`: the v1 router, never 5xx, and a 4xx changes nothing stored (feature `http`);
//! - `peer`: bytes and mutated JSON through the `Envelope` decoder, then into a
//!   `ClusterNode`'s peer handler (and the HTTP peer route with feature `http`);
//! - `merge`: replica records merged into stores in different orders and with duplicates;
//!   `known` holds minimal cases the properties found, kept as regression tests.
//!
//! The case counts keep the whole file within about 30 s in debug on two busy cores. For a
//! longer run set `PROPTEST_CASES` (it replaces every property's count), for example
//! `PROPTEST_CASES=5000 cargo test --all-features --release --test fuzz`.

mod check;
mod gen;
mod known;
mod merge;
mod peer;

#[cfg(feature = "http")]
mod params;
#[cfg(feature = "http")]
mod peer_route;
#[cfg(feature = "http")]
mod router;

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

/// A proptest configuration running `cases` cases, or `PROPTEST_CASES` if that is set; failures
/// are kept beside each module's source (`tests/fuzz/<module>.proptest-regressions`).
pub(crate) fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}
