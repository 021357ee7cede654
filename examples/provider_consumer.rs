//! A provider and a consumer in one process, talking to an in-process registry node.
//!
//! Time is a `ManualClock` moved by hand, so a simulated minute and a half takes
//! milliseconds. Run with `cargo run --example provider_consumer`.

use nacre::client::NamingClient;
use nacre::model::DEFAULT_GROUP;
use nacre::transport::memory::MemoryClientTransport;
use nacre::{Instance, ManualClock, NamingEvent, Registry};
use std::collections::BTreeMap;
use std::error::Error;
use std::time::Duration;

/// How long the demo waits, in real time, for a step that should take milliseconds.
const WAIT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let clock = ManualClock::new();
    let node = Registry::builder().clock(clock.clone()).build();
    let transport = MemoryClientTransport::new(node.clone());
    let settle = Duration::from_secs(5);

    // The provider: two instances of `orders`, the second with three times the weight.
    let provider = NamingClient::builder(transport.clone())
        .clock(clock.clone())
        .build()?;
    let small = Instance::builder("10.0.0.1", 8080).weight(1.0).build()?;
    let large = Instance::builder("10.0.0.2", 8080).weight(3.0).build()?;
    provider
        .register_instance("orders", DEFAULT_GROUP, small.clone())
        .await?;
    provider
        .register_instance("orders", DEFAULT_GROUP, large)
        .await?;
    println!("provider: registered 10.0.0.1 (weight 1) and 10.0.0.2 (weight 3)");

    // The consumer: watches `orders` and prints every change it hears of.
    let consumer = NamingClient::builder(transport.clone())
        .clock(clock.clone())
        .build()?;
    consumer
        .subscribe("orders", DEFAULT_GROUP, &[], |e: &NamingEvent| {
            let list: Vec<String> = e
                .instances
                .iter()
                .map(|i| {
                    format!(
                        "{}{}",
                        i.endpoint(),
                        if i.healthy() { "" } else { " (unhealthy)" }
                    )
                })
                .collect();
            println!("consumer: event #{}: {list:?}", e.revision);
        })
        .await?;
    consumer.wait_for_events(settle);

    // Half a minute of beats: the node keeps finding both instances healthy.
    for beat in 1..=6 {
        clock.advance(Duration::from_secs(5));
        provider
            .wait_until(|s| s.beats_sent >= 2 * beat, WAIT)
            .await?;
        node.check_health();
    }
    let key = provider.service_key("orders", DEFAULT_GROUP)?;
    println!(
        "node: after 30 s of beats, {} of 2 instances healthy",
        node.select_instances(&key, &[], true).len()
    );

    // The consumer picks by weight.
    let mut picks = BTreeMap::new();
    for _ in 0..4_000 {
        let picked = consumer
            .select_one_healthy_instance("orders", DEFAULT_GROUP, &[], true)
            .await?;
        *picks.entry(picked.endpoint().to_string()).or_insert(0) += 1;
    }
    println!("consumer: 4000 weighted picks: {picks:?}");

    // The node restarts and forgets everything; the provider's next beat finds out and redoes.
    transport.replace_node(0, Registry::builder().clock(clock.clone()).build());
    println!("node: restarted with no data");
    clock.advance(Duration::from_secs(5));
    provider.wait_until(|s| s.redos >= 1, WAIT).await?;
    let restarted = transport.node(0).ok_or("node 0 is gone")?;
    println!(
        "provider: redo done; the restarted node holds {} instances",
        restarted.get_all_instances(&key, &[]).len()
    );
    // The consumer's next pull (due now, 40 s after it subscribed) renews its push
    // subscription on the restarted node.
    let pulls = consumer.stats().pulls;
    clock.advance(Duration::from_secs(5));
    consumer.wait_until(|s| s.pulls > pulls, WAIT).await?;

    // The provider takes one instance away; the consumer hears of it by push.
    let changes = consumer.stats().cache_changes;
    provider
        .deregister_instance("orders", DEFAULT_GROUP, &small)
        .await?;
    println!("provider: deregistered 10.0.0.1");
    consumer
        .wait_until(|s| s.cache_changes > changes, WAIT)
        .await?;
    consumer.wait_for_events(settle);

    let stats = consumer.stats();
    println!(
        "consumer: {} pushes, {} pulls, {} cache changes",
        stats.pushes, stats.pulls, stats.cache_changes
    );
    Ok(())
}
