//! The console's listings: `GET /nacos/v1/ns/catalog/services`, `.../catalog/instances`,
//! `.../service/names`, and `groupName=*` on `.../service/list`.

use crate::env::{api, Api};
use serde_json::{json, Value};

/// shop@@orders (2 instances in 2 clusters, one unhealthy), shop@@carts (empty),
/// billing@@invoices (1), and dev's shop@@orders (1).
async fn shop(api: &Api) {
    let base = "/nacos/v1/ns/instance?port=80";
    for q in [
        "serviceName=orders&groupName=shop&ip=10.0.0.1&clusterName=hz&metadata=v%3D1",
        "serviceName=orders&groupName=shop&ip=10.0.0.2&healthy=false&ephemeral=false",
        "serviceName=invoices&groupName=billing&ip=10.0.1.1&weight=3",
        "serviceName=orders&groupName=shop&namespaceId=dev&ip=10.0.2.1",
    ] {
        api.ok("POST", &format!("{base}&{q}")).await;
    }
    api.ok(
        "POST",
        "/nacos/v1/ns/service?serviceName=carts&groupName=shop&metadata=owner%3Dme",
    )
    .await;
}

#[tokio::test]
async fn catalog_services_lists_a_page_with_counts_in_nacos_shape() {
    let api = api();
    shop(&api).await;
    let page = api
        .json("GET", "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10")
        .await;
    assert_eq!(
        page,
        json!({"count": 3, "serviceList": [
            {"name": "invoices", "groupName": "billing", "clusterCount": 1, "ipCount": 1,
             "healthyInstanceCount": 1, "triggerFlag": "false"},
            {"name": "carts", "groupName": "shop", "clusterCount": 0, "ipCount": 0,
             "healthyInstanceCount": 0, "triggerFlag": "false"},
            {"name": "orders", "groupName": "shop", "clusterCount": 2, "ipCount": 2,
             "healthyInstanceCount": 1, "triggerFlag": "false"},
        ]})
    );
    // hasIpCount leaves out empty services; the searches match a part of the name.
    let page = api
        .json(
            "GET",
            "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10&hasIpCount=true&groupNameParam=ho",
        )
        .await;
    assert_eq!(page["count"], 1);
    assert_eq!(page["serviceList"][0]["name"], "orders");
    let page = api
        .json(
            "GET",
            "/nacos/v1/ns/catalog/services?pageNo=2&pageSize=1&serviceNameParam=r&namespaceId=public",
        )
        .await;
    assert_eq!(page["count"], 2, "carts and orders");
    assert_eq!(page["serviceList"][0]["name"], "orders");
    let dev = api
        .json(
            "GET",
            "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10&namespaceId=dev&instance=ignored",
        )
        .await;
    assert_eq!(dev["count"], 1);
    // The protect threshold: one healthy of two is at or below 0.5.
    api.ok(
        "PUT",
        "/nacos/v1/ns/service?serviceName=shop%40%40orders&protectThreshold=0.5",
    )
    .await;
    let page = api
        .json(
            "GET",
            "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10&serviceNameParam=orders",
        )
        .await;
    assert_eq!(page["serviceList"][0]["triggerFlag"], "true");
    let past = api
        .json("GET", "/nacos/v1/ns/catalog/services?pageNo=5&pageSize=10")
        .await;
    assert_eq!(past, json!({"count": 3, "serviceList": []}));
}

#[tokio::test]
async fn catalog_services_with_instances_lists_them_by_cluster() {
    let api = api();
    shop(&api).await;
    let page = api
        .json(
            "GET",
            "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10&withInstances=true&groupNameParam=shop&hasIpCount=true",
        )
        .await;
    let services = page.as_array().expect("an array");
    assert_eq!(services.len(), 2, "hasIpCount is not read with instances");
    let carts = &services[0];
    assert_eq!(carts["serviceName"], "carts");
    assert_eq!(carts["groupName"], "shop");
    assert_eq!(carts["metadata"], json!({"owner": "me"}));
    assert_eq!(carts["clusterMap"], json!({}));
    let orders = &services[1];
    assert_eq!(orders["namespace"], "public");
    assert_eq!(orders["selector"], json!({"type": "none"}));
    let hz = &orders["clusterMap"]["hz"];
    assert_eq!(hz["clusterName"], "hz");
    assert_eq!(hz["healthChecker"], json!({"type": "NONE"}));
    assert_eq!(
        hz["hosts"],
        json!([{"ip": "10.0.0.1", "port": 80, "valid": true, "enabled": true, "weight": 1.0,
                "metadata": {"v": "1"}}])
    );
    assert_eq!(orders["clusterMap"]["DEFAULT"]["hosts"][0]["valid"], false);
}

