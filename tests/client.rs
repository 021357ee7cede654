//! The client through its public API: beats, redo, pull and push, failover, selection and
//! events, against in-process nodes on a `ManualClock`.
//!
//! Every test moves the clock by hand and then waits for an observable effect
//! (`NamingClient::wait_until` on the client's counters). `tokio::time::timeout` only guards
//! against hangs; nothing here depends on real time passing.

use nacre::client::{
    ClientError, FailoverError, FailoverStore, NamingClient, ServiceInfo, TransportError,
};
use nacre::model::{DEFAULT_GROUP, PRESERVED_HEART_BEAT_INTERVAL};
use nacre::transport::memory::MemoryClientTransport;
use nacre::{
    HealthConfig, Instance, Limits, ManualClock, NamingEvent, Registry, RegistryError, ServiceKey,
    ValidationError,
};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const GROUP: &str = DEFAULT_GROUP;

/// Real time a condition may take before a test is declared hung.
const HANG_GUARD: Duration = Duration::from_secs(20);

async fn guard<T>(what: &str, fut: impl Future<Output = Result<T, ClientError>>) -> T {
    match fut.await {
        Ok(v) => v,
        Err(e) => panic!("hang guard: {what} never happened: {e}"),
    }
}

struct Env {
    clock: ManualClock,
    node: Registry,
    transport: MemoryClientTransport,
}

impl Env {
    fn new() -> Self {
        let clock = ManualClock::new();
        let node = node(&clock);
        let transport = MemoryClientTransport::new(node.clone());
        Self {
            clock,
            node,
            transport,
        }
    }

    fn client(&self) -> NamingClient {
        NamingClient::builder(self.transport.clone())
            .clock(self.clock.clone())
            .build()
            .unwrap()
    }

    fn client_with_cache(&self, dir: &TempDir) -> NamingClient {
        NamingClient::builder(self.transport.clone())
            .clock(self.clock.clone())
            .cache_dir(&dir.0)
            .build()
            .unwrap()
    }
}

fn node(clock: &ManualClock) -> Registry {
    Registry::builder().clock(clock.clone()).build()
}

fn key(service: &str) -> ServiceKey {
    ServiceKey::named(service).unwrap()
}

fn inst(ip: &str) -> Instance {
    Instance::new(ip, 8080).unwrap()
}

/// The instances of `orders` as `client` sees them (from its cache when `subscribe`).
async fn orders(client: &NamingClient, subscribe: bool) -> Vec<Instance> {
    client
        .get_all_instances("orders", GROUP, &[], subscribe)
        .await
        .unwrap()
}

fn ips(instances: &[Instance]) -> Vec<String> {
    instances.iter().map(|i| i.ip().to_string()).collect()
}

/// The instance ips of every event a listener received.
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// A listener that records the instance ips of every event.
fn recorder() -> (Seen, impl Fn(&NamingEvent) + Send + Sync + 'static) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    (seen, move |e: &NamingEvent| {
        let ips = e.instances.iter().map(|i| i.ip().to_string()).collect();
        log.lock().unwrap().push(ips);
    })
}

