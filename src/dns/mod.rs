//! A DNS front (feature `dns`): services answered as `A`, `AAAA` and `SRV` records, for apps
//! that cannot link any Nacos SDK (Consul answers `orders.service.consul`; Nacos 3.3 adds a
//! DNS server of its own).
//!
//! `dig @127.0.0.1 -p 8853 orders.DEFAULT_GROUP.public.nacre SRV` names every instance a
//! client would call, with its port and weight; `A`/`AAAA` queries of the same name give their
//! addresses. [`answer`] has the naming and answering rules; the messages are read and written
//! with `hickory-proto`, the protocol library of the Hickory DNS server, so no wire format is
//! home-made. The loops here are nacre's own, because they carry its bounds:
//!
//! - **UDP**: one task reads, answers from the registry's lock-free snapshot, and writes, so a
//!   flood costs at most one task. Each source address has a budget ([`rate::SourceRates`],
//!   default 200 queries a second, bursts of 400, 10 000 addresses tracked): a query over it is
//!   dropped, not answered, so forged sources cannot turn the server into an amplifier. Answers
//!   are capped at [`answer::MAX_UDP_PAYLOAD`] bytes; a larger one is sent truncated, and
//!   the client asks over TCP.
//! - **TCP**: connections are admitted by a [`crate::front::gate::ConnectionGate`] (default
//!   256 at once, 16 per address), idle ones are closed after 10 s, every read has that
//!   deadline, and queries on them share the same per-address budget.
//! - **TTL**: the cache time clients are given (3 s, `cacheMillis` of the v1 list), so a
//!   resolver's cache holds an instance that left for at most that long after the registry
//!   stopped naming it (15 s without beats: unhealthy).
//!
//! **Access**: DNS carries no credentials, so the front answers anyone who reaches its port
//! (loopback unless `--bind` says otherwise). `nacre-server` with auth on refuses to start one
//! unless `--dns-open` says to. The bounds are `nacre-server`'s `--dns-queries-per-second`,
//! `--dns-max-connections` and `--dns-max-connections-per-ip`.
//!
//! Differences from Consul and Nacos 3.3: one zone (`nacre.` by default) with the namespace and
//! group in the name, since Nacos names a service by all three; no recursion, no SOA or NS
//! records, no zone transfer; `ANY` is refused (`NOTIMP`).

pub mod answer;
pub mod rate;

use crate::front::gate::{ConnectionGate, GateLimits};
use crate::front::Backend;
use crate::util::lock;
use answer::Zone;
pub use answer::ZoneError;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use rate::SourceRates;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The zone by default.
pub const DEFAULT_DOMAIN: &str = "nacre";

/// How the DNS front answers and what it bounds.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The zone it answers for (`nacre`).
    pub domain: String,
    /// The TTL of every record, in seconds (3: the cache time of a v1 list).
    pub ttl: u32,
    /// The most records in one answer (64).
    pub max_records: usize,
    /// Queries a second one source address may send (200).
    pub queries_per_second: u32,
    /// The most at once (400).
    pub burst: u32,
    /// Source addresses tracked at once (10 000).
    pub max_sources: usize,
    /// TCP connections at once, in total and per address (256, 16).
    pub tcp: GateLimits,
    /// How long a TCP connection may stay silent (10 s).
    pub tcp_idle: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            domain: DEFAULT_DOMAIN.to_owned(),
            ttl: 3,
            max_records: 64,
            queries_per_second: 200,
            burst: 400,
            max_sources: 10_000,
            tcp: GateLimits {
                max_total: 256,
                max_per_ip: 16,
            },
            tcp_idle: Duration::from_secs(10),
        }
    }
}

/// The DNS front over a node. Cheap to clone.
#[derive(Clone)]
pub struct DnsFront {
    shared: Arc<Shared>,
}

struct Shared {
    backend: Backend,
    zone: Zone,
    config: DnsConfig,
    rates: Mutex<SourceRates>,
    gate: Arc<ConnectionGate>,
}

impl std::fmt::Debug for DnsFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsFront")
            .field("zone", &self.shared.zone.domain().to_string())
            .finish_non_exhaustive()
    }
}

