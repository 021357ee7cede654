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