fn events(seen: &Seen) -> Vec<Vec<String>> {
    seen.lock().unwrap().clone()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nacre-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Advances the clock by `step`, `times` times, waiting after each step for the client to
/// finish one more pull.
async fn pull_rounds(env: &Env, client: &NamingClient, step: Duration, times: u64) {
    for _ in 0..times {
        let before = client.stats().pulls;
        env.clock.advance(step);
        guard(
            "a pull",
            client.wait_until(|s| s.pulls > before, HANG_GUARD),
        )
        .await;
    }
}

// ----- beats -----

#[tokio::test]
async fn beats_keep_an_instance_healthy_for_minutes() {
    let env = Env::new();
    let provider = env.client();
    provider
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    // The same kind of instance registered without a client: nobody beats for it.
    env.node
        .register_instance(&key("orders"), inst("10.0.0.9"))
        .unwrap();

    for beat in 1..=36 {
        env.clock.advance(Duration::from_secs(5));
        guard(
            "a beat",
            provider.wait_until(|s| s.beats_sent >= beat, HANG_GUARD),
        )
        .await;
        env.node.check_health();
        let healthy = env.node.select_instances(&key("orders"), &[], true);
        assert!(
            healthy.iter().any(|i| i.ip().as_str() == "10.0.0.1"),
            "unhealthy after {} s",
            beat * 5
        );
    }
    // Three minutes: the beating instance is healthy, the silent one long gone.
    let all = env.node.get_all_instances(&key("orders"), &[]).to_vec();
    assert_eq!(ips(&all), ["10.0.0.1"]);
    let stats = provider.stats();
    assert_eq!((stats.beat_failures, stats.beats_not_found), (0, 0));
}

#[tokio::test]
async fn beats_follow_the_interval_the_server_answers() {
    let clock = ManualClock::new();
    let node = Registry::builder()
        .clock(clock.clone())
        .health(HealthConfig {
            beat_interval: Duration::from_secs(2),
            ..HealthConfig::default()
        })
        .build();
    let client = NamingClient::builder(MemoryClientTransport::new(node))
        .clock(clock.clone())
        .build()
        .unwrap();
    client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    // The first beat comes at the client's default interval, 5 s...
    clock.advance(Duration::from_millis(4_999));
    clock.advance(Duration::from_millis(1));
    guard(
        "the first beat",
        client.wait_until(|s| s.beats_sent >= 1, HANG_GUARD),
    )
    .await;
    // ...then at the 2 s the server answered.
    for beat in 2..=5 {
        clock.advance(Duration::from_secs(2));
        guard(
            "a 2 s beat",
            client.wait_until(|s| s.beats_sent >= beat, HANG_GUARD),
        )
        .await;
    }
}

#[tokio::test]
async fn an_instance_beat_interval_in_metadata_sets_the_first_beat() {
    let env = Env::new();
    let client = env.client();
    let fast = Instance::builder("10.0.0.1", 8080)
        .metadata(PRESERVED_HEART_BEAT_INTERVAL, "1000")
        .build()
        .unwrap();
    client
        .register_instance("orders", GROUP, fast)
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(1));
    guard(
        "a beat after 1 s",
        client.wait_until(|s| s.beats_sent >= 1, HANG_GUARD),
    )
    .await;
    // The server answers the instance's own interval too.
    env.clock.advance(Duration::from_secs(1));
    guard(
        "a second beat after 1 s",
        client.wait_until(|s| s.beats_sent >= 2, HANG_GUARD),
    )
    .await;
}

#[tokio::test]
async fn persistent_instances_get_no_beats() {
    let env = Env::new();
    let client = env.client();
    let persistent = Instance::builder("10.0.0.1", 8080)
        .ephemeral(false)
        .build()
        .unwrap();
    client
        .register_instance("orders", GROUP, persistent)
        .await
        .unwrap();
    assert_eq!(env.clock.sleepers(), 0, "no beat task sleeps on the clock");
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 1);
}

#[tokio::test]
async fn deregistering_stops_the_beats() {
    let env = Env::new();
    let client = env.client();
    let instance = inst("10.0.0.1");
    client
        .register_instance("orders", GROUP, instance.clone())
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(5));
    guard(
        "a beat",
        client.wait_until(|s| s.beats_sent >= 1, HANG_GUARD),
    )
    .await;

    client
        .deregister_instance("orders", GROUP, &instance)
        .await
        .unwrap();
    assert!(env.node.get_all_instances(&key("orders"), &[]).is_empty());
    // The beat task is gone once deregister returns: nothing sleeps on the clock any more.
    assert_eq!(env.clock.sleepers(), 0);
    env.clock.advance(Duration::from_secs(60));
    assert_eq!(client.stats().beats_sent, 1);
    assert!(env.node.get_all_instances(&key("orders"), &[]).is_empty());

    // Deregistering what is not registered is fine, as in Nacos.
    client
        .deregister_instance("orders", GROUP, &instance)
        .await
        .unwrap();
}

