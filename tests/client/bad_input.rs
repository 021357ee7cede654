//! Bad input: typed errors, and nothing sent or remembered.

use crate::common::{inst, key};
use crate::env::{orders, Env, GROUP};
use nacre::client::{ClientError, NamingClient, TransportError};
use nacre::transport::memory::MemoryClientTransport;
use nacre::{Instance, Limits, ManualClock, NamingEvent, Registry, StoreError, ValidationError};

#[tokio::test]
async fn bad_names_are_typed_errors_and_nothing_is_sent() {
    let env = Env::new();
    let client = env.client();
    let invalid = |r: Result<_, ClientError>| matches!(r, Err(ClientError::Invalid(_)));
    assert!(invalid(
        client
            .register_instance("a@@b", GROUP, inst("10.0.0.1"))
            .await
    ));
    assert!(invalid(
        client
            .register_instance("orders", "", inst("10.0.0.1"))
            .await
    ));
    assert!(invalid(
        client
            .get_all_instances("orders", GROUP, &["a,b"], true)
            .await
            .map(|_| ())
    ));
    assert!(invalid(
        client
            .select_instances("orders", "bad group", &[], true, false)
            .await
            .map(|_| ())
    ));
    assert!(invalid(
        client
            .subscribe("", GROUP, &[], |_: &NamingEvent| {})
            .await
            .map(|_| ())
    ));
    assert!(invalid(
        client.get_service_list(1, 10, "a@@b").await.map(|_| ())
    ));
    assert_eq!(env.node.store().service_count(), 0);
    assert_eq!(env.transport.installed_subscriptions(), 0);

    let err = NamingClient::builder(env.transport.clone())
        .namespace("a/b")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Invalid(ValidationError::BadCharacter { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_registration_is_an_error_and_is_not_remembered() {
    let clock = ManualClock::new();
    let node = Registry::builder()
        .clock(clock.clone())
        .limits(Limits {
            max_metadata_bytes: 8,
            ..Limits::default()
        })
        .build();
    let client = NamingClient::builder(MemoryClientTransport::new(node.clone()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let big = Instance::builder("10.0.0.1", 8080)
        .metadata("version", "1.2.3-long")
        .build()
        .unwrap();
    let err = client
        .register_instance("orders", GROUP, big)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transport(TransportError::Registry(StoreError::Invalid(
                ValidationError::MetadataTooLarge { .. }
            )))
        ),
        "{err}"
    );
    // A beat task, had one been spawned, would be asleep on the clock after one turn.
    tokio::task::yield_now().await;
    assert_eq!(clock.sleepers(), 0, "no beat task was started");
    assert!(node.get_all_instances(&key("orders"), &[]).is_empty());
}

#[tokio::test]
async fn an_empty_service_has_no_healthy_instance() {
    let env = Env::new();
    let client = env.client();
    let err = client
        .select_one_healthy_instance("orders", GROUP, &[], true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoHealthyInstance { .. }),
        "{err}"
    );
    assert!(orders(&client, false).await.is_empty());
}
