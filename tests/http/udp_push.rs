//! UDP push to v1 clients: a real UDP socket plays the client, the router answers its
//! queries in process, and the manual clock drives the merge window, the ack timeout and the
//! expiry.

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use nacre::client::ServiceInfo;
use nacre::front::push::{AckId, PushResult, PushTarget, TargetKey};
use nacre::http::NacosApi;
use nacre::udp::{packet, UdpPush, UdpPushConfig};
use nacre::{Instance, ManualClock, Registry, ServiceKey};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tower::ServiceExt;

const JAVA: &str = "Nacos-Java-Client:v1.4.6";

/// How long (real time) a test waits for a push or a counter: generous, since the binary's
/// other tests (hundreds of acking clients) share the two cores with it.
const PATIENCE: Duration = Duration::from_secs(30);

struct Env {
    app: Router,
    registry: Registry,
    clock: ManualClock,
    push: UdpPush,
    client: UdpSocket,
}

async fn env() -> Env {
    let clock = ManualClock::new();
    let registry = crate::common::registry_on(&clock);
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let push = UdpPush::bind(registry.clone(), local, UdpPushConfig::default())
        .await
        .unwrap();
    let app = NacosApi::new(registry.clone())
        .udp_push(push.clone())
        .router();
    let client = UdpSocket::bind(local).await.unwrap();
    Env {
        app,
        registry,
        clock,
        push,
        client,
    }
}

