//! Transports: how nacre's parts reach each other when the host does not supply its own.
//!
//! [`memory`] holds in-process transports with fault injection, for tests and for
//! single-process deployments.

pub mod memory;
