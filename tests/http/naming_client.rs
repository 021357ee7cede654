//! `NamingClient` over `HttpClientTransport` against a served registry.

use crate::common::fixtures::eventually;
use crate::env::orders;
use nacre::client::NamingClient;
use nacre::http::{HttpClientTransport, NacosApi};
use nacre::model::DEFAULT_GROUP;
use nacre::{ClientTransport, HealthConfig, Instance, Registry};
use std::net::SocketAddr;
use std::time::Duration;

/// A standalone registry on the system clock, telling clients to beat every 200 ms, served
/// on a loopback port.
async fn served_registry() -> (Registry, SocketAddr) {
    let registry = Registry::builder()
        .health(HealthConfig {
            beat_interval: Duration::from_millis(200),
            ..HealthConfig::default()
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = NacosApi::new(registry.clone()).router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (registry, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_client_over_http_registers_beats_discovers_and_re_registers() {
    let (registry, addr) = served_registry().await;
    let transport = HttpClientTransport::new([addr.to_string()]).unwrap();
    let client = NamingClient::builder(transport.clone())
        .beat_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let inst = Instance::builder("10.0.0.1", 8080)
        .metadata("version", "2")
        .build()
        .unwrap();
    client
        .register_instance("orders", DEFAULT_GROUP, inst.clone())
        .await
        .unwrap();
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 1);

    // Beats follow the server's 200 ms interval, and turn light after the first answer.
    let beats = client
        .wait_until(|s| s.beats_sent >= 3, Duration::from_secs(20))
        .await
        .expect("three beats within 20 s");
    assert_eq!(beats.beat_failures, 0);
    assert!(transport.light_beats());

    let picked = client
        .select_one_healthy_instance("orders", DEFAULT_GROUP, &[], false)
        .await
        .unwrap();
    assert_eq!(picked, inst);
    let page = client.get_service_list(1, 10, DEFAULT_GROUP).await.unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.services[0].as_str(), "orders");

    // The server forgets the instance: the next light beat answers 20404 and the client
    // registers it again.
    assert!(registry.deregister_instance(&orders(), &inst.key()));
    client
        .wait_until(|s| s.redos >= 1, Duration::from_secs(20))
        .await
        .expect("a redo within 20 s");
    let registry2 = registry.clone();
    eventually("the instance to be back", Duration::from_secs(20), || {
        let r = registry2.clone();
        async move { r.get_all_instances(&orders(), &[]).len() == 1 }
    })
    .await;
    assert!(client.stats().beats_not_found >= 1);

    client
        .deregister_instance("orders", DEFAULT_GROUP, &inst)
        .await
        .unwrap();
    assert!(registry.get_all_instances(&orders(), &[]).is_empty());
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_transport_moves_on_to_the_next_server_and_reports_refusals() {
    let (registry, addr) = served_registry().await;
    // Port 1 on loopback refuses connections.
    let transport =
        HttpClientTransport::new(["127.0.0.1:1".to_owned(), format!("http://{addr}/")]).unwrap();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    transport.register_instance(&orders(), &inst).await.unwrap();
    assert_eq!(transport.active_server(), 1);
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 1);

    let refused = transport
        .list_services(&nacre::client::ServiceListQuery {
            namespace: Default::default(),
            group: Default::default(),
            page_no: 0,
            page_size: 10,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            nacre::client::TransportError::Server { code: 400, .. }
        ),
        "{refused:?}"
    );

    let nobody = HttpClientTransport::new(["127.0.0.1:1"]).unwrap();
    let err = nobody
        .register_instance(&orders(), &inst)
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(HttpClientTransport::new(Vec::<String>::new()).is_err());
    assert!(HttpClientTransport::new(["http://"]).is_err());
}

/// `NamingClient` over HTTP is pushed to over UDP by `nacre-server`'s front: a change made by
/// another client reaches a subscriber's listener by push (1 s merge window), long before its
/// next pull (10 s for a pushed client), and the server counts the acks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_client_over_http_is_pushed_to_over_udp() {
    let config = nacre::server::ServerConfig {
        port: 0,
        grpc_port: Some(0),
        ..Default::default()
    };
    let server = nacre::server::start(&config).await.unwrap();
    let addr = server.local_addr().to_string();
    let consumer_transport = HttpClientTransport::new([addr.clone()]).unwrap();
    let consumer = NamingClient::builder(consumer_transport.clone())
        .build()
        .unwrap();
    let provider = NamingClient::builder(HttpClientTransport::new([addr]).unwrap())
        .build()
        .unwrap();

    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    consumer
        .subscribe(
            "orders",
            DEFAULT_GROUP,
            &[],
            move |e: &nacre::NamingEvent| {
                let _ = seen_tx.send(e.instances.len());
            },
        )
        .await
        .unwrap();
    let subs = server.udp_push().subscribers(&orders());
    assert_eq!(subs.len(), 1, "the subscription reached the server");
    assert_eq!(subs[0].details.agent, nacre::udp::NACRE_AGENT);

    let started = std::time::Instant::now();
    provider
        .register_instance(
            "orders",
            DEFAULT_GROUP,
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .await
        .unwrap();
    let deadline = Duration::from_secs(30);
    loop {
        let n = tokio::time::timeout(deadline, seen.recv())
            .await
            .expect("an event")
            .unwrap();
        if n == 1 {
            break;
        }
    }
    let stats = consumer.stats();
    assert!(stats.pushes >= 2, "{stats:?}");
    // Seen before any pull could have brought it (the first pull comes 10 s after the
    // subscription).
    assert!(
        stats.pulls == 0,
        "seen by a pull, not a push: {stats:?}; {:?}",
        started.elapsed()
    );
    eventually(
        "the server to count the ack",
        Duration::from_secs(10),
        || {
            let acked = server.udp_push().stats().push.acked;
            async move { acked >= 2 }
        },
    )
    .await;
    let received = consumer_transport.push_receivers();
    assert_eq!(received.len(), 1);
    assert!(received[0].stats().delivered >= 1);

    consumer.shutdown().await;
    provider.shutdown().await;
    server.stop();
}
