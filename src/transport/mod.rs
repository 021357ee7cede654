//! Transports the host can use instead of writing its own: [`memory`] holds in-process
//! transports with fault injection, for tests and single-process deployments.

pub mod memory;
