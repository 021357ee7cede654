//! Failover: reads from the disk copy and the cache when no server answers.

use crate::common::fixtures::TempDir;
use crate::common::{inst, key, secs};
use crate::env::{events, guard, ips, orders, recorder, Env, GROUP, HANG_GUARD};
use nacre::client::{ClientError, FailoverError, FailoverStore, NamingClient, ServiceInfo};
use std::time::Duration;

#[tokio::test]
async fn a_new_client_reads_from_disk_when_no_server_answers() {
    let dir = TempDir::new("restart");
    let env = Env::new();
    env.node
        .batch_register_instance(&key("orders"), vec![inst("10.0.0.1"), inst("10.0.0.2")])
        .unwrap();
    let first = env.client_with_cache(&dir);
    orders(&first, true).await;
    guard(
        "the disk write",
        first.wait_until(|s| s.disk_writes >= 1, HANG_GUARD),
    )
    .await;
    // One change (the read's answer; the subscription's pushes bring the same), one write.
    assert_eq!(first.stats().disk_writes, 1);
    let store = FailoverStore::open(&dir.0).unwrap();
    assert_eq!(store.load(&key("orders")).unwrap().unwrap().hosts.len(), 2);
    first.shutdown().await;
    drop(first);

    // The servers are gone; a new client starts with the same cache directory.
    env.transport.set_reachable(0, false);
    let second = env.client_with_cache(&dir);
    let all = orders(&second, true).await;
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(second.stats().failover_reads, 1);
    let picked = second
        .select_one_healthy_instance("orders", GROUP, &[], false)
        .await
        .unwrap();
    assert!(["10.0.0.1", "10.0.0.2"].contains(&picked.ip().as_str()));
    let unknown = second
        .get_all_instances("billing", GROUP, &[], true)
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, ClientError::Unavailable { cause, .. } if cause.is_unreachable()),
        "{unknown}"
    );

    // The servers come back: the next pull replaces the disk copy with fresh data.
    env.transport.set_reachable(0, true);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.3"))
        .unwrap();
    env.clock.advance(secs(10));
    // The client watches both services it read with subscribe = true, `orders` and the
    // unknown `billing`: two pulls, each a change (the fresh `orders`, and the first answer
    // for `billing`, empty), after the disk copy of `orders`.
    guard(
        "the pulls after recovery",
        second.wait_until(|s| s.pulls >= 2 && s.cache_changes >= 3, HANG_GUARD),
    )
    .await;
    let stats = second.stats();
    assert_eq!(
        (
            stats.pulls,
            stats.pull_failures,
            stats.cache_changes,
            stats.failover_reads
        ),
        (2, 0, 3, 1)
    );
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(10)));
    let all = orders(&second, true).await;
    assert_eq!(all.len(), 3);
    // Its disk writes end before the directory goes (else a late one leaves it behind).
    second.shutdown().await;
}

#[tokio::test]
async fn a_listener_gets_the_disk_copy_when_no_server_answers_at_start() {
    let dir = TempDir::new("listener");
    let env = Env::new();
    let store = FailoverStore::open(&dir.0).unwrap();
    store
        .save(&ServiceInfo::new(key("orders"), vec![inst("10.0.0.7")]))
        .unwrap();
    env.transport.set_reachable(0, false);
    let client = env.client_with_cache(&dir);
    let (seen, listener) = recorder();
    client
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();
    assert!(client.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&seen), vec![vec!["10.0.0.7".to_owned()]]);
}

#[tokio::test]
async fn reads_are_served_from_the_cache_when_the_server_goes_away() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    orders(&consumer, true).await;
    env.transport.set_reachable(0, false);
    env.clock.advance(secs(10));
    let failed_at = nacre::Clock::now(&env.clock);
    guard(
        "a failed pull",
        consumer.wait_until(|s| s.pull_failures >= 1, HANG_GUARD),
    )
    .await;
    let stats = consumer.stats();
    assert_eq!((stats.pulls, stats.pull_failures), (1, 1));
    // Failing pulls back off: the next try is 20 s after the failure, not 10.
    assert_eq!(env.clock.next_wakeup(), Some(failed_at + secs(20)));

    for subscribe in [true, false] {
        let all = orders(&consumer, subscribe).await;
        assert_eq!(ips(&all), ["10.0.0.1"], "subscribe = {subscribe}");
    }
    env.clock.advance(secs(20));
    guard(
        "a second failed pull",
        consumer.wait_until(|s| s.pull_failures >= 2, HANG_GUARD),
    )
    .await;
    let stats = consumer.stats();
    assert_eq!((stats.pulls, stats.pull_failures), (2, 2));
    // And doubles again: 40 s.
    assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + secs(40)));
}

#[tokio::test]
async fn a_corrupt_failover_file_is_a_typed_error_not_a_panic() {
    let dir = TempDir::new("corrupt");
    let store = FailoverStore::open(&dir.0).unwrap();
    std::fs::write(store.path_for(&key("orders")), b"{\"service\": [garbage").unwrap();
    assert!(matches!(
        store.load(&key("orders")),
        Err(FailoverError::Corrupt { .. })
    ));
    let valid_json_bad_instance = br#"{"service":{"namespace":"public","group":"DEFAULT_GROUP","service":"billing"},"hosts":[{"ip":"300.1.1.1","port":80}]}"#;
    std::fs::write(store.path_for(&key("billing")), valid_json_bad_instance).unwrap();
    assert!(matches!(
        store.load(&key("billing")),
        Err(FailoverError::Corrupt { .. })
    ));

    let env = Env::new();
    env.transport.set_reachable(0, false);
    let client = env.client_with_cache(&dir);
    for service in ["orders", "billing"] {
        let err = client
            .get_all_instances(service, GROUP, &[], true)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unavailable { .. }), "{err}");
    }
}

#[tokio::test]
async fn an_unusable_cache_dir_is_a_typed_error() {
    let dir = TempDir::new("notadir");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("file");
    std::fs::write(&file, b"x").unwrap();
    let env = Env::new();
    let err = NamingClient::builder(env.transport.clone())
        .cache_dir(file.join("sub"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Failover(FailoverError::Io { .. })),
        "{err}"
    );
}
