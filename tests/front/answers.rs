//! The front layer's promise: a `NamingClient` gets the same answers whichever transport it
//! uses, because every front answers from the one `ServiceAnswer`. Same registry state, one
//! client over the in-memory transport and one over real loopback HTTP: disabled, unhealthy
//! and weight-0 instances, two clusters, and a service under its protect threshold.

use nacre::client::{NamingClient, ServiceInfo, ServiceQuery};
use nacre::http::{HttpClientTransport, NacosApi};
use nacre::model::DEFAULT_GROUP;
use nacre::transport::memory::MemoryClientTransport;
use nacre::{ClientTransport, Instance, ManualClock, Registry, ServiceKey, ServiceSettings};
use std::collections::BTreeSet;

const GROUP: &str = DEFAULT_GROUP;

fn inst(ip: &str, cluster: &str) -> nacre::InstanceBuilder {
    Instance::builder(ip, 8080).cluster(cluster)
}

/// `orders`: healthy, unhealthy, disabled and weight-0 instances in clusters `a` and `b`.
/// `payments`: 1 healthy of 4, under a protect threshold of 0.5.
fn populated() -> Registry {
    let registry = Registry::builder().clock(ManualClock::new()).build();
    let orders = ServiceKey::named("orders").unwrap();
    let build = |b: nacre::InstanceBuilder| b.build().unwrap();
    for instance in [
        build(inst("10.0.0.1", "a")),
        build(inst("10.0.0.2", "a").healthy(false)),
        build(inst("10.0.0.3", "a").enabled(false)),
        build(inst("10.0.0.4", "b").weight(0.0)),
        build(inst("10.0.0.5", "b")),
        build(inst("10.0.0.6", "b").healthy(false).enabled(false)),
    ] {
        registry.register_instance(&orders, instance).unwrap();
    }
    let payments = ServiceKey::named("payments").unwrap();
    registry
        .create_service(
            &payments,
            ServiceSettings {
                protect_threshold: 0.5,
                ..ServiceSettings::default()
            },
        )
        .unwrap();
    for (ip, healthy) in [
        ("10.0.1.1", true),
        ("10.0.1.2", false),
        ("10.0.1.3", false),
        ("10.0.1.4", false),
    ] {
        registry
            .register_instance(&payments, build(inst(ip, "a").healthy(healthy)))
            .unwrap();
    }
    registry
}

async fn serve(registry: &Registry) -> (HttpClientTransport, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = NacosApi::new(registry.clone()).router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (
        HttpClientTransport::new([addr.to_string()]).unwrap(),
        server,
    )
}

fn ips(list: &[Instance]) -> Vec<String> {
    list.iter().map(|i| i.ip().to_string()).collect()
}

/// What a client can tell about a service, with every read it offers.
async fn everything(client: &NamingClient, service: &str) -> Vec<(String, Vec<String>)> {
    let mut seen = Vec::new();
    for clusters in [&[][..], &["a"][..], &["b"][..], &["a", "b"][..], &["c"][..]] {
        for subscribe in [false, true] {
            let tag = |what: &str| format!("{what} {clusters:?} subscribe={subscribe}");
            let all = client
                .get_all_instances(service, GROUP, clusters, subscribe)
                .await
                .unwrap();
            seen.push((tag("all"), ips(&all)));
            for healthy_only in [true, false] {
                let some = client
                    .select_instances(service, GROUP, clusters, healthy_only, subscribe)
                    .await
                    .unwrap();
                seen.push((
                    tag(&format!("select healthy_only={healthy_only}")),
                    ips(&some),
                ));
            }
            let picked = client
                .select_one_healthy_instance(service, GROUP, clusters, subscribe)
                .await
                .ok()
                .map(|i| i.ip().to_string());
            // Which one is picked is random; whether one can be, and from which set, is not.
            seen.push((
                tag("one healthy exists"),
                picked.into_iter().map(|_| "some".into()).collect(),
            ));
        }
    }
    seen
}

