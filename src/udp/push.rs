//! [`UdpPush`]: the server side of UDP push. It owns a UDP socket and a [`PushHub`] with
//! Nacos 1.x's timing, turns the hub's pushes into datagrams ([`UdpTarget`]), and reads the
//! clients' acks off the same socket.
//!
//! Sending never waits: a datagram the socket cannot take at once is a failed push, which the
//! hub counts and retries like a lost one.
//!
//! Reading acks never waits for the hub, nor for the host's tokio runtime. The hub sends a
//! whole round (one datagram per subscriber) under its lock, in a task on the host's runtime,
//! and the clients ack while it sends. Acks left in the socket's receive buffer meanwhile are
//! at risk: it holds only about 256 of them by default on Linux (212 992 bytes at 832 per
//! small datagram), the kernel drops the rest, and the hub sends those pushes again 10 s
//! later. A reader that waited for the hub's lock to apply each ack would stop reading for
//! the round; so would a reader on the host's runtime when the round's worker was the one to
//! poll the runtime's I/O driver (a round woken by its merge-window timer is). So the reader
//! has a single-threaded runtime on a thread of its own, decodes acks and queues them, and
//! another thread applies them to the hub.

use super::packet::{decode_ack, PacketError, PushTemplate};
use crate::front::push::RoundMemo;
use crate::front::push::{
    AckId, PushConfig, PushHub, PushResult, PushStats, PushTarget, SubscriberInfo, TargetKey,
};
use crate::health::HealthConfig;
use crate::model::{ClusterName, ServiceKey};
use crate::protocol::json::{NameStyle, ServiceInfoJsonRef};
use crate::protocol::ServiceInfo;
use crate::registry::RegistryReader;
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// Timing and bounds of [`UdpPush`]: a [`PushConfig`] with Nacos 1.x's UDP defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPushConfig {
    /// The hub's timing and bounds. Defaults: changes merged for 1 s, an unacked push sent
    /// again once after 10 s, a target dropped after 3 failed pushes in a row, a target
    /// expiring 10 s after its last query, `cacheMillis` 10 000, at most 100 000
    /// subscriptions, at most 5 000 of them pushing to one host.
    pub push: PushConfig,
}

impl Default for UdpPushConfig {
    fn default() -> Self {
        Self {
            push: PushConfig {
                merge_window: Duration::from_secs(1),
                ack_timeout: Duration::from_secs(10),
                retries: 1,
                max_failures: 3,
                subscription_ttl: Some(Duration::from_secs(10)),
                cache_millis: crate::front::PUSH_CACHE_MILLIS,
                max_subscriptions: 100_000,
                max_subscriptions_per_source:
                    crate::front::push::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
                max_drains: crate::front::push::DEFAULT_MAX_DRAINS,
            },
        }
    }
}

/// Counters of a [`UdpPush`]: the hub's, and the datagrams' own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpPushStats {
    /// The hub's counters: pushes (retries included), acks, retries, failures, drops and
    /// expiries.
    pub push: PushStats,
    /// Datagrams sent.
    pub datagrams: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Datagrams sent gzipped.
    pub gzipped: u64,
    /// Pushes refused as too large for a datagram.
    pub too_large: u64,
    /// Datagrams received that were not acks (and acks dropped because 65 536 of them were
    /// already waiting for the hub).
    pub bad_acks: u64,
}

#[derive(Default)]
struct Counters {
    datagrams: AtomicU64,
    bytes: AtomicU64,
    gzipped: AtomicU64,
    too_large: AtomicU64,
    bad_acks: AtomicU64,
}

struct Inner {
    hub: PushHub,
    /// The sending handle: a plain non-blocking socket, so a send never waits and never
    /// depends on the reactor having seen the socket writable.
    socket: std::net::UdpSocket,
    local: SocketAddr,
    health: HealthConfig,
    counters: Counters,
    memo: RoundMemo<Arc<PushTemplate>>,
    /// Dropped with the push: stops the ack reader (and with it the ack applier).
    _stop_reader: oneshot::Sender<()>,
}