#[tokio::test]
async fn catalog_instances_pages_one_cluster_and_unknown_ones_are_404() {
    let api = api();
    for i in 1..=5 {
        api.ok(
            "POST",
            &format!("/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.{i}&port=80&clusterName=hz&enabled={}", i != 2),
        )
        .await;
    }
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.9.9&port=80",
    )
    .await;
    let base = "/nacos/v1/ns/catalog/instances?serviceName=orders&clusterName=hz";
    let page = api
        .json("GET", &format!("{base}&pageNo=1&pageSize=2"))
        .await;
    assert_eq!(page["count"], 5);
    let ips: Vec<&str> = page["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
    let second = &page["list"][1];
    assert_eq!(
        second["enabled"], false,
        "disabled instances are listed too"
    );
    assert_eq!(second["clusterName"], "hz");
    assert_eq!(second["serviceName"], "DEFAULT_GROUP@@orders");
    assert_eq!(second["instanceId"], "10.0.0.2#80#hz#DEFAULT_GROUP@@orders");
    assert_eq!(second["instanceHeartBeatTimeOut"], 15000);
    let last = api
        .json("GET", &format!("{base}&pageNo=3&pageSize=2"))
        .await;
    assert_eq!(last["list"].as_array().unwrap().len(), 1);
    let past = api
        .json("GET", &format!("{base}&pageNo=4&pageSize=2"))
        .await;
    assert_eq!(past, json!({"list": [], "count": 5}));

    let (status, body) = api
        .call(
            "GET",
            "/nacos/v1/ns/catalog/instances?serviceName=nobody&clusterName=hz&pageNo=1&pageSize=2",
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (404, "service DEFAULT_GROUP@@nobody is not found!")
    );
    let (status, body) = api
        .call(
            "GET",
            "/nacos/v1/ns/catalog/instances?serviceName=orders&clusterName=sh&pageNo=1&pageSize=2",
        )
        .await;
    assert_eq!((status, body.as_str()), (404, "cluster sh is not found!"));
}

#[tokio::test]
async fn bad_catalog_parameters_name_themselves() {
    let api = api();
    let svcs = "/nacos/v1/ns/catalog/services";
    let inst = "/nacos/v1/ns/catalog/instances";
    let cases = [
        (svcs, "pageSize=10", "pageNo"),
        (svcs, "pageNo=1", "pageSize"),
        (svcs, "pageNo=0&pageSize=10", "pageNo"),
        (svcs, "pageNo=1&pageSize=x", "pageSize"),
        (
            svcs,
            "pageNo=1&pageSize=10&withInstances=maybe",
            "withInstances",
        ),
        (svcs, "pageNo=1&pageSize=10&hasIpCount=maybe", "hasIpCount"),
        (
            svcs,
            "pageNo=1&pageSize=10&withInstances=true&hasIpCount=maybe",
            "hasIpCount",
        ),
        (
            svcs,
            "pageNo=1&pageSize=10&namespaceId=a%2Fb",
            "namespaceId",
        ),
        (inst, "clusterName=hz&pageNo=1&pageSize=1", "serviceName"),
        (
            inst,
            "serviceName=orders&pageNo=1&pageSize=1",
            "clusterName",
        ),
        (
            inst,
            "serviceName=orders&clusterName=a%2Cb&pageNo=1&pageSize=1",
            "clusterName",
        ),
        (
            inst,
            "serviceName=orders&clusterName=hz&pageSize=1",
            "pageNo",
        ),
        (
            inst,
            "serviceName=orders&clusterName=hz&pageNo=1&pageSize=-1",
            "pageSize",
        ),
        (
            "/nacos/v1/ns/service/names",
            "namespaceId=a%23b",
            "namespaceId",
        ),
        (
            "/nacos/v1/ns/service/list",
            "pageNo=1&pageSize=1&groupName=a%20b",
            "groupName",
        ),
    ];
    for (path, query, param) in cases {
        let (status, body) = api.call("GET", &format!("{path}?{query}")).await;
        assert_eq!(status, 400, "{path}?{query}: {body}");
        assert!(
            body.contains(param),
            "{path}?{query}: `{body}` should name {param}"
        );
    }
}

#[tokio::test]
async fn service_names_answers_grouped_names_by_namespace_under_both_nacos_keys() {
    let api = api();
    shop(&api).await;
    let all = api.json("GET", "/nacos/v1/ns/service/names").await;
    let by_ns = json!({
        "dev": ["shop@@orders"],
        "public": ["billing@@invoices", "shop@@carts", "shop@@orders"],
    });
    assert_eq!(
        all,
        json!({"services": by_ns, "META-INF/services": by_ns, "count": 4})
    );
    let found = api
        .json(
            "GET",
            "/nacos/v1/ns/service/names?namespaceId=public&expr=p%40%40",
        )
        .await;
    let want = json!({"public": ["shop@@carts", "shop@@orders"]});
    assert_eq!(found["services"], want);
    assert_eq!(found["META-INF/services"], want);
    assert_eq!(found["count"], 2);
    // Every namespace is listed, even where nothing matches; an unknown one is listed empty.
    let none = api
        .json("GET", "/nacos/v1/ns/service/names?expr=invoices")
        .await;
    assert_eq!(
        none["services"],
        json!({"dev": [], "public": ["billing@@invoices"]})
    );
    let empty = api
        .json("GET", "/nacos/v1/ns/service/names?namespaceId=prod")
        .await;
    assert_eq!(empty["services"], json!({"prod": []}));
    assert_eq!(empty["count"], 0);
}

#[tokio::test]
async fn service_list_with_group_star_lists_every_group_with_grouped_names() {
    let api = api();
    shop(&api).await;
    let all = api
        .json(
            "GET",
            "/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=*",
        )
        .await;
    assert_eq!(
        all,
        json!({"count": 3, "doms": ["billing@@invoices", "shop@@carts", "shop@@orders"]})
    );
    let second = api
        .json(
            "GET",
            "/nacos/v1/ns/service/list?pageNo=2&pageSize=2&groupName=%2A&namespaceId=public",
        )
        .await;
    assert_eq!(second, json!({"count": 3, "doms": ["shop@@orders"]}));
    let dev = api
        .json(
            "GET",
            "/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=*&namespaceId=dev",
        )
        .await;
    assert_eq!(dev["doms"], json!(["shop@@orders"]));
    // A named group still lists plain names.
    let shop_only: Value = api
        .json(
            "GET",
            "/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=shop",
        )
        .await;
    assert_eq!(shop_only, json!({"count": 2, "doms": ["carts", "orders"]}));
}
