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