/// UDP push to v1 clients: see the [module documentation](crate::udp). Cheap to clone; stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct UdpPush {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for UdpPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpPush")
            .field("local", &self.inner.local)
            .field("stats", &self.stats())
            .finish()
    }
}

impl UdpPush {
    /// Binds the push socket at `addr` (port 0: any free port) and starts the hub over
    /// `registry` on the current tokio runtime, and the ack reader and applier on two threads
    /// of their own (see the module documentation).
    ///
    /// # Errors
    /// When the socket cannot be bound, or a thread or the reader's runtime not started.
    pub async fn bind(
        registry: impl Into<RegistryReader>,
        addr: SocketAddr,
        config: UdpPushConfig,
    ) -> io::Result<Self> {
        let registry = registry.into();
        let std_socket = std::net::UdpSocket::bind(addr)?;
        std_socket.set_nonblocking(true)?;
        let sender = std_socket.try_clone()?;
        let local = std_socket.local_addr()?;
        let reader_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let socket = {
            let _runtime = reader_runtime.enter();
            UdpSocket::from_std(std_socket)?
        };
        let (stop_reader, stopped) = oneshot::channel();
        let health = *registry.health_config();
        let hub = PushHub::named(registry, config.push, "udp");
        hub.start();
        let inner = Arc::new(Inner {
            hub,
            socket: sender,
            local,
            health,
            counters: Counters::default(),
            memo: RoundMemo::default(),
            _stop_reader: stop_reader,
        });
        // Unbounded, so that no memory is taken up front; `read_acks` keeps it to ACK_QUEUE.
        let (acks, queued) = crossbeam_channel::unbounded();
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("nacre-udp-acks".into())
            .spawn(move || apply_acks(&queued, &weak))?;
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("nacre-udp-read".into())
            .spawn(move || reader_runtime.block_on(read_acks(socket, weak, acks, stopped)))?;
        Ok(Self { inner })
    }

    /// The address pushes are sent from (and acks read at).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The `cacheMillis` to answer a client that is pushed to.
    pub fn cache_millis(&self) -> u64 {
        self.inner.hub.config().cache_millis
    }

    /// The hub behind it.
    pub fn hub(&self) -> &PushHub {
        &self.inner.hub
    }

    /// Subscribes the client at `addr` to `service` in `clusters`, or renews its
    /// subscription; `agent` and `app` are what it said of itself (listed with the
    /// subscribers). Returns `false` when the hub is full.
    pub fn subscribe(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        addr: SocketAddr,
        agent: &str,
        app: &str,
    ) -> bool {
        let target = UdpTarget {
            key: key_of(&addr),
            addr,
            agent: agent.into(),
            app: app.into(),
            push: Arc::downgrade(&self.inner),
        };
        self.inner
            .hub
            .subscribe(service, clusters, Arc::new(target))
    }

    /// The subscriptions to `service`.
    pub fn subscribers(&self, service: &ServiceKey) -> Vec<SubscriberInfo> {
        self.inner.hub.subscribers(service)
    }

    /// Counters.
    pub fn stats(&self) -> UdpPushStats {
        let c = &self.inner.counters;
        UdpPushStats {
            push: self.inner.hub.stats(),
            datagrams: c.datagrams.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            gzipped: c.gzipped.load(Ordering::Relaxed),
            too_large: c.too_large.load(Ordering::Relaxed),
            bad_acks: c.bad_acks.load(Ordering::Relaxed),
        }
    }
}

/// A UDP socket bound at `addr`, as a tokio socket to receive on and a non-blocking std
/// clone to send with.
pub(super) fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, std::net::UdpSocket)> {
    let std_socket = std::net::UdpSocket::bind(addr)?;
    std_socket.set_nonblocking(true)?;
    let sender = std_socket.try_clone()?;
    Ok((UdpSocket::from_std(std_socket)?, sender))
}

