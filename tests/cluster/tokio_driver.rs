//! ClusterNodes on tokio over the in-process MemoryNetwork, on a ManualClock: the async driver
//! and the Transport path, end to end. Time moves only when the test moves it, one wake-up at a
//! time, so no real time passes.

use nacre::cluster::{ClusterNode, DistroConfig, NodeId};
use nacre::transport::memory::{registry_contents, LinkFaults, MemoryNetwork};
use nacre::{Instance, ManualClock, Registry, ServiceKey, Timestamp};
use std::sync::Arc;
use std::time::Duration;

struct Cluster {
    clock: ManualClock,
    net: MemoryNetwork,
    ids: Vec<NodeId>,
    nodes: Vec<ClusterNode>,
}

impl Cluster {
    fn new(n: usize) -> Self {
        let clock = ManualClock::new();
        let net = MemoryNetwork::new(Arc::new(clock.clone()), 7);
        let ids: Vec<NodeId> = (1..=n)
            .map(|i| NodeId::new(&format!("n{i}")).unwrap())
            .collect();
        let nodes = ids
            .iter()
            .map(|id| Self::make(&clock, &net, &ids, id))
            .collect();
        Self {
            clock,
            net,
            ids,
            nodes,
        }
    }

    fn make(clock: &ManualClock, net: &MemoryNetwork, ids: &[NodeId], id: &NodeId) -> ClusterNode {
        let node = ClusterNode::builder(id.clone(), ids.to_vec(), net.transport(id))
            .config(DistroConfig::default())
            .registry(Registry::builder().clock(clock.clone()).delivery_threads(1))
            .build()
            .unwrap();
        net.attach(&node);
        node.start();
        node
    }

    /// Lets every task run, then moves the clock to the next wake-up (at most `until`), until
    /// `done` holds or `until` passes. Returns whether `done` held.
    async fn run_until(&self, until: Timestamp, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
            if done(self) {
                return true;
            }
            let now = self.clock.now();
            if now >= until {
                return false;
            }
            let next = self.clock.next_wakeup().map_or(until, |t| t.min(until));
            self.clock.set(next.max(now + Duration::from_micros(1)));
        }
    }

    /// Runs `fut` in its own task while moving the clock, so calls that wait on simulated
    /// network delays complete.
    async fn call<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let task = tokio::spawn(fut);
        let until = self.clock.now() + Duration::from_secs(30);
        assert!(
            self.run_until(until, |_| task.is_finished()).await,
            "call did not finish"
        );
        task.await.expect("the call panicked")
    }

    async fn run_for(&self, d: Duration) {
        let until = self.clock.now() + d;
        self.run_until(until, |_| false).await;
    }
}

fn everyone_has(c: &Cluster, key: &ServiceKey, n: usize) -> bool {
    c.nodes
        .iter()
        .all(|node| node.registry().get_all_instances(key, &[]).len() == n)
}

#[tokio::test]
async fn a_registration_through_one_node_reaches_all_over_the_memory_network() {
    let c = Cluster::new(3);
    let t0 = c.clock.now();
    assert!(
        c.run_until(t0 + Duration::from_secs(2), |c| c
            .nodes
            .iter()
            .all(|n| n.is_ready()))
            .await
    );
    let key = ServiceKey::named("orders").unwrap();
    for i in 0..20u8 {
        let via = &c.nodes[usize::from(i) % 3];
        via.register_instance(&key, Instance::new(&format!("10.0.0.{i}"), 80).unwrap())
            .await
            .unwrap();
    }
    let t1 = c.clock.now();
    assert!(
        c.run_until(t1 + Duration::from_millis(1100), |c| everyone_has(
            c, &key, 20
        ))
        .await,
        "visible everywhere within sync delay plus a batch"
    );
    let first = registry_contents(c.nodes[0].registry());
    for node in &c.nodes[1..] {
        assert_eq!(registry_contents(node.registry()), first);
    }
    assert!(c.net.stats().delivered > 0);
}

