//! `drainMillis` on `DELETE` and `PUT /nacos/v1/ns/instance` (and v2): the write, then a wait
//! for every subscriber to take a push without the instance, answered as a JSON report. Here
//! the subscribers are the registry's in-process listeners (front `listeners`), and the wait's
//! deadline runs on the manual clock. (tests/front/drain.rs drives the push fronts with real
//! clients.)

use crate::env::{api, orders, ORDERS_10_0_0_1};
use nacre::NamingEvent;
use serde_json::Value;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Real time allowed for the request to get to its wait.
const PATIENCE: Duration = Duration::from_secs(30);

fn registered(api: &crate::env::Api) {
    api.registry
        .register_instance(&orders(), nacre::Instance::new("10.0.0.1", 8080).unwrap())
        .unwrap();
    api.registry
        .register_instance(&orders(), nacre::Instance::new("10.0.0.2", 8080).unwrap())
        .unwrap();
}

/// A listener of `orders` held in its first change until `release` is sent or dropped.
struct Held {
    release: mpsc::Sender<()>,
    /// Says when the listener is held.
    entered: mpsc::Receiver<()>,
    id: nacre::SubscriptionId,
}

/// Subscribes a listener to `orders` that blocks on its second event (the first change after
/// the subscription's own) until released: see [`Held`].
fn held_listener(api: &crate::env::Api) -> Held {
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    let (entered_tx, entered) = mpsc::channel::<()>();
    let calls = Mutex::new(0);
    let id = api
        .registry
        .subscribe(&orders(), &[], move |_: &NamingEvent| {
            let mut n = calls.lock().unwrap();
            *n += 1;
            if *n == 2 {
                let _ = entered_tx.send(());
                let _ = blocked.lock().unwrap().recv();
            }
        });
    assert!(api.registry.wait_for_events(PATIENCE));
    Held {
        release,
        entered,
        id,
    }
}

