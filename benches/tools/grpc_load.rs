//! A load generator for any Nacos 2.x gRPC naming server (nacre-server, r-nacos, Nacos):
//! register throughput, query throughput, and push latency to many subscribed connections.
//! It speaks the raw protocol with nacre's hand-written messages, so it loads every server the
//! same way. Used by `benches/grpc/run.sh`; see BENCHMARKS.md.
//!
//! ```text
//! # cargo bench --features grpc --bench grpc_load -- ADDR ...
//! grpc_load ADDR register  SECONDS CONNECTIONS IN_FLIGHT
//! grpc_load ADDR query     SECONDS CONNECTIONS IN_FLIGHT
//! grpc_load ADDR subscribe SECONDS CONNECTIONS IN_FLIGHT
//! grpc_load ADDR push      SUBSCRIBERS CHANGES [SERVICES]   # env GAP_MS, SERVER_PID
//! grpc_load ADDR idle      CONNECTIONS                      # env SERVER_PID
//! ```
//!
//! Every loop is bounded by its time or count; nothing is sent anywhere but `ADDR`.

#[path = "../support/cli.rs"]
mod cli;

use nacre::grpc::proto::Payload;
use nacre::grpc::{BI_STREAM_PATH, REQUEST_PATH};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One client connection: unary calls and the bi-stream on one HTTP/2 connection.
struct Conn {
    grpc: tonic::client::Grpc<Channel>,
    _out: mpsc::Sender<Payload>,
}

static IDS: AtomicU64 = AtomicU64::new(1);

fn payload(kind: &str, mut body: Value) -> Payload {
    if let Some(m) = body.as_object_mut() {
        m.insert("headers".into(), json!({}));
        m.insert(
            "requestId".into(),
            json!(IDS.fetch_add(1, Ordering::Relaxed).to_string()),
        );
        m.insert("module".into(), json!("naming"));
    }
    Payload::new(kind, body.to_string().into_bytes())
}

async fn call(grpc: &mut tonic::client::Grpc<Channel>, p: Payload) -> Result<Payload, Error> {
    grpc.ready().await?;
    let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(REQUEST_PATH);
    Ok(grpc
        .unary(tonic::Request::new(p), path, codec)
        .await?
        .into_inner())
}

