//! Beats: they keep an instance healthy, follow the interval the server answers, and stop when it goes.

use crate::common::{inst, key, secs};
use crate::env::{asleep, guard, ips, Env, GROUP, HANG_GUARD};
use nacre::client::NamingClient;
use nacre::model::PRESERVED_HEART_BEAT_INTERVAL;
use nacre::transport::memory::MemoryClientTransport;
use nacre::{HealthConfig, Instance, ManualClock, Registry};
use std::time::Duration;

#[tokio::test]
async fn beats_keep_an_instance_healthy_for_minutes() {
    let env = Env::new();
    let provider = env.client();
    provider
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    // The same kind of instance registered without a client: nobody beats for it.
    env.node
        .register_instance(&key("orders"), inst("10.0.0.9"))
        .unwrap();

    for beat in 1..=36 {
        env.clock.advance(secs(5));
        guard(
            "a beat",
            provider.wait_until(|s| s.beats_sent >= beat, HANG_GUARD),
        )
        .await;
        // One beat per 5 s, and the next one 5 s on.
        assert_eq!(provider.stats().beats_sent, beat);
        assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(5)));
        env.node.check_health();
        let healthy = env.node.select_instances(&key("orders"), &[], true);
        assert!(
            healthy.iter().any(|i| i.ip().as_str() == "10.0.0.1"),
            "unhealthy after {} s",
            beat * 5
        );
    }
    // Three minutes: the beating instance is healthy, the silent one long gone.
    let all = env.node.get_all_instances(&key("orders"), &[]).to_vec();
    assert_eq!(ips(&all), ["10.0.0.1"]);
    let stats = provider.stats();
    assert_eq!(
        (stats.beats_sent, stats.beat_failures, stats.beats_not_found),
        (36, 0, 0)
    );
}

#[tokio::test]
async fn beats_follow_the_interval_the_server_answers() {
    let clock = ManualClock::new();
    let node = Registry::builder()
        .clock(clock.clone())
        .health(HealthConfig {
            beat_interval: Duration::from_secs(2),
            ..HealthConfig::default()
        })
        .build();
    let client = NamingClient::builder(MemoryClientTransport::new(node))
        .clock(clock.clone())
        .build()
        .unwrap();
    let registered = clock.now();
    client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    // The first beat comes at the client's default interval, 5 s...
    asleep(&clock, 1).await;
    assert_eq!(clock.next_wakeup(), Some(registered + secs(5)));
    clock.advance(Duration::from_millis(4_999));
    clock.advance(Duration::from_millis(1));
    guard(
        "the first beat",
        client.wait_until(|s| s.beats_sent >= 1, HANG_GUARD),
    )
    .await;
    assert_eq!(client.stats().beats_sent, 1);
    // ...then at the 2 s the server answered.
    assert_eq!(clock.next_wakeup(), Some(clock.now() + secs(2)));
    for beat in 2..=5 {
        clock.advance(secs(2));
        guard(
            "a 2 s beat",
            client.wait_until(|s| s.beats_sent >= beat, HANG_GUARD),
        )
        .await;
        assert_eq!(client.stats().beats_sent, beat);
        assert_eq!(clock.next_wakeup(), Some(clock.now() + secs(2)));
    }
}

#[tokio::test]
async fn an_instance_beat_interval_in_metadata_sets_the_first_beat() {
    let env = Env::new();
    let client = env.client();
    let fast = Instance::builder("10.0.0.1", 8080)
        .metadata(PRESERVED_HEART_BEAT_INTERVAL, "1000")
        .build()
        .unwrap();
    let registered = env.clock.now();
    client
        .register_instance("orders", GROUP, fast)
        .await
        .unwrap();
    asleep(&env.clock, 1).await;
    assert_eq!(env.clock.next_wakeup(), Some(registered + secs(1)));
    env.clock.advance(secs(1));
    guard(
        "a beat after 1 s",
        client.wait_until(|s| s.beats_sent >= 1, HANG_GUARD),
    )
    .await;
    assert_eq!(client.stats().beats_sent, 1);
    // The server answers the instance's own interval too.
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(1)));
    env.clock.advance(secs(1));
    guard(
        "a second beat after 1 s",
        client.wait_until(|s| s.beats_sent >= 2, HANG_GUARD),
    )
    .await;
    assert_eq!(client.stats().beats_sent, 2);
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(1)));
}

#[tokio::test]
async fn persistent_instances_get_no_beats() {
    let env = Env::new();
    let client = env.client();
    let persistent = Instance::builder("10.0.0.1", 8080)
        .ephemeral(false)
        .build()
        .unwrap();
    client
        .register_instance("orders", GROUP, persistent)
        .await
        .unwrap();
    // A beat task, had one been spawned, would be asleep on the clock after one turn.
    tokio::task::yield_now().await;
    assert_eq!(env.clock.sleepers(), 0, "no beat task sleeps on the clock");
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 1);
}

#[tokio::test]
async fn deregistering_stops_the_beats() {
    let env = Env::new();
    let client = env.client();
    let instance = inst("10.0.0.1");
    client
        .register_instance("orders", GROUP, instance.clone())
        .await
        .unwrap();
    env.clock.advance(secs(5));
    guard(
        "a beat",
        client.wait_until(|s| s.beats_sent >= 1, HANG_GUARD),
    )
    .await;
    assert_eq!(client.stats().beats_sent, 1);
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(5)));

    client
        .deregister_instance("orders", GROUP, &instance)
        .await
        .unwrap();
    assert!(env.node.get_all_instances(&key("orders"), &[]).is_empty());
    // The beat task is gone once deregister returns: nothing sleeps on the clock any more.
    assert_eq!(env.clock.sleepers(), 0);
    env.clock.advance(secs(60));
    assert_eq!(client.stats().beats_sent, 1);
    assert!(env.node.get_all_instances(&key("orders"), &[]).is_empty());

    // Deregistering what is not registered is fine, as in Nacos.
    client
        .deregister_instance("orders", GROUP, &instance)
        .await
        .unwrap();
}

#[tokio::test]
async fn batch_registered_instances_each_beat() {
    let env = Env::new();
    let client = env.client();
    client
        .batch_register_instance(
            "orders",
            GROUP,
            vec![inst("10.0.0.1"), inst("10.0.0.2"), inst("10.0.0.3")],
        )
        .await
        .unwrap();
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 3);
    // One beat task per instance.
    asleep(&env.clock, 3).await;
    for round in 1..=4 {
        env.clock.advance(secs(5));
        guard(
            "three beats",
            client.wait_until(|s| s.beats_sent >= 3 * round, HANG_GUARD),
        )
        .await;
        assert_eq!(client.stats().beats_sent, 3 * round);
        assert_eq!(env.clock.sleepers(), 3);
        assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(5)));
        env.node.check_health();
    }
    assert_eq!(
        env.node.select_instances(&key("orders"), &[], true).len(),
        3
    );
    client
        .batch_register_instance("orders", GROUP, Vec::new())
        .await
        .unwrap();
}
