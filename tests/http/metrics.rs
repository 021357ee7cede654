//! Prometheus metrics (`nacre::metrics`): the collector over a registry on a manual clock,
//! and `GET /metrics` of a started server after real requests.

use crate::common::fixtures::eventually;
use crate::common::registry_on;
use nacre::metrics::{encode, NacreMetrics};
use nacre::{Instance, InstanceKey, ManualClock, ServiceKey};
use std::time::Duration;

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample `{series}` in:\n{text}"))
}

const SERVICES: &str = r#"nacos_monitor{module="naming",name="serviceCount"}"#;
const IPS: &str = r#"nacos_monitor{module="naming",name="ipCount"}"#;
const HEALTHY: &str = r#"nacre_instances{health="healthy"}"#;
const UNHEALTHY: &str = r#"nacre_instances{health="unhealthy"}"#;

#[test]
fn the_collector_counts_instances_by_health_and_the_beats_and_evictions() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let mut prom = prometheus_client::registry::Registry::default();
    NacreMetrics::new(registry.clone()).register(&mut prom);
    let orders = ServiceKey::named("orders").unwrap();
    let users = ServiceKey::named("users").unwrap();
    registry
        .register_instance(&orders, Instance::new("10.0.0.1", 8080).unwrap())
        .unwrap();
    registry
        .register_instance(&orders, Instance::new("10.0.0.2", 8080).unwrap())
        .unwrap();
    registry
        .register_instance(&users, Instance::new("10.0.0.3", 8080).unwrap())
        .unwrap();
    let text = encode(&prom).unwrap();
    assert_eq!(value(&text, SERVICES), 2.0);
    assert_eq!(value(&text, IPS), 3.0);
    assert_eq!(value(&text, HEALTHY), 3.0);
    assert_eq!(value(&text, UNHEALTHY), 0.0);
    assert_eq!(value(&text, "nacre_registrations_total"), 3.0);
    assert_eq!(value(&text, "nacre_ready"), 1.0);
    assert!(text.contains("# TYPE nacre_beats_total counter"), "{text}");

    // Only 10.0.0.1 keeps beating: at 15 s the other two turn unhealthy, at 30 s they go.
    let first = InstanceKey::in_default_cluster("10.0.0.1", 8080).unwrap();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(5));
        registry.heartbeat(&orders, &first).unwrap();
        registry.check_health();
    }
    let text = encode(&prom).unwrap();
    assert_eq!(value(&text, HEALTHY), 1.0);
    assert_eq!(value(&text, UNHEALTHY), 2.0);
    assert_eq!(value(&text, "nacre_beats_total"), 3.0);
    assert_eq!(value(&text, "nacre_marked_unhealthy_total"), 2.0);
    assert_eq!(value(&text, "nacre_evictions_total"), 0.0);
    for _ in 0..3 {
        clock.advance(Duration::from_secs(5));
        registry.heartbeat(&orders, &first).unwrap();
        registry.check_health();
    }
    assert!(registry.deregister_instance(&orders, &first));
    let text = encode(&prom).unwrap();
    assert_eq!(value(&text, IPS), 0.0);
    assert_eq!(value(&text, "nacre_beats_total"), 6.0);
    assert_eq!(value(&text, "nacre_evictions_total"), 2.0);
    assert_eq!(value(&text, "nacre_deregistrations_total"), 1.0);
}

async fn scrape(http: &reqwest::Client, addr: std::net::SocketAddr) -> String {
    let answer = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    answer.text().await.unwrap()
}

