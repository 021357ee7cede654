//! The control plane of a three-member cluster of real `nacre-server --data-dir` processes
//! (with the cluster secret), through Nacos' namespace API: a namespace written through one
//! member is listed by every member, an update and a delete through a follower too, and
//! after every member stopped with SIGTERM (its control plane closed) and restarted; with the
//! leader killed (SIGKILL, found through `nacre_control_leader` in the metrics) the other two
//! take writes and the restarted member catches up; with two of three killed (the leader
//! surviving, or a follower), a write on the survivor answers Nacos' "no leader" error within a bound, while the survivor's instance
//! list, ephemeral registrations and beats keep working.
//!
//! Every wait polls with a generous deadline; ports are free ones; every process is stopped by
//! its pid. An operator's edit (`PUT /nacos/v1/ns/instance?enabled=false`) through one member
//! holds on every member over the client's re-registration through another.

use crate::durable::{cluster, http, instance, metric, ok, wait_ready, Dir, DEADLINE};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NAMESPACES: &str = "/nacos/v1/console/namespaces";

/// Sends a namespace write to `port` until it answers 200 `true` (the group may not have
/// elected a leader yet: 500, "did not find the Leader node"). A retry after an unconfirmed
/// write may find it already done: a create answered "already exist" then counts as done.
pub(crate) async fn write(
    http: &reqwest::Client,
    port: u16,
    method: reqwest::Method,
    q: &[(&str, &str)],
) {
    let deadline = Instant::now() + DEADLINE;
    let mut retried = false;
    loop {
        let answer = http
            .request(
                method.clone(),
                format!("http://127.0.0.1:{port}{NAMESPACES}"),
            )
            .query(q)
            .send()
            .await;
        if let Ok(a) = answer {
            let status = a.status();
            let body = a.text().await.unwrap_or_default();
            if status.is_success() && body == "true" {
                return;
            }
            if retried && status == 400 && body.contains("already exist") {
                return;
            }
            assert!(
                status == 500 && body.contains("did not find the Leader node"),
                "{method} {q:?} on :{port} answered {status}: {body}"
            );
            retried = true;
        }
        assert!(
            Instant::now() < deadline,
            "{method} {q:?} on :{port} never answered true"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The created namespaces `port` lists, `public` aside, id to name, or `None` when it does not
/// answer.
pub(crate) async fn namespaces(
    http: &reqwest::Client,
    port: u16,
) -> Option<BTreeMap<String, String>> {
    let answer = http
        .get(format!("http://127.0.0.1:{port}{NAMESPACES}"))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = answer.json().await.ok()?;
    Some(
        v["data"]
            .as_array()?
            .iter()
            .filter(|n| n["created"] == true && n["namespace"] != "")
            .filter_map(|n| {
                let id = n["namespace"].as_str()?.to_owned();
                Some((id, n["namespaceShowName"].as_str()?.to_owned()))
            })
            .collect(),
    )
}

/// Polls until every port in `ports` lists exactly `want`.
async fn until_everywhere(http: &reqwest::Client, ports: &[u16], want: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(id, name)| (id.to_string(), name.to_string()))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    for port in ports {
        loop {
            let got = namespaces(http, *port).await;
            if got.as_ref() == Some(&want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                ":{port} never listed {want:?}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether `port` reports that it leads the control group (`None`: it does not answer).
async fn leads(http: &reqwest::Client, port: u16) -> Option<bool> {
    Some(metric(http, port, "nacre_control_leader").await? == "1")
}

/// The index in `ports` of the member that leads, once exactly one of them says it does.
pub(crate) async fn leader(http: &reqwest::Client, ports: &[u16]) -> usize {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut leading = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            if leads(http, *p).await == Some(true) {
                leading.push(i);
            }
        }
        if let [one] = leading[..] {
            return one;
        }
        assert!(
            Instant::now() < deadline,
            "no single leader among {ports:?}: {leading:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_written_through_any_member_is_listed_by_every_member() {
    let dir = Dir::new("control-writes");
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    let create = [
        ("customNamespaceId", "dev"),
        ("namespaceName", "Development"),
    ];
    write(&http, ports[0], reqwest::Method::POST, &create).await;
    until_everywhere(&http, &ports, &[("dev", "Development")]).await;

    // Through a follower: it forwards to the leader.
    let follower = ports[(leader(&http, &ports).await + 1) % ports.len()];
    let update = [
        ("namespace", "dev"),
        ("namespaceShowName", "Dev"),
        ("namespaceDesc", "renamed"),
    ];
    write(&http, follower, reqwest::Method::PUT, &update).await;
    until_everywhere(&http, &ports, &[("dev", "Dev")]).await;
    write(
        &http,
        follower,
        reqwest::Method::DELETE,
        &[("namespaceId", "dev")],
    )
    .await;
    until_everywhere(&http, &ports, &[]).await;

    // SIGTERM closes each member's control plane cleanly, and the group comes back from the
    // members' disks.
    write(
        &http,
        follower,
        reqwest::Method::POST,
        &[("customNamespaceId", "kept"), ("namespaceName", "Kept")],
    )
    .await;
    for s in &mut servers {
        s.term();
        let log = s.log();
        assert!(log.contains("control plane closed"), "{log}");
        assert!(!log.contains("did not stop cleanly"), "{log}");
        assert!(!log.contains("still open"), "{log}");
    }
    for s in &mut servers {
        s.start();
    }
    until_everywhere(&http, &ports, &[("kept", "Kept")]).await;
    write(
        &http,
        ports[2],
        reqwest::Method::DELETE,
        &[("namespaceId", "kept")],
    )
    .await;
    until_everywhere(&http, &ports, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_leader_killed_the_others_take_writes_and_it_catches_up_on_restart() {
    let dir = Dir::new("control-leader-kill");
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    write(
        &http,
        ports[0],
        reqwest::Method::POST,
        &[("customNamespaceId", "before"), ("namespaceName", "Before")],
    )
    .await;
    until_everywhere(&http, &ports, &[("before", "Before")]).await;

    let old = leader(&http, &ports).await;
    servers[old].kill9();
    let survivors: Vec<u16> = (0..ports.len())
        .filter(|i| *i != old)
        .map(|i| ports[i])
        .collect();
    let killed = Instant::now();
    write(
        &http,
        survivors[0],
        reqwest::Method::POST,
        &[("customNamespaceId", "after"), ("namespaceName", "After")],
    )
    .await;
    let elected_in = killed.elapsed();
    let both = [("after", "After"), ("before", "Before")];
    until_everywhere(&http, &survivors, &both).await;
    // A new leader among the two (default election timeouts: 1.5 s to 3 s).
    assert!(
        elected_in < Duration::from_secs(30),
        "the survivors took {elected_in:?} to take a write"
    );
    let new = leader(&http, &survivors).await;
    assert!(leads(&http, survivors[new]).await == Some(true));

    servers[old].start();
    wait_ready(&http, &servers[old]).await;
    until_everywhere(&http, &[ports[old]], &both).await;
    // And it takes part again: a write through it reaches everyone.
    write(
        &http,
        ports[old],
        reqwest::Method::POST,
        &[("customNamespaceId", "back"), ("namespaceName", "Back")],
    )
    .await;
    let all = [("after", "After"), ("back", "Back"), ("before", "Before")];
    until_everywhere(&http, &ports, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_alone_answers_no_leader_to_writes_and_keeps_serving_the_data_plane() {
    // It cannot commit: its writes end unconfirmed after the write timeout (5 s).
    alone_with_two_killed(true, "control-minority-leader").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_alone_answers_no_leader_to_writes_and_keeps_serving_the_data_plane() {
    // Its leader is unreachable, then it stands for election and knows no leader.
    alone_with_two_killed(false, "control-minority-follower").await;
}

/// Three members; two are killed, the survivor being the leader (`leads`) or a follower. A
/// write on it answers "no leader" within a bound, on v1 and v2; it still lists what it
/// applied, and takes an ephemeral registration and its beat.
async fn alone_with_two_killed(leads: bool, name: &str) {
    let dir = Dir::new(name);
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    write(
        &http,
        ports[0],
        reqwest::Method::POST,
        &[
            ("customNamespaceId", "dev"),
            ("namespaceName", "Development"),
        ],
    )
    .await;
    until_everywhere(&http, &ports, &[("dev", "Development")]).await;
    ok(
        &http,
        &ports,
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &instance("orders", "10.0.0.1", false),
    )
    .await;
    // Distro replicates it after the answer: every member has it before two are killed.
    for p in &ports {
        until_orders(&http, *p, &["10.0.0.1"]).await;
    }

    let leader = leader(&http, &ports).await;
    let alone = if leads {
        leader
    } else {
        (leader + 1) % ports.len()
    };
    for (i, s) in servers.iter_mut().enumerate() {
        if i != alone {
            s.kill9();
        }
    }
    let port = ports[alone];
    let url = format!("http://127.0.0.1:{port}");
    for (path, body_has) in [
        (NAMESPACES, "caused: errCode: 500, errMsg: The Raft Group [nacre-control] did not find the Leader node"),
        ("/nacos/v2/console/namespace", "\"code\":30000"),
    ] {
        let sent = Instant::now();
        let answer = http
            .post(format!("{url}{path}"))
            .form(&[
                ("customNamespaceId", "late"),
                ("namespaceId", "late"),
                ("namespaceName", "Late"),
            ])
            .send()
            .await
            .expect("the survivor answers");
        let took = sent.elapsed();
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        assert_eq!(status, 500, "{path}: {body}");
        assert!(body.contains(body_has), "{path}: {body}");
        assert!(body.contains("did not find the Leader node"), "{path}: {body}");
        assert!(took < Duration::from_secs(9), "{path} took {took:?}");
    }
    // Reads: the namespaces it applied, and the data plane: the persistent instance
    // registered before, an ephemeral one registered now (before it could expire unbeaten).
    until_everywhere(&http, &[port], &[("dev", "Development")]).await;
    ok(
        &http,
        &[port],
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &instance("orders", "10.0.0.2", true),
    )
    .await;
    until_orders(&http, port, &["10.0.0.1", "10.0.0.2"]).await;
    let beat: serde_json::Value = http
        .put(format!(
            "{url}/nacos/v1/ns/instance/beat?serviceName=orders&ip=10.0.0.2&port=5432"
        ))
        .send()
        .await
        .expect("the survivor answers")
        .json()
        .await
        .expect("a beat answer");
    assert_eq!(beat["code"], 10200, "{beat}");
}

/// Polls until `port` lists each of `ips` in the service `orders`.
async fn until_orders(http: &reqwest::Client, port: u16, ips: &[&str]) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let listed = crate::durable::listed(http, port, "orders").await;
        if listed
            .as_ref()
            .is_some_and(|l| ips.iter().all(|ip| l.contains(*ip)))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            ":{port} never listed {ips:?} in orders: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The instance `ip` of `shop` as `port` holds it (`GET /nacos/v1/ns/instance`), or `None`.
async fn detail(http: &reqwest::Client, port: u16, ip: &str) -> Option<serde_json::Value> {
    let answer = http
        .get(format!("http://127.0.0.1:{port}/nacos/v1/ns/instance"))
        .query(&[("serviceName", "shop"), ("ip", ip), ("port", "5432")])
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.json().await.ok()
}

/// Polls until every member holds `ip` with metadata `v` = `version`; answers their `enabled`.
async fn enabled_everywhere(
    http: &reqwest::Client,
    ports: &[u16],
    ip: &str,
    version: &str,
) -> Vec<bool> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut seen = Vec::new();
        for port in ports {
            match detail(http, *port, ip).await {
                Some(d) if d["metadata"]["v"] == version => seen.push(d["enabled"] == true),
                _ => break,
            }
        }
        if seen.len() == ports.len() {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{ip} v{version} never reached every member"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_edit_through_one_member_holds_on_every_member_over_a_reregistration() {
    let dir = Dir::new("control-override");
    let http = http();
    let (_servers, ports) = cluster(&dir, &http).await;
    let ip = "10.0.0.5";
    let register = |version: &str| {
        let mut q = instance("shop", ip, true);
        q.push(("metadata", format!("{{\"v\":\"{version}\"}}")));
        q.push(("enabled", "true".to_owned()));
        q
    };
    ok(
        &http,
        &ports[..1],
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &register("1"),
    )
    .await;
    assert_eq!(
        enabled_everywhere(&http, &ports, ip, "1").await,
        [true, true, true]
    );

    // Disabled through the second member: the override goes through the group's leader.
    let mut disable = instance("shop", ip, true);
    disable.push(("enabled", "false".to_owned()));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = http
            .put(format!(
                "http://127.0.0.1:{}/nacos/v1/ns/instance",
                ports[1]
            ))
            .query(&disable)
            .send()
            .await
            .expect("the member answers");
        let (status, body) = (answer.status(), answer.text().await.unwrap_or_default());
        if status.is_success() && body == "ok" {
            break;
        }
        assert!(
            status == 500 && body.contains("did not find the Leader node"),
            "PUT answered {status}: {body}"
        );
        assert!(Instant::now() < deadline, "the PUT never took");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The third member has applied the override. (A registration that reaches a member before
    // that member applies the override, a window of milliseconds after the PUT answers, still
    // wins: overrides are laid over registrations, not yet over instances already registered.
    // Known, in the closing note of issue 23; this test once lost that race in CI.)
    let deadline = Instant::now() + DEADLINE;
    loop {
        let kept = http
            .get(format!(
                "http://127.0.0.1:{}/nacos/v1/ns/instance/override",
                ports[2]
            ))
            .query(&instance("shop", ip, true))
            .send()
            .await
            .expect("the member answers");
        if kept.status().is_success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the third member never applied the override"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The client registers again through the third member, enabled=true as clients say: every
    // member keeps it disabled.
    ok(
        &http,
        &ports[2..],
        reqwest::Method::POST,
        "/nacos/v1/ns/instance",
        &register("2"),
    )
    .await;
    assert_eq!(
        enabled_everywhere(&http, &ports, ip, "2").await,
        [false, false, false]
    );
}
