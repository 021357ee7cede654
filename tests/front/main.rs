//! The fronts other than the v1 HTTP API (which has tests/http): the answer every front gives
//! a client (feature `http`, to compare with one over loopback HTTP), the push hub, and the
//! DNS front (feature `dns`), the Nacos 2.x gRPC front (features `grpc` and `http`), with the real Rust Nacos client against
//! a `nacre-server` process, also with auth on (feature `auth`).

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "http")]
mod answers;
#[cfg(feature = "dns")]
mod dns;
#[cfg(all(feature = "grpc", feature = "server", feature = "tower"))]
mod drain;
#[cfg(all(feature = "grpc", feature = "http"))]
mod grpc;
#[cfg(all(feature = "grpc", feature = "http", feature = "auth"))]
mod grpc_auth_interop;
#[cfg(all(feature = "grpc", feature = "http"))]
mod grpc_interop;
mod push;
