//! How long a node restarting into a cluster that holds many instances takes to become ready. Two `ClusterNode`s over the in-memory network on tokio and the real clock:
//! node-1 holds `SERVICES` x `PER_SERVICE` instances, node-2 restarts empty and loads them
//! chunk by chunk; timed from its start to `is_ready()`. Beside it, the baseline in the same
//! run: merging the same records into an empty registry as one snapshot chunk.
//!
//! Run with `cargo bench --bench restart_load -- 1000 1000`.

#[path = "../support/cli.rs"]
mod cli;
#[path = "../support/replica.rs"]
mod replica;

use nacre::cluster::{ClusterNode, NodeId};
use nacre::transport::memory::MemoryNetwork;
use nacre::{
    Clock, Command, HealthConfig, Instance, Registry, RegistryReader, ServiceKey, SystemClock,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn patient_health() -> HealthConfig {
    // No instance of the test beats: keep them all for the run.
    HealthConfig {
        beat_timeout: Duration::from_secs(3600),
        delete_timeout: Duration::from_secs(7200),
        ..HealthConfig::default()
    }
}

fn node(
    net: &MemoryNetwork,
    clock: &Arc<dyn Clock>,
    id: &NodeId,
    ids: &[NodeId],
) -> Result<ClusterNode, Box<dyn std::error::Error>> {
    let node = ClusterNode::builder(id.clone(), ids.to_vec(), net.transport(id))
        .registry(
            Registry::builder()
                .shared_clock(clock.clone())
                .health(patient_health()),
        )
        .build()?;
    net.attach(&node);
    node.start();
    Ok(node)
}

async fn wait(what: &str, limit: Duration, cond: impl Fn() -> bool) -> Result<Duration, String> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return Err(format!("gave up waiting for: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(start.elapsed())
}

fn instance_total(registry: &RegistryReader) -> usize {
    let store = registry.store();
    store
        .all_keys()
        .iter()
        .filter_map(|k| store.load_any(k))
        .map(|s| s.instance_count())
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = cli::args().into_iter();
    let services: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let per_service: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let ids: Vec<NodeId> = ["node-1", "node-2"]
        .iter()
        .map(|s| NodeId::new(s))
        .collect::<Result<_, _>>()?;
    let net = MemoryNetwork::new(clock.clone(), 1);
    let n1 = node(&net, &clock, &ids[0], &ids)?;
    let n2 = node(&net, &clock, &ids[1], &ids)?;
    wait("a fresh cluster", Duration::from_secs(30), || {
        n1.is_ready() && n2.is_ready()
    })
    .await?;

    let fill = Instant::now();
    for s in 0..services {
        let key = ServiceKey::named(&format!("svc-{s:05}"))?;
        let instances = (0..per_service)
            .map(|i| Instance::new(&format!("10.{}.{}.{}", s % 256, i / 256, i % 256), 8080))
            .collect::<Result<Vec<_>, _>>()?;
        n1.execute(Command::batch_register(&key, instances)).await?;
    }
    let total = instance_total(n1.registry());
    println!(
        "node-1 holds {total} instances in {services} services (filled in {:?})",
        fill.elapsed()
    );

    // Restart node-2: a new, empty node under the same id.
    n2.stop();
    drop(n2);
    let start = Instant::now();
    let n2 = node(&net, &clock, &ids[1], &ids)?;
    let ready = wait("node-2 ready", Duration::from_secs(120), || n2.is_ready()).await?;
    let loaded = instance_total(n2.registry());
    println!(
        "restart into the cluster: node-2 ready after {:.2} s holding {loaded} instances (start to is_ready: {:?})",
        ready.as_secs_f64(),
        start.elapsed()
    );

    // Baseline: the same records loaded into an empty registry as one snapshot chunk, no
    // network and no peer in between.
    let store = n1.registry().store();
    let records: Vec<_> = store
        .all_keys()
        .iter()
        .filter_map(|k| store.load_any(k))
        .map(|s| s.to_record(None))
        .collect();
    let empty = Registry::builder()
        .shared_clock(clock.clone())
        .health(patient_health())
        .build();
    let base = Instant::now();
    drop(replica::load_snapshot(empty.clone(), records, clock.now())?);
    println!(
        "baseline: merging the same {} instances into an empty store: {:.2} s",
        instance_total(&empty),
        base.elapsed().as_secs_f64()
    );
    println!(
        "meets the 10 s target: {}",
        if ready < Duration::from_secs(10) && loaded == total {
            "yes"
        } else {
            "NO"
        }
    );
    Ok(())
}
