//! Fuzzing with proptest (cargo-fuzz needs a nightly toolchain): arbitrary input through the v1 HTTP parameter parser and router, the peer message decoder and a
//! cluster node's peer handler, and each record admitted by it. Nothing may panic,
//! and the invariants each module documents must hold.
//!
//! - `params`: [`nacre::http::Params`] and every extraction method (feature `http`);
//! - `router`: the v1 router, never 5xx, and a 4xx changes nothing stored (feature `http`);
//! - `peer`: bytes and mutated JSON through the `Envelope` decoder, then into a
//!   `ClusterNode`'s peer handler (and the HTTP peer route with feature `http`);
//! - `known`: minimal cases the properties found, kept as regression tests.
//!
//! Merges of arbitrary replica records into a store are the store's own property test
//! (`src/store/merge_fuzz.rs`, the store's merge being crate-private); it shares `gen.rs`,
//! `check.rs` and `config.rs` with this suite.
//!
//! The case counts keep the whole file within about 30 s in debug on two busy cores. For a
//! longer run set `PROPTEST_CASES` (it replaces every property's count), for example
//! `PROPTEST_CASES=5000 cargo test --all-features --release --test fuzz`.

// Shared with the crate's own property tests (src/fuzz_kit.rs): each side uses part of them.
#[allow(dead_code)]
mod check;
mod config;
#[allow(dead_code)]
mod gen;
mod peer;

#[cfg(feature = "http")]
mod params;
#[cfg(feature = "http")]
mod peer_route;
#[cfg(feature = "http")]
mod router;

pub(crate) use config::config;
