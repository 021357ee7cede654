//! The instance timeline of a persistent instance survives its member's restart: a real
//! `nacre-server --data-dir` process records a registration, an operator's disable and the
//! TCP probe's verdict (nothing listens on the instance's port), is killed (SIGKILL, by its
//! pid) and started again on the same directory, and still answers the story; an ephemeral
//! instance's history, like the instance itself, is gone.

use crate::durable::{free_ports, http, ok, wait_ready, Dir, Server, DEADLINE};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The events the timeline route answers for `ip:port` of `db`, oldest first.
async fn events(http: &reqwest::Client, server: &Server, ip: &str, port: u16) -> Vec<Value> {
    let story: Value = http
        .get(server.url("/nacre/v1/ns/instance/timeline"))
        .query(&[
            ("serviceName", "db"),
            ("ip", ip),
            ("port", &port.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    story["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {story}"))
        .clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap_or_default())
        .collect()
}

fn instance(ip: &str, port: u16, ephemeral: bool) -> Vec<(&'static str, String)> {
    vec![
        ("serviceName", "db".to_owned()),
        ("ip", ip.to_owned()),
        ("port", port.to_string()),
        ("ephemeral", ephemeral.to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_instances_history_is_read_back_after_a_kill_and_a_restart() {
    let dir = Dir::new("timeline");
    let [port, closed] = free_ports(2)[..] else {
        unreachable!()
    };
    let mut server = Server::new(&dir.0, port, None);
    server.start();
    let http = http();
    wait_ready(&http, &server).await;
    // Persistent, on a port nothing listens on: the TCP probe finds it refused.
    let kept = instance("127.0.0.1", closed, false);
    let gone = instance("10.0.0.2", 5432, true);
    let put = reqwest::Method::PUT;
    ok(
        &http,
        &[port],
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &kept,
    )
    .await;
    ok(
        &http,
        &[port],
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &gone,
    )
    .await;
    // An operator's edits: kept as overrides by the control plane, which changes the
    // instance before the edit's own write does; each is recorded once.
    for instance in [&kept, &gone] {
        let mut disable = instance.clone();
        disable.push(("enabled", "false".to_owned()));
        ok(
            &http,
            &[port],
            put.clone(),
            "/nacos/v1/ns/instance",
            &disable,
        )
        .await;
    }
    let deadline = Instant::now() + DEADLINE;
    let story = loop {
        let story = events(&http, &server, "127.0.0.1", closed).await;
        if story.len() >= 3 {
            break story;
        }
        assert!(Instant::now() < deadline, "no probe verdict: {story:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(kinds(&story), ["registered", "disabled", "unhealthy"]);
    assert_eq!(story[1]["origin"]["front"], "http", "{story:?}");
    assert_eq!(story[2]["origin"]["front"], "probe", "{story:?}");
    assert_eq!(
        story[2]["origin"]["reason"], "probe refused: nothing listens",
        "{story:?}"
    );
    let ephemeral = events(&http, &server, "10.0.0.2", 5432).await;
    assert_eq!(kinds(&ephemeral), ["registered", "disabled"]);

    server.kill9();
    server.start();
    wait_ready(&http, &server).await;
    let after = events(&http, &server, "127.0.0.1", closed).await;
    assert_eq!(
        after,
        story,
        "the persistent instance's history after the restart; log:\n{}",
        server.log()
    );
    assert!(events(&http, &server, "10.0.0.2", 5432).await.is_empty());
}