#[tokio::test]
async fn batch_registered_instances_each_beat() {
    let env = Env::new();
    let client = env.client();
    client
        .batch_register_instance(
            "orders",
            GROUP,
            vec![inst("10.0.0.1"), inst("10.0.0.2"), inst("10.0.0.3")],
        )
        .await
        .unwrap();
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 3);
    for round in 1..=4 {
        env.clock.advance(Duration::from_secs(5));
        guard(
            "three beats",
            client.wait_until(|s| s.beats_sent >= 3 * round, HANG_GUARD),
        )
        .await;
        env.node.check_health();
    }
    assert_eq!(
        env.node.select_instances(&key("orders"), &[], true).len(),
        3
    );
    client
        .batch_register_instance("orders", GROUP, Vec::new())
        .await
        .unwrap();
}

// ----- redo -----

#[tokio::test]
async fn a_restarted_server_gets_everything_back_by_redo() {
    let env = Env::new();
    let provider = env.client();
    let consumer = env.client();
    provider
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    let persistent = Instance::builder("10.0.0.2", 8080)
        .ephemeral(false)
        .build()
        .unwrap();
    provider
        .register_instance("orders", GROUP, persistent)
        .await
        .unwrap();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();

    // The node restarts and has lost everything: registrations and push subscribers.
    let restarted = node(&env.clock);
    env.transport.replace_node(0, restarted.clone());
    assert!(restarted.get_all_instances(&key("orders"), &[]).is_empty());

    // The next beat is answered "not found": the provider registers everything again.
    env.clock.advance(Duration::from_secs(5));
    guard("a redo", provider.wait_until(|s| s.redos >= 1, HANG_GUARD)).await;
    let back = restarted.get_all_instances(&key("orders"), &[]).to_vec();
    assert_eq!(ips(&back), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(provider.stats().beats_not_found, 1);

    // The consumer's next pull renews its push subscription on the restarted node...
    env.clock.advance(Duration::from_secs(5));
    guard("a pull", consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD)).await;
    // ...so a later change is pushed again, with no pull.
    let before = consumer.stats();
    restarted
        .register_instance(&key("orders"), inst("10.0.0.3"))
        .unwrap();
    guard(
        "the push of 10.0.0.3",
        consumer.wait_until(|s| s.cache_changes > before.cache_changes, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().pulls, before.pulls);
    let all = orders(&consumer, true).await;
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);

    // The consumer never saw the service empty.
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    let seen = events(&seen);
    assert!(seen.iter().all(|e| !e.is_empty()), "events: {seen:?}");
    assert_eq!(seen.last().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_cluster_transport_fails_over_to_the_next_node() {
    let clock = ManualClock::new();
    let (a, b) = (node(&clock), node(&clock));
    let transport = MemoryClientTransport::cluster(vec![a.clone(), b.clone()]);
    let provider = NamingClient::builder(transport.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let consumer = NamingClient::builder(transport.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    provider
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(a.get_all_instances(&key("orders"), &[]).len(), 1);
    assert_eq!(orders(&consumer, true).await.len(), 1);

    transport.set_reachable(0, false);
    clock.advance(Duration::from_secs(5));
    guard(
        "a redo on node b",
        provider.wait_until(|s| s.redos >= 1, HANG_GUARD),
    )
    .await;
    assert_eq!(transport.active_node(), Some(1));
    assert_eq!(b.get_all_instances(&key("orders"), &[]).len(), 1);

    // The consumer keeps its view across the failover, and hears of changes on node b.
    clock.advance(Duration::from_secs(5));
    guard(
        "a pull from node b",
        consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().pull_failures, 0);
    let before = consumer.stats().cache_changes;
    b.register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push from node b",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    let all = orders(&consumer, true).await;
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2"]);
}

#[tokio::test]
async fn an_instance_registered_while_no_server_answers_is_registered_when_one_does() {
    let env = Env::new();
    let client = env.client();
    env.transport.set_reachable(0, false);
    let err = client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Transport(e) if e.is_unreachable()),
        "{err}"
    );

    env.clock.advance(Duration::from_secs(5));
    guard(
        "a failed beat",
        client.wait_until(|s| s.beat_failures >= 1, HANG_GUARD),
    )
    .await;
    env.transport.set_reachable(0, true);
    env.clock.advance(Duration::from_secs(5));
    guard("a redo", client.wait_until(|s| s.redos >= 1, HANG_GUARD)).await;
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 1);
}

// ----- cache: push and pull -----

#[tokio::test]
async fn pushes_update_the_cache_without_a_pull() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let first = orders(&consumer, true).await;
    assert_eq!(ips(&first), ["10.0.0.1"]);

    let before = consumer.stats().cache_changes;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    let now = orders(&consumer, true).await;
    assert_eq!(ips(&now), ["10.0.0.1", "10.0.0.2"]);
    let stats = consumer.stats();
    assert_eq!(stats.pulls, 0, "no time passed, so no pull ran");
    assert!(stats.pushes >= 1);
}

