//! Empty-service removal in a cluster: the owner removes an empty service and every member
//! follows. (A limit refused by the owner reaching the forwarding member typed is tested
//! beside the route, in `src/cluster/dispatch_tests.rs`.)

use crate::common::{inst, key, secs};

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
