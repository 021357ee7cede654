//! The HTTP front (feature `http`): the Nacos v1 endpoints through the router, a three-node
//! cluster over real loopback HTTP, and `NamingClient` over `HttpClientTransport`.
#![cfg(feature = "http")]

#[path = "../common/mod.rs"]
mod common;
mod env;
mod hardening;

mod auth;
mod bad_params;
mod beats;
mod catalog;
mod cluster;
mod cluster_settings;
mod console;
mod console_auth;
mod drain;
mod health;
mod instance;
mod limits;
mod metadata_batch;
mod metrics;
mod namespaces;
mod naming_client;
mod operator;
mod overrides;
mod peer_auth;
mod probes;
mod prometheus;
mod server;
mod service;
mod timeline;
mod udp_push;
mod update;
mod users;
mod v2_api;
