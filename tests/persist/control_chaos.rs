//! The control plane under faults, checked by a linearizability checker: a three-member
//! cluster of real `nacre-server --data-dir` processes takes a stream of writes from concurrent
//! writers through every member, each setting one register: a namespace's name
//! (`PUT /nacos/v1/console/namespaces`), an operator's override of an instance's weight
//! (`PUT /nacos/v1/ns/instance?weight=`), a persistent instance (registered with a weight by
//! `POST /nacos/v1/ns/instance?ephemeral=false`, or deregistered by `DELETE`), or a service's
//! protect threshold (`PUT /nacos/v1/ns/service?protectThreshold=`): 2,400 writes, 1,200 of
//! them persistent registrations, deregistrations and overrides. A fault hits a member a third
//! of the way in and is repaired at two thirds (or 8 s later): the leader killed with SIGKILL and started again on
//! its data directory; the leader paused with SIGSTOP and resumed with SIGCONT (it comes back
//! believing it leads an old term); or a follower killed and restarted. The history (every
//! write's invocation, and its answer: done, or unknown when it failed) and, once the members
//! agree, a read of every register on every member, go through Stateright's
//! `LinearizabilityTester` (the `consistency_model` crate), one register at a time
//! (linearizability is local: a history is linearizable exactly when each object's is).
//!
//! What it catches: an acknowledged write lost (a read that only an older value explains), a
//! write that failed showing up half-applied on some member, members that disagree after
//! recovery, a value nobody wrote.
//!
//! A failed write's outcome is unknown (a write a leader took but could not confirm may still
//! commit), so it stays in flight in the history, and its writer goes on as a new process, as in
//! Jepsen. A write refused before it reached the log (connection refused: the member is down; a
//! 4xx answer) is not in the history at all.

use crate::control_group::{leader, namespaces, write};
use crate::durable::{cluster, http, ok, wait_ready, Dir, DEADLINE};
use consistency_model::{
    ConsistencyTester, LinearizabilityTester, Register, RegisterOp, RegisterRet,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAMESPACES: &str = "/nacos/v1/console/namespaces";
/// Registers of each kind: namespaces' names, overrides of instances' weights, persistent
/// instances, services' protect thresholds.
const KEYS: usize = 8;
/// The registers in all: namespaces first, then overrides, persistent instances, settings.
const REGISTERS: usize = 4 * KEYS;
/// The persistent instance each persistent register registers (in service `pers-K`).
const PERSISTENT: (&str, &str) = ("10.8.0.1", "80");
/// A persistent register's value when its instance is not registered.
const GONE: &str = "gone";
/// The instance whose weight each override register sets (in service `svc-K`).
const OVERRIDDEN: (&str, &str) = ("10.9.0.1", "80");
/// Concurrent writers.
const WRITERS: usize = 4;
/// Writes in all.
const WRITES: usize = 2_400;

/// One event of the history, in real-time order.
#[derive(Debug, Clone)]
enum Event {
    Invoke {
        process: usize,
        key: usize,
        value: String,
    },
    Ok {
        process: usize,
        key: usize,
    },
}

/// The register's name: `ns-K` (a namespace), `svc-K` (the override in that service),
/// `pers-K` (the persistent instance in that service) or `set-K` (that service's protect
/// threshold).
fn key_id(key: usize) -> String {
    match key / KEYS {
        0 => format!("ns-{key}"),
        1 => format!("svc-{}", key - KEYS),
        2 => format!("pers-{}", key - 2 * KEYS),
        _ => format!("set-{}", key - 3 * KEYS),
    }
}

/// The kind of a register.
fn is_persistent(key: usize) -> bool {
    key / KEYS == 2
}

/// A settings register.
fn is_setting(key: usize) -> bool {
    key / KEYS == 3
}

/// A register's value before any write: a namespace is created named `v0`, an instance has no
/// override, a persistent instance is not registered.
fn initial(key: usize) -> &'static str {
    match key / KEYS {
        0 => "v0",
        1 => "none",
        2 => GONE,
        _ => "0.0000",
    }
}

/// One write's outcome.
enum Outcome {
    Done,
    /// Not applied: the member was down, or refused the write before it reached the log (a
    /// 4xx answer).
    NotSent,
    /// Sent, not confirmed: it may or may not have taken effect.
    Unknown,
}

