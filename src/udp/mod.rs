//! UDP push to Nacos v1 clients (cargo feature `udp`, part of `http`), both ends: the server's
//! [`UdpPush`] and the client's [`UdpPushReceiver`].
//!
//! Nacos 1.x servers push a service's changes to the v1 clients that asked for it over UDP,
//! and Nacos 2.x keeps doing so for v1 clients. nacre does it the same way:
//!
//! - **Who is pushed to.** A `GET /nacos/v1/ns/instance/list` that carries `udpPort` > 0, from
//!   a client whose user agent Nacos pushes to ([`pushable`]), subscribes the address
//!   `peer:udpPort` to the service in the clusters asked for, where `peer` is the address the
//!   query came from (the `http` front does this; see [`crate::http`]). Each query renews the subscription; it expires 10 s after the last
//!   one. A subscribed client is answered `cacheMillis` 10 000, the others 3 000.
//! - **The datagram** is `{"type":"dom","data":"<ServiceInfo JSON as a string>","lastRefTime":n}`,
//!   gzipped from 1 KiB on ([`packet`]); the `ServiceInfo` is the v1 list answer for that
//!   service and those clusters, from the one [`crate::front::ServiceAnswer`].
//! - **Timing**: the changes of one service within 1 s are pushed once; a push not acked
//!   (`{"type":"push-ack","lastRefTime":n}`) within 10 s is sent once more; a target whose
//!   pushes fail 3 times in a row is dropped. All of it is the shared
//!   [`crate::front::push::PushHub`] with [`UdpPushConfig`]'s defaults: the UDP front only
//!   turns pushes into datagrams.
//! - **Counts** of pushes, acks, retries, failures, datagrams and bytes: [`UdpPush::stats`],
//!   also in `GET /nacos/v1/ns/operator/metrics`.
//!
//! ## Differences from Nacos
//!
//! - `lastRefTime` in the datagram is the hub's push id (a counter), not `System.nanoTime()`;
//!   clients only echo it.
//! - A push that does not fit in one datagram even gzipped is not sent (counted as
//!   `too_large`); the client sees the change at its next pull. Nacos sends it and the kernel
//!   refuses it.
//! - Pushes go to the address the query came from, whatever `clientIP` says: Nacos pushes to
//!   `clientIP`, so one query could aim every change of a service at any host. `clientIP` is
//!   used only by a host that mounts the router without the peer address (no
//!   `ConnectInfo`); without either, Nacos pushes to an empty host, i.e. its own loopback.
//! - nacre's own client agent ([`NACRE_AGENT`]) is pushed to, besides Nacos' list.
//! - The receiver takes pushes only from its servers' addresses (see [`UdpPushReceiver`]).
//!
//! ```
//! use nacre::udp::{packet, pushable};
//! assert!(pushable("Nacos-Java-Client:v1.4.6"));
//! let datagram = packet::encode_push(r#"{"name":"DEFAULT_GROUP@@orders","hosts":[]}"#, 7)?;
//! let push = packet::decode_push(&datagram.bytes)?;
//! assert_eq!((push.kind.as_str(), push.last_ref_time), ("dom", 7));
//! assert_eq!(packet::decode_ack(&packet::encode_ack(7))?, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent;
pub mod packet;
mod push;
mod receiver;

pub use agent::{pushable, NACRE_AGENT};
pub use push::{UdpPush, UdpPushConfig, UdpPushStats};
pub use receiver::{ReceiverStats, UdpPushReceiver};
