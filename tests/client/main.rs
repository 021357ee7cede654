//! The client through its public API: beats, redo, pull and push, failover, selection and
//! events, against in-process nodes on a `ManualClock`.
//!
//! Every test moves the clock by hand and then waits for an observable effect
//! (`NamingClient::wait_until` on the client's counters). `tokio::time::timeout` only guards
//! against hangs; nothing here depends on real time passing.

#[path = "../common/mod.rs"]
mod common;
mod env;

mod bad_input;
mod beats;
mod cache;
mod failover;
mod lifecycle;
mod redo;
mod selection;
mod service_list;
