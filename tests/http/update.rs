//! `PUT` and `PATCH /nacos/v1/ns/instance`: Nacos 2.x' update (weight and enabled both set,
//! metadata laid over the instance's own) and patch (only what is given).

use crate::env::{api, orders, Api, ORDERS_10_0_0_1};
use std::collections::BTreeMap;

/// The one instance of `orders`: weight, enabled, metadata.
fn only(api: &Api) -> (f64, bool, BTreeMap<String, String>) {
    let all = api.registry.get_all_instances(&orders(), &[]);
    let inst = all.iter().next().expect("one instance");
    (inst.weight(), inst.enabled(), inst.metadata().clone())
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn put_sets_weight_and_enabled_back_to_defaults_and_lays_metadata_over_as_nacos_2() {
    let api = api();
    api.ok(
        "POST",
        &format!(
            "/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&weight=2&enabled=false&metadata=a%3D1%2Cb%3D2"
        ),
    )
    .await;
    // Only metadata given: weight goes back to 1 and enabled to true, as Nacos 2.x sets both;
    // the metadata is laid over the registered one.
    let put = format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}");
    assert_eq!(
        api.ok("PUT", &format!("{put}&metadata=b%3D3%2Cc%3D4"))
            .await,
        "ok"
    );
    assert_eq!(
        only(&api),
        (1.0, true, meta(&[("a", "1"), ("b", "3"), ("c", "4")]))
    );
    // Weight and enabled given; no metadata: the metadata stays.
    api.ok("PUT", &format!("{put}&weight=7.5&enable=false"))
        .await;
    assert_eq!(
        only(&api),
        (7.5, false, meta(&[("a", "1"), ("b", "3"), ("c", "4")]))
    );
    // `healthy` and `ephemeral` are not read by an update.
    api.ok(
        "PUT",
        &format!("{put}&healthy=false&ephemeral=false&enabled=true"),
    )
    .await;
    let all = api.registry.get_all_instances(&orders(), &[]);
    let inst = all.iter().next().unwrap();
    assert!(inst.healthy() && inst.ephemeral() && inst.enabled());
    assert_eq!(inst.weight(), 1.0);
    // Through the list a client sees the same.
    let list = api.list("serviceName=orders").await;
    assert_eq!(list["hosts"][0]["metadata"]["c"], "4");
}

#[tokio::test]
async fn put_for_an_unknown_service_is_400_and_for_an_unknown_instance_ok_storing_nothing() {
    let api = api();
    let (status, body) = api
        .call(
            "PUT",
            "/nacos/v1/ns/instance?serviceName=nobody&ip=10.0.0.1&port=1&weight=3",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nobody"), "{body}");
    assert!(api
        .registry
        .service(&nacre::ServiceKey::named("nobody").unwrap())
        .is_none());

    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let before = api.registry.revision(&orders());
    assert_eq!(
        api.ok(
            "PUT",
            "/nacos/v1/ns/instance?serviceName=orders&ip=10.9.9.9&port=1&weight=3"
        )
        .await,
        "ok"
    );
    assert_eq!(api.registry.revision(&orders()), before);
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 1);
    // A service created empty takes the update too (and stores nothing).
    api.ok("POST", "/nacos/v1/ns/service?serviceName=empty")
        .await;
    assert_eq!(
        api.ok(
            "PUT",
            "/nacos/v1/ns/instance?serviceName=empty&ip=10.0.0.1&port=1"
        )
        .await,
        "ok"
    );
}

#[tokio::test]
async fn a_bad_put_names_its_parameter_and_changes_nothing() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&weight=2&metadata=a%3D1"),
    )
    .await;
    let base = format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}");
    for (query, param) in [
        ("weight=-3", "weight"),
        ("weight=heavy", "weight"),
        ("enabled=perhaps", "enabled"),
        ("enable=perhaps", "enable"),
        ("metadata=%7B%22a%22%3A%5B%5D%7D", "metadata"),
        ("metadata=preserved.heart.beat.interval%3Dsoon", "metadata"),
    ] {
        let (status, body) = api.call("PUT", &format!("{base}&{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(param),
            "{query}: `{body}` should name {param}"
        );
    }
    assert_eq!(only(&api), (2.0, true, meta(&[("a", "1")])));
}

#[tokio::test]
async fn patch_changes_only_the_fields_it_is_given() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&weight=2&metadata=a%3D1%2Cb%3D2"),
    )
    .await;
    let patch = format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}");
    assert_eq!(
        api.ok("PATCH", &format!("{patch}&enabled=false")).await,
        "ok"
    );
    assert_eq!(only(&api), (2.0, false, meta(&[("a", "1"), ("b", "2")])));
    api.ok("PATCH", &format!("{patch}&weight=5&metadata=b%3D9"))
        .await;
    assert_eq!(only(&api), (5.0, false, meta(&[("a", "1"), ("b", "9")])));
    // Nothing given: nothing changes. `enable` and `healthy` are not read by a patch (as in
    // Nacos).
    let before = api.registry.revision(&orders());
    api.ok("PATCH", &format!("{patch}&enable=true&healthy=false"))
        .await;
    assert_eq!(api.registry.revision(&orders()), before);
    assert_eq!(only(&api), (5.0, false, meta(&[("a", "1"), ("b", "9")])));
}

#[tokio::test]
async fn patch_of_an_unknown_instance_is_404_as_in_nacos() {
    let api = api();
    let (status, body) = api
        .call(
            "PATCH",
            "/nacos/v1/ns/instance?serviceName=nobody&ip=10.0.0.1&port=1&weight=2",
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no ips found for cluster DEFAULT"), "{body}");
    assert!(body.contains("DEFAULT_GROUP@@nobody"), "{body}");

    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&clusterName=hz"),
    )
    .await;
    // Same ip:port, but the patch names no cluster: Nacos looks in DEFAULT only.
    let (status, body) = api
        .call(
            "PATCH",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&weight=3"),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no matched ip found"), "{body}");
    assert_eq!(only(&api).0, 1.0);
    api.ok(
        "PATCH",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&cluster=hz&weight=3"),
    )
    .await;
    assert_eq!(only(&api).0, 3.0);
    // Bad values name their parameter and change nothing.
    for (query, param) in [
        ("port=8080&weight=10001", "weight"),
        ("port=8080&enabled=perhaps", "enabled"),
        ("port=8080&metadata=oops", "metadata"),
        ("port=x&weight=4", "port"),
    ] {
        let uri =
            format!("/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&clusterName=hz&{query}");
        let (status, body) = api.call("PATCH", &uri).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(param),
            "{query}: `{body}` should name {param}"
        );
    }
    assert_eq!(only(&api).0, 3.0);
}
