//! Selection: weighted, and filtered by cluster.

use crate::common::key;
use crate::env::{ips, orders, Env, GROUP};
use nacre::client::ClientError;
use nacre::Instance;

#[tokio::test]
async fn weighted_selection_follows_the_weights() {
    let env = Env::new();
    let persistent = |ip: &str| Instance::builder(ip, 8080).ephemeral(false);
    env.node
        .batch_register_instance(
            &key("orders"),
            vec![
                persistent("10.0.0.1").weight(1.0).build().unwrap(),
                persistent("10.0.0.2").weight(3.0).build().unwrap(),
                persistent("10.0.0.3").weight(6.0).build().unwrap(),
                persistent("10.0.0.4").weight(0.0).build().unwrap(),
                persistent("10.0.0.5")
                    .healthy(false)
                    .weight(50.0)
                    .build()
                    .unwrap(),
                persistent("10.0.0.6")
                    .enabled(false)
                    .weight(50.0)
                    .build()
                    .unwrap(),
            ],
        )
        .unwrap();
    let consumer = env.client();

    fastrand::seed(7);
    let picks = 20_000;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..picks {
        let picked = consumer
            .select_one_healthy_instance("orders", GROUP, &[], true)
            .await
            .unwrap();
        *counts.entry(picked.ip().to_string()).or_insert(0u32) += 1;
    }
    assert_eq!(
        counts.keys().map(String::as_str).collect::<Vec<_>>(),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
        "weight 0, unhealthy and disabled instances are never picked"
    );
    for (ip, expected) in [("10.0.0.1", 0.1), ("10.0.0.2", 0.3), ("10.0.0.3", 0.6)] {
        let share = f64::from(counts[ip]) / f64::from(picks);
        assert!(
            (share - expected).abs() < 0.02,
            "{ip}: share {share}, expected {expected}"
        );
    }

    // select_instances keeps the enabled instances of weight > 0, healthy only if asked.
    let healthy = consumer
        .select_instances("orders", GROUP, &[], true, true)
        .await
        .unwrap();
    assert_eq!(ips(&healthy), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    let usable = consumer
        .select_instances("orders", GROUP, &[], false, true)
        .await
        .unwrap();
    assert_eq!(
        ips(&usable),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"]
    );
    // The server lists enabled instances only (as over HTTP): the disabled one is not there.
    let all = orders(&consumer, true).await;
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn selection_filters_by_cluster() {
    let env = Env::new();
    let in_cluster = |ip: &str, c: &str| Instance::builder(ip, 8080).cluster(c).build().unwrap();
    env.node
        .batch_register_instance(
            &key("orders"),
            vec![in_cluster("10.0.0.1", "a"), in_cluster("10.0.0.2", "b")],
        )
        .unwrap();
    let consumer = env.client();
    for subscribe in [true, false] {
        let b = consumer
            .select_instances("orders", GROUP, &["b"], true, subscribe)
            .await
            .unwrap();
        assert_eq!(ips(&b), ["10.0.0.2"]);
        let picked = consumer
            .select_one_healthy_instance("orders", GROUP, &["a"], subscribe)
            .await
            .unwrap();
        assert_eq!(picked.ip().as_str(), "10.0.0.1");
        let none = consumer
            .select_one_healthy_instance("orders", GROUP, &["c"], subscribe)
            .await
            .unwrap_err();
        assert!(
            matches!(none, ClientError::NoHealthyInstance { .. }),
            "{none}"
        );
    }
}
