//! Building, shutting down and waiting: the client's own life cycle.

use crate::common::{inst, key};
use crate::env::{orders, Env, GROUP};
use nacre::client::{ClientError, NamingClient};
use std::time::Duration;

#[tokio::test]
async fn shutdown_stops_every_task_and_closes_the_client() {
    let env = Env::new();
    let client = env.client();
    client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    orders(&client, true).await;
    assert_eq!(env.transport.installed_subscriptions(), 1);

    let other_handle = client.clone();
    client.shutdown().await;
    assert_eq!(env.clock.sleepers(), 0, "no beat or pull task is left");
    assert_eq!(env.transport.installed_subscriptions(), 0);
    let closed = other_handle
        .get_all_instances("orders", GROUP, &[], true)
        .await
        .unwrap_err();
    assert!(matches!(closed, ClientError::Closed), "{closed}");
    assert!(matches!(
        other_handle
            .register_instance("orders", GROUP, inst("10.0.0.2"))
            .await,
        Err(ClientError::Closed)
    ));
    // Shutting down does not deregister; the server expires the instance once beats stop.
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 1);
}

#[test]
fn building_outside_a_tokio_runtime_is_an_error() {
    let env = Env::new();
    let err = NamingClient::builder(env.transport.clone())
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::NoRuntime), "{err}");
}

#[tokio::test]
async fn wait_until_gives_up_after_its_timeout_on_a_manual_clock() {
    let env = Env::new();
    let client = env.client();
    // Nothing is registered and the manual clock never moves: no beat will ever be sent.
    let err = client
        .wait_until(|s| s.beats_sent >= 1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::WaitTimedOut { ref stats, .. } if stats.beats_sent == 0),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_waiting_for_subscribers_does_not_hold_up_the_clients_other_registrations() {
    use nacre::client::DrainAction;
    use std::sync::{mpsc, Mutex};
    let env = Env::new();
    let client = env.client();
    client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    // An in-process listener that holds the next change until released: the drain waits.
    let (release, held) = mpsc::channel::<()>();
    let held = Mutex::new(held);
    let calls = Mutex::new(0);
    env.node
        .subscribe(&key("orders"), &[], move |_: &nacre::NamingEvent| {
            let mut n = calls.lock().unwrap();
            *n += 1;
            if *n == 2 {
                let _ = held.lock().unwrap().recv();
            }
        });
    assert!(env.node.wait_for_events(Duration::from_secs(20)));
    let draining = {
        let client = client.clone();
        tokio::spawn(async move {
            let wait = Duration::from_secs(30);
            client
                .drain_instance(
                    "orders",
                    GROUP,
                    &inst("10.0.0.1"),
                    DrainAction::Deregister,
                    wait,
                )
                .await
        })
    };
    let start = std::time::Instant::now();
    while !env.node.get_all_instances(&key("orders"), &[]).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the drain's write"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The drain waits on the held listener; another registration goes through meanwhile.
    tokio::time::timeout(
        Duration::from_secs(10),
        client.register_instance("payments", GROUP, inst("10.0.0.2")),
    )
    .await
    .expect("not held up by the drain's wait")
    .unwrap();
    assert!(!draining.is_finished(), "the drain still waits");
    drop(release);
    let report = draining.await.unwrap().unwrap();
    assert!(report.drained, "{report:?}");
}
