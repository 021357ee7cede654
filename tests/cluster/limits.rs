//! Limits and empty-service removal in a cluster: the owner removes an empty service and every
//! member follows, and a limit refused by the owner reaches the forwarding member typed.

use crate::common::{in_ns, inst, key, secs};
use nacre::cluster::{
    ClusterError, Dispatch, DistroConfig, DistroCore, NodeId, PeerRequest, PeerResponse,
    RemoteFailure, Route,
};
use nacre::front::ErrorClass;
use nacre::model::LimitExceeded;
use nacre::{Command, Limits, ManualClock, Registry, StoreError};

#[test]
fn in_a_cluster_the_owner_removes_an_empty_service_and_every_member_follows() {
    use nacre::transport::memory::{SimConfig, Simulation};
    let mut sim = Simulation::with_nodes(3, 11, SimConfig::default());
    sim.run_for(secs(1));
    let orders = key("orders");
    let members = sim.members().to_vec();
    let owner = sim
        .core(&members[0])
        .unwrap()
        .routing()
        .mapper()
        .owner(&orders)
        .unwrap()
        .clone();
    let other = members.iter().find(|m| **m != owner).unwrap().clone();
    sim.register(&other, &orders, inst("10.0.0.1")).unwrap();
    sim.run_for(secs(2));
    sim.deregister(&other, &orders, &inst("10.0.0.1").key())
        .unwrap();
    sim.run_for(secs(30));
    for m in &members {
        assert!(sim.registry(m).unwrap().service(&orders).is_some(), "{m}");
    }
    sim.run_for(secs(35));
    for m in &members {
        let registry = sim.registry(m).unwrap();
        assert!(registry.service(&orders).is_none(), "{m} still has it");
        // One removal, made by the owner and replicated.
        let removed = registry.store().load_any(&orders).unwrap();
        assert_eq!(removed.meta_version().origin, owner.origin(), "{m}");
    }
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
        owner_registry,
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
    owner
        .registry()
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
