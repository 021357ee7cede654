//! Drains end to end: a consumer balancing over a service with tower's p2c balancer, fed by
//! nacre's `NamingClient` (its cache, kept by push), sends **no** request to an instance once
//! the instance's drain has returned — over v1 (UDP push), gRPC and in-process — while after
//! a plain deregistration it keeps sending until its push arrives. The instances are real TCP
//! listeners; the consumer notes when it sends each request, so "after" is exact.
//!
//! Run with `--nocapture` to see the counts (the closing note of issue 25 quotes them).

use nacre::client::{DrainAction, DrainReport};
use nacre::discover::InstanceDiscover;
use nacre::grpc::GrpcClientTransport;
use nacre::http::HttpClientTransport;
use nacre::model::DEFAULT_GROUP;
use nacre::transport::memory::MemoryClientTransport;
use nacre::{Instance, NamingClient, Registry};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::balance::p2c::Balance;
use tower::load::Constant;
use tower::{service_fn, BoxError, Service, ServiceExt};

/// Real time allowed for anything to happen: the binary's other tests share the two cores.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long a drain may wait for the consumers.
const DRAIN: Duration = Duration::from_secs(10);

/// An instance: a TCP listener counting the connections it accepts.
struct Listener {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listener() -> Listener {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = socket.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            drop(stream);
        }
    });
    Listener {
        addr,
        accepted,
        task,
    }
}

/// When the consumer sent each request, per instance port.
type Sent = Arc<Mutex<Vec<(u16, Instant)>>>;

/// A service per instance sending it one request (a TCP connection), noting when.
type Call = Constant<tower::util::BoxService<(), (), BoxError>, u8>;

fn caller(log: Sent) -> impl FnMut(&Instance) -> Call + Send + 'static {
    move |instance: &Instance| {
        let addr = SocketAddr::new(instance.ip().as_str().parse().unwrap(), instance.port());
        let log = log.clone();
        let call = service_fn(move |_: ()| {
            log.lock().unwrap().push((addr.port(), Instant::now()));
            async move {
                tokio::net::TcpStream::connect(addr).await?;
                Ok::<_, BoxError>(())
            }
        });
        Constant::new(tower::util::BoxService::new(call), 0)
    }
}

/// The consumer: a balancer over `client`'s view of `service`, sending requests (a TCP
/// connection each) in a loop until stopped.
struct Consumer {
    sent: Sent,
    stop: Arc<AtomicBool>,
    task: std::thread::JoinHandle<()>,
}

impl Consumer {
    async fn start(client: &NamingClient, service: &str) -> Self {
        let sent: Sent = Arc::default();
        let make = caller(sent.clone());
        let discover =
            InstanceDiscover::subscribe_client(client, service, DEFAULT_GROUP, &[], make)
                .await
                .unwrap();
        let mut balance = Balance::new(discover);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        // Its own thread and runtime: the balancer's future is not `Send` as tokio::spawn
        // wants it (tower's higher-ranked service bounds).
        let task = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                while !stopping.load(Ordering::Relaxed) {
                    let ready =
                        tokio::time::timeout(Duration::from_millis(50), balance.ready()).await;
                    if let Ok(Ok(service)) = ready {
                        let _ = service.call(()).await;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        });
        Self { sent, stop, task }
    }

    fn sent_to(&self, port: u16) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == port)
            .count()
    }

    fn sent_to_after(&self, port: u16, after: Instant) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, at)| *p == port && *at > after)
            .count()
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(move || self.task.join()).await;
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What one run saw: the drain's report (none for a plain deregistration), and the requests
/// the consumer sent to the instance after the call returned.
struct Outcome {
    report: Option<DrainReport>,
    after: usize,
}