#[tokio::test]
async fn pulls_update_the_cache_when_pushes_are_lost() {
    let env = Env::new();
    env.transport.set_push_enabled(false);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();
    // Let the first event out before the next change (undelivered events are coalesced).
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();

    // Without pushes the cache is behind until the pull, 10 s later.
    env.clock.advance(Duration::from_millis(9_999));
    let cached = orders(&consumer, true).await;
    assert_eq!(ips(&cached), ["10.0.0.1"]);
    env.clock.advance(Duration::from_millis(1));
    guard("a pull", consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD)).await;
    let cached = orders(&consumer, true).await;
    assert_eq!(ips(&cached), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(consumer.stats().pushes, 0);

    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(
        events(&seen),
        vec![
            vec!["10.0.0.1".to_owned()],
            vec!["10.0.0.1".into(), "10.0.0.2".into()]
        ]
    );
}

#[tokio::test]
async fn the_pull_interval_follows_the_servers_cache_millis() {
    let env = Env::new();
    env.transport.set_push_enabled(false);
    env.transport.set_cache_millis(3_000);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    orders(&consumer, true).await;
    // The first pull is scheduled before any answer, at the client's default; later ones at
    // the 3 s the server answered.
    env.clock.advance(Duration::from_secs(10));
    guard(
        "the first pull",
        consumer.wait_until(|s| s.pulls >= 1, HANG_GUARD),
    )
    .await;
    for pull in 2..=4 {
        env.clock.advance(Duration::from_secs(3));
        guard(
            "a 3 s pull",
            consumer.wait_until(|s| s.pulls >= pull, HANG_GUARD),
        )
        .await;
    }
}

#[tokio::test]
async fn reads_without_subscribe_always_ask_the_server() {
    let env = Env::new();
    env.transport.set_push_enabled(false);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    assert_eq!(orders(&consumer, true).await.len(), 1);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    // The cache is behind (no push, no pull yet); a read with subscribe = false is not.
    let direct = orders(&consumer, false).await;
    assert_eq!(direct.len(), 2);
    let cached = orders(&consumer, true).await;
    assert_eq!(cached.len(), 1);
}

#[tokio::test]
async fn listeners_fire_only_when_their_instances_really_change() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let (all, on_all) = recorder();
    let (only_b, on_b) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], on_all)
        .await
        .unwrap();
    consumer
        .subscribe("orders", GROUP, &["b"], on_b)
        .await
        .unwrap();

    // Pulls that find nothing new, and a re-registration of the same data, are not news.
    pull_rounds(&env, &consumer, Duration::from_secs(10), 3).await;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    pull_rounds(&env, &consumer, Duration::from_secs(10), 1).await;
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&all), vec![vec!["10.0.0.1".to_owned()]]);
    assert_eq!(events(&only_b), vec![Vec::<String>::new()]);

    // A change in cluster DEFAULT reaches the listener of all clusters only.
    let before = consumer.stats().cache_changes;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&all).len(), 2);
    assert_eq!(events(&only_b).len(), 1);

    // A change in cluster b reaches both.
    let before = consumer.stats().cache_changes;
    let in_b = Instance::builder("10.0.1.1", 8080)
        .cluster("b")
        .build()
        .unwrap();
    env.node.register_instance(&key("orders"), in_b).unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&all).len(), 3);
    assert_eq!(events(&only_b), vec![vec![], vec!["10.0.1.1".to_owned()]]);
}

