//! The subscription cache, updated by push and by pull, and the events it fires.

use crate::common::{inst, key, secs};
use crate::env::{
    asleep, events, guard, ips, orders, pull_rounds, recorder, Env, GROUP, HANG_GUARD,
};
use nacre::client::NamingClient;
use nacre::Instance;
use std::time::Duration;

#[tokio::test]
async fn pushes_update_the_cache_without_a_pull() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let first = orders(&consumer, true).await;
    assert_eq!(ips(&first), ["10.0.0.1"]);
    assert_eq!(consumer.stats().cache_changes, 1, "the read's own answer");

    let before = consumer.stats().cache_changes;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    // The node's hub hears of the new subscription's service and of this change before its
    // driver first runs (the test has not yielded since the read), so it pushes once.
    assert!(env.node.wait_for_events(Duration::from_secs(5)));
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    let now = orders(&consumer, true).await;
    assert_eq!(ips(&now), ["10.0.0.1", "10.0.0.2"]);
    let stats = consumer.stats();
    assert_eq!(stats.cache_changes, before + 1);
    assert_eq!(stats.pulls, 0, "no time passed, so no pull ran");
    assert_eq!(stats.pushes, 1);
}

#[tokio::test]
async fn pulls_update_the_cache_when_pushes_are_lost() {
    let env = Env::new();
    env.transport.set_push_enabled(false);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let (seen, listener) = recorder();
    let subscribed = env.clock.now();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();
    // Let the first event out before the next change (undelivered events are coalesced).
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();

    // Without pushes the cache is behind until the pull, 10 s later.
    asleep(&env.clock, 1).await;
    assert_eq!(env.clock.next_wakeup(), Some(subscribed + secs(10)));
    env.clock.advance(Duration::from_millis(9_999));
    let cached = orders(&consumer, true).await;
    assert_eq!(ips(&cached), ["10.0.0.1"]);
    env.clock.advance(Duration::from_millis(1));
    guard("a pull", consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD)).await;
    let cached = orders(&consumer, true).await;
    assert_eq!(ips(&cached), ["10.0.0.1", "10.0.0.2"]);
    let stats = consumer.stats();
    assert_eq!((stats.pulls, stats.cache_changes, stats.pushes), (1, 2, 0));
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(10)));

    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(
        events(&seen),
        vec![
            vec!["10.0.0.1".to_owned()],
            vec!["10.0.0.1".into(), "10.0.0.2".into()]
        ]
    );
}

#[tokio::test]
async fn the_pull_interval_follows_the_servers_cache_millis() {
    let env = Env::new();
    env.transport.set_push_enabled(false);
    env.transport.set_cache_millis(3_000);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let read = env.clock.now();
    orders(&consumer, true).await;
    // The first pull is scheduled before any answer, at the client's default; later ones at
    // the 3 s the server answered.
    asleep(&env.clock, 1).await;
    assert_eq!(env.clock.next_wakeup(), Some(read + secs(10)));
    env.clock.advance(secs(10));
    guard(
        "the first pull",
        consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().pulls, 1);
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(3)));
    for pull in 2..=4 {
        env.clock.advance(secs(3));
        guard(
            "a 3 s pull",
            consumer.wait_until(|s| s.pulls >= pull, HANG_GUARD),
        )
        .await;
        assert_eq!(consumer.stats().pulls, pull);
        assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(3)));
    }
}

#[tokio::test]
async fn reads_without_subscribe_always_ask_the_server() {
    let env = Env::new();
    env.transport.set_push_enabled(false);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    assert_eq!(orders(&consumer, true).await.len(), 1);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    // The cache is behind (no push, no pull yet); a read with subscribe = false is not.
    let direct = orders(&consumer, false).await;
    assert_eq!(direct.len(), 2);
    let cached = orders(&consumer, true).await;
    assert_eq!(cached.len(), 1);
}

