//! A 3-node cluster in one process, on tokio and the real clock, with every Nacos timing scaled
//! down tenfold so the demo takes a few seconds: register through one node, read from the
//! others, crash the responsible node, watch failover and convergence, restart it.
//!
//! Run with `cargo run --release --example cluster`.

use nacre::cluster::{ClusterNode, DistroConfig, NodeId};
use nacre::transport::memory::MemoryNetwork;
use nacre::{Clock, HealthConfig, Instance, Registry, ServiceKey, SystemClock};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCALE: u32 = 10;

fn scaled_distro() -> DistroConfig {
    let d = DistroConfig::default();
    DistroConfig {
        sync_delay: d.sync_delay / SCALE,
        retry_delay: d.retry_delay / SCALE,
        verify_interval: d.verify_interval / SCALE,
        ping_interval: d.ping_interval / SCALE,
        peer_down_after: d.peer_down_after / SCALE,
        request_timeout: d.request_timeout / SCALE,
        ..d
    }
}

fn scaled_health() -> HealthConfig {
    let h = HealthConfig::default();
    HealthConfig {
        beat_interval: h.beat_interval / SCALE,
        beat_timeout: h.beat_timeout / SCALE,
        delete_timeout: h.delete_timeout / SCALE,
        check_interval: h.check_interval / SCALE,
        ..h
    }
}

struct Demo {
    start: Instant,
    net: MemoryNetwork,
    ids: Vec<NodeId>,
    clock: Arc<dyn Clock>,
}

impl Demo {
    fn say(&self, what: impl AsRef<str>) {
        println!(
            "[{:>6} ms] {}",
            self.start.elapsed().as_millis(),
            what.as_ref()
        );
    }

    fn node(&self, id: &NodeId) -> ClusterNode {
        let node = ClusterNode::builder(id.clone(), self.ids.clone(), self.net.transport(id))
            .config(scaled_distro())
            .registry(
                Registry::builder()
                    .shared_clock(self.clock.clone())
                    .health(scaled_health()),
            )
            .build()
            .expect("every id of the demo is in its member list");
        self.net.attach(&node);
        node.start();
        node
    }

    async fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            if Instant::now() > deadline {
                self.say(format!("gave up waiting for: {what}"));
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.say(what);
    }
}

fn count(node: &ClusterNode, key: &ServiceKey) -> (usize, usize) {
    let all = node.registry().get_all_instances(key, &[]);
    (all.len(), all.iter().filter(|i| i.healthy()).count())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let ids: Vec<NodeId> = ["node-1", "node-2", "node-3"]
        .iter()
        .map(|s| NodeId::new(s))
        .collect::<Result<_, _>>()?;
    let demo = Demo {
        start: Instant::now(),
        net: MemoryNetwork::new(clock.clone(), 1),
        ids: ids.clone(),
        clock,
    };
    let mut nodes: Vec<ClusterNode> = ids.iter().map(|id| demo.node(id)).collect();
    demo.say("3 nodes started (timings scaled down 10x: sync 100 ms, peers down after 500 ms, unhealthy after 1.5 s, removed after 3 s)");
    demo.wait_for("all nodes loaded their snapshot and serve", || {
        nodes.iter().all(|n| n.is_ready())
    })
    .await;
    demo.wait_for("every node sees all three as healthy members", || {
        nodes.iter().all(|n| n.mapper().members().len() == 3)
    })
    .await;

    // A service owned by node-2, so node-1 (where the client talks) only relays.
    let key = (0..100)
        .map(|i| ServiceKey::named(&format!("orders-{i}")))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|k| nodes[0].mapper().owner(k) == Some(&ids[1]))
        .ok_or("no service maps to node-2")?;
    demo.say(format!(
        "{key} is the responsibility of node-2; clients talk to node-1"
    ));

    let instances: Vec<Instance> = (1..=3)
        .map(|i| Instance::new(&format!("10.0.0.{i}"), 8080))
        .collect::<Result<_, _>>()?;
    for inst in &instances {
        nodes[0].register_instance(&key, inst.clone()).await?;
    }
    demo.say("registered 3 instances through node-1 (forwarded to node-2)");
    demo.wait_for("node-3 sees all 3 (replicated by node-2)", || {
        count(&nodes[2], &key).0 == 3
    })
    .await;

    // The client beats through node-1 every 500 ms.
    let beater = {
        let node = nodes[0].clone();
        let (key, instances) = (key.clone(), instances.clone());
        tokio::spawn(async move {
            loop {
                for inst in &instances {
                    // An error here would be a lost beat; the next one retries.
                    let _ = node.heartbeat_with(&key, inst).await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    nodes[1].stop();
    demo.net.crash(&ids[1]);
    demo.say("node-2 crashed; beats through node-1 fall back to being applied locally");
    demo.wait_for(
        "node-1 and node-3 marked node-2 down and moved its services",
        || nodes[0].mapper().members().len() == 2 && nodes[2].mapper().members().len() == 2,
    )
    .await;
    let heir = nodes[0].mapper().owner(&key).cloned();
    demo.say(format!(
        "{key} is now the responsibility of {}",
        heir.map_or("nobody".into(), |h| h.to_string())
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (all, healthy) = count(&nodes[2], &key);
    demo.say(format!("4 s later (longer than the 3 s delete timeout): node-3 has {all} instances, {healthy} healthy: nothing that beats was evicted"));

    let late = Instance::new("10.0.0.4", 8080)?;
    nodes[2].register_instance(&key, late).await?;
    demo.say("registered a 4th instance through node-3 while node-2 is down");
    demo.wait_for("node-1 sees it", || count(&nodes[0], &key).0 == 4)
        .await;

    nodes[1] = demo.node(&ids[1]);
    demo.say("node-2 restarted with empty state");
    demo.wait_for("node-2 loaded a snapshot from a peer and serves", || {
        nodes[1].is_ready()
    })
    .await;
    demo.wait_for("node-2 holds all 4 instances, all healthy", || {
        count(&nodes[1], &key) == (4, 4)
    })
    .await;
    demo.wait_for("all three nodes agree on the owner again", || {
        nodes.iter().all(|n| n.mapper().members().len() == 3)
    })
    .await;

    beater.abort();
    demo.say("the client stops beating");
    demo.wait_for(
        "every node evicted all 4 instances (3 s without a beat)",
        || nodes.iter().all(|n| count(n, &key).0 == 0),
    )
    .await;
    let stats = demo.net.stats();
    demo.say(format!(
        "network: {} requests, {} delivered, {} bytes as JSON",
        stats.requests, stats.delivered, stats.bytes
    ));
    Ok(())
}