#[tokio::test]
async fn unsubscribe_stops_events() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    let (first, on_first) = recorder();
    let (second, on_second) = recorder();
    let id_first = consumer
        .subscribe("orders", GROUP, &[], on_first)
        .await
        .unwrap();
    let id_second = consumer
        .subscribe("orders", GROUP, &[], on_second)
        .await
        .unwrap();
    assert!(consumer.wait_for_events(Duration::from_secs(5)));

    assert!(consumer.unsubscribe(id_first).await);
    assert!(!consumer.unsubscribe(id_first).await, "already gone");
    let before = consumer.stats().cache_changes;
    env.node
        .register_instance(&key("orders"), inst("10.0.0.2"))
        .unwrap();
    guard(
        "a push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&first).len(), 1, "no event after unsubscribe");
    assert_eq!(events(&second).len(), 2);

    // The last listener gone, the client stops watching: no push subscription, no pulls.
    assert_eq!(env.transport.installed_subscriptions(), 1);
    assert!(consumer.unsubscribe(id_second).await);
    assert_eq!(env.transport.installed_subscriptions(), 0);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.3"))
        .unwrap();
    env.clock.advance(Duration::from_secs(60));
    assert!(env.node.wait_for_events(Duration::from_secs(5)));
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&second).len(), 2);
    assert_eq!(consumer.stats().pulls, 0);
}

#[tokio::test]
async fn an_empty_update_does_not_wipe_the_cache_by_default() {
    let env = Env::new();
    let instance = inst("10.0.0.1");
    env.node
        .register_instance(&key("orders"), instance.clone())
        .unwrap();
    let consumer = env.client();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();

    env.node
        .deregister_instance(&key("orders"), &instance.key());
    guard(
        "the empty push",
        consumer.wait_until(|s| s.empty_updates_ignored >= 1, HANG_GUARD),
    )
    .await;
    // The pull finds it empty too, and is ignored as well.
    pull_rounds(&env, &consumer, Duration::from_secs(10), 1).await;
    assert!(consumer.stats().empty_updates_ignored >= 2);
    let cached = orders(&consumer, true).await;
    assert_eq!(ips(&cached), ["10.0.0.1"]);
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&seen).len(), 1);
}

#[tokio::test]
async fn without_push_empty_protection_an_empty_update_empties_the_cache() {
    let env = Env::new();
    let instance = inst("10.0.0.1");
    env.node
        .register_instance(&key("orders"), instance.clone())
        .unwrap();
    let consumer = NamingClient::builder(env.transport.clone())
        .clock(env.clock.clone())
        .push_empty_protection(false)
        .build()
        .unwrap();
    let (seen, listener) = recorder();
    consumer
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    let before = consumer.stats().cache_changes;
    env.node
        .deregister_instance(&key("orders"), &instance.key());
    guard(
        "the empty push",
        consumer.wait_until(|s| s.cache_changes > before, HANG_GUARD),
    )
    .await;
    assert!(orders(&consumer, true).await.is_empty());
    assert!(consumer.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&seen), vec![vec!["10.0.0.1".to_owned()], vec![]]);
}

// ----- failover -----

