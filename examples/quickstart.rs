//! The whole lifecycle of an instance on one registry node, on a ManualClock so it finishes at
//! once: register, subscribe, beat, stop beating, turn unhealthy, get evicted.
//!
//! Run with `cargo run --release --example quickstart`.

use nacre::{Clock, Instance, ManualClock, NamingEvent, Registry, ServiceKey};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let t0 = clock.now();
    let registry = Registry::builder().clock(clock.clone()).build();
    let orders = ServiceKey::named("orders")?;
    let payments = ServiceKey::from_grouped("public", "billing@@payments")?;

    // Subscribe before anything exists: the first event comes with the first instance.
    let event_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    registry.subscribe(&orders, &[], move |e: &NamingEvent| {
        let list: Vec<String> = e
            .instances
            .iter()
            .map(|i| {
                format!(
                    "{}:{}{}",
                    i.ip(),
                    i.port(),
                    if i.healthy() { "" } else { " (unhealthy)" }
                )
            })
            .collect();
        println!(
            "  [event @{:>5.1}s] {} revision {} -> [{}]",
            event_clock.now().saturating_since(t0).as_secs_f64(),
            e.service,
            e.revision,
            list.join(", ")
        );
    });

    println!("register two providers of {orders} and one of {payments}");
    let a = Instance::builder("10.0.0.1", 8080)
        .weight(3.0)
        .metadata("version", "1.4.2")
        .build()?;
    let b = Instance::builder("10.0.0.2", 8080).weight(1.0).build()?;
    registry.register_instance(&orders, a.clone())?;
    registry.register_instance(&orders, b.clone())?;
    registry.register_instance(
        &payments,
        Instance::builder("10.0.1.1", 9090).cluster("hz").build()?,
    )?;
    registry.wait_for_events(Duration::from_secs(5));

    let mut picks = [0usize; 2];
    for _ in 0..1000 {
        let picked = registry.select_one_healthy_instance(&orders, &[])?;
        picks[usize::from(picked.ip().as_str() == "10.0.0.2")] += 1;
    }
    println!(
        "weighted picks over 1000 calls: 10.0.0.1 (weight 3) = {}, 10.0.0.2 (weight 1) = {}",
        picks[0], picks[1]
    );

    // One health sweep, printing what it did; the events it causes follow.
    let sweep = |registry: &Registry| {
        let report = registry.check_health();
        let at = clock.now().saturating_since(t0).as_secs_f64();
        for (svc, inst) in &report.marked_unhealthy {
            println!(
                "  @{at:>5.1}s: {} in {svc} marked unhealthy (15 s without a beat)",
                inst.endpoint
            );
        }
        for (svc, inst) in &report.removed {
            println!(
                "  @{at:>5.1}s: {} removed from {svc} (30 s without a beat)",
                inst.endpoint
            );
        }
        registry.wait_for_events(Duration::from_secs(5));
    };

    println!("both orders providers beat every 5 s for 20 s; the payments provider never beats");
    for _ in 0..4 {
        clock.advance(Duration::from_secs(5));
        let reply = registry.heartbeat(&orders, &a.key())?;
        registry.heartbeat(&orders, &b.key())?;
        if clock.now().saturating_since(t0) == Duration::from_secs(5) {
            println!(
                "  (the registry tells clients to beat every {:?})",
                reply.client_beat_interval
            );
        }
        sweep(&registry);
    }
    println!(
        "  healthy orders providers: {}",
        registry.select_instances(&orders, &[], true).len()
    );

    println!("10.0.0.2 stops beating; 10.0.0.1 carries on");
    for _ in 0..7 {
        clock.advance(Duration::from_secs(5));
        registry.heartbeat(&orders, &a.key())?;
        sweep(&registry);
    }

    match registry.heartbeat(&orders, &b.key()) {
        Err(e) => println!("a late light beat from 10.0.0.2 answers: {e}"),
        Ok(_) => println!("unexpected: the evicted instance was still there"),
    }
    let reply = registry.heartbeat_with(&orders, &b)?;
    registry.wait_for_events(Duration::from_secs(5));
    println!(
        "a beat carrying its data re-registers it: reregistered = {}",
        reply.reregistered
    );

    let list = registry.get_service_list(&Default::default(), &Default::default(), 1, 10);
    println!(
        "services in public/DEFAULT_GROUP: {:?} (billing@@payments lives in another group)",
        list.services.iter().map(|s| s.as_str()).collect::<Vec<_>>()
    );
    Ok(())
}
