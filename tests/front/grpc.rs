//! The gRPC front (feature `grpc`) over real loopback connections: `NamingClient` over
//! `GrpcClientTransport`, pushes, connection-bound instances, the protocol's error codes, and
//! a v1 HTTP write reaching a gRPC subscriber.

use crate::common::fixtures::eventually;
use crate::common::raw_grpc::Raw;
use nacre::client::NamingClient;
use nacre::front::push::PushConfig;
use nacre::grpc::proto::Payload;
use nacre::grpc::{GrpcClientTransport, GrpcConfig, GrpcFront};
use nacre::model::DEFAULT_GROUP;
use nacre::{Instance, NamingEvent, Registry, ServiceKey};
use std::future::ready;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn config() -> GrpcConfig {
    GrpcConfig {
        push: PushConfig {
            merge_window: Duration::from_millis(20),
            ..GrpcConfig::default().push
        },
        ..GrpcConfig::default()
    }
}

async fn serve(registry: &Registry, config: GrpcConfig) -> (GrpcFront, SocketAddr) {
    let front = GrpcFront::new(registry.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = front.clone();
    tokio::spawn(async move {
        let _ = serving.serve(listener).await;
    });
    (front, addr)
}

async fn client(addr: SocketAddr) -> (NamingClient, GrpcClientTransport) {
    let transport = GrpcClientTransport::new([addr.to_string()]).unwrap();
    let client = NamingClient::builder(transport.clone()).build().unwrap();
    (client, transport)
}

type Seen = Arc<Mutex<Vec<Vec<String>>>>;

fn recorder() -> (Seen, impl Fn(&NamingEvent) + Send + Sync + 'static) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    (seen, move |e: &NamingEvent| {
        let mut ips: Vec<String> = e.instances.iter().map(|i| i.ip().to_string()).collect();
        ips.sort();
        log.lock().unwrap().push(ips);
    })
}

fn last(seen: &Seen) -> Option<Vec<String>> {
    seen.lock().unwrap().last().cloned()
}

fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_clients_register_discover_and_are_pushed_every_change() {
    let registry = Registry::default();
    let (front, addr) = serve(&registry, config()).await;
    let (provider, provider_transport) = client(addr).await;
    provider
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 1);

    let (consumer, _) = client(addr).await;
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", DEFAULT_GROUP, &[], listener)
        .await
        .unwrap();
    eventually("the first event", WAIT, || {
        ready(last(&seen) == Some(vec!["10.0.0.1".into()]))
    })
    .await;

    // Another client registers: the subscriber is pushed within a second.
    let (other, _) = client(addr).await;
    let started = Instant::now();
    other
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.2", 8080).unwrap(),
        )
        .await
        .unwrap();
    eventually("the push of 10.0.0.2", WAIT, || {
        ready(last(&seen) == Some(vec!["10.0.0.1".into(), "10.0.0.2".into()]))
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(front.hub().stats().acked >= 2, "{:?}", front.hub().stats());

    let all = consumer
        .get_all_instances("orders", DEFAULT_GROUP, &[], false)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let page = consumer
        .get_service_list(1, 10, DEFAULT_GROUP)
        .await
        .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.services[0].as_str(), "orders");

    // The provider's connection closes: its instance is gone at once, and that is pushed.
    provider.shutdown().await;
    drop(provider);
    provider_transport.disconnect().await;
    drop(provider_transport);
    eventually("the provider's instance to go", WAIT, || {
        ready(registry.get_all_instances(&orders(), &[]).len() == 1)
    })
    .await;
    eventually("the push of its departure", WAIT, || {
        ready(last(&seen) == Some(vec!["10.0.0.2".into()]))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_http_registration_is_pushed_to_a_grpc_subscriber() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let registry = Registry::default();
    let (_front, addr) = serve(&registry, config()).await;
    let (consumer, _) = client(addr).await;
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", DEFAULT_GROUP, &[], listener)
        .await
        .unwrap();
    let app = nacre::http::NacosApi::new(registry.clone()).router();
    let register = Request::post("/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.9&port=80")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(register).await.unwrap().status(), 200);
    eventually("the push", WAIT, || {
        ready(last(&seen) == Some(vec!["10.0.0.9".into()]))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_beats_for_a_connection_bound_instance_until_its_connection_ends() {
    use nacre::ManualClock;
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let (front, addr) = serve(&registry, config()).await;
    let (provider, transport) = client(addr).await;
    provider
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .await
        .unwrap();
    // A minute passes in 1 s steps; the client sends no beats, the front beats for it.
    // (The client's own health checks keep the connection active meanwhile.)
    for _ in 0..60 {
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(5)).await;
        registry.check_health();
    }
    let all = registry.get_all_instances(&orders(), &[]);
    assert_eq!(all.len(), 1);
    assert!(
        all.iter().all(|i| i.healthy()),
        "kept healthy by the front's beats"
    );
    assert_eq!(front.connection_count(), 1);

    transport.disconnect().await;
    eventually("the instance to leave with its connection", WAIT, || {
        ready(registry.get_all_instances(&orders(), &[]).is_empty())
    })
    .await;
    drop(provider);
}

fn body(p: &Payload) -> serde_json::Value {
    serde_json::from_slice(p.json()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_answers_its_error_codes_and_never_fails_on_garbage() {
    let registry = Registry::default();
    let (_front, addr) = serve(&registry, config()).await;
    let mut raw = Raw::open(addr).await;

    let check = raw
        .call("ServerCheckRequest", r#"{"headers":{},"requestId":"1"}"#)
        .await;
    assert_eq!(check.kind(), "ServerCheckResponse");
    let v = body(&check);
    assert_eq!(v["resultCode"], 200);
    assert_eq!(v["errorCode"], 0);
    assert!(v["connectionId"].as_str().is_some_and(|s| !s.is_empty()));
    // Abilities are negotiated (`abilities_are_negotiated_with_clients_that_send_theirs`).
    assert_eq!(v["supportAbilityNegotiation"], true);

    // No ConnectionSetupRequest on this connection yet: 301.
    let refused = raw
        .call("InstanceRequest", r#"{"serviceName":"orders"}"#)
        .await;
    assert_eq!(refused.kind(), "ErrorResponse");
    assert_eq!(body(&refused)["errorCode"], 301);

    raw.setup().await;
    let unknown = raw.call("NoSuchRequest", "{}").await;
    assert_eq!(
        (unknown.kind(), body(&unknown)["errorCode"].as_i64()),
        ("ErrorResponse", Some(302))
    );
    for garbage in [
        "",
        "{",
        "null",
        "[]",
        "\u{0}\u{1}",
        r#"{"instance":{"ip":"10.0.0.1","port":0}}"#,
        r#"{"type":"registerInstance","serviceName":"orders","instance":{"ip":"","port":80}}"#,
        r#"{"type":"explode","serviceName":"orders","instance":{"ip":"10.0.0.1","port":80}}"#,
    ] {
        let answer = raw.call("InstanceRequest", garbage).await;
        assert_eq!(answer.kind(), "ErrorResponse", "{garbage:?}");
        let code = body(&answer)["errorCode"].as_i64();
        assert_eq!(code, Some(400), "{garbage:?}: {:?}", body(&answer));
    }
    assert!(
        registry.get_all_instances(&orders(), &[]).is_empty(),
        "nothing stored"
    );

    // A good request on the same connection still works.
    let ok = raw
        .call(
            "InstanceRequest",
            r#"{"namespace":null,"serviceName":"orders","groupName":null,"type":"registerInstance",
                "instance":{"ip":"10.0.0.1","port":80,"metadata":{"v":"1"},"instanceId":null}}"#,
        )
        .await;
    assert_eq!(ok.kind(), "InstanceResponse", "{:?}", body(&ok));
    assert_eq!(body(&ok)["resultCode"], 200);
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 1);

    let listed = raw
        .call(
            "ServiceQueryRequest",
            r#"{"serviceName":"orders","cluster":"","healthyOnly":false}"#,
        )
        .await;
    let info = &body(&listed)["serviceInfo"];
    assert_eq!(info["name"], "orders");
    assert_eq!(info["groupName"], "DEFAULT_GROUP");
    assert_eq!(info["hosts"][0]["serviceName"], "DEFAULT_GROUP@@orders");
    assert_eq!(info["hosts"][0]["metadata"]["v"], "1");
    assert_eq!(info["cacheMillis"], 10000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_does_not_answer_detection_is_dropped_with_its_instances() {
    use nacre::ManualClock;
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let (front, addr) = serve(&registry, config()).await;
    let mut raw = Raw::open(addr).await;
    raw.setup().await;
    let ok = raw
        .call(
            "InstanceRequest",
            r#"{"serviceName":"orders","type":"registerInstance","instance":{"ip":"10.0.0.1","port":80}}"#,
        )
        .await;
    assert_eq!(ok.kind(), "InstanceResponse");
    // This client never reads its stream, so it never answers the detection probe.
    clock.advance(Duration::from_secs(19));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        front.connection_count(),
        1,
        "not idle long enough to be probed"
    );
    clock.advance(Duration::from_secs(1)); // 20 s idle: probed
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(front.connection_count(), 1, "probed, not yet dropped");
    clock.advance(Duration::from_secs(5)); // no answer within 5 s: dropped
    eventually("the silent connection to be dropped", WAIT, || {
        ready(front.connection_count() == 0)
    })
    .await;
    eventually("its instance to go", WAIT, || {
        ready(registry.get_all_instances(&orders(), &[]).is_empty())
    })
    .await;
}

/// A three-member cluster over the in-process network, on the system clock with beat timings
/// scaled down 10x, each member serving gRPC on its own loopback port.
mod cluster {
    use super::*;
    use nacre::cluster::{ClusterNode, DistroConfig, NodeId};
    use nacre::transport::memory::MemoryNetwork;
    use nacre::{Clock, HealthConfig, SystemClock};

    pub(super) struct Members {
        pub(super) net: MemoryNetwork,
        pub(super) ids: Vec<NodeId>,
        pub(super) nodes: Vec<ClusterNode>,
        pub(super) fronts: Vec<(GrpcFront, SocketAddr)>,
    }

    pub(super) async fn start() -> Members {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
        let net = MemoryNetwork::new(clock.clone(), 3);
        let ids: Vec<NodeId> = (1..=3)
            .map(|i| NodeId::new(&format!("n{i}")).unwrap())
            .collect();
        let health = HealthConfig {
            beat_interval: Duration::from_millis(500),
            beat_timeout: Duration::from_millis(1500),
            delete_timeout: Duration::from_secs(3),
            ..HealthConfig::default()
        };
        let distro = DistroConfig {
            sync_delay: Duration::from_millis(100),
            ..DistroConfig::default()
        };
        let mut nodes = Vec::new();
        let mut fronts = Vec::new();
        for id in &ids {
            let node = ClusterNode::builder(id.clone(), ids.clone(), net.transport(id))
                .config(distro)
                .registry(
                    Registry::builder()
                        .shared_clock(clock.clone())
                        .health(health),
                )
                .build()
                .unwrap();
            net.attach(&node);
            node.start();
            let front = GrpcFront::new(node.clone(), config());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serving = front.clone();
            tokio::spawn(async move {
                let _ = serving.serve(listener).await;
            });
            nodes.push(node);
            fronts.push((front, addr));
        }
        eventually("every member to be ready", WAIT, || {
            ready(nodes.iter().all(ClusterNode::is_ready))
        })
        .await;
        Members {
            net,
            ids,
            nodes,
            fronts,
        }
    }

    pub(super) fn everywhere(nodes: &[&ClusterNode], healthy: usize) -> bool {
        nodes.iter().all(|n| {
            let all = n.registry().get_all_instances(&orders(), &[]);
            all.len() == healthy && all.iter().all(|i| i.healthy())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_clients_on_different_members_of_a_cluster() {
    let m = cluster::start().await;
    let (provider, transport) = client(m.fronts[0].1).await;
    provider
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .await
        .unwrap();
    let (stays, _) = client(m.fronts[2].1).await;
    stays
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.2", 8080).unwrap(),
        )
        .await
        .unwrap();
    let (consumer, _) = client(m.fronts[1].1).await;
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", DEFAULT_GROUP, &[], listener)
        .await
        .unwrap();
    // Replicated, and pushed to a client connected to another member.
    let both = Some(vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()]);
    eventually("the push on member 2", WAIT, || ready(last(&seen) == both)).await;
    let all: Vec<&_> = m.nodes.iter().collect();
    eventually("both instances on every member", WAIT, || {
        ready(cluster::everywhere(&all, 2))
    })
    .await;

    // The members holding the connections beat for them: healthy everywhere, long after the
    // (scaled) 1.5 s beat timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        cluster::everywhere(&all, 2),
        "kept alive by the holding members' beats"
    );

    // One connection ends: its instance is gone on every member within a sync round, and
    // that is pushed to the subscriber on another member.
    transport.disconnect().await;
    eventually("the instance gone everywhere", WAIT, || {
        ready(cluster::everywhere(&all, 1))
    })
    .await;
    eventually("the push of its departure", WAIT, || {
        ready(last(&seen) == Some(vec!["10.0.0.2".into()]))
    })
    .await;
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_a_dead_member_leave_every_member_by_the_beat_rules() {
    let m = cluster::start().await;
    let (provider, _transport) = client(m.fronts[0].1).await;
    provider
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .await
        .unwrap();
    let all: Vec<&_> = m.nodes.iter().collect();
    eventually("the instance on every member", WAIT, || {
        ready(cluster::everywhere(&all, 1))
    })
    .await;
    // Member 1, which holds the connection, dies: nobody beats for the instance any more.
    let crashed_at = Instant::now();
    m.nodes[0].stop();
    m.net.crash(&m.ids[0]);
    drop(m.fronts);
    let living = [&m.nodes[1], &m.nodes[2]];
    eventually("the instance to leave the living members", WAIT, || {
        ready(
            living
                .iter()
                .all(|n| n.registry().get_all_instances(&orders(), &[]).is_empty()),
        )
    })
    .await;
    // Not immortal, and not before the (scaled) 3 s delete timeout either.
    let gone_after = crashed_at.elapsed();
    assert!(gone_after >= Duration::from_millis(1500), "{gone_after:?}");
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_transport_fails_over_to_the_next_server_and_publishes_everything_again() {
    let (a, b) = (Registry::default(), Registry::default());
    let (front_a, addr_a) = {
        let front = GrpcFront::new(a.clone(), config());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = front.clone();
        let task = tokio::spawn(async move {
            let _ = serving.serve(listener).await;
        });
        ((front, task), addr)
    };
    let (_front_b, addr_b) = serve(&b, config()).await;
    let transport = GrpcClientTransport::new([addr_a.to_string(), addr_b.to_string()]).unwrap();
    let client = NamingClient::builder(transport.clone()).build().unwrap();
    client
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .await
        .unwrap();
    let (seen, listener) = recorder();
    client
        .subscribe("orders", DEFAULT_GROUP, &[], listener)
        .await
        .unwrap();
    assert_eq!(a.get_all_instances(&orders(), &[]).len(), 1);
    assert_eq!(transport.active_server(), 0);

    // Server A goes away: it stops accepting and drops every connection.
    front_a.1.abort();
    front_a.0.close_connections().await;
    assert!(a.get_all_instances(&orders(), &[]).is_empty());
    // The transport notices, connects to B, and registers and subscribes there again.
    eventually("the registration redone on B", WAIT, || {
        ready(b.get_all_instances(&orders(), &[]).len() == 1)
    })
    .await;
    assert_eq!(transport.active_server(), 1);
    b.register_instance(&orders(), Instance::new("10.0.0.2", 8080).unwrap())
        .unwrap();
    eventually("a push from B", WAIT, || {
        ready(last(&seen) == Some(vec!["10.0.0.1".into(), "10.0.0.2".into()]))
    })
    .await;
}

/// What one event showed: each instance's ip and health.
type Health = Vec<(String, bool)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_flip_and_an_eviction_are_pushed_to_grpc_subscribers() {
    use nacre::ManualClock;
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let (_front, addr) = serve(&registry, config()).await;
    // Two beat-based (v1) instances; only the first keeps beating.
    for ip in ["10.0.0.1", "10.0.0.2"] {
        registry
            .register_instance(&orders(), Instance::new(ip, 80).unwrap())
            .unwrap();
    }
    let (consumer, _) = client(addr).await;
    let healthy: Arc<Mutex<Vec<Health>>> = Arc::default();
    let log = healthy.clone();
    consumer
        .subscribe("orders", DEFAULT_GROUP, &[], move |e: &NamingEvent| {
            let mut seen: Health = e
                .instances
                .iter()
                .map(|i| (i.ip().to_string(), i.healthy()))
                .collect();
            seen.sort();
            log.lock().unwrap().push(seen);
        })
        .await
        .unwrap();
    let last = || healthy.lock().unwrap().last().cloned();
    let both_healthy = vec![("10.0.0.1".into(), true), ("10.0.0.2".into(), true)];
    eventually("the first event", WAIT, || {
        ready(last() == Some(both_healthy.clone()))
    })
    .await;
    let first = nacre::InstanceKey::in_default_cluster("10.0.0.1", 80).unwrap();
    // Each step ends past the (20 ms) merge window of any change it made, on the manual
    // clock the hub reads.
    let step = |secs: u64| {
        clock.advance(Duration::from_secs(secs));
        registry.heartbeat(&orders(), &first).unwrap();
        registry.check_health();
        assert!(registry.wait_for_events(WAIT));
        clock.advance(Duration::from_millis(20));
    };
    for _ in 0..3 {
        step(5); // 15 s: the silent one turns unhealthy
    }
    let flipped = vec![("10.0.0.1".into(), true), ("10.0.0.2".into(), false)];
    eventually("the push of the health flip", WAIT, || {
        ready(last() == Some(flipped.clone()))
    })
    .await;
    for _ in 0..3 {
        step(5); // 30 s: it is evicted
    }
    let evicted = vec![("10.0.0.1".into(), true)];
    eventually("the push of the eviction", WAIT, || {
        ready(last() == Some(evicted.clone()))
    })
    .await;
}

/// One metadata rule on every front (`nacre::protocol::metadata`): the same JSON metadata,
/// registered over v1 (`metadata=` form parameter) and over 2.x (`InstanceRequest`), is
/// stored the same: text as sent, numbers and flags as their text, `null` leaves the key
/// out. An array or an object is refused by both (400 over v1, code 400 over gRPC), naming
/// the key, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_metadata_is_stored_the_same_over_v1_and_grpc() {
    use nacre::http::NacosApi;
    use std::collections::BTreeMap;
    use tower::ServiceExt;

    let registry = Registry::default();
    let (_front, addr) = serve(&registry, config()).await;
    let app = NacosApi::new(registry.clone()).router();
    let mut raw = Raw::open(addr).await;
    raw.setup().await;
    let v1 = |service: &str, metadata: &str| {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("serviceName", service)
            .append_pair("ip", "10.0.0.1")
            .append_pair("port", "8080")
            .append_pair("metadata", metadata)
            .finish();
        let request = axum::http::Request::post("/nacos/v1/ns/instance")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(form))
            .unwrap();
        let app = app.clone();
        async move {
            let answer = app.oneshot(request).await.unwrap();
            let status = answer.status().as_u16();
            let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let grpc_register = |service: &str, metadata: &str| {
        format!(
            r#"{{"serviceName":"{service}","type":"registerInstance",
                "instance":{{"ip":"10.0.0.1","port":8080,"metadata":{metadata}}}}}"#
        )
    };
    let stored = |service: &str| -> Option<BTreeMap<String, String>> {
        let key = ServiceKey::named(service).unwrap();
        let all = registry.get_all_instances(&key, &[]);
        all.iter().next().map(|i| i.metadata().clone())
    };

    let metadata = r#"{"s":"text","n":2,"f":2.5,"neg":-7,"b":true,"off":false,"z":null,"e":""}"#;
    let (status, text) = v1("over-v1", metadata).await;
    assert_eq!((status, text.as_str()), (200, "ok"));
    let answer = raw
        .call("InstanceRequest", &grpc_register("over-grpc", metadata))
        .await;
    assert_eq!(answer.kind(), "InstanceResponse", "{:?}", body(&answer));
    let expected: BTreeMap<String, String> = [
        ("s", "text"),
        ("n", "2"),
        ("f", "2.5"),
        ("neg", "-7"),
        ("b", "true"),
        ("off", "false"),
        ("e", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(stored("over-v1"), Some(expected.clone()));
    assert_eq!(stored("over-grpc"), Some(expected));

    for bad in [
        r#"{"ok":"1","list":[1,2]}"#,
        r#"{"ok":"1","list":{"a":"b"}}"#,
    ] {
        let (status, text) = v1("refused-v1", bad).await;
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(text.contains("`list`"), "{bad}: {text}");
        let answer = raw
            .call("InstanceRequest", &grpc_register("refused-grpc", bad))
            .await;
        assert_eq!(answer.kind(), "ErrorResponse", "{bad}");
        let v = body(&answer);
        assert_eq!(v["errorCode"], 400, "{bad}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains("`list`")),
            "{bad}: {v}"
        );
    }
    assert_eq!(stored("refused-v1"), None);
    assert_eq!(stored("refused-grpc"), None);
}

/// A hostile connection setup: a `clientVersion` of 1 MiB and 10 000 labels. The connection
/// keeps at most 256 bytes of the version (a prefix, cut at a character boundary), once, and
/// every push target of its 60 subscriptions reports that same bounded agent; the labels are
/// not kept. Before the bound, each subscription copied the whole version (60 MiB here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_client_version_is_kept_bounded_and_once() {
    let registry = Registry::default();
    let (front, addr) = serve(&registry, config()).await;
    let mut raw = Raw::open(addr).await;
    // "é" is two bytes, so byte 256 falls inside a character: the cut moves back to 255. The
    // setup stays under the bi-stream's message limit (64 KiB; a larger one is refused
    // before it is read, see tests/hostile).
    let version = format!("x{}", "é".repeat(12 * 1024));
    let labels: serde_json::Map<String, serde_json::Value> = (0..400)
        .map(|i| {
            (
                format!("label-{i}"),
                serde_json::Value::from("v".repeat(64)),
            )
        })
        .collect();
    let setup = serde_json::json!({"clientVersion": version, "tenant": "", "labels": labels});
    raw.setup_with(serde_json::to_vec(&setup).unwrap()).await;
    for i in 0..60 {
        let answer = raw
            .call(
                "SubscribeServiceRequest",
                &format!(r#"{{"serviceName":"svc-{i}","subscribe":true,"clusters":""}}"#),
            )
            .await;
        assert_eq!(
            answer.kind(),
            "SubscribeServiceResponse",
            "{:?}",
            body(&answer)
        );
    }
    for i in 0..60 {
        let service = ServiceKey::named(&format!("svc-{i}")).unwrap();
        let subscribers = front.hub().subscribers(&service);
        assert_eq!(subscribers.len(), 1, "svc-{i}");
        let agent = &subscribers[0].details.agent;
        assert_eq!(agent.len(), 255, "svc-{i}");
        assert!(version.starts_with(agent.as_str()));
    }
}

/// One connection holds at most `max_subscriptions_per_connection` push subscriptions: the
/// next is refused with 429 and the hub holds nothing of it; renewing one it holds, or
/// subscribing after an unsubscribe, is fine. Before the cap one connection could fill the
/// whole hub (100 000) for every client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_holds_at_most_its_share_of_subscriptions() {
    let registry = Registry::default();
    let (front, addr) = serve(
        &registry,
        GrpcConfig {
            max_subscriptions_per_connection: 3,
            ..config()
        },
    )
    .await;
    let mut raw = Raw::open(addr).await;
    raw.setup().await;
    let request = |service: &str, subscribe: bool| {
        format!(r#"{{"serviceName":"{service}","subscribe":{subscribe},"clusters":""}}"#)
    };
    for service in ["a", "b", "c", "a"] {
        let answer = raw
            .call("SubscribeServiceRequest", &request(service, true))
            .await;
        assert_eq!(answer.kind(), "SubscribeServiceResponse", "{service}");
    }
    let refused = raw
        .call("SubscribeServiceRequest", &request("d", true))
        .await;
    assert_eq!(refused.kind(), "ErrorResponse");
    let v = body(&refused);
    assert_eq!(v["errorCode"], 429, "{v}");
    assert!(v["message"]
        .as_str()
        .is_some_and(|m| m.contains("max_subscriptions_per_connection 3")));
    let d = ServiceKey::named("d").unwrap();
    assert!(front.hub().subscribers(&d).is_empty());
    assert_eq!(
        front.hub().stats().refused,
        0,
        "refused by the front, not the hub"
    );

    let answer = raw
        .call("SubscribeServiceRequest", &request("b", false))
        .await;
    assert_eq!(answer.kind(), "SubscribeServiceResponse");
    let answer = raw
        .call("SubscribeServiceRequest", &request("d", true))
        .await;
    assert_eq!(answer.kind(), "SubscribeServiceResponse");
    assert_eq!(front.hub().subscribers(&d).len(), 1);
}

/// `nacre-server --grpc-max-subscriptions-per-connection N` bounds what one connection may
/// hold, and `--grpc-max-subscriptions` what the front holds in total: a server started from
/// those flags refuses the subscription past each (429 per connection, 503 in total).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_flags_bound_subscriptions_per_connection_and_in_total() {
    let args = [
        "--port=0",
        "--grpc-port=0",
        "--grpc-max-subscriptions-per-connection=2",
        "--grpc-max-subscriptions=3",
    ]
    .map(String::from);
    let config = nacre::server::ServerConfig::from_args_and_env(args, |_| None).unwrap();
    let server = nacre::server::start(&config).await.unwrap();
    let addr = server.grpc_addr().unwrap();
    let request =
        |service: &str| format!(r#"{{"serviceName":"{service}","subscribe":true,"clusters":""}}"#);
    let mut first = Raw::open(addr).await;
    first.setup().await;
    for service in ["a", "b"] {
        let answer = first
            .call("SubscribeServiceRequest", &request(service))
            .await;
        assert_eq!(answer.kind(), "SubscribeServiceResponse", "{service}");
    }
    let over = first.call("SubscribeServiceRequest", &request("c")).await;
    assert_eq!(body(&over)["errorCode"], 429, "{:?}", body(&over));

    let mut second = Raw::open(addr).await;
    second.setup().await;
    let answer = second.call("SubscribeServiceRequest", &request("c")).await;
    assert_eq!(answer.kind(), "SubscribeServiceResponse");
    let full = second.call("SubscribeServiceRequest", &request("d")).await;
    assert_eq!(full.kind(), "ErrorResponse");
    assert_eq!(body(&full)["errorCode"], 503, "{:?}", body(&full));
    server.stop();
}

/// A second bi-stream on the same connection replaces the first; before, the first one's end
/// then closed the connection for both (its subscriptions and instances went with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_replaced_bi_stream_does_not_close_the_connection() {
    let registry = Registry::default();
    let (front, addr) = serve(&registry, config()).await;
    let mut raw = Raw::open(addr).await;
    raw.setup().await;
    // The second stream replaces the first, whose client side then ends.
    raw.setup().await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let answer = raw.call("HealthCheckRequest", "{}").await;
        assert_eq!(answer.kind(), "HealthCheckResponse", "{:?}", body(&answer));
        assert_eq!(front.connection_count(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client that reconnects through another member and registers again: the close of its old
/// connection on the first member must not take the instance away. Before, that close
/// deregistered it cluster-wide (the first member knew only its own connections) until the
/// new member's next beat brought it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_stale_connection_keeps_what_the_client_registered_again_elsewhere() {
    let m = cluster::start().await;
    let all: Vec<&_> = m.nodes.iter().collect();
    let instance = r#"{"serviceName":"orders","groupName":"DEFAULT_GROUP","type":"registerInstance","instance":{"ip":"10.0.0.1","port":8080,"weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","metadata":{}}}"#;
    let mut old = Raw::open(m.fronts[0].1).await;
    old.setup().await;
    let answer = old.call("InstanceRequest", instance).await;
    assert_eq!(answer.kind(), "InstanceResponse", "{:?}", body(&answer));
    eventually("the instance on every member", WAIT, || {
        ready(cluster::everywhere(&all, 1))
    })
    .await;
    // The client comes back through member 3 and registers the same instance.
    let mut new = Raw::open(m.fronts[2].1).await;
    new.setup().await;
    let answer = new.call("InstanceRequest", instance).await;
    assert_eq!(answer.kind(), "InstanceResponse", "{:?}", body(&answer));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The old connection goes: member 1 closes it.
    drop(old);
    eventually("member 1 to close the old connection", WAIT, || {
        ready(m.fronts[0].0.connection_count() == 0)
    })
    .await;
    // Listed on every member at every look for the next 2 s (before: gone at once).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for (i, node) in m.nodes.iter().enumerate() {
            let listed = node.registry().get_all_instances(&orders(), &[]).len();
            assert_eq!(listed, 1, "member {} lost the instance", i + 1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the new connection's own close still removes it everywhere.
    drop(new);
    eventually("the instance gone with its last connection", WAIT, || {
        ready(cluster::everywhere(&all, 0))
    })
    .await;
}

/// A gRPC front with auth on, a set-up raw connection to it, its registry and its token key:
/// users `w` (writes public), `r` (reads public) and whatever `extra` adds (password `pw`).
#[cfg(feature = "auth")]
async fn secured(extra: &str, config: GrpcConfig) -> (Raw, Registry, nacre::auth::TokenKey) {
    use base64::Engine;
    let hash = bcrypt::hash("pw", 4).unwrap();
    let users = nacre::auth::UsersFile::parse(&format!(
        "[[user]]\nusername = \"w\"\npassword_bcrypt = \"{hash}\"\n\
         [[user]]\nusername = \"r\"\npassword_bcrypt = \"{hash}\"\n\
         [[role]]\nrole = \"writers\"\nusername = \"w\"\n\
         [[role]]\nrole = \"readers\"\nusername = \"r\"\n\
         [[permission]]\nrole = \"writers\"\nresource = \"public:*:*\"\naction = \"rw\"\n\
         [[permission]]\nrole = \"readers\"\nresource = \"public:*:*\"\naction = \"r\"\n{}",
        extra.replace("HASH", &hash)
    ))
    .unwrap();
    let key = nacre::auth::TokenKey::from_base64(
        &base64::engine::general_purpose::STANDARD.encode([5u8; 32]),
    )
    .unwrap();
    let auth = nacre::auth::Authenticator::new(Arc::new(users), key.clone());
    let registry = Registry::default();
    let front = GrpcFront::new(registry.clone(), config)
        .with_access(nacre::front::access::Access::new(Arc::new(auth)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = front.serve(listener).await;
    });
    let mut raw = Raw::open(addr).await;
    raw.setup().await;
    (raw, registry, key)
}

/// `json` as a `kind` request carrying `token` in its metadata headers, as Nacos clients send
/// it.
#[cfg(feature = "auth")]
fn with_token(kind: &str, json: &str, token: &str) -> Payload {
    let mut p = Payload::new(kind, json.as_bytes().to_vec());
    if let Some(m) = p.metadata.as_mut() {
        m.headers.insert("accessToken".into(), token.into());
    }
    p
}

/// A registration of `ip` into `service`.
fn register_json(service: &str, ip: &str) -> String {
    format!(
        r#"{{"serviceName":"{service}","groupName":"DEFAULT_GROUP","type":"registerInstance","instance":{{"ip":"{ip}","port":8080,"weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","metadata":{{}}}}}}"#
    )
}

/// Auth on the gRPC front (feature `auth`): a naming request without the token of a caller
/// with the permission is answered as its own response type with errorCode 403, as Nacos
/// answers, and changes nothing; with one, it is served. Health checks need no token.
#[cfg(feature = "auth")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_permitted_token_a_grpc_request_changes_nothing() {
    let (mut raw, registry, key) = secured("", config()).await;
    let register = register_json("orders", "10.0.0.1");
    let register = register.as_str();
    let orders = ServiceKey::named("orders").unwrap();
    for token in [
        None,
        Some(key.issue("r", 4_000_000_000)),
        Some(key.issue("w", 1)),
    ] {
        let answer = match &token {
            None => raw.call("InstanceRequest", register).await,
            Some(t) => raw.send(with_token("InstanceRequest", register, t)).await,
        };
        assert_eq!(answer.kind(), "InstanceResponse", "{:?}", body(&answer));
        assert_eq!(
            body(&answer)["errorCode"],
            403,
            "{token:?}: {:?}",
            body(&answer)
        );
        assert_eq!(body(&answer)["success"], false);
        assert!(registry.get_all_instances(&orders, &[]).is_empty());
    }
    let answer = raw
        .send(with_token(
            "InstanceRequest",
            register,
            &key.issue("w", 4_000_000_000),
        ))
        .await;
    assert_eq!(body(&answer)["success"], true, "{:?}", body(&answer));
    assert_eq!(registry.get_all_instances(&orders, &[]).len(), 1);
    // The reader may query, and a query without a token is refused.
    let query =
        r#"{"serviceName":"orders","groupName":"DEFAULT_GROUP","cluster":"","healthyOnly":false}"#;
    let p = with_token("ServiceQueryRequest", query, &key.issue("r", 4_000_000_000));
    assert_eq!(body(&raw.send(p).await)["success"], true);
    let refused = raw.call("ServiceQueryRequest", query).await;
    assert_eq!(refused.kind(), "QueryServiceResponse");
    assert_eq!(body(&refused)["errorCode"], 403);
    // With the fields a client needs to parse it (nacos-sdk-rust requires serviceInfo, the
    // Python client a list's count and names), so it reports the 403.
    let info = &body(&refused)["serviceInfo"];
    assert_eq!(
        (info["hosts"].clone(), info["valid"].clone()),
        (serde_json::json!([]), false.into())
    );
    let list = raw
        .call("ServiceListRequest", r#"{"pageNo":1,"pageSize":10}"#)
        .await;
    assert_eq!(list.kind(), "ServiceListResponse");
    let list = body(&list);
    assert_eq!(
        (list["errorCode"].clone(), list["count"].clone()),
        (403.into(), 0.into())
    );
    assert_eq!(list["serviceNames"], serde_json::json!([]));
    // Health checks need no token.
    assert_eq!(
        raw.call("HealthCheckRequest", "{}").await.kind(),
        "HealthCheckResponse"
    );
}

/// Over gRPC too, a service list shows a caller only the services it may read, and a
/// permission limited to address blocks refuses a registration outside them.
#[cfg(feature = "auth")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_caller_lists_what_it_may_read_and_registers_only_its_blocks() {
    let team = "[[user]]\nusername = \"team\"\npassword_bcrypt = \"HASH\"\n\
                [[role]]\nrole = \"team\"\nusername = \"team\"\n\
                [[permission]]\nrole = \"team\"\nresource = \"public:DEFAULT_GROUP:naming/orders\"\n\
                action = \"rw\"\nregister_cidrs = [\"10.0.0.0/24\"]\n";
    let (mut raw, registry, key) = secured(team, config()).await;
    let (writer, team) = (
        key.issue("w", 4_000_000_000),
        key.issue("team", 4_000_000_000),
    );
    for service in ["orders", "billing"] {
        let answer = raw
            .send(with_token(
                "InstanceRequest",
                &register_json(service, "10.0.0.1"),
                &writer,
            ))
            .await;
        assert_eq!(body(&answer)["success"], true, "{:?}", body(&answer));
    }
    let list = r#"{"namespace":"public","groupName":"DEFAULT_GROUP","pageNo":1,"pageSize":10}"#;
    let answer = body(
        &raw.send(with_token("ServiceListRequest", list, &team))
            .await,
    );
    assert_eq!(
        (answer["count"].clone(), answer["serviceNames"].clone()),
        (1.into(), serde_json::json!(["orders"]))
    );
    let answer = body(
        &raw.send(with_token("ServiceListRequest", list, &writer))
            .await,
    );
    assert_eq!(answer["count"], 2, "{answer:?}");
    // Inside its block, then outside it.
    let inside = raw
        .send(with_token(
            "InstanceRequest",
            &register_json("orders", "10.0.0.7"),
            &team,
        ))
        .await;
    assert_eq!(body(&inside)["success"], true, "{:?}", body(&inside));
    let outside = raw
        .send(with_token(
            "InstanceRequest",
            &register_json("orders", "10.0.9.7"),
            &team,
        ))
        .await;
    assert_eq!(body(&outside)["errorCode"], 403, "{:?}", body(&outside));
    let ips: Vec<String> = registry
        .get_all_instances(&ServiceKey::named("orders").unwrap(), &[])
        .iter()
        .map(|i| i.ip().to_string())
        .collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.7"]);
}

/// With registrations bound to the caller's address, a connection registers its own address
/// and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_own_address_registrations_a_connection_registers_only_itself() {
    let registry = Registry::default();
    let config = GrpcConfig {
        register_own_address_only: true,
        ..config()
    };
    let (_front, addr) = serve(&registry, config).await;
    let mut raw = Raw::open(addr).await;
    raw.setup().await;
    let other = raw
        .call("InstanceRequest", &register_json("orders", "10.1.2.3"))
        .await;
    assert_eq!(body(&other)["errorCode"], 403, "{:?}", body(&other));
    let own = raw
        .call("InstanceRequest", &register_json("orders", "127.0.0.1"))
        .await;
    assert_eq!(body(&own)["success"], true, "{:?}", body(&own));
    let ips: Vec<String> = registry
        .get_all_instances(&ServiceKey::named("orders").unwrap(), &[])
        .iter()
        .map(|i| i.ip().to_string())
        .collect();
    assert_eq!(ips, ["127.0.0.1"]);
}

/// The accept loop closes a connection that holds no live bi-stream after the setup timeout,
/// and never one that does: a set-up client is still the same connection long after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_connections_without_a_bi_stream_are_closed_at_the_setup_timeout() {
    let registry = Registry::default();
    let (front, addr) = serve(
        &registry,
        GrpcConfig {
            setup_timeout: Duration::from_millis(500),
            ..config()
        },
    )
    .await;
    let mut live = Raw::open(addr).await;
    live.setup().await;
    let mut idle = Raw::open(addr).await;
    let check = idle.call("ServerCheckRequest", "{}").await;
    assert_eq!(check.kind(), "ServerCheckResponse");
    // The one that never opened its bi-stream is closed (and forgotten)...
    eventually("the idle connection forgotten", WAIT, || {
        ready(front.connection_count() == 1)
    })
    .await;
    // ...and, well past the timeout, the set-up one is the same connection: still registered
    // (a new connection would be answered "unregistered").
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = live.call("HealthCheckRequest", "{}").await;
    assert_eq!(answer.kind(), "HealthCheckResponse", "{:?}", body(&answer));
    assert_eq!(front.connection_count(), 1);
}

/// Ability negotiation as Nacos 2.3+: the server says it negotiates; a client that sends its
/// `abilityTable` is sent the server's in a `SetupAckRequest` (persistent instances over gRPC
/// among them) and can then register a persistent instance with `PersistentInstanceRequest`;
/// a client that sends no table (Java 2.2, the Rust client) is sent nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abilities_are_negotiated_with_clients_that_send_theirs() {
    let registry = Registry::default();
    let (_front, addr) = serve(&registry, config()).await;
    let mut raw = Raw::open(addr).await;
    let setup =
        r#"{"clientVersion":"Nacos-Java-Client:v2.4.0","tenant":"","labels":{},"abilityTable":{}}"#;
    raw.setup_with(setup.as_bytes().to_vec()).await;
    let ack = raw
        .next_sent(WAIT)
        .await
        .expect("a SetupAckRequest on the bi-stream");
    assert_eq!(ack.kind(), "SetupAckRequest");
    let ack = body(&ack);
    assert_eq!(ack["abilityTable"]["supportPersistentInstanceByGrpc"], true);
    assert_eq!(ack["abilityTable"]["lock"], false);
    assert_eq!(ack["module"], "internal");
    assert!(ack.get("requestId").is_none(), "no answer is wanted: {ack}");

    let persistent = r#"{"headers":{},"requestId":"2","namespace":"public","serviceName":"orders",
        "groupName":"DEFAULT_GROUP","type":"registerInstance",
        "instance":{"ip":"10.0.0.7","port":5432,"ephemeral":false,"clusterName":"DEFAULT"}}"#;
    let answer = raw.call("PersistentInstanceRequest", persistent).await;
    assert_eq!(answer.kind(), "InstanceResponse", "{:?}", body(&answer));
    let stored = registry.get_all_instances(&orders(), &[]);
    assert_eq!(stored.len(), 1);
    assert!(!stored.iter().next().unwrap().ephemeral());

    // Without a table, nothing is sent.
    let mut old = Raw::open(addr).await;
    old.setup().await;
    assert!(old.next_sent(Duration::from_millis(500)).await.is_none());
}

/// Graceful handover: each registered connection is told where to go (`ConnectResetRequest`
/// naming another member), and a connection that closes afterwards leaves its instances
/// registered for the client to register again elsewhere; before it, a close deregisters them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_tells_clients_where_to_go_and_keeps_their_instances() {
    let registry = Registry::default();
    let (front, addr) = serve(&registry, config()).await;
    let register = |ip: &str| {
        format!(
            r#"{{"headers":{{}},"requestId":"1","namespace":"public","serviceName":"orders",
            "groupName":"DEFAULT_GROUP","type":"registerInstance",
            "instance":{{"ip":"{ip}","port":8080,"clusterName":"DEFAULT","ephemeral":true}}}}"#
        )
    };
    // Before a handover, a closed connection takes its instance with it.
    let mut early = Raw::open(addr).await;
    early.setup().await;
    assert_eq!(
        early
            .call("InstanceRequest", &register("10.0.0.1"))
            .await
            .kind(),
        "InstanceResponse"
    );
    drop(early);
    eventually("a closed connection's instance to leave", WAIT, || {
        ready(registry.get_all_instances(&orders(), &[]).is_empty())
    })
    .await;

    let mut a = Raw::open(addr).await;
    a.setup().await;
    let mut b = Raw::open(addr).await;
    b.setup().await;
    assert_eq!(
        a.call("InstanceRequest", &register("10.0.0.2"))
            .await
            .kind(),
        "InstanceResponse"
    );
    assert_eq!(
        b.call("InstanceRequest", &register("10.0.0.3"))
            .await
            .kind(),
        "InstanceResponse"
    );
    let members = vec!["10.9.0.1:8848".to_owned(), "[fd00::2]:9000".to_owned()];
    let handing = {
        let front = front.clone();
        tokio::spawn(async move { front.hand_over(&members, Duration::from_secs(10)).await })
    };
    let mut told = Vec::new();
    for raw in [&mut a, &mut b] {
        let reset = raw.next_sent(WAIT).await.expect("a ConnectResetRequest");
        assert_eq!(reset.kind(), "ConnectResetRequest");
        let v = body(&reset);
        assert!(
            v["requestId"].as_str().is_some_and(|id| !id.is_empty()),
            "{v}"
        );
        assert!(
            v["connectionId"].as_str().is_some_and(|id| !id.is_empty()),
            "{v}"
        );
        told.push((
            v["serverIp"].as_str().unwrap().to_owned(),
            v["serverPort"].as_str().unwrap().to_owned(),
        ));
    }
    told.sort();
    assert_eq!(
        told,
        [
            ("10.9.0.1".to_owned(), "8848".to_owned()),
            ("fd00::2".to_owned(), "9000".to_owned())
        ]
    );
    // The clients go; the handover ends when both have closed, well before its 10 s.
    drop(a);
    drop(b);
    let report = tokio::time::timeout(WAIT, handing)
        .await
        .expect("the handover ends")
        .unwrap();
    assert_eq!((report.told, report.still_open), (2, 0));
    // Their instances stay for the clients to register again through another member.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 2);
}
