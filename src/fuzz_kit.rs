//! The property-test kit this crate's unit tests share with the fuzz suites of `tests/fuzz`:
//! generators, state checks and the proptest configuration, included from there (they use
//! only `nacre::` paths, which `extern crate self as nacre` resolves here) so that a property
//! of a crate-private part and one of the public API are checked with the same code.

#[allow(dead_code)]
#[path = "../tests/fuzz/check.rs"]
pub(crate) mod check;
#[allow(dead_code)]
#[path = "../tests/fuzz/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../tests/fuzz/gen.rs"]
pub(crate) mod gen;

pub(crate) use config::config;
