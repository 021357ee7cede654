//! The route of a write on a cluster member: a limit refused by the owner reaches the
//! forwarding member typed, and is not applied there either.

use crate::cluster::{
    ClusterError, Dispatch, DistroConfig, DistroCore, NodeId, PeerRequest, PeerResponse,
    RemoteFailure, Route,
};
use crate::front::ErrorClass;
use crate::model::LimitExceeded;
use crate::{Command, Instance, Limits, ManualClock, Registry, ServiceKey, StoreError};

fn key(service: &str) -> ServiceKey {
    ServiceKey::named(service).unwrap()
}

fn in_ns(namespace: &str, service: &str) -> ServiceKey {
    ServiceKey::new(namespace, "DEFAULT_GROUP", service).unwrap()
}

fn inst(ip: &str) -> Instance {
    Instance::new(ip, 8080).unwrap()
}

#[test]
fn a_limit_refused_by_the_owner_reaches_the_forwarding_member_typed() {
    let clock = ManualClock::new();
    let n1 = NodeId::new("n1").unwrap();
    let n2 = NodeId::new("n2").unwrap();
    let owner_registry = Registry::builder()
        .clock(clock.clone())
        .origin(n1.origin())
        .limits(Limits {
            max_namespaces: 1,
            ..Limits::default()
        })
        .build();
    let mut owner = DistroCore::new(
        n1.clone(),
        &[n1.clone(), n2.clone()],
        owner_registry.clone(),
        DistroConfig::default(),
        clock.now(),
    )
    .unwrap();
    // Let the owner load an (empty) snapshot from n2, so it serves.
    for out in owner.poll(clock.now()) {
        if matches!(out.request, PeerRequest::Snapshot { .. }) {
            owner.on_response(
                out.id,
                Ok(PeerResponse::Chunk {
                    records: vec![],
                    next: None,
                }),
                clock.now(),
            );
        }
    }
    assert!(owner.is_ready());
    owner_registry
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();

    let forwarder = Registry::builder().clock(clock.clone()).build();
    let dev = in_ns("dev", "orders");
    let Dispatch::Forward(fwd) = Dispatch::begin(
        Route::Forward(n1.clone()),
        &n2,
        &forwarder,
        Command::register(&dev, inst("10.0.0.1")),
    ) else {
        panic!("should forward");
    };
    let answer = owner.handle(&n2, fwd.request(), clock.now());
    assert!(matches!(
        answer,
        PeerResponse::Forwarded(Err(RemoteFailure::Limit(LimitExceeded::Namespaces { .. })))
    ));
    let err = fwd.complete(&forwarder, Ok(answer)).unwrap_err();
    assert!(matches!(
        err,
        ClusterError::Registry(StoreError::Limit(LimitExceeded::Namespaces { .. }))
    ));
    assert_eq!(ErrorClass::of(&err), ErrorClass::OverLimit);
    assert_eq!(ErrorClass::of(&err).http_status(), 429);
    // Not applied on the forwarding member either.
    assert!(forwarder.service(&dev).is_none());
}

/// A write the owner applied but could not put on disk is a failure of the owner (503 on the
/// forwarding member, as on the owner itself), not a bad request; before, it crossed the wire
/// as a plain refusal and was answered 400.
#[test]
fn a_write_the_owner_could_not_store_is_unavailable_on_the_forwarding_member() {
    let n1 = NodeId::new("n1").unwrap();
    let n2 = NodeId::new("n2").unwrap();
    let forwarder = Registry::builder().clock(ManualClock::new()).build();
    let Dispatch::Forward(fwd) = Dispatch::begin(
        Route::Forward(n1.clone()),
        &n2,
        &forwarder,
        Command::register(&key("orders"), inst("10.0.0.1")),
    ) else {
        panic!("should forward");
    };
    let answer = PeerResponse::Forwarded(Err(RemoteFailure::NotPersisted(
        "the commit did not finish within 5s".into(),
    )));
    let encoded = crate::cluster::encode_message(&answer).unwrap();
    let answer: PeerResponse = crate::cluster::decode_message(&encoded).unwrap();
    let err = fwd.complete(&forwarder, Ok(answer)).unwrap_err();
    assert!(
        matches!(err, ClusterError::RemoteNotPersisted { .. }),
        "{err}"
    );
    assert_eq!(ErrorClass::of(&err).http_status(), 503);
    // Not applied on the forwarding member: the owner has it in memory.
    assert!(forwarder.service(&key("orders")).is_none());
}