#[tokio::test]
async fn a_draining_delete_answers_once_every_listener_took_the_change() {
    let api = api();
    registered(&api);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    api.registry
        .subscribe(&orders(), &[], move |e: &NamingEvent| {
            log.lock().unwrap().push(e.instances.len());
        });
    assert!(api.registry.wait_for_events(PATIENCE));

    let report = api
        .json(
            "DELETE",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&drainMillis=5000"),
        )
        .await;
    assert_eq!(report["drained"], true, "{report}");
    assert_eq!(
        (report["subscribers"].as_u64(), report["acked"].as_u64()),
        (Some(1), Some(1))
    );
    let fronts = report["fronts"].as_array().unwrap();
    assert_eq!(
        fronts.len(),
        1,
        "no push hub here, only the listeners: {report}"
    );
    assert_eq!(fronts[0]["front"], "listeners");
    // The listener had the change when the answer came.
    assert_eq!(seen.lock().unwrap().last(), Some(&1));
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 1);
    // Without drainMillis: Nacos' `ok`.
    let plain = "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.2&port=8080";
    assert_eq!(api.ok("DELETE", plain).await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_does_not_return_is_reported_pending_at_the_deadline() {
    let api = api();
    registered(&api);
    let Held {
        release,
        entered,
        id,
    } = held_listener(&api);
    let app = api.app.clone();
    let uri = format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&drainMillis=3000");
    let request = tokio::spawn(async move {
        let request = axum::http::Request::delete(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        crate::env::send(&app, request).await
    });
    // The listener is in its event (so the drain waits on it); the deadline passes.
    tokio::task::spawn_blocking(move || entered.recv_timeout(PATIENCE).unwrap())
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while !request.is_finished() {
        assert!(start.elapsed() < PATIENCE, "the drain ends at its deadline");
        api.clock.advance(Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["drained"], false, "{report}");
    assert!(report["waitedMillis"].as_u64().unwrap() >= 3000, "{report}");
    let pending = &report["fronts"][0]["pending"];
    assert_eq!(
        pending[0]["addr"],
        format!("in-process#{}", id.get()),
        "{report}"
    );
    assert_eq!(pending[0]["agent"], nacre::front::push::IN_PROCESS_AGENT);
    // The write was made all the same.
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 1);
    release.send(()).unwrap();
}

#[tokio::test]
async fn a_draining_put_disables_and_bad_drains_are_refused() {
    let api = api();
    registered(&api);
    api.registry.subscribe(&orders(), &[], |_: &NamingEvent| {});
    assert!(api.registry.wait_for_events(PATIENCE));
    let put = format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}");
    let report = api
        .json("PUT", &format!("{put}&enabled=false&drainMillis=5000"))
        .await;
    assert_eq!(report["drained"], true, "{report}");
    assert_eq!(report["acked"], 1, "{report}");
    let all = api.registry.get_all_instances(&orders(), &[]);
    let disabled = all.iter().find(|i| i.ip().as_str() == "10.0.0.1").unwrap();
    assert!(!disabled.enabled(), "disabled, still registered");

    for (uri, why) in [
        (
            format!("{put}&enabled=true&drainMillis=5000"),
            "only with enabled=false",
        ),
        (format!("{put}&drainMillis=5000"), "only with enabled=false"),
        (
            format!("{put}&enabled=false&drainMillis=soon"),
            "a whole number",
        ),
        (
            format!("{put}&enabled=false&drainMillis=-1"),
            "a whole number",
        ),
        (
            format!("{put}&enabled=false&drainMillis=60001"),
            "longer than this server allows (60000 ms)",
        ),
    ] {
        let (status, body) = api.call("PUT", &uri).await;
        assert_eq!(status, 400, "{uri}: {body}");
        assert!(body.contains(why), "{uri}: {body}");
    }
    let (status, body) = api
        .call("DELETE", &format!("{put}&drainMillis=99999999999"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        api.registry.get_all_instances(&orders(), &[]).len(),
        2,
        "a refused drain writes nothing"
    );
}

#[tokio::test]
async fn v2_answers_the_report_in_its_envelope() {
    let api = api();
    registered(&api);
    let answer = api
        .json(
            "DELETE",
            &format!("/nacos/v2/ns/instance?{ORDERS_10_0_0_1}&drainMillis=1000"),
        )
        .await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["drained"], true, "{answer}");
    assert_eq!(
        answer["data"]["subscribers"], 0,
        "nobody to wait for: {answer}"
    );
    let plain = api
        .json(
            "DELETE",
            "/nacos/v2/ns/instance?serviceName=orders&ip=10.0.0.2&port=8080",
        )
        .await;
    assert_eq!(plain["data"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_in_progress_are_bounded_per_client_and_in_total() {
    use nacre::front::drain::DrainConfig;
    use std::net::SocketAddr;
    let mut api = api();
    let config = DrainConfig {
        max_drains: 2,
        max_per_client: 1,
        ..DrainConfig::default()
    };
    api.app = nacre::http::NacosApi::new(api.registry.clone())
        .drain(config)
        .router();
    let ip = |i: u8| format!("10.0.1.{i}");
    for i in 1..=4 {
        api.registry
            .register_instance(&orders(), nacre::Instance::new(&ip(i), 8080).unwrap())
            .unwrap();
    }
    // The listener holds the first drain's change, and every change after it waits behind
    // it, so each drain stays in progress.
    let Held {
        release, entered, ..
    } = held_listener(&api);
    let drain = |from: [u8; 4], instance: u8| {
        let uri = format!(
            "/nacos/v1/ns/instance?serviceName=orders&ip={}&port=8080&drainMillis=60000",
            ip(instance)
        );
        let mut request = axum::http::Request::delete(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((from, 40_000))));
        let app = api.app.clone();
        tokio::spawn(async move { crate::env::send(&app, request).await })
    };
    let (a, b, c) = ([192, 0, 2, 1], [192, 0, 2, 2], [192, 0, 2, 3]);
    let listed = |instance: u8| {
        api.registry
            .get_all_instances(&orders(), &[])
            .iter()
            .any(|i| i.ip().to_string() == ip(instance))
    };
    // a's first drain is in progress once its write reached the listener.
    let first = drain(a, 1);
    tokio::task::spawn_blocking(move || entered.recv_timeout(PATIENCE).unwrap())
        .await
        .unwrap();
    // Its second is refused before its write: the instance stays.
    let (status, body) = tokio::time::timeout(PATIENCE, drain(a, 2))
        .await
        .expect("refused at once, not held")
        .unwrap();
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("from 192.0.2.1"), "{body}");
    assert!(listed(2));
    // b's is admitted (its write is made, then it waits behind the held listener) ...
    let second = drain(b, 3);
    let start = std::time::Instant::now();
    while listed(3) {
        assert!(start.elapsed() < PATIENCE, "b's drain was not admitted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ... and with two in progress, c's is refused: the total bound.
    let (status, body) = tokio::time::timeout(PATIENCE, drain(c, 4))
        .await
        .expect("refused at once, not held")
        .unwrap();
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("in total"), "{body}");
    assert!(listed(4));
    // Once the listener takes the changes, both drains end, and their places are free again.
    drop(release);
    for request in [first, second] {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let report: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["drained"], true, "{report}");
    }
    let (status, body) = drain(a, 2).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(!listed(2));
}