#[tokio::test]
async fn listeners_fire_only_when_their_instances_really_change() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let (all, on_all) = recorder();
    let (only_b, on_b) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], on_all)
        .await
        .unwrap();
    consumer
        .subscribe("orders", GROUP, &["b"], on_b)
        .await
        .unwrap();

    // Pulls that find nothing new, and a re-registration of the same data, are not news.
    pull_rounds(&env, &consumer, secs(10), 3).await;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    pull_rounds(&env, &consumer, secs(10), 1).await;
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&all), vec![vec!["10.0.0.1".to_owned()]]);
    assert_eq!(events(&only_b), vec![Vec::<String>::new()]);

    // A change in cluster DEFAULT reaches the listener of all clusters only.
    let before = consumer.stats().cache_changes;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().cache_changes, before + 1);
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&all).len(), 2);
    assert_eq!(events(&only_b).len(), 1);

    // A change in cluster b reaches both.
    let before = consumer.stats().cache_changes;
    let in_b = Instance::builder("10.0.1.1", 8080)
        .cluster("b")
        .build()
        .unwrap();
    env.node.register_instance(&key("orders"), in_b).unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().cache_changes, before + 1);
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&all).len(), 3);
    assert_eq!(events(&only_b), vec![vec![], vec!["10.0.1.1".to_owned()]]);
}

#[tokio::test]
async fn unsubscribe_stops_events() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let (first, on_first) = recorder();
    let (second, on_second) = recorder();
    let id_first = consumer
        .subscribe("orders", GROUP, &[], on_first)
        .await
        .unwrap();
    let id_second = consumer
        .subscribe("orders", GROUP, &[], on_second)
        .await
        .unwrap();
    assert!(consumer.wait_for_events(Duration::from_secs(5)));

    assert!(consumer.unsubscribe(id_first).await);
    assert!(!consumer.unsubscribe(id_first).await, "already gone");
    let before = consumer.stats().cache_changes;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().cache_changes, before + 1);
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&first).len(), 1, "no event after unsubscribe");
    assert_eq!(events(&second).len(), 2);

    // The last listener gone, the client stops watching: no push subscription, no pulls.
    assert_eq!(env.transport.installed_subscriptions(), 1);
    assert!(consumer.unsubscribe(id_second).await);
    assert_eq!(env.transport.installed_subscriptions(), 0);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.3"))
        .unwrap();
    env.clock.advance(secs(60));
    assert!(env.node.wait_for_events(Duration::from_secs(5)));
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&second).len(), 2);
    assert_eq!(consumer.stats().pulls, 0);
}

#[tokio::test]
async fn an_empty_update_does_not_wipe_the_cache_by_default() {
    let env = Env::new();
    let instance = inst("10.0.0.1");
    env.node
        .register_instance(&key("orders"), instance.clone())
        .unwrap();
    let consumer = env.client();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();

    env.node
        .deregister_instance(&key("orders"), &instance.key());
    // The node's hub hears of the new subscription's service and of the removal before its
    // driver first runs (the test has not yielded since subscribing), so it pushes once.
    assert!(env.node.wait_for_events(Duration::from_secs(5)));
    guard(
        "the empty push",
        consumer.wait_until(|s| s.empty_updates_ignored >= 1, HANG_GUARD),
    )
    .await;
    let stats = consumer.stats();
    assert_eq!((stats.empty_updates_ignored, stats.pushes), (1, 1));
    // The pull finds it empty too, and is ignored as well.
    pull_rounds(&env, &consumer, secs(10), 1).await;
    assert_eq!(consumer.stats().empty_updates_ignored, 2);
    let cached = orders(&consumer, true).await;
    assert_eq!(ips(&cached), ["10.0.0.1"]);
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&seen).len(), 1);
}

#[tokio::test]
async fn without_push_empty_protection_an_empty_update_empties_the_cache() {
    let env = Env::new();
    let instance = inst("10.0.0.1");
    env.node
        .register_instance(&key("orders"), instance.clone())
        .unwrap();
    let consumer = NamingClient::builder(env.transport.clone())
        .clock(env.clock.clone())
        .push_empty_protection(false)
        .build()
        .unwrap();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    let before = consumer.stats().cache_changes;
    env.node
        .deregister_instance(&key("orders"), &instance.key());
    guard(
        "the empty push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().cache_changes, before + 1);
    assert!(orders(&consumer, true).await.is_empty());
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&seen), vec![vec!["10.0.0.1".to_owned()], vec![]]);
}