/// Connects, sets the connection up, and hands every request the server sends on the stream
/// to `on_push` (after acking it).
async fn connect(addr: &str, on_push: impl Fn(&Payload) + Send + 'static) -> Result<Conn, Error> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    call(&mut grpc, payload("ServerCheckRequest", json!({}))).await?;
    let (tx, rx) = mpsc::channel::<Payload>(1024);
    tx.send(payload(
        "ConnectionSetupRequest",
        json!({"clientVersion": "nacre-load", "tenant": "", "labels": {"source": "sdk", "module": "naming"}, "abilities": {}}),
    ))
    .await?;
    grpc.ready().await?;
    let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(BI_STREAM_PATH);
    let mut inbound = grpc
        .streaming(tonic::Request::new(ReceiverStream::new(rx)), path, codec)
        .await?
        .into_inner();
    let acks = tx.downgrade();
    tokio::spawn(async move {
        while let Ok(Some(p)) = inbound.message().await {
            on_push(&p);
            let v: Value = serde_json::from_slice(p.json()).unwrap_or_default();
            let kind = p.kind().replace("Request", "Response");
            let reply = json!({"resultCode": 200, "errorCode": 0, "message": "", "requestId": v["requestId"]});
            if let Some(out) = acks.upgrade() {
                let _ = out.try_send(Payload::new(&kind, reply.to_string().into_bytes()));
            }
        }
    });
    // Wait until the server has read the setup.
    for _ in 0..200 {
        let p = call(&mut grpc, payload("HealthCheckRequest", json!({}))).await?;
        if p.kind() == "HealthCheckResponse" {
            return Ok(Conn { grpc, _out: tx });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err("the server never registered the connection".into())
}

fn register(service: &str, ip: &str, port: u32) -> Payload {
    payload(
        "InstanceRequest",
        json!({"namespace": "public", "groupName": "DEFAULT_GROUP", "serviceName": service,
               "type": "registerInstance",
               "instance": {"ip": ip, "port": port, "weight": 1.0, "healthy": true, "enabled": true,
                            "ephemeral": true, "clusterName": "DEFAULT", "metadata": {}}}),
    )
}

fn ip_of(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Runs `in_flight` loops spread over `conns` connections for `seconds`; each loop sends what
/// `make(n)` builds and expects `expect` back. Prints the throughput.
async fn throughput(
    addr: &str,
    what: &str,
    (seconds, conns, in_flight): (u64, usize, usize),
    expect: &'static str,
    make: Arc<dyn Fn(u64) -> Payload + Send + Sync>,
) -> Result<(), Error> {
    let mut connections = Vec::new();
    for _ in 0..conns {
        connections.push(connect(addr, |_| {}).await?);
    }
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..in_flight {
        let mut grpc = connections[i % conns].grpc.clone();
        let (done, failed, counter, make) =
            (done.clone(), failed.clone(), counter.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                match call(&mut grpc, make(n)).await {
                    Ok(p) if p.kind() == expect => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "{what}: {ok} ok, {} failed in {elapsed:.1} s = {:.0} req/s ({conns} connections, {in_flight} in flight)",
        failed.load(Ordering::Relaxed),
        ok as f64 / elapsed
    );
    Ok(())
}

/// The resident memory of process `pid` (`VmRSS` of `/proc/PID/status`), in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Opens `connections` connections, each set up with its bi-stream as a client's is, and
/// subscribed to nothing; prints the server's RSS per connection (needs `SERVER_PID`).
async fn idle(addr: &str, connections: usize) -> Result<(), Error> {
    let server = std::env::var("SERVER_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or("idle needs SERVER_PID")?;
    let before = rss_kib(server).ok_or("no such server process")?;
    let mut conns = Vec::with_capacity(connections);
    for batch in (0..connections).collect::<Vec<_>>().chunks(100) {
        let pending: Vec<_> = batch
            .iter()
            .map(|_| {
                let addr = addr.to_string();
                tokio::spawn(async move { connect(&addr, |_| {}).await })
            })
            .collect();
        for p in pending {
            conns.push(p.await??);
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with = rss_kib(server).ok_or("the server went away")?;
    println!(
        "idle: server RSS {before} KiB before, {with} KiB with {connections} connections: {:.1} KiB per connection",
        with.saturating_sub(before) as f64 / connections as f64
    );
    drop(conns);
    Ok(())
}

/// The CPU time process `pid` has used so far (user + system of `/proc/PID/stat`), in clock
/// ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count the fields after its closing parenthesis.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A push that arrived: the service's index, its instance count, and when.
type Arrival = (usize, u64, Instant);

/// `subscribers` connections subscribe to `services` services (connection `i` to service
/// `i % services`); a writer changes every service `changes` times, `GAP_MS` apart (700 ms by
/// default: longer than a 500 ms merge window, so every change is pushed on its own), one
/// registration per service per round, sent at once. Each push's arrival is timed against its
/// service's change. With `SERVER_PID` set, prints the server's RSS per subscribed connection
/// (its RSS with every subscriber connected, minus before the first one connected).
async fn push(addr: &str, subscribers: usize, changes: u64, services: usize) -> Result<(), Error> {
    let prefix = format!("push-bench-{}-", std::process::id());
    let gap = std::env::var("GAP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(700);
    let server = std::env::var("SERVER_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    let rss_before = server.and_then(rss_kib);
    let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let mut conns = Vec::with_capacity(subscribers);
    // Connected and subscribed 100 at a time.
    for batch in (0..subscribers).collect::<Vec<_>>().chunks(100) {
        let mut pending = Vec::new();
        for &i in batch {
            let (addr, prefix, arrivals) = (addr.to_string(), prefix.clone(), arrivals.clone());
            pending.push(tokio::spawn(async move {
                let watched = prefix.clone();
                let mut conn = connect(&addr, move |p| {
                    if p.kind() != "NotifySubscriberRequest" {
                        return;
                    }
                    let v: Value = serde_json::from_slice(p.json()).unwrap_or_default();
                    let info = &v["serviceInfo"];
                    let index = info["name"]
                        .as_str()
                        .and_then(|n| n.split_once(watched.as_str()))
                        .and_then(|(_, i)| i.parse::<usize>().ok());
                    if let Some(index) = index {
                        let count = info["hosts"].as_array().map_or(0, Vec::len) as u64;
                        if let Ok(mut a) = arrivals.lock() {
                            a.push((index, count, Instant::now()));
                        }
                    }
                })
                .await?;
                let sub = payload(
                    "SubscribeServiceRequest",
                    json!({"namespace": "public", "groupName": "DEFAULT_GROUP",
                           "serviceName": format!("{prefix}{}", i % services),
                           "subscribe": true, "clusters": ""}),
                );
                call(&mut conn.grpc, sub).await?;
                Ok::<_, Error>(conn)
            }));
        }
        for p in pending {
            conns.push(p.await??);
        }
    }
    // Let the pushes that follow each subscription settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_with = server.and_then(rss_kib);
    arrivals.lock().map_err(|_| "poisoned")?.clear();
    let writer = connect(addr, |_| {}).await?;
    let ticks_before = server.and_then(cpu_ticks);
    // changed_at[round][service]
    let mut changed_at: Vec<Vec<Instant>> = Vec::new();
    for n in 1..=changes {
        let mut round = Vec::with_capacity(services);
        let mut calls = Vec::with_capacity(services);
        for s in 0..services {
            let mut grpc = writer.grpc.clone();
            let p = register(&format!("{prefix}{s}"), &ip_of(n), 8080);
            round.push(Instant::now());
            calls.push(tokio::spawn(async move { call(&mut grpc, p).await }));
        }
        for c in calls {
            let p = c.await??;
            if p.kind() != "InstanceResponse" {
                return Err(format!("registration {n} answered {}", p.kind()).into());
            }
        }
        changed_at.push(round);
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ticks_after = server.and_then(cpu_ticks);
    let arrivals = arrivals.lock().map_err(|_| "poisoned")?.clone();
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter(|(s, count, _)| *s < services && (1..=changes).contains(count))
        .map(|(s, count, at)| {
            let round = usize::try_from(*count - 1).unwrap_or(0);
            at.saturating_duration_since(changed_at[round][*s])
                .as_secs_f64()
                * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let expected = subscribers as u64 * changes;
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "push: {} of {expected} pushes arrived to {subscribers} subscribers of {services} services over {changes} changes; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
    if let (Some(before), Some(after)) = (ticks_before, ticks_after) {
        // Everything the server did from the first change to the end: the registrations,
        // the pushes and their acks, and its idle keepalives (a few per second).
        println!(
            "server CPU while changing and pushing: {:.2} s, {:.1} µs per push delivered",
            (after - before) as f64 / 100.0,
            (after - before) as f64 * 1e4 / latencies.len().max(1) as f64
        );
    }
    if let (Some(before), Some(with)) = (rss_before, rss_with) {
        println!(
            "server RSS: {before} KiB before, {with} KiB with {subscribers} subscribed connections: {:.1} KiB per connection",
            with.saturating_sub(before) as f64 / subscribers as f64
        );
    }
    drop(conns);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = cli::args();
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    let Some(addr) = args.first().cloned() else {
        eprintln!("usage: grpc_load ADDR register|query|subscribe|push|idle ...");
        std::process::exit(2);
    };
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(1).max(1);
    // The throughput runs' SECONDS CONNECTIONS IN_FLIGHT.
    let shape = (arg(2, 5), to_usize(arg(3, 4)), to_usize(arg(4, 32)));
    match args.get(1).map(String::as_str) {
        Some("register") => {
            let service = format!("register-bench-{}", std::process::id());
            let make = Arc::new(move |n: u64| register(&service, &ip_of(n), 8080));
            throughput(&addr, "register", shape, "InstanceResponse", make).await
        }
        Some("query") => {
            let service = format!("query-bench-{}", std::process::id());
            let mut setup = connect(&addr, |_| {}).await?;
            let count = std::env::var("QUERY_SIZE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10);
            for n in 0..count {
                call(&mut setup.grpc, register(&service, &ip_of(n + 1), 8080)).await?;
            }
            let make = Arc::new(move |_| {
                payload(
                    "ServiceQueryRequest",
                    json!({"namespace": "public", "groupName": "DEFAULT_GROUP", "serviceName": service,
                           "cluster": "", "healthyOnly": false, "udpPort": 0}),
                )
            });
            let result = throughput(
                &addr,
                "query (10 instances)",
                shape,
                "QueryServiceResponse",
                make,
            )
            .await;
            drop(setup);
            result
        }
        Some("subscribe") => {
            // Every call subscribes its connection to one of 100 services of 10 instances
            // and gets its service info back, as a client's subscribe does.
            let prefix = format!("subscribe-bench-{}-", std::process::id());
            let mut setup = connect(&addr, |_| {}).await?;
            for s in 0..100 {
                for n in 0..10 {
                    call(
                        &mut setup.grpc,
                        register(&format!("{prefix}{s}"), &ip_of(n + 1), 8080),
                    )
                    .await?;
                }
            }
            let make = Arc::new(move |n: u64| {
                payload(
                    "SubscribeServiceRequest",
                    json!({"namespace": "public", "groupName": "DEFAULT_GROUP",
                           "serviceName": format!("{prefix}{}", n % 100),
                           "subscribe": true, "clusters": ""}),
                )
            });
            let result = throughput(
                &addr,
                "subscribe (10 instances)",
                shape,
                "SubscribeServiceResponse",
                make,
            )
            .await;
            drop(setup);
            result
        }
        Some("idle") => idle(&addr, to_usize(arg(2, 10_000))).await,
        Some("push") => {
            push(
                &addr,
                to_usize(arg(2, 1000)),
                arg(3, 10),
                to_usize(arg(4, 1)),
            )
            .await
        }
        _ => {
            eprintln!("usage: grpc_load ADDR register|query|subscribe|push|idle ...");
            std::process::exit(2);
        }
    }
}
