//! Redo: a restarted or newly reachable server gets back everything the client registered.

use crate::common::{inst, key, registry_on, secs};
use crate::env::{asleep, events, guard, ips, orders, recorder, Env, GROUP, HANG_GUARD};
use nacre::client::{ClientError, NamingClient};
use nacre::transport::memory::MemoryClientTransport;
use nacre::{Instance, ManualClock};
use std::time::Duration;

#[tokio::test]
async fn a_restarted_server_gets_everything_back_by_redo() {
    let env = Env::new();
    let provider = env.client();
    let consumer = env.client();
    provider
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    let persistent = Instance::builder("10.0.0.2", 8080)
        .ephemeral(false)
        .build()
        .unwrap();
    provider
        .register_instance("orders", GROUP, persistent)
        .await
        .unwrap();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();

    // The node restarts and has lost everything: registrations and push subscribers.
    let restarted = registry_on(&env.clock);
    env.transport.replace_node(0, restarted.clone());
    assert!(restarted.get_all_instances(&key("orders"), &[]).is_empty());

    // The next beat is answered "not found": the provider registers everything again.
    env.clock.advance(secs(5));
    guard("a redo", provider.wait_until(|s| s.redos >= 1, HANG_GUARD)).await;
    let back = restarted.get_all_instances(&key("orders"), &[]).to_vec();
    assert_eq!(ips(&back), ["10.0.0.1", "10.0.0.2"]);
    let stats = provider.stats();
    assert_eq!(
        (stats.redos, stats.beats_sent, stats.beats_not_found),
        (1, 1, 1)
    );
    // "Not found" sets no interval: the next beat is 5 s on, when the consumer's first pull is
    // due too.
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(5)));

    // The consumer's next pull renews its push subscription on the restarted node...
    env.clock.advance(secs(5));
    guard("a pull", consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD)).await;
    assert_eq!(consumer.stats().pulls, 1);
    // ...so a later change is pushed again, with no pull.
    let before = consumer.stats();
    restarted
        .register_instance(&key("orders"), inst("10.0.0.3"))
        .unwrap();
    guard(
        "the push of 10.0.0.3",
        consumer.wait_until(|s| s.cache_changes > before.cache_changes, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().cache_changes, before.cache_changes + 1);
    assert_eq!(consumer.stats().pulls, before.pulls);
    let all = orders(&consumer, true).await;
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);

    // The consumer never saw the service empty.
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    let seen = events(&seen);
    assert!(seen.iter().all(|e| !e.is_empty()), "events: {seen:?}");
    assert_eq!(seen.last().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_cluster_transport_fails_over_to_the_next_node() {
    let clock = ManualClock::new();
    let (a, b) = (registry_on(&clock), registry_on(&clock));
    let transport = MemoryClientTransport::cluster(vec![a.clone(), b.clone()]);
    let provider = NamingClient::builder(transport.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let consumer = NamingClient::builder(transport.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    provider
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(a.get_all_instances(&key("orders"), &[]).len(), 1);
    assert_eq!(orders(&consumer, true).await.len(), 1);

    transport.set_reachable(0, false);
    clock.advance(secs(5));
    guard(
        "a redo on node b",
        provider.wait_until(|s| s.redos >= 1, HANG_GUARD),
    )
    .await;
    let stats = provider.stats();
    assert_eq!(
        (stats.redos, stats.beats_sent, stats.beats_not_found),
        (1, 1, 1)
    );
    // The next beat 5 s on, when the consumer's first pull is due too.
    assert_eq!(clock.next_wakeup(), Some(clock.now() + secs(5)));
    assert_eq!(transport.active_node(), Some(1));
    assert_eq!(b.get_all_instances(&key("orders"), &[]).len(), 1);

    // The consumer keeps its view across the failover, and hears of changes on node b.
    clock.advance(secs(5));
    guard(
        "a pull from node b",
        consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD),
    )
    .await;
    let stats = consumer.stats();
    assert_eq!((stats.pulls, stats.pull_failures), (1, 0));
    let before = consumer.stats().cache_changes;
    b.register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push from node b",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().cache_changes, before + 1);
    let all = orders(&consumer, true).await;
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2"]);
}

#[tokio::test]
async fn an_instance_registered_while_no_server_answers_is_registered_when_one_does() {
    let env = Env::new();
    let client = env.client();
    env.transport.set_reachable(0, false);
    let registered = env.clock.now();
    let err = client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Transport(e) if e.is_unreachable()),
        "{err}"
    );

    // Remembered and beating all the same: the first beat is due 5 s on.
    asleep(&env.clock, 1).await;
    assert_eq!(env.clock.next_wakeup(), Some(registered + secs(5)));
    env.clock.advance(secs(5));
    guard(
        "a failed beat",
        client.wait_until(|s| s.beat_failures >= 1, HANG_GUARD),
    )
    .await;
    let stats = client.stats();
    assert_eq!((stats.beats_sent, stats.beat_failures), (1, 1));
    // A failed beat keeps the interval.
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(5)));
    env.transport.set_reachable(0, true);
    env.clock.advance(secs(5));
    guard("a redo", client.wait_until(|s| s.redos >= 1, HANG_GUARD)).await;
    let stats = client.stats();
    assert_eq!(
        (
            stats.redos,
            stats.beats_sent,
            stats.beat_failures,
            stats.beats_not_found
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 1);
}
