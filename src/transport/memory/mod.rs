//! In-process transports: every node and client lives in one process, and faults (a node down,
//! a node restarted with empty state, lost pushes) are injected by hand.
//!
//! - [`MemoryClientTransport`]: a [`crate::client::ClientTransport`] over one or more
//!   [`crate::Registry`] nodes, failing over to the next node when one is down.

mod client;

pub use client::MemoryClientTransport;
