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