impl DnsFront {
    /// The front over `backend`; an error when the configured domain is not a domain name.
    pub fn new(backend: impl Into<Backend>, config: DnsConfig) -> Result<Self, ZoneError> {
        let zone = Zone::new(&config.domain, config.ttl, config.max_records)?;
        let rates = SourceRates::new(config.queries_per_second, config.burst, config.max_sources);
        let gate = ConnectionGate::new("DNS TCP connection", config.tcp);
        Ok(DnsFront {
            shared: Arc::new(Shared {
                backend: backend.into(),
                zone,
                config,
                rates: Mutex::new(rates),
                gate,
            }),
        })
    }

    /// The zone's domain, fully qualified (`nacre.`).
    pub fn domain(&self) -> String {
        self.shared.zone.domain().to_string()
    }

    /// The answer to the query `bytes` (over TCP when `tcp`): `None` when it is not a DNS
    /// message at all (shorter than a header, or itself a response), which is dropped; a
    /// malformed query with a readable header is answered `FORMERR`.
    pub fn answer(&self, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let response = match Message::from_vec(bytes) {
            Ok(request) if request.message_type() == MessageType::Query => answer::respond(
                self.shared.backend.registry(),
                &self.shared.zone,
                &request,
                tcp,
            ),
            Ok(_) => return None,
            Err(_) => {
                let header = bytes.get(..12)?;
                // A response (the QR bit) is never answered: two servers would loop.
                if header[2] & 0x80 != 0 {
                    return None;
                }
                let mut formerr = Message::new();
                formerr
                    .set_id(u16::from_be_bytes([header[0], header[1]]))
                    .set_message_type(MessageType::Response)
                    .set_response_code(ResponseCode::FormErr);
                formerr
            }
        };
        response.to_vec().ok()
    }

    fn admit(&self, from: SocketAddr) -> bool {
        lock(&self.shared.rates).admit(from.ip(), Instant::now())
    }

    /// Answers queries on `socket` until `stop` completes.
    pub async fn serve_udp(
        &self,
        socket: UdpSocket,
        stop: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut buf = vec![0u8; 4096];
        tokio::pin!(stop);
        loop {
            let (len, from) = tokio::select! {
                received = socket.recv_from(&mut buf) => match received {
                    Ok(r) => r,
                    // An ICMP error of an earlier answer (a client gone): not the socket's end.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e),
                },
                () = &mut stop => return Ok(()),
            };
            if !self.admit(from) {
                continue;
            }
            if let Some(answer) = self.answer(&buf[..len], false) {
                if let Err(error) = socket.send_to(&answer, from).await {
                    tracing::debug!(%error, %from, "a DNS answer was not sent");
                }
            }
        }
    }

    /// Answers queries on the connections `listener` accepts until `stop` completes.
    pub async fn serve_tcp(
        &self,
        listener: TcpListener,
        stop: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::pin!(stop);
        loop {
            let (stream, from) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(error) => {
                        // Out of descriptors, say: wait a moment rather than spin.
                        tracing::warn!(%error, "DNS TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => return Ok(()),
            };
            let Ok(ticket) = self.shared.gate.admit(from.ip()) else {
                continue;
            };
            let front = self.clone();
            tokio::spawn(async move {
                let _ticket = ticket;
                front.connection(stream, from).await;
            });
        }
    }

    /// One TCP connection: length-prefixed queries, each read within the idle time.
    async fn connection(&self, mut stream: TcpStream, from: SocketAddr) {
        let idle = self.shared.config.tcp_idle;
        loop {
            let mut len = [0u8; 2];
            match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            match tokio::time::timeout(idle, stream.read_exact(&mut query)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            if !self.admit(from) {
                return;
            }
            let Some(answer) = self.answer(&query, true) else {
                return;
            };
            let Ok(prefix) = u16::try_from(answer.len()) else {
                return;
            };
            let mut out = Vec::with_capacity(answer.len() + 2);
            out.extend_from_slice(&prefix.to_be_bytes());
            out.extend_from_slice(&answer);
            match tokio::time::timeout(idle, stream.write_all(&out)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }
}
