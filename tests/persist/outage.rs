//! A member stopped for longer than the tombstone retention, with real processes: three
//! `nacre-server --data-dir --tombstone-ttl 2s` members. n3 is stopped with SIGTERM, a
//! persistent instance is deleted through n1, and once the retention has passed (or
//! `NACRE_OUTAGE_SECS`, for the 10-minute run in RELIABILITY.md) n3 restarts on its disk, which
//! still lists the instance. Persistent instances live on the control plane's log: the
//! deletion is a log entry n3 learns when it rejoins, never a Distro tombstone that the
//! retention could collect, so none of the members keeps a removal for it
//! (`nacre_distro_removals_held` stays 0), and n3 is not ready until it has caught up. No
//! member lists the instance again, checked every half second for two verify rounds. And a
//! full restart after the retention (every member stopped for longer than it, n3 since before
//! the deletion) keeps the persistent instance never deleted, and the deletion.
//!
//! Every wait polls with a generous deadline; ports are free ones; every process is stopped by
//! its pid.

use crate::durable::{
    cluster_with, http, instance, listed, metric, ok, wait_ready, Dir, Server, DEADLINE,
};

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The retention every member runs with.
const TTL: Duration = Duration::from_secs(2);
/// The members' verify interval (the default): how often the owner of a service compares it.
const VERIFY: Duration = Duration::from_secs(5);
/// The longest gap between two health sweeps (the default check interval), which collect.
const SWEEP: Duration = Duration::from_secs(5);

const SERVICE: &str = "db";
const GONE: &str = "10.0.0.3";
const KEPT: &str = "10.0.0.4";

/// Three members, serving, with the retention [`TTL`].
async fn cluster(dir: &Dir, http: &reqwest::Client) -> (Vec<Server>, Vec<u16>) {
    let ttl = format!("{}s", TTL.as_secs());
    cluster_with(dir, http, &["--tombstone-ttl", &ttl]).await
}

/// Polls until `check` holds for what `port` lists, or fails after the deadline with `what`.
async fn until_listed(
    http: &reqwest::Client,
    port: u16,
    what: &str,
    check: impl Fn(&BTreeSet<String>) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = listed(http, port, SERVICE).await;
        if got.as_ref().is_some_and(&check) {
            return;
        }
        assert!(Instant::now() < deadline, ":{port} never {what}: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `nacre_distro_removals_held` on `port`, if it answers.
async fn removals_held(http: &reqwest::Client, port: u16) -> Option<u64> {
    metric(http, port, "nacre_distro_removals_held")
        .await?
        .parse()
        .ok()
}

/// How long n3 stays stopped after the deletion: `NACRE_OUTAGE_SECS` seconds, or the
/// retention and two sweeps (on a build that collected at the retention, GONE's tombstone is
/// gone by then).
fn outage() -> Duration {
    std::env::var("NACRE_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(TTL + 2 * SWEEP, Duration::from_secs)
}

/// Registers GONE and KEPT (persistent) through n1, waits for every member to list both (so
/// n3's disk holds them), stops n3, deletes GONE through n1, and waits for the [`outage`].
async fn delete_while_n3_is_down(http: &reqwest::Client, servers: &mut [Server], ports: &[u16]) {
    for ip in [GONE, KEPT] {
        let q = instance(SERVICE, ip, false);
        ok(
            http,
            &ports[..1],
            reqwest::Method::POST,
            "/nacos/v1/ns/instance",
            &q,
        )
        .await;
    }
    for p in ports {
        until_listed(http, *p, "listed both", |s| {
            s.contains(GONE) && s.contains(KEPT)
        })
        .await;
    }
    servers[2].term();
    let q = instance(SERVICE, GONE, false);
    ok(
        http,
        &ports[..1],
        reqwest::Method::DELETE,
        "/nacos/v1/ns/instance",
        &q,
    )
    .await;
    let deleted = Instant::now();
    for p in &ports[..2] {
        until_listed(http, *p, "dropped the deleted instance", |s| {
            !s.contains(GONE) && s.contains(KEPT)
        })
        .await;
        // The log holds the deletion: Distro keeps no removal for n3.
        assert_eq!(removals_held(http, *p).await, Some(0), ":{p}");
    }
    let stopped = outage();
    eprintln!("n3 stays stopped for {stopped:?} after the deletion");
    tokio::time::sleep(stopped.saturating_sub(deleted.elapsed())).await;
}

/// Checks that every member lists KEPT and none lists GONE.
async fn kept_not_gone(http: &reqwest::Client, ports: &[u16]) {
    for p in ports {
        let got = listed(http, *p, SERVICE).await;
        let got = got.unwrap_or_else(|| panic!(":{p} does not answer"));
        assert!(
            !got.contains(GONE),
            ":{p} lists the deleted instance again: {got:?}"
        );
        assert!(
            got.contains(KEPT),
            ":{p} lost the persistent instance: {got:?}"
        );
    }
}

/// Checks every half second for `span` that every member lists KEPT and none lists GONE,
/// and that Distro keeps no removal for it.
async fn never_listed_again(http: &reqwest::Client, ports: &[u16], span: Duration) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        kept_not_gone(http, ports).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for p in ports {
        assert_eq!(removals_held(http, *p).await, Some(0), ":{p}");
    }
    kept_not_gone(http, ports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_stopped_longer_than_the_retention_brings_back_no_deleted_instance() {
    let dir = Dir::new("outage");
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    delete_while_n3_is_down(&http, &mut servers, &ports).await;
    servers[2].start();
    wait_ready(&http, &servers[2]).await;
    // n3 is ready once its control plane has caught up with the leader: it applied the
    // deletion from the log. Distro moves no persistent data to or from it.
    never_listed_again(&http, &ports, 2 * VERIFY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_restart_after_the_retention_keeps_every_persistent_instance_and_the_deletion() {
    let dir = Dir::new("outage-full");
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    delete_while_n3_is_down(&http, &mut servers, &ports).await;
    servers[0].term();
    servers[1].term();
    tokio::time::sleep(TTL * 2).await;
    for s in &mut servers {
        s.start();
    }
    for s in &servers {
        wait_ready(&http, s).await;
    }
    // Every member applies its log (they start together); n3's log lacks the deletion until
    // the leader's reaches it, and n3 is ready only after that.
    for p in &ports {
        until_listed(&http, *p, "converged", |s| {
            !s.contains(GONE) && s.contains(KEPT)
        })
        .await;
    }
    never_listed_again(&http, &ports, 2 * VERIFY).await;
}
