//! The operator and probe endpoints: metrics with `status` and counts, liveness, readiness.

use crate::env::api;
use nacre::cluster::{ClusterNode, NodeId};
use nacre::http::NacosApi;
use nacre::transport::memory::MemoryNetwork;
use nacre::{Instance, ManualClock, ServiceKey};
use std::sync::Arc;

#[tokio::test]
async fn metrics_answer_up_and_the_counts() {
    let api = api();
    for (service, ip) in [
        ("orders", "10.0.0.1"),
        ("orders", "10.0.0.2"),
        ("payments", "10.0.0.3"),
    ] {
        api.registry
            .register_instance(
                &ServiceKey::named(service).unwrap(),
                Instance::new(ip, 80).unwrap(),
            )
            .unwrap();
    }
    let m = api.json("GET", "/nacos/v1/ns/operator/metrics").await;
    assert_eq!(m["status"], "UP");
    assert_eq!(m["serviceCount"], 2);
    assert_eq!(m["instanceCount"], 3);
    assert_eq!(
        m["responsibleServiceCount"], 2,
        "a standalone node answers for all"
    );
    assert_eq!(m["responsibleInstanceCount"], 3);
    assert_eq!(
        api.ok("GET", "/nacos/v1/console/health/liveness").await,
        "OK"
    );
    assert_eq!(
        api.ok("GET", "/nacos/v1/console/health/readiness").await,
        "OK"
    );
}

#[tokio::test]
async fn a_loading_cluster_member_is_down_and_not_ready_but_alive() {
    // A member whose peers never answer stays loading.
    let clock = ManualClock::new();
    let ids: Vec<NodeId> = ["n1", "n2"]
        .iter()
        .map(|s| NodeId::new(s).unwrap())
        .collect();
    let net = MemoryNetwork::new(Arc::new(clock.clone()), 1);
    let node = ClusterNode::builder(ids[0].clone(), ids.clone(), net.transport(&ids[0]))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(!node.is_ready());
    // The node's registry is read through the API only: its writes belong to the node, which
    // hands out no writable registry. The `Api`'s own registry is a bystander here.
    let api = crate::env::Api {
        app: NacosApi::new(node.clone()).router(),
        registry: crate::common::registry_on(&clock),
        clock,
    };
    let m = api.json("GET", "/nacos/v1/ns/operator/metrics").await;
    assert_eq!(m["status"], "DOWN");
    let (status, body) = api.call("GET", "/nacos/v1/console/health/readiness").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        api.ok("GET", "/nacos/v1/console/health/liveness").await,
        "OK"
    );
}
