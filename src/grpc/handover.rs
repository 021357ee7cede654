//! Graceful handover: before a member stops, its gRPC clients are told to move, and what
//! they registered through it stays registered while they do.
//!
//! [`GrpcFront::hand_over`] (called by `nacre-server` on SIGTERM, before the listener sends
//! GOAWAY):
//! 1. From then on, a connection that closes here leaves its instances registered: they are
//!    the client's, and the client is about to register them again through another member
//!    (its reconnect redoes every registration). Had they been deregistered at the close,
//!    every subscriber would see them leave and come back. An instance whose client does not
//!    come back expires on the other members as after a crash: 15 s to unhealthy, 30 s to
//!    removal without beats.
//! 2. Every registered connection is sent a `ConnectResetRequest` naming another member
//!    (`serverIp`, `serverPort`: its client address; the members of `to` in turn), as Nacos'
//!    server sends one when it rebalances connections. The Java client answers, connects to
//!    that member (when it is in the client's own server list; its next server otherwise),
//!    registers again there, and only then closes this connection. With no other member, the
//!    request names none, and the client takes the next server of its list.
//! 3. It waits until those connections have closed, or `wait` has passed. Clients that cannot
//!    read the request (nacos-sdk-python 3.2.0 has no handler for it) move when the listener
//!    sends GOAWAY after this: their reconnect to the next server redoes their registrations
//!    the same way.
//!
//! Differences from Nacos: Nacos sends `ConnectResetRequest` only from its load-balancing
//! admin routes; on shutdown it closes the connections, and every instance they registered
//! leaves every member at once (subscribers see them go, then come back once the clients
//! registered elsewhere).

use super::messages::ServerRequest;
use super::server::{has_stream, send_on_stream};
use super::GrpcFront;
use crate::util::lock;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `ConnectResetRequest`: where to go.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectReset {
    /// The member's host (empty: the client's next server).
    server_ip: String,
    /// Its client (HTTP) port, as text; the client adds its gRPC offset (1000).
    server_port: String,
    /// The connection's id, as the client knows it.
    connection_id: String,
}

/// What a handover did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Handover {
    /// Connections sent a `ConnectResetRequest`.
    pub told: usize,
    /// Connections still open when the wait ended.
    pub still_open: usize,
}

impl GrpcFront {
    /// Tells every client to move to one of `to` (`host:port` client addresses of the other
    /// members), keeps what they registered while they do, and waits (at most `wait`) for
    /// them to close their connections here: see the module documentation.
    pub async fn hand_over(&self, to: &[String], wait: Duration) -> Handover {
        let shared = &self.shared;
        shared.handing_over.store(true, Ordering::SeqCst);
        let targets: Vec<(SocketAddr, String)> = lock(&shared.table)
            .registered()
            .map(|(addr, c)| (addr, c.id.clone()))
            .collect();
        let mut told = 0;
        for (i, (addr, connection_id)) in targets.iter().enumerate() {
            let (server_ip, server_port) = match to.get(i % to.len().max(1)) {
                Some(member) => {
                    let (host, port) = crate::util::split_host_port(member);
                    (host, port.to_string())
                }
                None => (String::new(), String::new()),
            };
            let reset = ConnectReset {
                server_ip,
                server_port,
                connection_id: connection_id.clone(),
            };
            let id = lock(&shared.table).next_request_id();
            let request = ServerRequest::new(id, "internal", reset);
            if send_on_stream(shared, addr, "ConnectResetRequest", &request) {
                told += 1;
            }
        }
        let deadline = tokio::time::Instant::now() + wait;
        let open = || {
            targets
                .iter()
                .filter(|(a, _)| has_stream(shared, a))
                .count()
        };
        while open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let still_open = open();
        tracing::info!(
            told,
            still_open,
            "gRPC clients told to move to another member"
        );
        Handover { told, still_open }
    }
}