/// Registers two instances through `provider`, has a consumer over `consumer` balance over
/// them, then takes the first out with a drain (or a plain deregistration) and counts what
/// the consumer still sends it, until the consumer has dropped it and sent 100 more requests.
async fn run(
    provider: &NamingClient,
    consumer: &NamingClient,
    service: &str,
    drain: bool,
) -> Outcome {
    let (gone, stays) = (listener().await, listener().await);
    let instance = |l: &Listener| Instance::new("127.0.0.1", l.addr.port()).unwrap();
    for l in [&gone, &stays] {
        provider
            .register_instance(service, DEFAULT_GROUP, instance(l))
            .await
            .unwrap();
    }
    let balancer = Consumer::start(consumer, service).await;
    let (g, s) = (gone.addr.port(), stays.addr.port());
    until("requests to both instances", || {
        balancer.sent_to(g) > 0 && balancer.sent_to(s) > 0
    })
    .await;

    let report = if drain {
        let report = provider
            .drain_instance(
                service,
                DEFAULT_GROUP,
                &instance(&gone),
                DrainAction::Deregister,
                DRAIN,
            )
            .await
            .unwrap();
        Some(report)
    } else {
        provider
            .deregister_instance(service, DEFAULT_GROUP, &instance(&gone))
            .await
            .unwrap();
        None
    };
    let returned = Instant::now();
    // The consumer goes on until its view has lost the instance and 100 requests more went
    // to the other one.
    until("the consumer to drop the instance", || {
        let last = balancer
            .sent
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(50)
            .all(|(p, _)| *p == s);
        last && balancer.sent_to_after(s, returned) >= 100
    })
    .await;
    let after = balancer.sent_to_after(g, returned);
    balancer.stop().await;
    assert!(
        gone.accepted.load(Ordering::Relaxed) > 0,
        "the requests were real"
    );
    Outcome { report, after }
}

fn check(front: &str, drained: Outcome, plain: Outcome) {
    let report = drained.report.expect("a drain report");
    eprintln!(
        "{front}: after the drain returned {} request(s) (report {report:?}); after a plain \
         deregistration {}",
        drained.after, plain.after
    );
    assert!(report.drained, "{front}: {report:?}");
    assert!(
        report.acked >= 1,
        "{front}: the consumer was waited for: {report:?}"
    );
    assert_eq!(
        drained.after, 0,
        "{front}: no request after the drain returned ({report:?})"
    );
}

/// A `nacre-server` in this process, and two clients of it over the transport `connect`
/// makes from the server: `front` names the front in the messages, `window` its merge window.
async fn over_a_server<T: nacre::ClientTransport>(
    front: &str,
    window: &str,
    connect: impl Fn(&nacre::server::RunningServer) -> T,
) {
    let config = nacre::server::ServerConfig {
        port: 0,
        grpc_port: Some(0),
        ..Default::default()
    };
    let server = nacre::server::start(&config).await.unwrap();
    let client = || NamingClient::builder(connect(&server)).build().unwrap();
    let (provider, consumer) = (client(), client());
    let drained = run(&provider, &consumer, "drained", true).await;
    let plain = run(&provider, &consumer, "plain", false).await;
    assert!(
        plain.after > 0,
        "{front}: without a drain the consumer learns of it only at the push ({window} window)"
    );
    check(front, drained, plain);
    server.stop();
}

/// v1: the consumer is a v1 client pushed to over UDP (1 s merge window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_v1_no_request_reaches_a_drained_instance() {
    over_a_server("v1", "1 s", |s| {
        HttpClientTransport::new([s.local_addr().to_string()]).unwrap()
    })
    .await;
}

/// gRPC: the consumer is a 2.x client on the gRPC front (500 ms merge window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_no_request_reaches_a_drained_instance() {
    over_a_server("grpc", "500 ms", |s| {
        GrpcClientTransport::new([s.grpc_addr().unwrap().to_string()]).unwrap()
    })
    .await;
}

/// In-process: both clients on the in-memory transport of one registry (pushed at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_no_request_reaches_a_drained_instance() {
    let registry = Registry::default();
    let transport = MemoryClientTransport::new(registry);
    let client = || NamingClient::builder(transport.clone()).build().unwrap();
    let (provider, consumer) = (client(), client());
    let drained = run(&provider, &consumer, "drained", true).await;
    let plain = run(&provider, &consumer, "plain", false).await;
    check("in-process", drained, plain);
}
