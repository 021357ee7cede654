//! The push hub's driver, `PushHub`, on a `ManualClock`: registry changes reach a subscriber
//! after the merge window. Its policy (`PushState`: acks, retries, expiry, limits) is tested
//! beside it, in `src/front/push/state_tests.rs`.

use nacre::client::PushSink;
use nacre::front::push::{PushConfig, PushHub};
use nacre::{Instance, ManualClock, Registry, ServiceKey};
use std::sync::Arc;
use std::time::Duration;

fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

#[tokio::test]
async fn the_hub_pushes_registry_changes_after_the_merge_window_on_the_manual_clock() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let hub = PushHub::new(registry.clone(), PushConfig::default());
    hub.start();
    let (sink, mut pushes) = PushSink::channel();
    let orders = orders();
    assert!(hub.subscribe(&orders, &[], Arc::new(sink)));
    let first = pushes.recv().await.unwrap();
    assert!(
        first.hosts.is_empty(),
        "a fresh subscriber gets the current state"
    );

    registry
        .register_instance(&orders, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    let off = nacre::InstanceUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    registry
        .register_instance(&orders, Instance::new("10.0.0.2", 80).unwrap())
        .unwrap();
    registry
        .update_instance(
            &orders,
            &nacre::InstanceKey::in_default_cluster("10.0.0.2", 80).unwrap(),
            off,
        )
        .unwrap();
    assert!(registry.wait_for_events(Duration::from_secs(5)));
    tokio::task::yield_now().await;
    assert!(
        pushes.try_recv().is_none(),
        "nothing before the window closes"
    );
    clock.advance(Duration::from_millis(500));
    let merged = pushes.recv().await.unwrap();
    // The push is the query answer: the disabled instance is not in it.
    assert_eq!(merged.hosts.len(), 1);
    tokio::task::yield_now().await;
    assert!(pushes.try_recv().is_none(), "three changes, one push");
    assert_eq!(hub.stats().pushes, 2);

    // Dropping the client's receiver closes the target: the next push drops it.
    drop(pushes);
    registry.deregister_instance(
        &orders,
        &nacre::InstanceKey::in_default_cluster("10.0.0.1", 80).unwrap(),
    );
    assert!(registry.wait_for_events(Duration::from_secs(5)));
    clock.advance(Duration::from_millis(500));
    for _ in 0..100 {
        if hub.subscription_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hub.subscription_count(), 0);
    assert_eq!(hub.stats().targets_dropped, 1);
}
