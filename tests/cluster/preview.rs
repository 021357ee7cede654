//! The failure preview against a real cluster: three `nacre-server` processes on loopback.
//! Clients beat some instances through one member only, others through the two others. A
//! survivor previews the stop of the first (`GET /nacre/v1/cluster/preview?stop=`); the
//! member is then killed (SIGKILL) and what the survivors do is watched every 100 ms:
//! - each instance whose beats stopped turns unhealthy, and is removed, within a second of
//!   the predicted time, by the member the preview named (read from that member's instance
//!   timeline: its own sweep recorded the verdict, so the owner moved as predicted);
//! - every instance whose client kept beating stays healthy.

use super::members::{three_members, wait_ready, Member};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVICES: usize = 6;
/// Clients beat this often: a survivor that does not own a service assumes its clients beat
/// until the preview, so its forecast may come up to one beat late.
const BEAT: Duration = Duration::from_millis(500);
/// Predicted and observed times may differ by this much: "within a second", plus the 100 ms
/// between two looks.
const TOLERANCE_MS: i64 = 1_100;

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn instance_query(service: &str, ip: &str) -> Vec<(&'static str, String)> {
    vec![
        ("serviceName", service.to_owned()),
        ("ip", ip.to_owned()),
        ("port", "8080".to_owned()),
        (
            "metadata",
            format!(
                r#"{{"preserved.heart.beat.interval":"{}"}}"#,
                BEAT.as_millis()
            ),
        ),
    ]
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    query: &[(&str, String)],
) -> bool {
    http.request(method, url)
        .query(query)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|a| a.status().is_success())
}

/// What one member lists of `service`: healthy per ip.
async fn health(
    http: &reqwest::Client,
    member: &Member,
    service: &str,
) -> Option<BTreeMap<String, bool>> {
    let url = member.url("/nacos/v1/ns/instance/list");
    let answer = http
        .get(url)
        .query(&[("serviceName", service), ("healthyOnly", "false")])
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let body: Value = answer.json().await.ok()?;
    Some(
        body["hosts"]
            .as_array()?
            .iter()
            .filter_map(|h| Some((h["ip"].as_str()?.to_owned(), h["healthy"].as_bool()?)))
            .collect(),
    )
}

/// A predicted verdict: when, and by which member.
#[derive(Debug, Clone)]
struct Predicted {
    service: String,
    ip: String,
    unhealthy: Option<(i64, String)>,
    removed: (i64, String),
}

