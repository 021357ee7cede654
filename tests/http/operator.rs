//! The operator and probe endpoints: metrics with `status` and counts, liveness, readiness.

use crate::env::api;
use nacre::cluster::{ClusterNode, NodeId};
use nacre::http::NacosApi;
use nacre::persist::{CommitPolicy, PersistError, Persistence, StoreWrite};
use nacre::store::ServiceRecord;
use nacre::transport::memory::MemoryNetwork;
use nacre::{Instance, ManualClock, ServiceKey};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A disk whose commits fail while `full`.
#[derive(Default)]
struct Disk {
    rows: Mutex<BTreeMap<ServiceKey, ServiceRecord>>,
    full: AtomicBool,
}

impl Persistence for Disk {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        Ok(self.rows.lock().unwrap().values().cloned().collect())
    }
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(PersistError::io(
                "the test's disk",
                std::io::Error::other("no space left on device"),
            ));
        }
        let mut rows = self.rows.lock().unwrap();
        for w in writes {
            w.apply_to(&mut rows);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_node_whose_disk_fails_is_not_ready_until_a_commit_succeeds() {
    let api = api();
    let disk = Arc::new(Disk::default());
    let policy = CommitPolicy {
        retry_delay: Duration::from_millis(20),
        max_retry_delay: Duration::from_millis(40),
        ..CommitPolicy::group()
    };
    api.registry
        .attach_persistence(disk.clone(), policy)
        .unwrap();
    let register = |ip: &str| {
        format!("/nacos/v1/ns/instance?serviceName=db&ip={ip}&port=5432&ephemeral=false")
    };
    api.ok("POST", &register("10.0.0.1")).await;
    assert_eq!(
        api.ok("GET", "/nacos/v1/console/health/readiness").await,
        "OK"
    );

    disk.full.store(true, Ordering::SeqCst);
    let (status, body) = api.call("POST", &register("10.0.0.2")).await;
    assert_eq!(status, 503, "a write that cannot reach the disk: {body}");
    let (status, body) = api.call("GET", "/nacos/v1/console/health/readiness").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("persistent store") && body.contains("no space left on device"),
        "the reason: {body}"
    );
    let m = api.json("GET", "/nacos/v1/ns/operator/metrics").await;
    assert_eq!(m["status"], "DOWN");
    assert_eq!(
        api.ok("GET", "/nacos/v1/console/health/liveness").await,
        "OK",
        "alive all the same: a restart is not what it needs"
    );

    // The disk has room again: the committer's next try stores the pending write, and the
    // node is ready without a restart.
    disk.full.store(false, Ordering::SeqCst);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = api.call("GET", "/nacos/v1/console/health/readiness").await;
        if status == 200 {
            assert_eq!(body, "OK");
            break;
        }
        assert!(Instant::now() < until, "never ready again: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let m = api.json("GET", "/nacos/v1/ns/operator/metrics").await;
    assert_eq!(m["status"], "UP");
    let stored = disk.rows.lock().unwrap()[&ServiceKey::named("db").unwrap()]
        .instances
        .len();
    assert_eq!(stored, 2, "the write refused with 503 reached the disk");
    api.ok("POST", &register("10.0.0.3")).await;
}

/// `GET /nacos/serverlist` on `app` with `host` as the `Host` header.
async fn server_list(app: &axum::Router, host: Option<&str>) -> (u16, String) {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().uri("/nacos/serverlist");
    if let Some(host) = host {
        req = req.header("host", host);
    }
    let answer = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_server_list_names_what_a_client_should_reach() {
    use nacre::http::ServerList;
    // Standalone: the address the client reached.
    let api = api();
    assert_eq!(
        server_list(&api.app, Some("10.1.2.3:8848")).await,
        (200, "10.1.2.3:8848\n".to_owned())
    );
    // Nothing a client would read as a second address is echoed.
    assert_eq!(server_list(&api.app, Some("a b")).await.0, 404);
    assert_eq!(server_list(&api.app, None).await.0, 404);
    // An operator's list, in its order.
    let fixed = NacosApi::new(api.registry.clone())
        .server_list(ServerList::Fixed(vec![
            "10.0.0.2:8848".into(),
            "10.0.0.1:8848".into(),
        ]))
        .router();
    assert_eq!(
        server_list(&fixed, Some("x:1")).await,
        (200, "10.0.0.2:8848\n10.0.0.1:8848\n".to_owned())
    );
    let unknown = NacosApi::new(api.registry.clone())
        .server_list(ServerList::Unknown("set --server-list".into()))
        .router();
    assert_eq!(
        server_list(&unknown, Some("x:1")).await,
        (404, "set --server-list".to_owned())
    );
    // A cluster member: its members.
    let clock = ManualClock::new();
    let net = MemoryNetwork::new(Arc::new(clock.clone()), 1);
    let ids: Vec<NodeId> = ["127.0.0.1:8848", "127.0.0.1:8849"]
        .iter()
        .map(|s| NodeId::new(s).unwrap())
        .collect();
    let node = ClusterNode::builder(ids[0].clone(), ids.clone(), net.transport(&ids[0]))
        .clock(clock.clone())
        .build()
        .unwrap();
    let member = NacosApi::new(node).router();
    assert_eq!(
        server_list(&member, Some("x:1")).await,
        (200, "127.0.0.1:8848\n127.0.0.1:8849\n".to_owned())
    );
}
