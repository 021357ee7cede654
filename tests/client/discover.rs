//! `nacre::discover::InstanceDiscover` (feature `tower`) under tower's p2c balancer: it spreads
//! calls over the healthy instances, drops those that turn unhealthy, leave or are disabled,
//! takes them back when they recover, and ends its subscription when dropped.

use nacre::discover::InstanceDiscover;
use nacre::transport::memory::MemoryClientTransport;
use nacre::{
    Instance, InstanceKey, InstanceUpdate, ManualClock, NamingClient, Registry, ServiceKey,
};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tower::balance::p2c::Balance;
use tower::discover::Discover;
use tower::load::Constant;
use tower::{service_fn, BoxError, Service, ServiceExt};

/// Real time allowed for an event to reach the balancer (delivery is on another thread).
const PATIENCE: Duration = Duration::from_secs(30);

/// A service per instance that answers the instance's port.
fn by_port(
    instance: &Instance,
) -> Constant<impl Service<(), Response = u16, Error = Infallible, Future = impl Send> + Send, u8> {
    let port = instance.port();
    Constant::new(
        service_fn(move |_: ()| async move { Ok::<_, Infallible>(port) }),
        0,
    )
}

/// The ports `n` calls reached.
async fn ports<S>(balance: &mut S, n: usize) -> BTreeSet<u16>
where
    S: Service<(), Response = u16, Error = BoxError>,
{
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        seen.insert(balance.ready().await.unwrap().call(()).await.unwrap());
    }
    seen
}

/// Polls the balancer (which takes the discover's changes when polled for readiness) until
/// it holds `n` services.
async fn until_len<D>(balance: &mut Balance<D, ()>, n: usize, what: &str)
where
    D: Discover + Unpin,
    D::Key: std::hash::Hash + Clone,
    D::Error: Into<BoxError>,
    D::Service: Service<()> + tower::load::Load,
    <D::Service as Service<()>>::Error: Into<BoxError>,
    <D::Service as tower::load::Load>::Metric: std::fmt::Debug,
{
    let start = Instant::now();
    loop {
        std::future::poll_fn(|cx| {
            let _ = balance.poll_ready(cx);
            std::task::Poll::Ready(())
        })
        .await;
        if balance.len() == n {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn key(port: u16) -> InstanceKey {
    InstanceKey::in_default_cluster("10.0.0.1", port).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_balancer_follows_health_departures_and_returns() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let orders = ServiceKey::named("orders").unwrap();
    for port in [8081, 8082] {
        registry
            .register_instance(&orders, Instance::new("10.0.0.1", port).unwrap())
            .unwrap();
    }
    let discover = InstanceDiscover::subscribe(&registry, &orders, &[], by_port);
    let mut balance = Balance::new(discover);
    assert_eq!(ports(&mut balance, 64).await, BTreeSet::from([8081, 8082]));

    // 15 s with only 8081 beating: 8082 turns unhealthy and leaves the balancer.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(5));
        registry.heartbeat(&orders, &key(8081)).unwrap();
        registry.check_health();
    }
    until_len(&mut balance, 1, "8082 to be dropped as unhealthy").await;
    assert_eq!(ports(&mut balance, 32).await, BTreeSet::from([8081]));

    // It beats again: healthy, and back in the balancer.
    registry.heartbeat(&orders, &key(8082)).unwrap();
    until_len(&mut balance, 2, "8082 to come back").await;
    assert_eq!(ports(&mut balance, 64).await, BTreeSet::from([8081, 8082]));

    // Disabled, or deregistered: out.
    let disable = InstanceUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    registry
        .update_instance(&orders, &key(8081), disable)
        .unwrap();
    until_len(&mut balance, 1, "the disabled 8081 to be dropped").await;
    assert_eq!(ports(&mut balance, 32).await, BTreeSet::from([8082]));
    registry
        .register_instance(&orders, Instance::new("10.0.0.1", 8083).unwrap())
        .unwrap();
    until_len(&mut balance, 2, "8083 to join").await;
    assert!(registry.deregister_instance(&orders, &key(8082)));
    until_len(&mut balance, 1, "the deregistered 8082 to leave").await;
    assert_eq!(ports(&mut balance, 32).await, BTreeSet::from([8083]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_instance_is_inserted_again_and_weight_zero_is_left_out() {
    let registry = Registry::default();
    let orders = ServiceKey::named("orders").unwrap();
    registry
        .register_instance(&orders, Instance::new("10.0.0.1", 8081).unwrap())
        .unwrap();
    let zero = Instance::builder("10.0.0.1", 8082)
        .weight(0.0)
        .build()
        .unwrap();
    registry.register_instance(&orders, zero).unwrap();
    let mut discover = InstanceDiscover::subscribe(&registry, &orders, &[], by_port);
    let mut changes = Vec::new();
    let start = Instant::now();
    while changes.is_empty() {
        assert!(start.elapsed() < PATIENCE, "no first insert");
        let polled = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut discover).poll_discover(cx))
        })
        .await;
        if let std::task::Poll::Ready(Some(Ok(change))) = polled {
            changes.push(change);
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(matches!(&changes[0], tower::discover::Change::Insert(k, _) if *k == key(8081)));
    assert_eq!(discover.len(), 1, "weight 0 is never called");

    // A new weight is a new insert under the same key (the balancer replaces the service).
    let heavier = InstanceUpdate {
        weight: Some(5.0),
        ..Default::default()
    };
    registry
        .update_instance(&orders, &key(8081), heavier)
        .unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < PATIENCE, "no insert for the new weight");
        let polled = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut discover).poll_discover(cx))
        })
        .await;
        match polled {
            std::task::Poll::Ready(Some(Ok(tower::discover::Change::Insert(k, _)))) => {
                assert_eq!(k, key(8081));
                break;
            }
            std::task::Poll::Ready(other) => {
                panic!("unexpected {:?}", other.map(|r| r.map(|_| ())))
            }
            std::task::Poll::Pending => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert_eq!(discover.len(), 1);
    assert_eq!(registry.listeners(&orders).len(), 1);
    drop(discover);
    assert!(
        registry.listeners(&orders).is_empty(),
        "dropping it unsubscribes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_naming_client_subscription_feeds_the_balancer() {
    let node = Registry::default();
    let client = NamingClient::builder(MemoryClientTransport::new(node.clone()))
        .build()
        .unwrap();
    client
        .register_instance(
            "orders",
            "DEFAULT_GROUP",
            Instance::new("10.0.0.1", 8081).unwrap(),
        )
        .await
        .unwrap();
    client
        .register_instance(
            "orders",
            "DEFAULT_GROUP",
            Instance::new("10.0.0.1", 8082).unwrap(),
        )
        .await
        .unwrap();
    let discover =
        InstanceDiscover::subscribe_client(&client, "orders", "DEFAULT_GROUP", &[], by_port)
            .await
            .unwrap();
    let mut balance = Balance::new(discover);
    until_len(&mut balance, 2, "both instances through the client").await;
    assert_eq!(ports(&mut balance, 64).await, BTreeSet::from([8081, 8082]));
    client
        .deregister_instance(
            "orders",
            "DEFAULT_GROUP",
            &Instance::new("10.0.0.1", 8082).unwrap(),
        )
        .await
        .unwrap();
    until_len(&mut balance, 1, "the deregistered instance to leave").await;
    assert_eq!(ports(&mut balance, 32).await, BTreeSet::from([8081]));
    assert!(
        InstanceDiscover::subscribe_client(&client, "", "DEFAULT_GROUP", &[], by_port)
            .await
            .is_err()
    );
}