/// Everything an answer says but `cacheMillis`, which differs on purpose (see the test).
fn comparable(info: &ServiceInfo) -> (Vec<String>, Vec<bool>, bool, u64, String) {
    (
        ips(&info.hosts),
        info.hosts.iter().map(Instance::healthy).collect(),
        info.reach_protection_threshold,
        info.last_ref_time,
        info.checksum.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_client_answers_the_same_over_memory_and_http() {
    let registry = populated();
    let (http, server) = serve(&registry).await;
    let memory = MemoryClientTransport::new(registry.clone());
    let over_memory = NamingClient::builder(memory.clone()).build().unwrap();
    let over_http = NamingClient::builder(http.clone()).build().unwrap();

    for service in ["orders", "payments", "nothing-here"] {
        let a = everything(&over_memory, service).await;
        let b = everything(&over_http, service).await;
        assert_eq!(a, b, "{service}: memory (left) and HTTP (right) disagree");
    }

    // The raw answers agree too, field by field (the manual clock makes lastRefTime equal).
    for service in ["orders", "payments"] {
        for clusters in [
            vec![],
            vec!["a".parse().unwrap()],
            vec!["b".parse().unwrap()],
        ] {
            for healthy_only in [false, true] {
                let query = ServiceQuery {
                    service: ServiceKey::named(service).unwrap(),
                    clusters: clusters.clone(),
                    healthy_only,
                };
                let a = memory.query_service(&query).await.unwrap();
                let b = http.query_service(&query).await.unwrap();
                assert_eq!(comparable(&a), comparable(&b), "{query:?}");
                // The in-memory transport pushes, so its clients pull rarely; v1 HTTP does not
                // push yet, so its clients pull every 3 s, as Nacos tells clients it does not
                // push to.
                assert_eq!((a.cache_millis, b.cache_millis), (10_000, 3_000));
            }
        }
    }

    // And they are what Nacos answers: disabled instances are never listed; a healthy-only
    // list drops the unhealthy ones unless the protect threshold is reached.
    let all_orders = over_http
        .get_all_instances("orders", GROUP, &[], false)
        .await
        .unwrap();
    assert_eq!(
        ips(&all_orders),
        ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5"]
    );
    let query = |service: &str, healthy_only| ServiceQuery {
        service: ServiceKey::named(service).unwrap(),
        clusters: vec![],
        healthy_only,
    };
    let healthy_orders = memory.query_service(&query("orders", true)).await.unwrap();
    assert_eq!(
        ips(&healthy_orders.hosts),
        ["10.0.0.1", "10.0.0.4", "10.0.0.5"]
    );
    assert!(!healthy_orders.reach_protection_threshold);
    let protected = memory
        .query_service(&query("payments", true))
        .await
        .unwrap();
    assert!(protected.reach_protection_threshold);
    assert_eq!(protected.hosts.len(), 4);
    let picked: BTreeSet<String> = {
        let mut set = BTreeSet::new();
        for _ in 0..50 {
            let one = over_memory
                .select_one_healthy_instance("orders", GROUP, &[], false)
                .await
                .unwrap();
            set.insert(one.ip().to_string());
        }
        set
    };
    assert!(picked.is_subset(&["10.0.0.1".to_owned(), "10.0.0.5".to_owned()].into()));

    over_memory.shutdown().await;
    over_http.shutdown().await;
    server.abort();
}

/// Nacos applies the protect threshold to every list and reports the protected instances
/// healthy, so every reader hands an instance out: with every instance of a service unhealthy
/// and the default threshold (0), the registry, a client over memory, a client over HTTP and
/// a push all agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_service_is_reported_healthy_by_every_reader() {
    let registry = Registry::builder().clock(ManualClock::new()).build();
    let sick = ServiceKey::named("sick").unwrap();
    for ip in ["10.0.2.1", "10.0.2.2"] {
        let instance = inst(ip, "a").healthy(false).build().unwrap();
        registry.register_instance(&sick, instance).unwrap();
    }
    let disabled = inst("10.0.2.3", "a").healthy(false).enabled(false);
    registry
        .register_instance(&sick, disabled.build().unwrap())
        .unwrap();
    let (http, server) = serve(&registry).await;
    let memory = MemoryClientTransport::new(registry.clone());

    let from_registry = registry.select_one_healthy_instance(&sick, &[]).unwrap();
    assert!(from_registry.ip().as_str().starts_with("10.0.2."));

    for (name, transport) in [
        (
            "memory",
            Box::new(memory.clone()) as Box<dyn ClientTransport>,
        ),
        ("http", Box::new(http.clone())),
    ] {
        // Every list, not only a healthy-only one: the Java 1.x client always asks for all.
        for healthy_only in [false, true] {
            let query = ServiceQuery {
                service: sick.clone(),
                clusters: vec![],
                healthy_only,
            };
            let info = transport.query_service(&query).await.unwrap();
            assert!(info.reach_protection_threshold, "{name} {healthy_only}");
            assert_eq!(ips(&info.hosts), ["10.0.2.1", "10.0.2.2"], "{name}");
            assert!(info.hosts.iter().all(Instance::healthy), "{name}: {info:?}");
        }
    }
    for client in [
        NamingClient::builder(memory.clone()).build().unwrap(),
        NamingClient::builder(http.clone()).build().unwrap(),
    ] {
        for subscribe in [false, true] {
            let one = client
                .select_one_healthy_instance("sick", GROUP, &[], subscribe)
                .await
                .unwrap();
            assert_ne!(one.ip().as_str(), "10.0.2.3");
        }
        client.shutdown().await;
    }

    // A push carries the same answer.
    let hub = nacre::front::push::PushHub::new(registry.clone(), Default::default());
    let (sink, mut pushes) = nacre::client::PushSink::channel();
    hub.subscribe(&sick, &[], std::sync::Arc::new(sink));
    hub.poll(); // a fresh subscriber is sent the current state at once
    let pushed = pushes.recv().await.unwrap();
    assert!(pushed.reach_protection_threshold);
    assert!(pushed.hosts.iter().all(Instance::healthy));

    // One instance beats again: 1 of 2 healthy is above 0, so the answer is no longer
    // protected and the other one is reported as it is.
    let key = nacre::InstanceKey::new("a", "10.0.2.1", 8080).unwrap();
    registry.heartbeat(&sick, &key).unwrap();
    let query = ServiceQuery {
        service: sick.clone(),
        clusters: vec![],
        healthy_only: false,
    };
    let info = http.query_service(&query).await.unwrap();
    assert!(!info.reach_protection_threshold);
    let health: Vec<bool> = info.hosts.iter().map(Instance::healthy).collect();
    assert_eq!(health, [true, false]);
    server.abort();
}

/// The list body kept per snapshot and query shape (`front::json::service_info_body`) is, byte
/// for byte, what serializing the answer gives: for every shape asked after another from the
/// same snapshot, with each answer's own `cacheMillis` and `lastRefTime`, and again after
/// every change.
#[test]
fn a_kept_list_body_is_the_answer_for_every_shape_and_follows_every_change() {
    use nacre::front::json::service_info_body;
    use nacre::front::ServiceAnswer;
    use nacre::protocol::json::{NameStyle, ServiceInfoJsonRef};
    use nacre::{ClusterName, InstanceKey, InstanceUpdate};
    use std::time::Duration;

    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let orders = ServiceKey::named("orders").unwrap();
    for (ip, cluster) in [("10.0.0.1", "A"), ("10.0.0.2", "A"), ("10.0.0.3", "B")] {
        let instance = Instance::builder(ip, 8080)
            .cluster(cluster)
            .metadata("note", "\"cacheMillis\":18446744073709551615")
            .build()
            .unwrap();
        registry.register_instance(&orders, instance).unwrap();
    }
    let health = *registry.health_config();
    let check = |clusters: &[&str], healthy_only: bool, cache: u64, style: NameStyle| {
        let query = ServiceQuery {
            service: orders.clone(),
            clusters: clusters
                .iter()
                .map(|c| ClusterName::new(c).unwrap())
                .collect(),
            healthy_only,
        };
        let answer = ServiceAnswer::new(&registry, &query, cache);
        let grouped = answer.service().grouped_name();
        let direct = serde_json::to_vec(&ServiceInfoJsonRef::from_answer(
            &answer, &grouped, style, &health,
        ))
        .unwrap();
        let kept = service_info_body(&answer, style, &health).unwrap();
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            String::from_utf8(direct.clone()).unwrap(),
            "{clusters:?} {healthy_only} {cache} {style:?}"
        );
        serde_json::from_slice::<serde_json::Value>(&direct).unwrap()
    };
    for round in 0..3 {
        // Every shape twice, so the second of each is served from what the first kept.
        for _ in 0..2 {
            for clusters in [&[][..], &["A"][..], &["B"][..], &["A", "B"][..]] {
                for healthy_only in [false, true] {
                    for cache in [3_000, 10_000] {
                        for style in [NameStyle::Grouped, NameStyle::Plain] {
                            let body = check(clusters, healthy_only, cache, style);
                            assert_eq!(body["cacheMillis"], cache);
                            assert_eq!(
                                body["lastRefTime"],
                                clock.now().as_micros() / 1_000,
                                "{body}"
                            );
                        }
                    }
                }
            }
            clock.advance(Duration::from_millis(7));
        }
        // A change: the next answers show it.
        let key = InstanceKey::new("A", "10.0.0.1", 8080).unwrap();
        let update = InstanceUpdate {
            weight: Some(f64::from(round + 2)),
            ..Default::default()
        };
        registry.update_instance(&orders, &key, update).unwrap();
        let body = check(&["A"], false, 3_000, NameStyle::Grouped);
        assert_eq!(body["hosts"][0]["weight"], f64::from(round + 2));
    }
}

