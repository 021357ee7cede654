//! The command line of a load tool or cost probe under `benches/tools/`. They are bench
//! targets with `harness = false`, and cargo runs such a target with a `--bench` argument of
//! its own beside the tool's (`cargo bench --bench NAME -- ARGS`); no tool takes a flag of that
//! name, so [`args`] drops it.

/// The arguments after the program name, without the `--bench` cargo adds.
pub(crate) fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// The instance timeline's bounds for a probe's registry: the default, or with
/// `TIMELINE_INSTANCES=N` in the environment that many instances (0: no timeline), to
/// compare the timeline's cost in one build.
#[allow(dead_code)]
pub(crate) fn timeline() -> nacre::timeline::TimelineConfig {
    let mut config = nacre::timeline::TimelineConfig::default();
    if let Some(n) = std::env::var("TIMELINE_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.instances = n;
    }
    config
}
