//! A load generator for any Nacos 2.x gRPC naming server (nacre-server, r-nacos, Nacos):
//! register throughput, query throughput, and push latency to many subscribed connections.
//! It speaks the raw protocol with nacre's hand-written messages, so it loads every server the
//! same way. Used by `benches/grpc/run.sh`; see BENCHMARKS.md.
//!
//! ```text
//! # cargo bench --features grpc --bench grpc_load -- ADDR ...
//! grpc_load ADDR register  SECONDS CONNECTIONS IN_FLIGHT
//! grpc_load ADDR query     SECONDS CONNECTIONS IN_FLIGHT
//! grpc_load ADDR push      SUBSCRIBERS CHANGES
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
    seconds: u64,
    conns: usize,
    in_flight: usize,
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

/// `subscribers` connections subscribe to one service; a writer changes it `changes` times,
/// 700 ms apart (longer than a 500 ms merge window, so every change is pushed on its own);
/// each push's arrival is timed against its change.
async fn push(addr: &str, subscribers: usize, changes: u64) -> Result<(), Error> {
    let service = format!("push-bench-{}", std::process::id());
    // (change number, arrival) for every push that carries a change's instance count.
    let arrivals: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let mut conns = Vec::new();
    for _ in 0..subscribers {
        let arrivals = arrivals.clone();
        let svc = service.clone();
        let mut conn = connect(addr, move |p| {
            if p.kind() != "NotifySubscriberRequest" {
                return;
            }
            let v: Value = serde_json::from_slice(p.json()).unwrap_or_default();
            let info = &v["serviceInfo"];
            if info["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(svc.as_str()))
            {
                let count = info["hosts"].as_array().map_or(0, Vec::len) as u64;
                arrivals.lock().unwrap().push((count, Instant::now()));
            }
        })
        .await?;
        let sub = payload(
            "SubscribeServiceRequest",
            json!({"namespace": "public", "groupName": "DEFAULT_GROUP", "serviceName": service,
                   "subscribe": true, "clusters": ""}),
        );
        call(&mut conn.grpc, sub).await?;
        conns.push(conn);
    }
    // Let the pushes that follow each subscription settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    arrivals.lock().unwrap().clear();
    let mut writer = connect(addr, |_| {}).await?;
    let mut changed_at = Vec::new();
    for n in 1..=changes {
        changed_at.push(Instant::now());
        let p = call(&mut writer.grpc, register(&service, &ip_of(n), 8080)).await?;
        if p.kind() != "InstanceResponse" {
            return Err(format!("registration {n} answered {}", p.kind()).into());
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let arrivals = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter(|(count, _)| (1..=changes).contains(count))
        .map(|(count, at)| {
            let changed = changed_at[usize::try_from(*count - 1).unwrap_or(0)];
            at.saturating_duration_since(changed).as_secs_f64() * 1000.0
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
        "push: {} of {expected} pushes arrived to {subscribers} subscribers over {changes} changes; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
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
        eprintln!("usage: grpc_load ADDR register|query|push ...");
        std::process::exit(2);
    };
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(1).max(1);
    match args.get(1).map(String::as_str) {
        Some("register") => {
            let service = format!("register-bench-{}", std::process::id());
            let make = Arc::new(move |n: u64| register(&service, &ip_of(n), 8080));
            throughput(
                &addr,
                "register",
                arg(2, 5),
                to_usize(arg(3, 4)),
                to_usize(arg(4, 32)),
                "InstanceResponse",
                make,
            )
            .await
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
                arg(2, 5),
                to_usize(arg(3, 4)),
                to_usize(arg(4, 32)),
                "QueryServiceResponse",
                make,
            )
            .await;
            drop(setup);
            result
        }
        Some("push") => push(&addr, to_usize(arg(2, 1000)), arg(3, 10)).await,
        _ => {
            eprintln!("usage: grpc_load ADDR register|query|push ...");
            std::process::exit(2);
        }
    }
}