async fn set(http: &reqwest::Client, port: u16, key: usize, value: &str) -> Outcome {
    let id = key_id(key);
    let (request, done) = if is_setting(key) {
        let request = http
            .put(format!("http://127.0.0.1:{port}/nacos/v1/ns/service"))
            .query(&[("serviceName", id.as_str()), ("protectThreshold", value)]);
        (request, "ok")
    } else if is_persistent(key) {
        let method = if value == GONE {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::POST
        };
        let mut q = vec![
            ("serviceName", id.as_str()),
            ("ip", PERSISTENT.0),
            ("port", PERSISTENT.1),
            ("ephemeral", "false"),
        ];
        if value != GONE {
            q.push(("weight", value));
        }
        let request = http
            .request(
                method,
                format!("http://127.0.0.1:{port}/nacos/v1/ns/instance"),
            )
            .query(&q);
        (request, "ok")
    } else if key < KEYS {
        let request = http
            .put(format!("http://127.0.0.1:{port}{NAMESPACES}"))
            .query(&[
                ("namespace", id.as_str()),
                ("namespaceShowName", value),
                ("namespaceDesc", ""),
            ]);
        (request, "true")
    } else {
        let request = http
            .put(format!("http://127.0.0.1:{port}/nacos/v1/ns/instance"))
            .query(&[
                ("serviceName", id.as_str()),
                ("ip", OVERRIDDEN.0),
                ("port", OVERRIDDEN.1),
                ("weight", value),
            ]);
        (request, "ok")
    };
    match request.send().await {
        Err(e) if e.is_connect() => Outcome::NotSent,
        Err(_) => Outcome::Unknown,
        Ok(a) => {
            let status = a.status();
            match a.text().await {
                Ok(body) if status.is_success() && body == done => Outcome::Done,
                _ if status.is_client_error() => Outcome::NotSent,
                _ => Outcome::Unknown,
            }
        }
    }
}

/// Whether `port` holds every override register's service.
async fn services(http: &reqwest::Client, port: u16) -> bool {
    for k in 0..KEYS {
        let held = http
            .get(format!("http://127.0.0.1:{port}/nacos/v1/ns/service"))
            .query(&[("serviceName", key_id(KEYS + k))])
            .send()
            .await
            .is_ok_and(|a| a.status().is_success());
        if !held {
            return false;
        }
    }
    true
}

/// Every register as `port` holds it, or `None` when it does not answer in full.
async fn registers(http: &reqwest::Client, port: u16) -> Option<BTreeMap<String, String>> {
    let mut all = namespaces(http, port).await?;
    if all.len() != KEYS {
        return None;
    }
    for k in 0..KEYS {
        let service = key_id(KEYS + k);
        let answer = http
            .get(format!(
                "http://127.0.0.1:{port}/nacos/v1/ns/instance/override"
            ))
            .query(&[
                ("serviceName", service.as_str()),
                ("ip", OVERRIDDEN.0),
                ("port", OVERRIDDEN.1),
            ])
            .send()
            .await
            .ok()?;
        let value = match answer.status().as_u16() {
            404 => "none".to_owned(),
            200 => {
                let o: serde_json::Value = answer.json().await.ok()?;
                // Written as integers: shown as the integer written.
                format!("{}", o["weight"].as_f64()? as u64)
            }
            _ => return None,
        };
        all.insert(service, value);
    }
    // A v1 read of `service` on `port`, as JSON.
    let read = |path: &'static str, service: String| async move {
        let answer = http
            .get(format!("http://127.0.0.1:{port}{path}"))
            .query(&[("serviceName", service.as_str())])
            .send()
            .await
            .ok()?;
        answer.json::<serde_json::Value>().await.ok()
    };
    for k in 0..KEYS {
        let service = key_id(3 * KEYS + k);
        let detail = read("/nacos/v1/ns/service", service.clone()).await?;
        let threshold = detail["protectThreshold"].as_f64()?;
        all.insert(service, format!("{threshold:.4}"));
    }
    for k in 0..KEYS {
        let service = key_id(2 * KEYS + k);
        let list = read("/nacos/v1/ns/instance/list", service.clone()).await?;
        let host = list["hosts"]
            .as_array()?
            .iter()
            .find(|h| h["ip"] == PERSISTENT.0);
        let value = match host {
            Some(h) => format!("{}", h["weight"].as_f64()? as u64),
            None => GONE.to_owned(),
        };
        all.insert(service, value);
    }
    Some(all)
}