#[tokio::test]
async fn a_new_client_reads_from_disk_when_no_server_answers() {
    let dir = TempDir::new("restart");
    let env = Env::new();
    env.node
        .batch_register_instance(&key("orders"), vec![inst("10.0.0.1"), inst("10.0.0.2")])
        .unwrap();
    let first = env.client_with_cache(&dir);
    orders(&first, true).await;
    guard(
        "the disk write",
        first.wait_until(|s| s.disk_writes >= 1, HANG_GUARD),
    )
    .await;
    let store = FailoverStore::open(&dir.0).unwrap();
    assert_eq!(store.load(&key("orders")).unwrap().unwrap().hosts.len(), 2);
    first.shutdown().await;
    drop(first);

    // The servers are gone; a new client starts with the same cache directory.
    env.transport.set_reachable(0, false);
    let second = env.client_with_cache(&dir);
    let all = orders(&second, true).await;
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(second.stats().failover_reads, 1);
    let picked = second
        .select_one_healthy_instance("orders", GROUP, &[], false)
        .await
        .unwrap();
    assert!(["10.0.0.1", "10.0.0.2"].contains(&picked.ip().as_str()));
    let unknown = second
        .get_all_instances("billing", GROUP, &[], true)
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, ClientError::Unavailable { cause, .. } if cause.is_unreachable()),
        "{unknown}"
    );

    // The servers come back: the next pull replaces the disk copy with fresh data.
    env.transport.set_reachable(0, true);
    env.node
        .register_instance(&key("orders"), inst("10.0.0.3"))
        .unwrap();
    env.clock.advance(Duration::from_secs(10));
    guard(
        "a pull after recovery",
        second.wait_until(|s| s.pulls >= 1 && s.cache_changes >= 2, HANG_GUARD),
    )
    .await;
    let all = orders(&second, true).await;
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn a_listener_gets_the_disk_copy_when_no_server_answers_at_start() {
    let dir = TempDir::new("listener");
    let env = Env::new();
    let store = FailoverStore::open(&dir.0).unwrap();
    store
        .save(&ServiceInfo::new(key("orders"), vec![inst("10.0.0.7")]))
        .unwrap();
    env.transport.set_reachable(0, false);
    let client = env.client_with_cache(&dir);
    let (seen, listener) = recorder();
    client
        .subscribe("orders", GROUP, &[], listener)
        .await
        .unwrap();
    assert!(client.wait_for_events(Duration::from_secs(5)));
    assert_eq!(events(&seen), vec![vec!["10.0.0.7".to_owned()]]);
}

#[tokio::test]
async fn reads_are_served_from_the_cache_when_the_server_goes_away() {
    let env = Env::new();
    env.node
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();
    let consumer = env.client();
    orders(&consumer, true).await;
    env.transport.set_reachable(0, false);
    env.clock.advance(Duration::from_secs(10));
    let failed_at = nacre::Clock::now(&env.clock);
    guard(
        "a failed pull",
        consumer.wait_until(|s| s.pull_failures >= 1, HANG_GUARD),
    )
    .await;
    // Failing pulls back off: the next try is 20 s after the failure, not 10.
    assert_eq!(
        env.clock.next_wakeup(),
        Some(failed_at + Duration::from_secs(20))
    );

    for subscribe in [true, false] {
        let all = orders(&consumer, subscribe).await;
        assert_eq!(ips(&all), ["10.0.0.1"], "subscribe = {subscribe}");
    }
    env.clock.advance(Duration::from_secs(20));
    guard(
        "a second failed pull",
        consumer.wait_until(|s| s.pull_failures >= 2, HANG_GUARD),
    )
    .await;
    assert_eq!(consumer.stats().pulls, 2);
}

#[tokio::test]
async fn a_corrupt_failover_file_is_a_typed_error_not_a_panic() {
    let dir = TempDir::new("corrupt");
    let store = FailoverStore::open(&dir.0).unwrap();
    std::fs::write(store.path_for(&key("orders")), b"{\"service\": [garbage").unwrap();
    assert!(matches!(
        store.load(&key("orders")),
        Err(FailoverError::Corrupt { .. })
    ));
    let valid_json_bad_instance = br#"{"service":{"namespace":"public","group":"DEFAULT_GROUP","service":"billing"},"hosts":[{"ip":"300.1.1.1","port":80}]}"#;
    std::fs::write(store.path_for(&key("billing")), valid_json_bad_instance).unwrap();
    assert!(matches!(
        store.load(&key("billing")),
        Err(FailoverError::Corrupt { .. })
    ));

    let env = Env::new();
    env.transport.set_reachable(0, false);
    let client = env.client_with_cache(&dir);
    for service in ["orders", "billing"] {
        let err = client
            .get_all_instances(service, GROUP, &[], true)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unavailable { .. }), "{err}");
    }
}

#[tokio::test]
async fn an_unusable_cache_dir_is_a_typed_error() {
    let dir = TempDir::new("notadir");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("file");
    std::fs::write(&file, b"x").unwrap();
    let env = Env::new();
    let err = NamingClient::builder(env.transport.clone())
        .cache_dir(file.join("sub"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Failover(FailoverError::Io { .. })),
        "{err}"
    );
}