/// The hub key of the client at `addr`.
fn key_of(addr: &SocketAddr) -> TargetKey {
    TargetKey::new(format!("udp:{addr}"))
}

/// Acks read and not yet applied to the hub, at most: a bound on the queue's memory (a few
/// MB). The hub applies an ack in well under a microsecond once its lock is free.
const ACK_QUEUE: usize = 65_536;

/// Reads and decodes acks until the push is dropped (`stop` then resolves), and queues them
/// for [`apply_acks`]: it never takes the hub's lock, so it keeps the socket drained while
/// the hub sends a round.
async fn read_acks(
    socket: UdpSocket,
    push: Weak<Inner>,
    acks: Sender<(SocketAddr, u64)>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut buf = vec![0u8; super::packet::MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buf) => received,
            _ = &mut stop => return,
        };
        let Ok((n, from)) = received else {
            // ICMP "port unreachable" from an earlier send surfaces here on some systems.
            continue;
        };
        let Some(inner) = push.upgrade() else {
            return;
        };
        match decode_ack(&buf[..n]) {
            Ok(id) if acks.len() < ACK_QUEUE => {
                if acks.send((from, id)).is_err() {
                    return;
                }
            }
            Ok(_) | Err(_) => {
                inner.counters.bad_acks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Applies the queued acks to the hub, on a thread of its own (waiting for the hub's lock is
/// fine here); ends when the reader does, or the push is dropped.
fn apply_acks(queued: &Receiver<(SocketAddr, u64)>, push: &Weak<Inner>) {
    while let Ok((from, id)) = queued.recv() {
        let Some(inner) = push.upgrade() else {
            return;
        };
        inner.hub.ack(&key_of(&from), AckId(id));
    }
}

/// One v1 client as a push target: a UDP address.
struct UdpTarget {
    key: TargetKey,
    addr: SocketAddr,
    agent: Arc<str>,
    app: Arc<str>,
    push: Weak<Inner>,
}

impl Inner {
    fn template(&self, info: &ServiceInfo) -> Result<Arc<PushTemplate>, PacketError> {
        self.memo.get_or_make(info, || {
            let grouped = info.service.grouped_name();
            let value =
                ServiceInfoJsonRef::from_info(info, &grouped, NameStyle::Grouped, &self.health);
            let json = serde_json::to_string(&value).unwrap_or_else(|_| "{}".to_owned());
            PushTemplate::new(&json).map(Arc::new)
        })
    }
}

impl PushTarget for UdpTarget {
    fn key(&self) -> TargetKey {
        self.key.clone()
    }

    fn source(&self) -> Option<std::net::IpAddr> {
        Some(crate::front::gate::canonical(self.addr.ip()))
    }

    fn push(&self, info: &ServiceInfo, ack: AckId) -> PushResult {
        let Some(inner) = self.push.upgrade() else {
            return PushResult::Closed;
        };
        let datagram = match inner.template(info).and_then(|t| t.datagram(ack.0)) {
            Ok(d) => d,
            Err(e @ PacketError::TooLarge(_)) => {
                inner.counters.too_large.fetch_add(1, Ordering::Relaxed);
                return PushResult::Failed(e.to_string());
            }
            Err(e) => return PushResult::Failed(e.to_string()),
        };
        match inner.socket.send_to(&datagram.bytes, self.addr) {
            Ok(n) => {
                let c = &inner.counters;
                c.datagrams.fetch_add(1, Ordering::Relaxed);
                c.bytes.fetch_add(n as u64, Ordering::Relaxed);
                if datagram.gzipped {
                    c.gzipped.fetch_add(1, Ordering::Relaxed);
                }
                PushResult::AwaitingAck
            }
            Err(e) => PushResult::Failed(format!("send to {}: {e}", self.addr)),
        }
    }

    fn describe(&self) -> crate::front::push::TargetDetails {
        crate::front::push::TargetDetails {
            addr: self.addr.to_string(),
            agent: self.agent.to_string(),
            app: self.app.to_string(),
        }
    }
}
