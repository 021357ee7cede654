//! UDP push to many v1 clients: one change to a service with N (default 1,000) UDP push
//! targets, timed until every target has acked, with the datagrams and bytes it took, beside a
//! hand-written fan-out of the same data measured in the same run. Used by
//! `benches/udp/run.sh`; see BENCHMARKS.md ("UDP push to 1,000 v1 clients").
//!
//! ```text
//! cargo bench --features http --bench udp_push_load -- [TARGETS] [SIZES] [RUNS]
//! #   TARGETS: clients (default 1000); SIZES: instances before the change, comma-separated
//! #   (default 10,100); RUNS: repetitions of every scenario (default 1)
//! ```
//!
//! Everything runs in this process, on loopback, on the system clock:
//!
//! - **Server**: a [`Registry`] and a [`UdpPush`] bound at 127.0.0.1:0, on a 2-worker tokio
//!   runtime (as `nacre-server` has on this 2-core machine). Clients subscribe through the real
//!   v1 path: `GET /nacos/v1/ns/instance/list?serviceName=..&udpPort=P&clientIP=127.0.0.1` with
//!   `User-Agent: Nacos-Java-Client:v1.4.6`, answered by `NacosApi::new(registry)
//!   .udp_push(push).router()` in process (tower `oneshot`, no TCP: the subscription path is the
//!   router's, the transport is irrelevant to a push).
//! - **Clients**: N UDP sockets, one tokio task each, on a single-threaded runtime of their
//!   own (one OS thread). Tokio tasks because a real v1 client is one socket with a thread
//!   blocked on it: a task per socket is the cheapest faithful stand-in (an idle task costs
//!   nothing, epoll wakes the one whose datagram arrived); one thread because the machine has
//!   two cores and the server needs them. Each client does what the Java client's
//!   `PushReceiver` does: inflate if gzipped, parse the packet, ack
//!   `{"type":"push-ack","lastRefTime":n,"data":""}` to the sender. It stamps each datagram's
//!   arrival and checks that it carries the change (the new instance's IP).
//! - **Scenario**: a service with S instances; N clients subscribe; their first (fresh
//!   subscriber) pushes are received and acked; then ONE instance is registered, and we
//!   measure from that write: the first datagram's arrival, the last one's, the moment the
//!   hub's counters show all N datagrams sent, and the moment they show all N acks
//!   (`UdpPush::stats().push.acked`, polled every 200 µs). Datagrams, bytes and gzipped counts
//!   are the difference of [`UdpPushStats`] across the change. Run with the default
//!   [`UdpPushConfig`] (1 s merge window) and with `merge_window = 0`.
//! - **Baseline** (same clients, same run): the cheapest hand-written fan-out of the same
//!   change. Register the instance in a plain registry of the same service, build its
//!   `ServiceInfo` JSON once (the same `ServiceAnswer` and `ServiceInfoJsonRef` the hub uses),
//!   then for each target `packet::encode_push` (its own `lastRefTime`, so gzip per target as
//!   the hub does) and `send_to` from one non-blocking std socket; acks are read and decoded
//!   by a task on the server runtime. A second baseline encodes the datagram once and sends
//!   the same bytes to everyone (one `lastRefTime` for all, as Nacos 1.x names a push round),
//!   showing what encoding per target costs.
//! - **Memory**: net live heap bytes (a counting global allocator, on only around the
//!   subscriptions) of N subscriptions, after their first pushes are acked.
//!
//! Ports: N + 3 UDP sockets; raise `ulimit -n` if binding fails.

#[path = "../support/cli.rs"]
mod cli;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use nacre::client::ServiceQuery;
use nacre::front::ServiceAnswer;
use nacre::http::NacosApi;
use nacre::protocol::json::{NameStyle, ServiceInfoJsonRef};
use nacre::udp::{packet, UdpPush, UdpPushConfig, UdpPushStats};
use nacre::{Instance, Registry, ServiceKey};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tower::ServiceExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

const JAVA: &str = "Nacos-Java-Client:v1.4.6";
/// How long to wait for every ack of one change before giving up (covers one 10 s retry).
const PATIENCE: Duration = Duration::from_secs(30);
/// How often the counters are polled while waiting.
const POLL: Duration = Duration::from_micros(200);
/// How often the clients query again while a change is waited for (the hub expires a
/// subscription 10 s after its last query).
const RENEW: Duration = Duration::from_secs(5);

