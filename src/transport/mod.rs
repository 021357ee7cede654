//! Transports the host can use instead of writing its own: [`memory`] for single-process
//! clusters and tests.

pub mod memory;