// ----- selection -----

#[tokio::test]
async fn weighted_selection_follows_the_weights() {
    let env = Env::new();
    let persistent = |ip: &str| Instance::builder(ip, 8080).ephemeral(false);
    env.node
        .batch_register_instance(
            &key("orders"),
            vec![
                persistent("10.0.0.1").weight(1.0).build().unwrap(),
                persistent("10.0.0.2").weight(3.0).build().unwrap(),
                persistent("10.0.0.3").weight(6.0).build().unwrap(),
                persistent("10.0.0.4").weight(0.0).build().unwrap(),
                persistent("10.0.0.5")
                    .healthy(false)
                    .weight(50.0)
                    .build()
                    .unwrap(),
                persistent("10.0.0.6")
                    .enabled(false)
                    .weight(50.0)
                    .build()
                    .unwrap(),
            ],
        )
        .unwrap();
    let consumer = env.client();

    fastrand::seed(7);
    let picks = 20_000;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..picks {
        let picked = consumer
            .select_one_healthy_instance("orders", GROUP, &[], true)
            .await
            .unwrap();
        *counts.entry(picked.ip().to_string()).or_insert(0u32) += 1;
    }
    assert_eq!(
        counts.keys().map(String::as_str).collect::<Vec<_>>(),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
        "weight 0, unhealthy and disabled instances are never picked"
    );
    for (ip, expected) in [("10.0.0.1", 0.1), ("10.0.0.2", 0.3), ("10.0.0.3", 0.6)] {
        let share = f64::from(counts[ip]) / f64::from(picks);
        assert!(
            (share - expected).abs() < 0.02,
            "{ip}: share {share}, expected {expected}"
        );
    }

    // select_instances keeps the enabled instances of weight > 0, healthy only if asked.
    let healthy = consumer
        .select_instances("orders", GROUP, &[], true, true)
        .await
        .unwrap();
    assert_eq!(ips(&healthy), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    let usable = consumer
        .select_instances("orders", GROUP, &[], false, true)
        .await
        .unwrap();
    assert_eq!(
        ips(&usable),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"]
    );
    // The server lists enabled instances only (as over HTTP): the disabled one is not there.
    let all = orders(&consumer, true).await;
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn selection_filters_by_cluster() {
    let env = Env::new();
    let in_cluster = |ip: &str, c: &str| Instance::builder(ip, 8080).cluster(c).build().unwrap();
    env.node
        .batch_register_instance(
            &key("orders"),
            vec![in_cluster("10.0.0.1", "a"), in_cluster("10.0.0.2", "b")],
        )
        .unwrap();
    let consumer = env.client();
    for subscribe in [true, false] {
        let b = consumer
            .select_instances("orders", GROUP, &["b"], true, subscribe)
            .await
            .unwrap();
        assert_eq!(ips(&b), ["10.0.0.2"]);
        let picked = consumer
            .select_one_healthy_instance("orders", GROUP, &["a"], subscribe)
            .await
            .unwrap();
        assert_eq!(picked.ip().as_str(), "10.0.0.1");
        let none = consumer
            .select_one_healthy_instance("orders", GROUP, &["c"], subscribe)
            .await
            .unwrap_err();
        assert!(
            matches!(none, ClientError::NoHealthyInstance { .. }),
            "{none}"
        );
    }
}

// ----- service list -----

#[tokio::test]
async fn get_service_list_pages_through_the_names() {
    let env = Env::new();
    for name in ["c", "a", "b"] {
        env.node
            .register_instance(&key(name), inst("10.0.0.1"))
            .unwrap();
    }
    let client = env.client();
    let page = client.get_service_list(1, 2, GROUP).await.unwrap();
    assert_eq!(page.count, 3);
    assert_eq!(
        page.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let past_the_end = client.get_service_list(5, 2, GROUP).await.unwrap();
    assert!(past_the_end.services.is_empty());
    let zero = client.get_service_list(0, 0, GROUP).await.unwrap();
    assert!(zero.services.is_empty());
}

// ----- bad input -----

#[tokio::test]
async fn bad_names_are_typed_errors_and_nothing_is_sent() {
    let env = Env::new();
    let client = env.client();
    let invalid = |r: Result<_, ClientError>| matches!(r, Err(ClientError::Invalid(_)));
    assert!(invalid(
        client
            .register_instance("a@@b", GROUP, inst("10.0.0.1"))
            .await
    ));
    assert!(invalid(
        client
            .register_instance("orders", "", inst("10.0.0.1"))
            .await
    ));
    assert!(invalid(
        client
            .get_all_instances("orders", GROUP, &["a,b"], true)
            .await
            .map(|_| ())
    ));
    assert!(invalid(
        client
            .select_instances("orders", "bad group", &[], true, false)
            .await
            .map(|_| ())
    ));
    assert!(invalid(
        client
            .subscribe("", GROUP, &[], |_: &NamingEvent| {})
            .await
            .map(|_| ())
    ));
    assert!(invalid(
        client.get_service_list(1, 10, "a@@b").await.map(|_| ())
    ));
    assert_eq!(env.node.store().service_count(), 0);
    assert_eq!(env.transport.installed_subscriptions(), 0);

    let err = NamingClient::builder(env.transport.clone())
        .namespace("a/b")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Invalid(ValidationError::BadCharacter { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_registration_is_an_error_and_is_not_remembered() {
    let clock = ManualClock::new();
    let node = Registry::builder()
        .clock(clock.clone())
        .limits(Limits {
            max_metadata_bytes: 8,
            ..Limits::default()
        })
        .build();
    let client = NamingClient::builder(MemoryClientTransport::new(node.clone()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let big = Instance::builder("10.0.0.1", 8080)
        .metadata("version", "1.2.3-long")
        .build()
        .unwrap();
    let err = client
        .register_instance("orders", GROUP, big)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transport(TransportError::Registry(RegistryError::Invalid(
                ValidationError::MetadataTooLarge { .. }
            )))
        ),
        "{err}"
    );
    assert_eq!(clock.sleepers(), 0, "no beat task was started");
    assert!(node.get_all_instances(&key("orders"), &[]).is_empty());
}

#[tokio::test]
async fn an_empty_service_has_no_healthy_instance() {
    let env = Env::new();
    let client = env.client();
    let err = client
        .select_one_healthy_instance("orders", GROUP, &[], true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoHealthyInstance { .. }),
        "{err}"
    );
    assert!(orders(&client, false).await.is_empty());
}

#[tokio::test]
async fn shutdown_stops_every_task_and_closes_the_client() {
    let env = Env::new();
    let client = env.client();
    client
        .register_instance("orders", GROUP, inst("10.0.0.1"))
        .await
        .unwrap();
    orders(&client, true).await;
    assert_eq!(env.transport.installed_subscriptions(), 1);

    let other_handle = client.clone();
    client.shutdown().await;
    assert_eq!(env.clock.sleepers(), 0, "no beat or pull task is left");
    assert_eq!(env.transport.installed_subscriptions(), 0);
    let closed = other_handle
        .get_all_instances("orders", GROUP, &[], true)
        .await
        .unwrap_err();
    assert!(matches!(closed, ClientError::Closed), "{closed}");
    assert!(matches!(
        other_handle
            .register_instance("orders", GROUP, inst("10.0.0.2"))
            .await,
        Err(ClientError::Closed)
    ));
    // Shutting down does not deregister; the server expires the instance once beats stop.
    assert_eq!(env.node.get_all_instances(&key("orders"), &[]).len(), 1);
}

#[test]
fn building_outside_a_tokio_runtime_is_an_error() {
    let env = Env::new();
    let err = NamingClient::builder(env.transport.clone())
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::NoRuntime), "{err}");
}

#[tokio::test]
async fn wait_until_gives_up_after_its_timeout_on_a_manual_clock() {
    let env = Env::new();
    let client = env.client();
    // Nothing is registered and the manual clock never moves: no beat will ever be sent.
    let err = client
        .wait_until(|s| s.beats_sent >= 1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::WaitTimedOut { ref stats, .. } if stats.beats_sent == 0),
        "{err}"
    );
}
