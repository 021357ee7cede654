//! The client through its public API: beats, redo, pull and push, failover, selection and
//! events, against in-process nodes on a `ManualClock`; and `nacre::discover` feeding tower's
//! balancer from a registry or client subscription (feature `tower`).
//!
//! The client tests move a `ManualClock` by hand, wait for an observable effect
//! (`NamingClient::wait_until` on the client's counters), then check the counters exactly and,
//! where it matters, the next deadline on the clock (`ManualClock::next_wakeup`). Real-time
//! limits only guard against hangs; nothing depends on real time passing.

#[path = "../common/mod.rs"]
mod common;
mod env;

mod bad_input;
mod beats;
mod cache;
#[cfg(feature = "tower")]
mod discover;
mod failover;
mod lifecycle;
mod redo;
mod selection;
mod service_list;