impl Env {
    /// `GET /nacos/v1/ns/instance/list?{query}` as `agent`; status and body.
    async fn list_as(&self, agent: &str, query: &str) -> (u16, Value) {
        let req = Request::get(format!("/nacos/v1/ns/instance/list?{query}"))
            .header("User-Agent", agent)
            .body(Body::empty())
            .unwrap();
        let answer = self.app.clone().oneshot(req).await.unwrap();
        let status = answer.status().as_u16();
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body)
    }

    /// The list query a pushed Java 1.x client sends for `orders`.
    async fn subscribe(&self, extra: &str) -> Value {
        let port = self.client.local_addr().unwrap().port();
        let (status, body) = self
            .list_as(
                JAVA,
                &format!("serviceName=orders&udpPort={port}&clientIP=127.0.0.1{extra}"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The next push datagram, raw, within a generous deadline.
    async fn next_datagram(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 65_536];
        let (n, from) = tokio::time::timeout(PATIENCE, self.client.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("a push within {PATIENCE:?}: {:?}", self.push.stats()))
            .unwrap();
        assert_eq!(from, self.push.local_addr());
        buf.truncate(n);
        buf
    }

    /// The next push: its `lastRefTime` and the `ServiceInfo` it carries.
    async fn next_push(&self) -> (u64, Value) {
        let datagram = self.next_datagram().await;
        let push = packet::decode_push(&datagram).unwrap();
        assert_eq!(push.kind, "dom");
        (
            push.last_ref_time,
            serde_json::from_str(&push.data).unwrap(),
        )
    }

    async fn ack(&self, last_ref_time: u64) {
        let ack = format!(r#"{{"type":"push-ack","lastRefTime":{last_ref_time},"data":""}}"#);
        self.client
            .send_to(ack.as_bytes(), self.push.local_addr())
            .await
            .unwrap();
    }

    /// Polls until the push hub's counters satisfy `done`.
    async fn until(&self, what: &str, done: impl Fn(&nacre::udp::UdpPushStats) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(&self.push.stats()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {:?}, at {:?}, hub {:?}",
                self.push.stats(),
                self.clock.now(),
                self.push.hub()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn register(&self, ip: &str) {
        let orders = ServiceKey::named("orders").unwrap();
        let instance = Instance::new(ip, 8080).unwrap();
        self.registry.register_instance(&orders, instance).unwrap();
        assert!(self.registry.wait_for_events(Duration::from_secs(5)));
    }
}

fn ips(info: &Value) -> Vec<&str> {
    info["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_client_gets_every_change_merged_and_acks_it() {
    let env = env().await;
    env.register("10.0.0.1");

    // The query subscribes the client: it is told to pull rarely, and gets the current state.
    let answer = env.subscribe("").await;
    assert_eq!(answer["cacheMillis"], 10_000);
    let (id, info) = env.next_push().await;
    assert_eq!(info["name"], "DEFAULT_GROUP@@orders");
    assert_eq!(ips(&info), ["10.0.0.1"]);
    env.ack(id).await;
    env.until("the first ack", |s| s.push.acked == 1).await;

    // Two changes within the merge window: one push, after 1 s.
    env.register("10.0.0.2");
    env.register("10.0.0.3");
    env.clock.advance(Duration::from_millis(999));
    env.clock.advance(Duration::from_millis(1));
    let (id, info) = env.next_push().await;
    assert_eq!(ips(&info), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    env.ack(id).await;
    env.until("the second ack", |s| s.push.acked == 2).await;
    let stats = env.push.stats();
    assert_eq!((stats.push.pushes, stats.datagrams), (2, 2));
    assert_eq!(stats.push.retried, 0);
    assert!(stats.bytes > 0);

    // The subscribers listing knows the client.
    let subs = env.push.subscribers(&ServiceKey::named("orders").unwrap());
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].details.agent, JAVA);
    assert_eq!(
        subs[0].details.addr,
        env.client.local_addr().unwrap().to_string()
    );
}

/// A query can only subscribe the address it came from: `clientIP` naming another host (a
/// victim) is ignored when the server knows the query's peer, and the push goes to the peer
/// at `udpPort`. Nacos pushes to whatever `clientIP` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_goes_to_the_address_the_query_came_from_not_to_client_ip() {
    use axum::extract::ConnectInfo;
    let env = env().await;
    env.register("10.0.0.1");
    let client = env.client.local_addr().unwrap();
    // The query comes from 127.0.0.1 and names a victim; the victim's socket would be here.
    let victim = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let victim_ip = victim.local_addr().unwrap().ip();
    let req = Request::get(format!(
        "/nacos/v1/ns/instance/list?serviceName=orders&udpPort={}&clientIP={victim_ip}",
        client.port()
    ))
    .header("User-Agent", JAVA)
    .extension(ConnectInfo(SocketAddr::new(client.ip(), 40_000)))
    .body(Body::empty())
    .unwrap();
    let answer = env.app.clone().oneshot(req).await.unwrap();
    assert_eq!(answer.status(), 200);
    // The subscriber is the query's own address, at the port it asked for.
    let subs = env.push.subscribers(&ServiceKey::named("orders").unwrap());
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].details.addr, client.to_string());
    let (id, info) = env.next_push().await;
    assert_eq!(ips(&info), ["10.0.0.1"]);
    env.ack(id).await;
    env.until("the ack", |s| s.push.acked == 1).await;
    // Nothing went to the victim.
    let mut buf = [0u8; 64];
    let nothing =
        tokio::time::timeout(Duration::from_millis(200), victim.recv_from(&mut buf)).await;
    assert!(nothing.is_err(), "the victim got a datagram");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacked_push_is_sent_once_more_after_10_s_then_counts_as_failed() {
    let env = env().await;
    env.subscribe("").await;
    let (first, _) = env.next_push().await;
    // No ack: after 10 s the push goes again, under a new id.
    env.clock.advance(Duration::from_secs(10));
    let (again, info) = env.next_push().await;
    assert_ne!(first, again);
    assert_eq!(info["name"], "DEFAULT_GROUP@@orders");
    env.until("the retry", |s| s.push.retried == 1).await;
    // An ack of the old id matches nothing; no ack of the retry within 10 s: a failure.
    env.ack(first).await;
    env.clock.advance(Duration::from_secs(10));
    env.until("the failure", |s| s.push.failed == 1).await;
    let stats = env.push.stats();
    assert_eq!((stats.push.pushes, stats.push.acked), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_expires_10_s_after_its_last_query() {
    let env = env().await;
    env.subscribe("").await;
    let (id, _) = env.next_push().await;
    env.ack(id).await;
    env.until("the ack", |s| s.push.acked == 1).await;
    let hub = env.push.hub();

    // A query 9 s later renews it; 10 s after that one, it is gone.
    env.clock.advance(Duration::from_secs(9));
    env.subscribe("").await;
    env.clock.advance(Duration::from_secs(9));
    assert_eq!(hub.subscription_count(), 1);
    env.clock.advance(Duration::from_secs(1));
    env.until("the expiry", |s| s.push.expired == 1).await;
    assert_eq!(hub.subscription_count(), 0);
    // A change then pushes to nobody.
    env.register("10.0.0.9");
    env.clock.advance(Duration::from_secs(2));
    assert_eq!(env.push.stats().push.pushes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_known_agents_with_a_udp_port_are_pushed_to() {
    let env = env().await;
    let port = env.client.local_addr().unwrap().port();
    for (agent, query) in [
        (
            "curl/8.5.0",
            format!("serviceName=orders&udpPort={port}&clientIP=127.0.0.1"),
        ),
        (JAVA, "serviceName=orders&clientIP=127.0.0.1".to_owned()),
        (
            JAVA,
            "serviceName=orders&udpPort=0&clientIP=127.0.0.1".to_owned(),
        ),
        // Not an address: no push, but an answer.
        (
            JAVA,
            format!("serviceName=orders&udpPort={port}&clientIP=somehost"),
        ),
    ] {
        let (status, body) = env.list_as(agent, &query).await;
        assert_eq!(status, 200, "{agent} {query}");
        assert_eq!(body["cacheMillis"], 3_000, "{agent} {query}");
    }
    assert_eq!(env.push.hub().subscription_count(), 0);

    for bad in ["x", "-1", "70000"] {
        let (status, body) = env
            .list_as(JAVA, &format!("serviceName=orders&udpPort={bad}"))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(body.as_str().unwrap().contains("udpPort"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_push_is_gzipped_and_garbage_acks_are_counted() {
    let env = env().await;
    let orders = ServiceKey::named("orders").unwrap();
    for i in 0..40 {
        let instance = Instance::builder(&format!("10.0.1.{i}"), 8080)
            .metadata("zone", "eu-central-1a")
            .build()
            .unwrap();
        env.registry.register_instance(&orders, instance).unwrap();
    }
    assert!(env.registry.wait_for_events(Duration::from_secs(5)));
    env.subscribe("&clusters=DEFAULT").await;
    let datagram = env.next_datagram().await;
    assert_eq!(&datagram[..2], &[0x1f, 0x8b], "gzipped");
    let push = packet::decode_push(&datagram).unwrap();
    let info: Value = serde_json::from_str(&push.data).unwrap();
    assert_eq!(info["clusters"], "DEFAULT");
    assert_eq!(ips(&info).len(), 40);
    assert_eq!(env.push.stats().gzipped, 1);

    for garbage in [&b"hello"[..], b"\x1f\x8b\x08garbage", br#"{"type":"dom"}"#] {
        env.client
            .send_to(garbage, env.push.local_addr())
            .await
            .unwrap();
    }
    env.until("three bad acks", |s| s.bad_acks == 3).await;
    // The good ack still lands.
    env.ack(push.last_ref_time).await;
    env.until("the ack", |s| s.push.acked == 1).await;
}

/// A push target that, once `slow` is set, takes `hold` over each push: it keeps the hub's
/// round, and so the hub's lock, busy.
struct Slow {
    slow: Arc<AtomicBool>,
    hold: Duration,
}

impl PushTarget for Slow {
    fn key(&self) -> TargetKey {
        // Sorts after every `udp:` target: the round pushes to the clients first.
        TargetKey::new("zz-slow")
    }
    fn push(&self, _: &ServiceInfo, _: AckId) -> PushResult {
        if self.slow.load(Ordering::SeqCst) {
            std::thread::sleep(self.hold);
        }
        PushResult::Delivered
    }
}

/// `n` clients that ack every push: tasks on a single-threaded runtime on a thread of their own
/// (not the server's runtime), until `stop` is sent; their ports.
fn acking_clients(n: usize) -> (Vec<u16>, oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let ports = sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async move {
            for socket in sockets {
                let socket = UdpSocket::from_std(socket).unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                        let push = packet::decode_push(&buf[..len]).unwrap();
                        let ack = packet::encode_ack(push.last_ref_time);
                        socket.send_to(&ack, from).await.unwrap();
                    }
                });
            }
            let _ = stopped.await;
        });
        // Dropping the runtime ends the clients and closes their sockets.
    });
    (ports, stop, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_that_arrive_while_the_hub_sends_a_round_are_not_lost() {
    acks_during_a_long_round().await;
}

/// The same on a single-threaded runtime: the round blocks the runtime's only thread.
#[tokio::test]
async fn acks_are_read_while_the_round_blocks_the_runtime() {
    acks_during_a_long_round().await;
}

/// 300 clients ack a change while the round that pushed it holds the hub (and the worker it
/// runs on) for 1.5 s. More clients than the push socket's default receive buffer holds acks
/// (256 small datagrams on Linux): if reading acks waited for the hub's lock, or for that
/// worker, the kernel would drop the rest and the hub would send those pushes again.
async fn acks_during_a_long_round() {
    const CLIENTS: u64 = 300;
    let env = env().await;
    let (ports, stop, clients) = acking_clients(CLIENTS as usize);
    // Subscribed 50 at a time, each group's first pushes acked before the next: a hub round
    // that found all 300 new subscribers at once would burst more acks than the socket holds,
    // and on a busy machine the kernel could drop some before the reader drains them. That is
    // what the change below tests; the setup stays clear of it.
    let mut subscribed = 0;
    for group in ports.chunks(50) {
        for port in group {
            let query = format!("serviceName=orders&udpPort={port}&clientIP=127.0.0.1");
            assert_eq!(env.list_as(JAVA, &query).await.0, 200);
        }
        subscribed += group.len() as u64;
        env.until("the first pushes acked", |s| s.push.acked == subscribed)
            .await;
    }
    let slow = Arc::new(AtomicBool::new(false));
    let orders = ServiceKey::named("orders").unwrap();
    let target = Slow {
        slow: slow.clone(),
        hold: Duration::from_millis(1500),
    };
    assert!(env.push.hub().subscribe(&orders, &[], Arc::new(target)));
    env.until("the slow target's first push", |s| {
        s.push.acked == CLIENTS + 1
    })
    .await;

    // One change: the round pushes to the clients, then holds the hub for 1.5 s while their
    // acks come in.
    slow.store(true, Ordering::SeqCst);
    env.register("10.0.0.9");
    env.clock.advance(Duration::from_secs(1));
    env.until("every ack of the change", |s| {
        s.push.acked == 2 * (CLIENTS + 1)
    })
    .await;
    let stats = env.push.stats();
    assert_eq!((stats.push.retried, stats.bad_acks), (0, 0));
    stop.send(()).unwrap();
    clients.join().unwrap();
}

/// `/service/subscribers` lists the v1 push targets, the subscribers of any other hub the API
/// was given, and the registry's in-process listeners, in Nacos' shape, paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_lists_push_targets_other_hubs_and_in_process_listeners() {
    let clock = ManualClock::new();
    let registry = crate::common::registry_on(&clock);
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let push = UdpPush::bind(registry.clone(), local, UdpPushConfig::default())
        .await
        .unwrap();
    let other = nacre::front::push::PushHub::new(registry.clone(), Default::default());
    let (sink, _pushes) = nacre::client::PushSink::channel();
    let orders = ServiceKey::named("orders").unwrap();
    other.subscribe(&orders, &[], std::sync::Arc::new(sink));
    let listener = registry.subscribe(
        &orders,
        &["a".parse().unwrap()],
        |_: &nacre::NamingEvent| {},
    );
    let client = UdpSocket::bind(local).await.unwrap();
    let env = Env {
        app: NacosApi::new(registry.clone())
            .udp_push(push.clone())
            .subscribers_from(other)
            .router(),
        registry: registry.clone(),
        clock,
        push,
        client,
    };
    env.subscribe("&app=shop").await;

    let get = |query: &'static str| {
        let app = env.app.clone();
        async move {
            let req = Request::get(format!("/nacos/v1/ns/service/subscribers?{query}"))
                .body(Body::empty())
                .unwrap();
            let answer = app.oneshot(req).await.unwrap();
            let status = answer.status().as_u16();
            let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let (status, body) = get("serviceName=orders").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["count"], 3, "{v}");
    let subs = v["subscribers"].as_array().unwrap();
    let udp = &subs[0];
    let port = env.client.local_addr().unwrap().port();
    assert_eq!(udp["addrStr"], format!("127.0.0.1:{port}"));
    assert_eq!(
        (udp["ip"].as_str(), udp["port"].as_u64()),
        (Some("127.0.0.1"), Some(u64::from(port)))
    );
    assert_eq!(udp["agent"], JAVA);
    assert_eq!(udp["app"], "shop");
    assert_eq!(udp["serviceName"], "DEFAULT_GROUP@@orders");
    assert_eq!(udp["namespaceId"], "public");
    assert!(subs[1]["addrStr"]
        .as_str()
        .unwrap()
        .starts_with("in-process#"));
    assert_eq!(subs[1]["agent"], nacre::front::push::IN_PROCESS_AGENT);
    assert_eq!(subs[2]["addrStr"], format!("in-process#{}", listener.get()));
    assert_eq!(subs[2]["cluster"], "a");

    let (_, page) = get("serviceName=orders&pageNo=2&pageSize=2").await;
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["count"], 3);
    assert_eq!(page["subscribers"].as_array().unwrap().len(), 1);
    let (_, none) = get("serviceName=payments").await;
    assert_eq!(none, r#"{"subscribers":[],"count":0}"#);
    for bad in [
        "",
        "serviceName=orders&pageNo=0",
        "serviceName=orders&pageSize=x",
    ] {
        let (status, body) = get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    registry.unsubscribe(listener);
    let (_, after) = get("serviceName=orders").await;
    assert!(after.ends_with(r#""count":2}"#), "{after}");
}

/// One host subscribes (a UDP port per query) until its share of the hub is taken: past it
/// its queries still answer, but nothing more is subscribed, and another host still is.
/// Before, one host could fill the hub's 100 000 for every client.
#[tokio::test]
async fn one_host_holds_at_most_its_share_of_udp_subscriptions() {
    let clock = ManualClock::new();
    let registry = crate::common::registry_on(&clock);
    let config = UdpPushConfig {
        push: nacre::front::push::PushConfig {
            max_subscriptions_per_source: 2,
            ..UdpPushConfig::default().push
        },
    };
    let push = UdpPush::bind(registry.clone(), "127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let app = NacosApi::new(registry.clone())
        .udp_push(push.clone())
        .router();
    let query = |service: &str, host: &str, port: u16| {
        Request::get(format!(
            "/nacos/v1/ns/instance/list?serviceName={service}&udpPort={port}&clientIP={host}"
        ))
        .header("User-Agent", JAVA)
        .body(Body::empty())
        .unwrap()
    };
    for (n, service) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
        let answer = app
            .clone()
            .oneshot(query(service, "10.9.9.9", 40_000 + n as u16))
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{service}");
    }
    assert_eq!(push.hub().subscription_count(), 2);
    let other = app
        .clone()
        .oneshot(query("s3", "10.9.9.8", 40_000))
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    assert_eq!(push.hub().subscription_count(), 3);
}