#[tokio::test]
async fn beats_through_any_node_survive_a_crash_and_a_restart_loads_the_snapshot() {
    let mut c = Cluster::new(3);
    let t0 = c.clock.now();
    assert!(
        c.run_until(t0 + Duration::from_secs(2), |c| c
            .nodes
            .iter()
            .all(|n| n.is_ready()))
            .await
    );
    let key = ServiceKey::named("orders").unwrap();
    let inst = Instance::new("10.0.0.1", 80).unwrap();
    c.nodes[0]
        .register_instance(&key, inst.clone())
        .await
        .unwrap();
    c.run_for(Duration::from_secs(2)).await;

    // Crash whichever node owns the service, unless it is the one the client uses.
    let owner = c.nodes[0].mapper().owner(&key).unwrap().clone();
    let victim = if owner == c.ids[0] {
        1
    } else {
        c.ids.iter().position(|i| *i == owner).unwrap()
    };
    c.nodes[victim].stop();
    c.net.crash(&c.ids[victim]);
    // Lossy links too, for good measure.
    c.net.with_faults(|f| {
        f.set_default(LinkFaults {
            drop_rate: 0.1,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(5),
        })
    });
    for _ in 0..24 {
        let (node, key, inst) = (c.nodes[0].clone(), key.clone(), inst.clone());
        c.call(async move { node.heartbeat_with(&key, &inst).await })
            .await
            .unwrap();
        c.run_for(Duration::from_secs(5)).await;
    }
    c.net.with_faults(|f| f.clear_link_faults());
    for (i, node) in c.nodes.iter().enumerate() {
        if i == victim {
            continue;
        }
        let all = node.registry().get_all_instances(&key, &[]);
        assert_eq!(all.len(), 1, "lost on {}", node.id());
        assert!(all.iter().all(|i| i.healthy()));
    }

    // Restart with empty state: it loads the snapshot before serving.
    let fresh = Cluster::make(&c.clock, &c.net, &c.ids, &c.ids[victim]);
    assert!(!fresh.is_ready());
    assert!(matches!(
        fresh.register_instance(&key, inst.clone()).await,
        Err(nacre::cluster::ClusterError::NotReady(_))
    ));
    c.nodes[victim] = fresh;
    let t = c.clock.now();
    assert!(
        c.run_until(t + Duration::from_secs(5), |c| c.nodes[victim].is_ready())
            .await
    );
    assert_eq!(
        c.nodes[victim]
            .registry()
            .get_all_instances(&key, &[])
            .len(),
        1
    );
}

#[tokio::test]
async fn a_naming_client_against_the_cluster_keeps_its_instance_through_a_node_crash() {
    use nacre::client::NamingClient;
    use nacre::transport::memory::MemoryClientTransport;

    let c = Cluster::new(3);
    let t0 = c.clock.now();
    assert!(
        c.run_until(t0 + Duration::from_secs(2), |c| c
            .nodes
            .iter()
            .all(|n| n.is_ready()))
            .await
    );
    let transport = MemoryClientTransport::cluster_nodes(c.nodes.clone());
    let client = NamingClient::builder(transport.clone())
        .clock(c.clock.clone())
        .build()
        .unwrap();
    let key = ServiceKey::named("orders").unwrap();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    {
        let (client, inst) = (client.clone(), inst.clone());
        c.call(async move {
            client
                .register_instance("orders", "DEFAULT_GROUP", inst)
                .await
        })
        .await
        .unwrap();
    }
    c.run_for(Duration::from_secs(60)).await;
    for node in &c.nodes {
        let all = node.registry().get_all_instances(&key, &[]);
        assert_eq!(all.len(), 1, "{}", node.id());
        assert!(all.iter().all(|i| i.healthy()), "{}", node.id());
    }
    // The node the client talks to crashes; the client moves on to the next one.
    c.nodes[0].stop();
    c.net.crash(&c.ids[0]);
    transport.set_reachable(0, false);
    c.run_for(Duration::from_secs(90)).await;
    for node in &c.nodes[1..] {
        let all = node.registry().get_all_instances(&key, &[]);
        assert_eq!(all.len(), 1, "{}", node.id());
        assert!(all.iter().all(|i| i.healthy()), "{}", node.id());
    }
    assert_eq!(transport.active_node(), Some(1));
    client.shutdown().await;
}
