//! A hyper client calls two HTTP providers through tower's power-of-two-choices balancer,
//! fed by nacre ([`nacre::discover::InstanceDiscover`]), and fails over when one of them stops
//! beating.
//!
//! Both providers are small hyper servers on free loopback ports, registered in an in-process
//! registry on the system clock with `preserved.heart.beat.timeout=1000`: one second after
//! provider B's last beat the health driver marks it unhealthy, the subscription delivers the
//! change, and the balancer drops B. Then B shuts down, and every call goes to A.
//!
//! Run with `cargo run --features http,tower --example tower_failover`.

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use nacre::discover::InstanceDiscover;
use nacre::{HealthConfig, Instance, InstanceKey, Registry, ServiceKey};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tokio::task::{JoinHandle, JoinSet};
use tower::balance::p2c::Balance;
use tower::load::Constant;
use tower::{service_fn, BoxError, Service, ServiceExt};

/// How long the demo waits for a step that should take about a second.
const PATIENCE: Duration = Duration::from_secs(30);

/// A provider: an HTTP server answering its name, and the task serving it (aborting it
/// closes the listener and every connection).
struct Provider {
    name: &'static str,
    port: u16,
    task: JoinHandle<()>,
}

impl Provider {
    async fn start(name: &'static str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let answer = service_fn(move |_: Request<Incoming>| async move {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(name))))
                });
                connections.spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                    TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(answer),
                ));
            }
        });
        Ok(Self { name, port, task })
    }
}

/// Beats for `key` every 200 ms until aborted.
fn beat(registry: Registry, service: ServiceKey, key: InstanceKey) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = registry.heartbeat(&service, &key) {
                eprintln!("beat for {key:?} refused: {e}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Calls the balanced service `n` times; counts the answers by provider name.
async fn call<S>(balance: &mut S, n: usize) -> Result<BTreeMap<String, usize>, BoxError>
where
    S: Service<(), Response = String, Error = BoxError>,
{
    let mut answers = BTreeMap::new();
    for _ in 0..n {
        let name = balance.ready().await?.call(()).await?;
        *answers.entry(name).or_insert(0) += 1;
    }
    Ok(answers)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The health driver wakes when the earliest deadline it knows falls due, and at least
    // every `check_interval` (5 s by default, as Nacos' beat check): a short interval lets
    // it judge instances registered after its last sweep within a second too.
    let health = HealthConfig {
        check_interval: Duration::from_millis(250),
        ..HealthConfig::default()
    };
    let registry = Registry::builder().health(health).build();
    let _health = registry.spawn_health_driver();
    let hello = ServiceKey::named("hello")?;

    let a = Provider::start("A").await?;
    let b = Provider::start("B").await?;
    let mut beats = Vec::new();
    for p in [&a, &b] {
        let instance = Instance::builder("127.0.0.1", p.port)
            .metadata("preserved.heart.beat.timeout", "1000")
            .metadata("preserved.ip.delete.timeout", "3000")
            .metadata("provider", p.name)
            .build()?;
        let key = instance.key();
        registry.register_instance(&hello, instance)?;
        beats.push(beat(registry.clone(), hello.clone(), key));
        println!("provider {} registered on 127.0.0.1:{}", p.name, p.port);
    }

    // One hyper client (one connection pool); one tower service per instance.
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let discover = InstanceDiscover::subscribe(&registry, &hello, &[], move |i: &Instance| {
        let client = client.clone();
        let uri = format!("http://{}/", i.key().endpoint)
            .parse::<Uri>()
            .map_err(|e| e.to_string());
        let call = service_fn(move |_: ()| {
            let (client, uri) = (client.clone(), uri.clone());
            async move {
                let response = client.get(uri?).await?;
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, BoxError>(String::from_utf8_lossy(&body).into_owned())
            }
        });
        Constant::new(call, 0)
    });
    let mut balance = Balance::new(discover);

    let answers = call(&mut balance, 40).await?;
    println!("40 calls with both providers beating: {answers:?}");
    if answers.len() != 2 {
        return Err(format!("expected answers from A and B, got {answers:?}").into());
    }

    // B stops beating (its process hangs, say); it still listens for now.
    let silent = beats.pop().ok_or("no beat task")?;
    silent.abort();
    let since = Instant::now();
    while balance.len() != 1 {
        if since.elapsed() > PATIENCE {
            return Err("the balancer kept B for 30 s".into());
        }
        // Readiness is where the balancer takes the discover's changes.
        balance.ready().await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "B dropped from the balancer {:.1} s after it stopped beating",
        since.elapsed().as_secs_f64()
    );
    b.task.abort();

    let answers = call(&mut balance, 40).await?;
    println!("40 calls after B stopped: {answers:?}");
    if answers.get("A") != Some(&40) {
        return Err(format!("expected every call on A, got {answers:?}").into());
    }
    a.task.abort();
    for task in beats {
        task.abort();
    }
    println!("ok: failed over to A");
    Ok(())
}
