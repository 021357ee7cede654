//! What the client suites share: an in-process node on a manual clock and clients of it,
//! the hang guard, and small readers and recorders.

use crate::common::fixtures::TempDir;
use crate::common::registry_on;
use nacre::client::{ClientError, NamingClient};
use nacre::model::DEFAULT_GROUP;
use nacre::transport::memory::MemoryClientTransport;
use nacre::{Instance, ManualClock, NamingEvent, Registry};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) const GROUP: &str = DEFAULT_GROUP;

/// Real time a condition may take before a test is declared hung.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(20);

pub(crate) async fn guard<T>(what: &str, fut: impl Future<Output = Result<T, ClientError>>) -> T {
    match fut.await {
        Ok(v) => v,
        Err(e) => panic!("hang guard: {what} never happened: {e}"),
    }
}

pub(crate) struct Env {
    pub(crate) clock: ManualClock,
    pub(crate) node: Registry,
    pub(crate) transport: MemoryClientTransport,
}

impl Env {
    pub(crate) fn new() -> Self {
        let clock = ManualClock::new();
        let node = registry_on(&clock);
        let transport = MemoryClientTransport::new(node.clone());
        Self {
            clock,
            node,
            transport,
        }
    }

    pub(crate) fn client(&self) -> NamingClient {
        NamingClient::builder(self.transport.clone())
            .clock(self.clock.clone())
            .build()
            .unwrap()
    }

    pub(crate) fn client_with_cache(&self, dir: &TempDir) -> NamingClient {
        NamingClient::builder(self.transport.clone())
            .clock(self.clock.clone())
            .cache_dir(&dir.0)
            .build()
            .unwrap()
    }
}

/// The instances of `orders` as `client` sees them (from its cache when `subscribe`).
pub(crate) async fn orders(client: &NamingClient, subscribe: bool) -> Vec<Instance> {
    client
        .get_all_instances("orders", GROUP, &[], subscribe)
        .await
        .unwrap()
}

pub(crate) fn ips(instances: &[Instance]) -> Vec<String> {
    instances.iter().map(|i| i.ip().to_string()).collect()
}

/// The instance ips of every event a listener received.
pub(crate) type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// A listener that records the instance ips of every event.
pub(crate) fn recorder() -> (Seen, impl Fn(&NamingEvent) + Send + Sync + 'static) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    (seen, move |e: &NamingEvent| {
        let ips = e.instances.iter().map(|i| i.ip().to_string()).collect();
        log.lock().unwrap().push(ips);
    })
}

pub(crate) fn events(seen: &Seen) -> Vec<Vec<String>> {
    seen.lock().unwrap().clone()
}

/// Advances the clock by `step`, `times` times, waiting after each step for the client to
/// finish exactly one more pull. `step` is the pull interval of the one service `client`
/// watches (and nothing else sleeps on the clock): after each pull the next one is due exactly
/// `step` later.
pub(crate) async fn pull_rounds(env: &Env, client: &NamingClient, step: Duration, times: u64) {
    for _ in 0..times {
        let before = client.stats().pulls;
        env.clock.advance(step);
        guard(
            "a pull",
            client.wait_until(|s| s.pulls > before, HANG_GUARD),
        )
        .await;
        assert_eq!(client.stats().pulls, before + 1);
        assert_eq!(env.clock.next_wakeup(), Some(env.clock.now() + step));
    }
}

/// Lets the client's tasks run until exactly `n` of them sleep on `clock`. A task a call
/// spawns (a beat, a pull) has not run when the call returns, so its first deadline is on the
/// clock only after this.
pub(crate) async fn asleep(clock: &ManualClock, n: usize) {
    let start = std::time::Instant::now();
    while clock.sleepers() < n {
        assert!(
            start.elapsed() < HANG_GUARD,
            "hang guard: {n} tasks never slept on the clock"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(clock.sleepers(), n);
}