async fn status_of(http: &reqwest::Client, method: reqwest::Method, url: String) -> u16 {
    http.request(method, url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_metrics_after_real_requests() {
    let config = nacre::server::ServerConfig {
        port: 0,
        grpc_port: Some(0),
        ..Default::default()
    };
    let server = nacre::server::start(&config).await.unwrap();
    let addr = server.local_addr();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}/nacos/v1/ns");
    use reqwest::Method;
    // One that keeps beating, one removed 1 s after it registered.
    let keep = format!("{base}/instance?serviceName=orders&ip=10.0.0.1&port=1");
    let short = format!(
        "{base}/instance?serviceName=orders&ip=10.0.0.2&port=1\
         &metadata=preserved.heart.beat.timeout%3D500%2Cpreserved.ip.delete.timeout%3D1000"
    );
    assert_eq!(status_of(&http, Method::POST, keep).await, 200);
    assert_eq!(status_of(&http, Method::POST, short).await, 200);
    // A UDP subscriber (who never acks): pushes go out when the service changes.
    let subscriber = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_port = subscriber.local_addr().unwrap().port();
    let list =
        format!("{base}/instance/list?serviceName=orders&clientIP=127.0.0.1&udpPort={udp_port}");
    // Nacos pushes to the clients whose agent it knows to take pushes.
    let listed = http
        .get(list)
        .header("User-Agent", "Nacos-Java-Client:v1.4.6")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let beat = format!("{base}/instance/beat?serviceName=orders&ip=10.0.0.1&port=1");
    for _ in 0..3 {
        assert_eq!(status_of(&http, Method::PUT, beat.clone()).await, 200);
    }
    // A bad request and a path no route serves.
    let no_ip = format!("{base}/instance?serviceName=orders&port=1");
    assert_eq!(status_of(&http, Method::POST, no_ip).await, 400);
    let nowhere = format!("http://{addr}/nacos/v1/ns/nothing-here");
    assert_eq!(status_of(&http, Method::GET, nowhere).await, 404);
    let odd = Method::from_bytes(b"FROBNICATE").unwrap();
    let list_path = format!("{base}/instance/list?serviceName=orders");
    assert_eq!(status_of(&http, odd, list_path).await, 405);

    eventually(
        "the silent instance to be evicted",
        Duration::from_secs(30),
        || {
            let http = http.clone();
            async move { sample(&scrape(&http, addr).await, "nacre_evictions_total") == Some(1.0) }
        },
    )
    .await;
    eventually("a push to the subscriber", Duration::from_secs(30), || {
        let http = http.clone();
        async move {
            let text = scrape(&http, addr).await;
            sample(&text, r#"nacos_monitor{module="naming",name="totalPush"}"#)
                .is_some_and(|v| v >= 1.0)
        }
    })
    .await;
    let mut datagram = [0u8; 65536];
    let got = tokio::time::timeout(Duration::from_secs(30), subscriber.recv(&mut datagram)).await;
    assert!(
        matches!(got, Ok(Ok(n)) if n > 0),
        "the push reached the socket"
    );

    let text = scrape(&http, addr).await;
    assert_eq!(value(&text, SERVICES), 1.0);
    assert_eq!(value(&text, IPS), 1.0);
    assert_eq!(value(&text, HEALTHY), 1.0);
    assert_eq!(value(&text, UNHEALTHY), 0.0);
    assert_eq!(value(&text, "nacre_registrations_total"), 2.0);
    assert_eq!(value(&text, "nacre_beats_total"), 3.0);
    assert_eq!(
        value(&text, r#"nacre_push_subscriptions{front="udp"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"nacre_push_subscriptions{front="grpc"}"#),
        0.0
    );
    assert_eq!(
        value(
            &text,
            r#"nacos_monitor{module="naming",name="subscriberCount"}"#
        ),
        1.0
    );
    assert!(value(&text, r#"nacre_push_total{front="udp"}"#) >= 1.0);
    let requests = |method: &str, uri: &str, status: u16| {
        value(
            &text,
            &format!(
                r#"http_server_requests_seconds_count{{method="{method}",uri="{uri}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(requests("POST", "/nacos/v1/ns/instance", 200), 2.0);
    assert_eq!(requests("POST", "/nacos/v1/ns/instance", 400), 1.0);
    assert_eq!(requests("PUT", "/nacos/v1/ns/instance/beat", 200), 3.0);
    assert_eq!(requests("GET", "/nacos/v1/ns/instance/list", 200), 1.0);
    assert_eq!(requests("GET", "UNKNOWN", 404), 1.0);
    assert_eq!(requests("OTHER", "/nacos/v1/ns/instance/list", 405), 1.0);
    assert!(requests("GET", "/metrics", 200) >= 2.0);
    assert!(
        text.contains("# TYPE http_server_requests_seconds histogram"),
        "{text}"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_members_count_their_sync_batches_and_bytes_per_peer() {
    let held: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(held);
    let members: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut servers = Vec::new();
    for port in &ports {
        let config = nacre::server::ServerConfig {
            port: *port,
            grpc_port: Some(0),
            members: members.clone(),
            insecure_cluster: true,
            ..Default::default()
        };
        servers.push(nacre::server::start(&config).await.unwrap());
    }
    for s in &servers {
        let node = s.backend().cluster_node().unwrap().clone();
        eventually("the member to serve", Duration::from_secs(30), || {
            let node = node.clone();
            async move { node.is_ready() }
        })
        .await;
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Services on both members' shares, registered through the first.
    for i in 0..16 {
        let url = format!(
            "http://127.0.0.1:{}/nacos/v1/ns/instance?serviceName=svc-{i}&ip=10.0.0.1&port=1",
            ports[0]
        );
        assert_eq!(status_of(&http, reqwest::Method::POST, url).await, 200);
    }
    for (me, other) in [(0, 1), (1, 0)] {
        let addr = servers[me].local_addr();
        let peer = &members[other];
        eventually("sync batches to the peer", Duration::from_secs(30), || {
            let http = http.clone();
            async move {
                let text = scrape(&http, addr).await;
                let batches = sample(
                    &text,
                    &format!(r#"nacre_distro_sync_batches_total{{peer="{peer}"}}"#),
                );
                let bytes = sample(
                    &text,
                    &format!(r#"nacre_distro_sync_bytes_total{{peer="{peer}"}}"#),
                );
                let records = sample(
                    &text,
                    &format!(r#"nacre_distro_sync_records_total{{peer="{peer}"}}"#),
                );
                batches.is_some_and(|b| b >= 1.0)
                    && bytes.is_some_and(|b| b > 100.0)
                    && records.is_some_and(|r| r >= 1.0)
                    && text.contains(&format!(
                        r#"nacre_distro_sync_failures_total{{peer="{peer}"}}"#
                    ))
            }
        })
        .await;
    }
    let text = scrape(&http, servers[1].local_addr()).await;
    assert_eq!(value(&text, SERVICES), 16.0);
    for s in servers {
        s.stop();
    }
}