fn at(event: &Value) -> Option<(i64, String)> {
    Some((
        event["at"]["epochMs"].as_i64()?,
        event["by"].as_str()?.to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_members_preview_matches_what_the_cluster_then_does() {
    let dir = std::env::temp_dir().join(format!("nacre-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a log directory");
    let mut members = three_members(env!("CARGO_BIN_EXE_nacre-server").as_ref(), &dir);
    let ports: Vec<u16> = members.iter().map(|m| m.port).collect();
    let list: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    for m in &mut members {
        m.start();
    }
    for m in &members {
        wait_ready(&http, m).await;
    }
    let stopped = list[0].clone();
    let mut first = members.remove(0);
    // Instance 10.9.<s>.1 of each service beats through the member that will stop; 10.9.<s>.2
    // through the two others in turn.
    let lost_beats = Arc::new(AtomicBool::new(true));
    let clients = {
        let (http, ports, lost_beats) = (http.clone(), ports.clone(), lost_beats.clone());
        tokio::spawn(async move {
            let mut turn = 0usize;
            loop {
                for s in 0..SERVICES {
                    let service = format!("preview-{s}");
                    if lost_beats.load(Ordering::Relaxed) {
                        let url = format!("http://127.0.0.1:{}/nacos/v1/ns/instance", ports[0]);
                        let q = instance_query(&service, &format!("10.9.{s}.1"));
                        send(&http, reqwest::Method::POST, url.clone(), &q).await;
                    }
                    let port = ports[1 + turn % 2];
                    let url = format!("http://127.0.0.1:{port}/nacos/v1/ns/instance");
                    let q = instance_query(&service, &format!("10.9.{s}.2"));
                    send(&http, reqwest::Method::POST, url, &q).await;
                }
                turn += 1;
                tokio::time::sleep(BEAT).await;
            }
        })
    };
    // Every survivor lists everything, and the cluster is formed: the preview answers.
    let (survivor, other) = (&members[0], &members[1]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Each survivor's own preview: a member knows when it will notice the stop (its own last
    // contact with the member); another notices up to a ping interval apart (the preview's
    // detection window). So each member's forecast is read for the verdicts it makes itself.
    let previews = loop {
        let mut listed = 0;
        for s in 0..SERVICES {
            for m in [survivor, other] {
                listed += health(&http, m, &format!("preview-{s}"))
                    .await
                    .map_or(0, |h| h.values().filter(|ok| **ok).count());
            }
        }
        if listed == SERVICES * 4 {
            let answer = http
                .get(survivor.url("/nacre/v1/cluster/preview"))
                .query(&[("stop", stopped.as_str())])
                .send()
                .await
                .expect("the preview answers");
            let theirs = http
                .get(other.url("/nacre/v1/cluster/preview"))
                .query(&[("stop", stopped.as_str())])
                .send()
                .await
                .expect("the preview answers");
            if answer.status().is_success() && theirs.status().is_success() {
                break [
                    answer.json::<Value>().await.expect("preview JSON"),
                    theirs.json::<Value>().await.expect("preview JSON"),
                ];
            }
            let why = format!(
                "preview: {} {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
            assert!(
                Instant::now() < deadline,
                "the cluster did not form in 60 s: {why}"
            );
        } else {
            assert!(
                Instant::now() < deadline,
                "the cluster did not form in 60 s: {listed} of {} healthy listings",
                SERVICES * 4
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The stop, right after the preview.
    lost_beats.store(false, Ordering::Relaxed);
    first.kill();
    let killed_at = epoch_ms();

    let preview = &previews[0];
    let expected_at = preview["detection"]["expected"]["epochMs"]
        .as_i64()
        .expect("a detection time");
    assert!(
        (expected_at - killed_at - 5_000).abs() < 1_500,
        "the stop is noticed about 5 s after the last contact: {}",
        preview["detection"]
    );
    let moved: Vec<&Value> = preview["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["oldOwner"] == stopped.as_str())
        .collect();
    assert!(
        !moved.is_empty(),
        "some services were the stopped member's: {preview}"
    );
    let mut predicted: Vec<Predicted> = Vec::new();
    for preview in &previews {
        let me = preview["computedBy"].as_str().expect("computedBy");
        for forecast in preview["instances"].as_array().expect("instances") {
            let ip = forecast["ip"].as_str().expect("an ip").to_owned();
            if !ip.ends_with(".1") {
                continue; // beats through the survivors: not losing them
            }
            let fate = &forecast["ifBeatsStop"];
            let removed = at(&fate["removed"]).expect("a removal");
            if removed.1 != me {
                continue; // the other survivor's verdict: read from its own preview
            }
            predicted.push(Predicted {
                service: forecast["service"]["name"]
                    .as_str()
                    .expect("a name")
                    .to_owned(),
                ip,
                unhealthy: at(&fate["unhealthy"]),
                removed,
            });
        }
    }
    // Every instance of a moved service is forecast; those of the others too, as named.
    let moved_names: Vec<&str> = moved
        .iter()
        .filter_map(|s| s["service"]["name"].as_str())
        .collect();
    for name in &moved_names {
        assert!(
            predicted.iter().any(|p| p.service == *name),
            "{name}'s silent instance is forecast: {preview}"
        );
    }

    // Watch the survivors every 100 ms until every predicted removal is past.
    let last = predicted.iter().map(|p| p.removed.0).max().unwrap_or(0) + 3_000;
    let mut seen_unhealthy: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen_removed: BTreeMap<String, i64> = BTreeMap::new();
    let mut kept_flapped: Vec<String> = Vec::new();
    let by_port = |id: &str| -> &Member {
        if id == list[1] {
            survivor
        } else {
            other
        }
    };
    while epoch_ms() < last {
        for p in &predicted {
            let key = format!("{}/{}", p.service, p.ip);
            let judge = p.unhealthy.as_ref().map_or(&p.removed.1, |u| &u.1);
            let Some(listed) = health(&http, by_port(judge), &p.service).await else {
                continue;
            };
            let now = epoch_ms();
            match listed.get(&p.ip) {
                Some(false) => {
                    seen_unhealthy.entry(key.clone()).or_insert(now);
                }
                None => {
                    seen_unhealthy.entry(key.clone()).or_insert(now);
                    seen_removed.entry(key.clone()).or_insert(now);
                }
                Some(true) => {}
            }
            let kept = format!("{}.2", p.ip.trim_end_matches(".1"));
            if listed.get(&kept) == Some(&false) {
                kept_flapped.push(key);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    clients.abort();

    let mut report = Vec::new();
    for p in &predicted {
        let key = format!("{}/{}", p.service, p.ip);
        if let Some((when, by)) = &p.unhealthy {
            let seen = seen_unhealthy
                .get(&key)
                .copied()
                .expect("it turned unhealthy");
            report.push(format!("{key}: unhealthy {} ms off, by {by}", seen - when));
            assert!(
                (seen - when).abs() <= TOLERANCE_MS,
                "{key} turned unhealthy at {seen}, predicted {when} by {by}"
            );
            // The member named made the verdict: its own timeline says so.
            let timeline: Value = http
                .get(by_port(by).url("/nacre/v1/ns/instance/timeline"))
                .query(&[
                    ("serviceName", p.service.as_str()),
                    ("ip", &p.ip),
                    ("port", "8080"),
                ])
                .send()
                .await
                .expect("the timeline answers")
                .json()
                .await
                .expect("timeline JSON");
            let flip = timeline["events"]
                .as_array()
                .expect("events")
                .iter()
                .find(|e| e["event"]["kind"] == "silent")
                .unwrap_or_else(|| panic!("{key}: no unhealthy verdict on {by}: {timeline}"));
            assert_eq!(flip["member"], by.as_str(), "{key}: {flip}");
        }
        let (when, by) = &p.removed;
        let seen = seen_removed.get(&key).copied().expect("it was removed");
        report.push(format!("{key}: removed {} ms off, by {by}", seen - when));
        assert!(
            (seen - when).abs() <= TOLERANCE_MS,
            "{key} was removed at {seen}, predicted {when} by {by}"
        );
    }
    println!("preview vs cluster: {}", report.join("; "));
    assert!(
        kept_flapped.is_empty(),
        "instances that kept beating stayed healthy: {kept_flapped:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
