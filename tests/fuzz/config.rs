//! The proptest configuration of the fuzz suites (also of the crate's own property tests,
//! which include this file): `PROPTEST_CASES` overrides the case count, and failures are
//! kept beside the test's source.

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