/// What happens to a member during the writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// The leader killed with SIGKILL, then started again.
    KillLeader,
    /// The leader paused with SIGSTOP, then resumed with SIGCONT.
    PauseLeader,
    /// A follower killed with SIGKILL, then started again.
    KillFollower,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_across_a_leader_kill_are_linearizable_and_every_member_agrees() {
    chaos(Fault::KillLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_across_a_paused_leader_are_linearizable_and_every_member_agrees() {
    chaos(Fault::PauseLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_across_a_follower_kill_are_linearizable_and_every_member_agrees() {
    chaos(Fault::KillFollower).await;
}

async fn chaos(fault: Fault) {
    let dir = Dir::new(&format!("control-chaos-{fault:?}"));
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    for key in 0..KEYS {
        let id = key_id(key);
        let q = [("customNamespaceId", id.as_str()), ("namespaceName", "v0")];
        write(&http, ports[key % ports.len()], reqwest::Method::POST, &q).await;
        // The override registers' services, on every member before the writes start.
        for service in [key_id(KEYS + key), key_id(3 * KEYS + key)] {
            let q = vec![
                ("serviceName", service),
                ("protectThreshold", "0".to_owned()),
            ];
            ok(
                &http,
                &ports,
                reqwest::Method::POST,
                "/nacos/v1/ns/service",
                &q,
            )
            .await;
        }
    }
    let deadline = Instant::now() + DEADLINE;
    for port in &ports {
        while registers(&http, *port).await.is_none() || !services(&http, *port).await {
            assert!(
                Instant::now() < deadline,
                ":{port} never held every register"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let history = Arc::new(Mutex::new(Vec::<Event>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (http, history, next, ports) =
                (http.clone(), history.clone(), next.clone(), ports.clone());
            tokio::spawn(async move {
                let mut process = w;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= WRITES {
                        return;
                    }
                    let key = (n * 7 + w) % REGISTERS;
                    // Unique; a whole number, so that it also makes a weight. One in four
                    // writes of a persistent instance deregisters it.
                    let value = if is_persistent(key) && n % 4 == 0 {
                        GONE.to_owned()
                    } else if is_setting(key) {
                        format!("{:.4}", (n + 1) as f64 / 10_000.0)
                    } else {
                        format!("{}", n + 1)
                    };
                    let port = ports[n % ports.len()];
                    let invoked = Event::Invoke {
                        process,
                        key,
                        value: value.clone(),
                    };
                    history.lock().unwrap().push(invoked);
                    match set(&http, port, key, &value).await {
                        Outcome::Done => history.lock().unwrap().push(Event::Ok { process, key }),
                        Outcome::NotSent => {
                            // Never reached a member: out of the history again.
                            forget(&history, process);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Outcome::Unknown => {
                            // Stays in flight; the writer goes on as a new process, after a
                            // pause: every write left in flight multiplies the orders the
                            // checker must try.
                            process += WRITERS;
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    }
                }
            })
        })
        .collect();

    // The fault a third of the way in; the repair at two thirds, or 8 s later.
    let reached = |share: usize, within: Duration| {
        let next = next.clone();
        async move {
            let deadline = Instant::now() + within;
            while next.load(Ordering::Relaxed) < WRITES * share / 3 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    reached(1, DEADLINE).await;
    let leading = leader(&http, &ports).await;
    let hit = match fault {
        Fault::KillLeader | Fault::PauseLeader => leading,
        Fault::KillFollower => (leading + 1) % ports.len(),
    };
    match fault {
        Fault::PauseLeader => servers[hit].signal("STOP"),
        _ => servers[hit].kill9(),
    }
    let killed_at = history.lock().unwrap().len();
    reached(2, Duration::from_secs(8)).await;
    match fault {
        Fault::PauseLeader => servers[hit].signal("CONT"),
        _ => {
            servers[hit].start();
            wait_ready(&http, &servers[hit]).await;
        }
    }
    for w in writers {
        w.await.expect("a writer finished");
    }

    // Every member agrees on every register, once they have all applied the same log.
    let deadline = Instant::now() + DEADLINE;
    let agreed = loop {
        let mut seen = Vec::new();
        for port in &ports {
            seen.push(registers(&http, *port).await);
        }
        if seen.iter().all(|s| s.is_some() && *s == seen[0]) {
            if let Some(Some(map)) = seen.pop() {
                break map;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the members never agreed: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let events = history.lock().unwrap().clone();
    let acknowledged = events
        .iter()
        .filter(|e| matches!(e, Event::Ok { .. }))
        .count();
    let invoked = events
        .iter()
        .filter(|e| matches!(e, Event::Invoke { .. }))
        .count();
    // The group went on: writes were acknowledged after the fault.
    let after_kill = events[killed_at.min(events.len())..]
        .iter()
        .filter(|e| matches!(e, Event::Ok { .. }))
        .count();
    assert!(
        after_kill > 0,
        "no write was acknowledged after the fault ({acknowledged} of {invoked} in all)"
    );
    let persistent_acked = events
        .iter()
        .filter(|e| matches!(e, Event::Ok { key, .. } if is_persistent(*key)))
        .count();
    let settings_acked = events
        .iter()
        .filter(|e| matches!(e, Event::Ok { key, .. } if is_setting(*key)))
        .count();
    let overrides_acked = events
        .iter()
        .filter(|e| matches!(e, Event::Ok { key, .. } if (KEYS..2 * KEYS).contains(key)))
        .count();
    if let Err(why) = check(&events, &agreed, ports.len()) {
        panic!("{why}");
    }
    eprintln!(
        "control chaos, {fault:?} (member {hit}): {invoked} writes sent, {acknowledged} \
         acknowledged ({persistent_acked} persistent registrations and deregistrations, \
         {overrides_acked} overrides, {settings_acked} service settings), {} unknown, {after_kill} acknowledged after the fault; \
         {REGISTERS} registers linearizable",
        invoked - acknowledged
    );
}

/// Takes `process`'s last invocation out of the history.
fn forget(history: &Mutex<Vec<Event>>, process: usize) {
    let mut h = history.lock().unwrap();
    let at = h
        .iter()
        .rposition(|e| matches!(e, Event::Invoke { process: p, .. } if *p == process));
    if let Some(at) = at {
        h.remove(at);
    }
}

/// Each register's history, with the final read of every member after it, is linearizable.
fn check(
    events: &[Event],
    agreed: &BTreeMap<String, String>,
    members: usize,
) -> Result<(), String> {
    type Tester = LinearizabilityTester<usize, Register<String>>;
    let mut testers: BTreeMap<usize, Tester> = (0..REGISTERS)
        .map(|k| {
            let init = Register::new(initial(k).to_owned());
            (k, LinearizabilityTester::new(init))
        })
        .collect();
    for e in events {
        match e {
            Event::Invoke {
                process,
                key,
                value,
            } => {
                testers
                    .get_mut(key)
                    .expect("a key")
                    .on_invoke(*process, RegisterOp::Write(value.clone()))
                    .expect("a well-formed history");
            }
            Event::Ok { process, key } => {
                testers
                    .get_mut(key)
                    .expect("a key")
                    .on_return(*process, RegisterRet::WriteOk)
                    .expect("a well-formed history");
            }
        }
    }
    // The final reads, after everything: one reader process per member, numbered past every
    // writer's.
    for (key, tester) in testers.iter_mut() {
        let Some(value) = agreed.get(&key_id(*key)).cloned() else {
            return Err(format!("{} was lost", key_id(*key)));
        };
        for member in 0..members {
            let reader = usize::MAX - member;
            tester
                .on_invoke(reader, RegisterOp::Read)
                .expect("a well-formed history");
            tester
                .on_return(reader, RegisterRet::ReadOk(value.clone()))
                .expect("a well-formed history");
        }
        if !tester.is_consistent() {
            return Err(format!(
                "{}: the history is not linearizable (final value {value:?}): {tester:?}",
                key_id(*key)
            ));
        }
    }
    Ok(())
}

/// The checker itself: an acknowledged write that the final state does not show is caught,
/// and so is a value nobody wrote; a write of unknown outcome may or may not show.
#[test]
fn the_checker_catches_a_lost_write_and_allows_an_unknown_one() {
    let all = |value: &str| -> BTreeMap<String, String> {
        (0..REGISTERS)
            .map(|k| {
                let shown = if k < KEYS { value } else { initial(k) };
                (key_id(k), shown.to_owned())
            })
            .collect()
    };
    let acked = |value: &str| {
        vec![
            Event::Invoke {
                process: 0,
                key: 0,
                value: value.to_owned(),
            },
            Event::Ok { process: 0, key: 0 },
        ]
    };
    // Key 0 written "a" and acknowledged; every other key untouched ("v0").
    let mut agreed = all("v0");
    assert!(check(&acked("a"), &agreed, 3).is_err(), "a lost write");
    agreed.insert(key_id(0), "a".to_owned());
    assert!(check(&acked("a"), &agreed, 3).is_ok());
    agreed.insert(key_id(0), "never-written".to_owned());
    assert!(
        check(&acked("a"), &agreed, 3).is_err(),
        "a value nobody wrote"
    );
    // "b" invoked after "a" was acknowledged, outcome unknown: "a" or "b" may show.
    let mut unknown = acked("a");
    unknown.push(Event::Invoke {
        process: WRITERS,
        key: 0,
        value: "b".to_owned(),
    });
    for shown in ["a", "b"] {
        agreed.insert(key_id(0), shown.to_owned());
        assert!(check(&unknown, &agreed, 3).is_ok(), "{shown}");
    }
    agreed.insert(key_id(0), "v0".to_owned());
    assert!(
        check(&unknown, &agreed, 3).is_err(),
        "the acknowledged a lost"
    );
}