/// The kernel's count of UDP datagrams dropped for a full receive buffer (0 where unknown).
fn rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

// ---- a counting allocator, switched on only around the subscriptions ----

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---- the clients ----

/// What the clients saw since the last [`Tally::reset`]; times are nanoseconds since `base`.
struct Tally {
    base: Instant,
    /// The IP of the instance the current change adds; a datagram that lists it carries it.
    marker: RwLock<String>,
    /// Bumped by every reset: a client counts its first datagram carrying the change once.
    generation: AtomicU64,
    received: AtomicU64,
    carrying: AtomicU64,
    bad: AtomicU64,
    first: AtomicU64,
    last: AtomicU64,
}

impl Tally {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            marker: RwLock::new(String::from("-")),
            generation: AtomicU64::new(0),
            received: AtomicU64::new(0),
            carrying: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn reset(&self, marker: &str) {
        if let Ok(mut m) = self.marker.write() {
            *m = format!("\"{marker}\"");
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.received.store(0, Ordering::SeqCst);
        self.carrying.store(0, Ordering::SeqCst);
        self.bad.store(0, Ordering::SeqCst);
        self.first.store(u64::MAX, Ordering::SeqCst);
        self.last.store(0, Ordering::SeqCst);
    }

    /// A client received `data` at `at`; `seen` is the generation in which that client last
    /// received the change (the first copy counts, a retry's does not).
    fn record(&self, at: u64, data: &str, seen: &mut u64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::SeqCst);
        let carries = self.marker.read().is_ok_and(|m| data.contains(m.as_str()));
        if carries && *seen != generation {
            *seen = generation;
            self.carrying.fetch_add(1, Ordering::Relaxed);
            self.first.fetch_min(at, Ordering::Relaxed);
            self.last.fetch_max(at, Ordering::Relaxed);
        }
    }
}

/// Binds `n` client sockets and runs them on a single-threaded runtime on a thread of its own.
fn start_clients(n: usize, tally: Arc<Tally>) -> Result<Vec<SocketAddr>, Error> {
    let ready = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| format!("binding client socket: {e} (raise `ulimit -n`?)"))?;
        socket.set_nonblocking(true)?;
        sockets.push(socket);
    }
    let addrs = sockets
        .iter()
        .map(std::net::UdpSocket::local_addr)
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new().name("clients".into()).spawn({
        let ready = ready.clone();
        move || {
            runtime.block_on(async move {
                for socket in sockets {
                    tokio::spawn(client(socket, tally.clone(), ready.clone()));
                }
                std::future::pending::<()>().await;
            });
        }
    })?;
    // Every client holds its socket and buffer before anything is measured.
    while ready.load(Ordering::SeqCst) < n as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(addrs)
}

/// One v1 client: reads pushes, acks each to its sender, as `PushReceiver` does.
async fn client(socket: std::net::UdpSocket, tally: Arc<Tally>, ready: Arc<AtomicU64>) {
    let Ok(socket) = tokio::net::UdpSocket::from_std(socket) else {
        return;
    };
    // `vec!` of zeros is calloc'd: only the pages a datagram touches are ever mapped.
    let mut buf = vec![0u8; packet::MAX_DATAGRAM];
    let mut seen = 0;
    ready.fetch_add(1, Ordering::SeqCst);
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let at = tally.now();
        let Ok(push) = packet::decode_push(&buf[..n]) else {
            tally.bad.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let _ = socket
            .send_to(&packet::encode_ack(push.last_ref_time), from)
            .await;
        tally.record(at, &push.data, &mut seen);
    }
}

// ---- one measurement ----

