//! The hostile-client suite (issue 20): each test makes one attack on loopback against the
//! real `nacre-server` binary (or, where the bound lives in a front, the front itself) and
//! checks the bound that now holds. Every process is started on ports it picks itself (port
//! 0), found from its own log line, and killed by its pid; every wait polls with a deadline.
#![cfg(all(feature = "server", feature = "grpc", feature = "console"))]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod auth;
mod console_streams;
mod grpc_port;
mod host_names;
mod listeners;