/// `ServiceSnapshot::memo`: a value is made once per snapshot and key, a value of another type
/// under the same key is not handed out, at most `MEMO_ENTRIES` are kept, and a write publishes
/// a snapshot whose memo is empty.
#[test]
fn a_snapshot_memo_keeps_a_bounded_number_of_values_until_the_next_write() {
    use nacre::store::MEMO_ENTRIES;
    use std::cell::Cell;

    let registry = Registry::default();
    let orders = ServiceKey::named("orders").unwrap();
    registry
        .register_instance(&orders, Instance::new("10.0.0.1", 8080).unwrap())
        .unwrap();
    let snap = registry.service(&orders).unwrap();
    let made = Cell::new(0);
    let make = |v: u64| {
        made.set(made.get() + 1);
        v
    };
    assert_eq!(*snap.memo(1, || make(10)), 10);
    assert_eq!(*snap.memo(1, || make(11)), 10, "kept");
    assert_eq!(made.get(), 1);
    // Another type under the same key is made, not mistaken for the kept one.
    assert_eq!(*snap.memo(1, || "text"), "text");
    // Up to MEMO_ENTRIES keys are kept; past that, values are made every time.
    for k in 2..=MEMO_ENTRIES as u64 {
        snap.memo(k, || make(k));
    }
    let before = made.get();
    for k in 1..=MEMO_ENTRIES as u64 {
        snap.memo(k, || make(0));
    }
    assert_eq!(made.get(), before, "all {MEMO_ENTRIES} kept");
    let extra = MEMO_ENTRIES as u64 + 1;
    snap.memo(extra, || make(extra));
    snap.memo(extra, || make(extra));
    assert_eq!(made.get(), before + 2, "one past the bound is not kept");
    // A write: the new snapshot starts empty; the old one keeps its values for its readers.
    registry
        .register_instance(&orders, Instance::new("10.0.0.2", 8080).unwrap())
        .unwrap();
    let next = registry.service(&orders).unwrap();
    assert_eq!(*next.memo(1, || make(20)), 20);
    assert_eq!(*snap.memo(1, || make(30)), 10);
}