/// What one change cost, times in milliseconds from the write.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    first: f64,
    last: f64,
    sent: f64,
    acked: f64,
    datagrams: u64,
    bytes: u64,
    gzipped: u64,
    retried: u64,
    complete: bool,
    /// Datagrams the clients received (a retry's copy too).
    received: u64,
    /// Datagrams the kernel dropped for a full receive buffer (`RcvbufErrors` in
    /// /proc/net/snmp, system-wide) from the write to the end of the wait.
    drops: u64,
    /// The push packet's JSON bytes before gzip (baseline rows).
    plain: u64,
    /// Hub rows: datagrams and retries of the subscription phase, and the net heap bytes of
    /// the subscriptions once it settled.
    setup_datagrams: u64,
    setup_retried: u64,
    setup_drops: u64,
    heap: i64,
}

/// Polls `sent()` and `acked()` (both counted since the write) until all `n` are acked and the
/// clients saw `n` datagrams carrying the change, or [`PATIENCE`] runs out.
fn wait_all(
    tally: &Tally,
    t0: u64,
    n: u64,
    sent_at: Option<u64>,
    mut counts: impl FnMut() -> (u64, u64),
    mut renew: impl FnMut(),
) -> Measure {
    let deadline = Instant::now() + PATIENCE;
    let mut renewed = Instant::now();
    let mut sent_at = sent_at;
    let mut acked_at = None;
    loop {
        let (sent, acked) = counts();
        let now = tally.now();
        if sent_at.is_none() && sent >= n {
            sent_at = Some(now);
        }
        if acked_at.is_none() && acked >= n {
            acked_at = Some(now);
        }
        let carrying = tally.carrying.load(Ordering::Relaxed);
        if (acked_at.is_some() && carrying >= n) || Instant::now() > deadline {
            break;
        }
        // Subscriptions live 10 s past their last query: query again as a client would.
        if renewed.elapsed() >= RENEW {
            renew();
            renewed = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    let ms = |t: Option<u64>| t.map_or(f64::NAN, |t| t.saturating_sub(t0) as f64 / 1e6);
    let first = tally.first.load(Ordering::Relaxed);
    let last = tally.last.load(Ordering::Relaxed);
    let carrying = tally.carrying.load(Ordering::Relaxed);
    Measure {
        first: ms((first != u64::MAX).then_some(first)),
        last: ms((last != 0).then_some(last)),
        sent: ms(sent_at),
        acked: ms(acked_at),
        complete: acked_at.is_some() && carrying >= n,
        received: tally.received.load(Ordering::Relaxed),
        ..Measure::default()
    }
}

fn service_key(size: usize) -> Result<ServiceKey, Error> {
    Ok(ServiceKey::named(&format!("bench-{size}"))?)
}

/// A registry holding the benchmarked service with `size` instances.
fn registry_of(size: usize) -> Result<Registry, Error> {
    let registry = Registry::default();
    let service = service_key(size)?;
    for i in 0..size {
        let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
        registry.register_instance(&service, Instance::new(&ip, 8080)?)?;
    }
    Ok(registry)
}

/// The change: the instance whose IP is `marker`.
fn change(registry: &Registry, size: usize, marker: &str) -> Result<(), Error> {
    registry.register_instance(&service_key(size)?, Instance::new(marker, 8080)?)?;
    Ok(())
}

async fn subscribe(app: &Router, size: usize, client: SocketAddr) -> Result<(), Error> {
    let uri = format!(
        "/nacos/v1/ns/instance/list?serviceName=bench-{size}&udpPort={}&clientIP=127.0.0.1",
        client.port()
    );
    let req = Request::get(uri)
        .header("User-Agent", JAVA)
        .body(Body::empty())?;
    let answer = app.clone().oneshot(req).await?;
    let status = answer.status();
    let body = axum::body::to_bytes(answer.into_body(), usize::MAX).await?;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // A pushed client is told to pull rarely: 10 s, not 3 s.
    if !status.is_success() || json["cacheMillis"] != 10_000 {
        let body = String::from_utf8_lossy(&body);
        return Err(format!("the subscription was answered {status}: {body}").into());
    }
    Ok(())
}

/// The hub's pushes waiting for an ack. The count is not public; the hub's `Debug` shows it.
fn in_flight(push: &UdpPush) -> usize {
    let debug = format!("{:?}", push.hub());
    debug
        .split("in_flight: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Waits until the `n` fresh subscribers' first pushes have arrived, nothing is left in
/// flight (a lost ack is only retried after 10 s), and nothing more is pushed for a merge
/// window and 200 ms (a round already scheduled would take the measured change along);
/// returns the counters. The clients query again every [`RENEW`] meanwhile, so that no
/// subscription expires while a lost ack waits 10 s for its retry.
fn settle(
    push: &UdpPush,
    tally: &Tally,
    n: u64,
    window: Duration,
    mut renew: impl FnMut(),
) -> UdpPushStats {
    let deadline = Instant::now() + PATIENCE;
    let mut renewed = Instant::now();
    while Instant::now() < deadline {
        if renewed.elapsed() >= RENEW {
            renew();
            renewed = Instant::now();
        }
        let s = push.stats();
        if s.push.acked >= n && tally.received.load(Ordering::Relaxed) >= n && in_flight(push) == 0
        {
            std::thread::sleep(window + Duration::from_millis(200));
            if push.stats().push.pushes == s.push.pushes {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    push.stats()
}

/// Every client queries the service with its `udpPort`: subscribes, or renews.
fn subscribe_all(
    rt: &tokio::runtime::Runtime,
    app: &Router,
    size: usize,
    clients: &[SocketAddr],
) -> Result<(), Error> {
    rt.block_on(async {
        for &c in clients {
            subscribe(app, size, c).await?;
        }
        Ok(())
    })
}

/// The hub: a fresh registry and `UdpPush` with `window`, N subscriptions, one change.
fn measure_hub(
    rt: &tokio::runtime::Runtime,
    tally: &Tally,
    clients: &[SocketAddr],
    size: usize,
    window: Duration,
    marker: &str,
) -> Result<Measure, Error> {
    let n = clients.len() as u64;
    let registry = registry_of(size)?;
    let mut config = UdpPushConfig::default();
    config.push.merge_window = window;
    let local: SocketAddr = "127.0.0.1:0".parse()?;
    let push = rt.block_on(UdpPush::bind(registry.clone(), local, config))?;
    let app = NacosApi::new(registry.clone())
        .udp_push(push.clone())
        .router();

    // Subscribe everyone; drain the fresh-subscriber pushes and their acks.
    tally.reset("-");
    LIVE.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let drops = rcvbuf_errors();
    subscribe_all(rt, &app, size, clients)?;
    let renew = || {
        if let Err(e) = subscribe_all(rt, &app, size, clients) {
            eprintln!("renewing the subscriptions: {e}");
        }
    };
    let setup = settle(&push, tally, n, window, renew);
    let setup_drops = rcvbuf_errors() - drops;
    COUNTING.store(false, Ordering::SeqCst);
    let heap = LIVE.load(Ordering::SeqCst);
    if setup.push.acked < n {
        return Err(format!("the first pushes were not all acked: {setup:?}").into());
    }

    // The change, right after the clients renewed their subscriptions (which pushes nothing).
    subscribe_all(rt, &app, size, clients)?;
    let expired = push.stats().push.expired;
    if expired > 0 {
        return Err(format!("{expired} subscriptions expired before the change").into());
    }
    tally.reset(marker);
    let before = push.stats();
    let drops = rcvbuf_errors();
    let t0 = tally.now();
    change(&registry, size, marker)?;
    let mut m = wait_all(
        tally,
        t0,
        n,
        None,
        || {
            let s = push.stats();
            (
                s.datagrams - before.datagrams,
                s.push.acked - before.push.acked,
            )
        },
        renew,
    );
    std::thread::sleep(Duration::from_millis(50));
    m.drops = rcvbuf_errors() - drops;
    m.setup_drops = setup_drops;
    let after = push.stats();
    let d = diff(&before, &after);
    m.datagrams = d.datagrams;
    m.bytes = d.bytes;
    m.gzipped = d.gzipped;
    m.retried = d.push.retried;
    m.setup_datagrams = setup.datagrams;
    m.setup_retried = setup.push.retried;
    m.heap = heap;
    drop(app);
    drop(push);
    Ok(m)
}

fn diff(a: &UdpPushStats, b: &UdpPushStats) -> UdpPushStats {
    let mut d = *b;
    d.datagrams -= a.datagrams;
    d.bytes -= a.bytes;
    d.gzipped -= a.gzipped;
    d.push.pushes -= a.push.pushes;
    d.push.acked -= a.push.acked;
    d.push.retried -= a.push.retried;
    d
}

/// The baseline: the same change fanned out by hand. `once`: one datagram for everyone.
fn measure_baseline(
    rt: &tokio::runtime::Runtime,
    tally: &Tally,
    clients: &[SocketAddr],
    size: usize,
    marker: &str,
    once: bool,
) -> Result<Measure, Error> {
    let n = clients.len() as u64;
    let registry = registry_of(size)?;
    let service = service_key(size)?;
    let grouped = service.grouped_name();
    let health = *registry.health_config();
    // A socket like UdpPush's: tokio to read acks, a non-blocking std clone to send with.
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    std_socket.set_nonblocking(true)?;
    let sender = std_socket.try_clone()?;
    let acks = Arc::new(AtomicU64::new(0));
    let reader = {
        let acks = acks.clone();
        rt.spawn(async move {
            let Ok(socket) = tokio::net::UdpSocket::from_std(std_socket) else {
                return;
            };
            let mut buf = vec![0u8; packet::MAX_DATAGRAM];
            while let Ok((len, _)) = socket.recv_from(&mut buf).await {
                if packet::decode_ack(&buf[..len]).is_ok() {
                    acks.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    tally.reset(marker);
    let (mut datagrams, mut bytes, mut gzipped) = (0, 0, 0);
    let drops = rcvbuf_errors();
    let t0 = tally.now();
    change(&registry, size, marker)?;
    let query = ServiceQuery {
        service: service.clone(),
        clusters: vec![],
        healthy_only: false,
    };
    let info = ServiceAnswer::new(&registry, &query, 10_000).to_info();
    let json = serde_json::to_string(&ServiceInfoJsonRef::from_info(
        &info,
        &grouped,
        NameStyle::Grouped,
        &health,
    ))?;
    let shared = packet::encode_push(&json, 1)?;
    let plain = serde_json::json!({"type": packet::TYPE_DOM, "data": &json, "lastRefTime": 1})
        .to_string()
        .len() as u64;
    for (i, addr) in clients.iter().enumerate() {
        let own;
        let datagram = if once {
            &shared
        } else {
            own = packet::encode_push(&json, i as u64 + 1)?;
            &own
        };
        if let Ok(sent) = sender.send_to(&datagram.bytes, addr) {
            datagrams += 1;
            bytes += sent as u64;
            gzipped += u64::from(datagram.gzipped);
        }
    }
    let sent_at = tally.now();
    let mut m = wait_all(
        tally,
        t0,
        n,
        Some(sent_at),
        || (datagrams, acks.load(Ordering::Relaxed)),
        || {},
    );
    m.drops = rcvbuf_errors() - drops;
    reader.abort();
    m.datagrams = datagrams;
    m.bytes = bytes;
    m.gzipped = gzipped;
    m.plain = plain;
    Ok(m)
}

// ---- the report ----

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median of each time over the runs; counts from the first run (they do not vary), retries
/// and kernel drops summed over the runs, and a run that did not complete flags the row.
fn summary(runs: &[Measure]) -> Measure {
    let pick = |f: fn(&Measure) -> f64| median(runs.iter().map(f).collect());
    let mut m = runs.first().copied().unwrap_or_default();
    m.first = pick(|m| m.first);
    m.last = pick(|m| m.last);
    m.sent = pick(|m| m.sent);
    m.acked = pick(|m| m.acked);
    m.retried = runs.iter().map(|m| m.retried).sum();
    m.drops = runs.iter().map(|m| m.drops).sum();
    m.complete = runs.iter().all(|m| m.complete);
    m
}

/// One table row. `window` is subtracted from the time to all acks before it is compared with
/// `baseline`'s (the merge window is a wait, not work).
fn row(label: &str, size: usize, plain: u64, m: &Measure, window: Duration, baseline: f64) {
    let per = m.bytes.checked_div(m.datagrams).unwrap_or(0);
    let gzip = match m.gzipped {
        0 => "no".to_owned(),
        g if g == m.datagrams => "yes".to_owned(),
        g => format!("{g} of {}", m.datagrams),
    };
    let mut notes = Vec::new();
    if !m.complete {
        notes.push("INCOMPLETE".to_owned());
    }
    if m.retried > 0 {
        notes.push(format!("{} retried", m.retried));
    }
    if m.drops > 0 {
        notes.push(format!("{} dropped by the kernel", m.drops));
    }
    let ratio = (m.acked - window.as_secs_f64() * 1000.0) / baseline;
    println!(
        "| {label} | {size} | {plain} | {per} | {gzip} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {ratio:.2} | {} |",
        m.datagrams,
        m.bytes,
        m.first,
        m.last,
        m.sent,
        m.acked,
        notes.join(", "),
    );
}

fn main() -> Result<(), Error> {
    let args = cli::args();
    let targets: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let sizes: Vec<usize> = args
        .get(1)
        .map(|a| a.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 10, 100]);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tally = Arc::new(Tally::new());
    let clients = start_clients(targets, tally.clone())?;
    let windows = [Duration::ZERO, UdpPushConfig::default().push.merge_window];
    let labels = [
        "hub, merge window 0".to_owned(),
        format!("hub, merge window {} ms", windows[1].as_millis()),
        "baseline: encode per target".to_owned(),
        "baseline: encode once".to_owned(),
    ];
    let row_window = [windows[0], windows[1], Duration::ZERO, Duration::ZERO];

    eprintln!("udp_push_load: {targets} targets, sizes {sizes:?}, {runs} run(s)");
    let mut all: Vec<(usize, Vec<Vec<Measure>>)> = Vec::new();
    let mut scenario = 0u32;
    for &size in &sizes {
        let mut results: Vec<Vec<Measure>> = vec![Vec::new(); labels.len()];
        for run in 1..=runs {
            for (i, label) in labels.iter().enumerate() {
                scenario += 1;
                let marker = format!("10.255.{}.{}", scenario / 250, scenario % 250 + 1);
                let m = match i {
                    0 | 1 => measure_hub(&rt, &tally, &clients, size, windows[i], &marker)?,
                    _ => measure_baseline(&rt, &tally, &clients, size, &marker, i == 3)?,
                };
                eprintln!(
                    "  S={size} run {run} {label}: first {:.1} last {:.1} sent {:.1} acked {:.1} ms, {} datagrams, {} received, {} retried, {} dropped{}; setup {} datagrams, {} retried, {} dropped",
                    m.first, m.last, m.sent, m.acked, m.datagrams, m.received, m.retried, m.drops,
                    if m.complete { "" } else { ", INCOMPLETE" },
                    m.setup_datagrams, m.setup_retried, m.setup_drops,
                );
                results[i].push(m);
            }
        }
        all.push((size, results));
    }

    println!("\n{targets} UDP push targets, one change; times in ms from the write, median of {runs} run(s).");
    println!("ratio: time to all acks (minus the merge window) / the per-target baseline's.\n");
    println!("| fan-out | S | packet JSON bytes | bytes/datagram | gzip | datagrams | bytes | first datagram | last datagram | all sent | all acked | ratio | notes |");
    println!(
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for (size, results) in &all {
        let sums: Vec<Measure> = results.iter().map(|r| summary(r)).collect();
        let plain = sums[2].plain;
        let baseline = sums[2].acked;
        for (i, m) in sums.iter().enumerate() {
            row(&labels[i], *size, plain, m, row_window[i], baseline);
        }
    }
    println!(
        "\nSubscription phase (hub rows, medians): {targets} fresh-subscriber pushes expected.\n"
    );
    println!("| S | merge window | datagrams | retried | dropped by the kernel | heap per subscription (bytes) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (size, results) in &all {
        for (i, window) in windows.iter().enumerate() {
            let runs = &results[i];
            let datagrams = median(runs.iter().map(|m| m.setup_datagrams as f64).collect());
            let retried = median(runs.iter().map(|m| m.setup_retried as f64).collect());
            let drops = median(runs.iter().map(|m| m.setup_drops as f64).collect());
            let heap = median(runs.iter().map(|m| m.heap as f64).collect());
            println!(
                "| {size} | {} ms | {datagrams:.0} | {retried:.0} | {drops:.0} | {:.0} |",
                window.as_millis(),
                heap / targets as f64
            );
        }
    }
    Ok(())
}
