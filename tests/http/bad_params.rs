//! Bad parameters and garbage requests: 400 naming the parameter, never 500; unknown routes.

use crate::env::{api, orders, ORDERS_10_0_0_1};

#[tokio::test]
async fn every_bad_parameter_answers_400_naming_it() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let inst = "/nacos/v1/ns/instance";
    let beat = "/nacos/v1/ns/instance/beat";
    let list = "/nacos/v1/ns/instance/list";
    let svc = "/nacos/v1/ns/service";
    let svcs = "/nacos/v1/ns/service/list";
    let base = ORDERS_10_0_0_1;
    let big = "x".repeat(5000);
    let cases: Vec<(&str, &str, String, &str)> = vec![
        ("POST", inst, String::new(), "serviceName"),
        ("POST", inst, "serviceName=a%40%40&ip=10.0.0.1&port=1".into(), "serviceName"),
        ("POST", inst, "serviceName=%40%40b&ip=10.0.0.1&port=1".into(), "serviceName"),
        ("POST", inst, "serviceName=a%20b&ip=10.0.0.1&port=1".into(), "serviceName"),
        ("POST", inst, format!("{base}&namespaceId=a%2Fb"), "namespaceId"),
        ("POST", inst, format!("{base}&groupName=%40g"), "groupName"),
        ("POST", inst, "serviceName=orders&port=1".into(), "ip"),
        ("POST", inst, "serviceName=orders&ip=not%20a%20host&port=1".into(), "ip"),
        ("POST", inst, "serviceName=orders&ip=300.1.1.1&port=1".into(), "ip"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1".into(), "port"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1&port=http".into(), "port"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1&port=0".into(), "port"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1&port=70000".into(), "port"),
        ("POST", inst, format!("{base}&weight=abc"), "weight"),
        ("POST", inst, format!("{base}&weight=-1"), "weight"),
        ("POST", inst, format!("{base}&weight=1e9"), "weight"),
        ("POST", inst, format!("{base}&weight=NaN"), "weight"),
        ("POST", inst, format!("{base}&healthy=maybe"), "healthy"),
        ("POST", inst, format!("{base}&enabled=maybe"), "enabled"),
        ("POST", inst, format!("{base}&enable=maybe"), "enable"),
        ("POST", inst, format!("{base}&ephemeral=maybe"), "ephemeral"),
        ("POST", inst, format!("{base}&clusterName=a%2Cb"), "clusterName"),
        ("POST", inst, format!("{base}&cluster=a%23b"), "cluster"),
        ("POST", inst, format!("{base}&metadata=nope"), "metadata"),
        ("POST", inst, format!("{base}&metadata=%7B%22a%22%3A%7B%7D%7D"), "metadata"),
        ("POST", inst, format!("{base}&metadata=%7Bbroken"), "metadata"),
        ("POST", inst, format!("{base}&metadata=preserved.heart.beat.timeout%3Dsoon"), "metadata"),
        ("POST", inst, format!("{base}&metadata=k%3D{big}"), "metadata"),
        ("DELETE", inst, "serviceName=orders&port=1".into(), "ip"),
        ("DELETE", inst, "serviceName=orders&ip=10.0.0.1&port=-5".into(), "port"),
        ("DELETE", inst, "ip=10.0.0.1&port=1".into(), "serviceName"),
        ("PUT", inst, format!("{base}&weight=heavy"), "weight"),
        ("PUT", inst, format!("{base}&weight=10001"), "weight"),
        ("PUT", inst, format!("{base}&enabled=sometimes"), "enabled"),
        ("PUT", inst, format!("{base}&metadata=%3D"), "metadata"),
        ("PUT", inst, "serviceName=orders&ip=10.0.0.1".into(), "port"),
        ("GET", inst, "serviceName=orders&port=1".into(), "ip"),
        ("GET", inst, "serviceName=orders&ip=10.0.0.1&port=x".into(), "port"),
        ("GET", inst, format!("{base}&clusterName=%20a%20b"), "clusterName"),
        ("PUT", beat, "ip=10.0.0.1&port=1".into(), "serviceName"),
        ("PUT", beat, "serviceName=orders".into(), "ip"),
        ("PUT", beat, "serviceName=orders&ip=10.0.0.1".into(), "port"),
        ("PUT", beat, "serviceName=orders&beat=notjson".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A0%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%22a%20b%22%2C%22port%22%3A1%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A1%2C%22weight%22%3A-2%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A1%2C%22metadata%22%3A%7B%22a%22%3A%5B%5D%7D%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A1%2C%22cluster%22%3A%22a%2Cb%22%7D".into(), "beat"),
        ("GET", list, String::new(), "serviceName"),
        ("GET", list, "serviceName=orders&healthyOnly=maybe".into(), "healthyOnly"),
        ("GET", list, "serviceName=orders&clusters=a%20b".into(), "clusters"),
        ("GET", list, "serviceName=orders&namespaceId=a%23b".into(), "namespaceId"),
        ("POST", svc, String::new(), "serviceName"),
        ("POST", svc, "serviceName=s&protectThreshold=abc".into(), "protectThreshold"),
        ("POST", svc, "serviceName=s&protectThreshold=2".into(), "protectThreshold"),
        ("POST", svc, "serviceName=s&protectThreshold=-0.1".into(), "protectThreshold"),
        ("POST", svc, "serviceName=s&metadata=bad".into(), "metadata"),
        ("POST", svc, "serviceName=s&selector=%7B%22type%22%3A%22label%22%7D".into(), "selector"),
        ("POST", svc, "serviceName=s&selector=garbage".into(), "selector"),
        ("PUT", svc, "serviceName=orders".into(), "protectThreshold"),
        ("PUT", svc, "serviceName=orders&protectThreshold=x".into(), "protectThreshold"),
        ("DELETE", svc, String::new(), "serviceName"),
        ("GET", svc, "serviceName=a%40%40b%40%40c".into(), "serviceName"),
        ("GET", svcs, "pageSize=10".into(), "pageNo"),
        ("GET", svcs, "pageNo=1".into(), "pageSize"),
        ("GET", svcs, "pageNo=0&pageSize=10".into(), "pageNo"),
        ("GET", svcs, "pageNo=x&pageSize=10".into(), "pageNo"),
        ("GET", svcs, "pageNo=1&pageSize=-1".into(), "pageSize"),
        ("GET", svcs, "pageNo=1&pageSize=10&groupName=a%20b".into(), "groupName"),
    ];
    for (method, path, query, param) in &cases {
        let uri = format!("{path}?{query}");
        let (status, body) = api.call(method, &uri).await;
        assert_eq!(status, 400, "{method} {uri} answered {status}: {body}");
        assert!(
            body.contains(param),
            "{method} {uri}: the message `{body}` should name `{param}`"
        );
    }
    // Nothing was stored by any of them.
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 1);
}

#[tokio::test]
async fn garbage_requests_never_answer_500() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let endpoints = [
        ("POST", "/nacos/v1/ns/instance"),
        ("DELETE", "/nacos/v1/ns/instance"),
        ("PUT", "/nacos/v1/ns/instance"),
        ("GET", "/nacos/v1/ns/instance"),
        ("PUT", "/nacos/v1/ns/instance/beat"),
        ("GET", "/nacos/v1/ns/instance/list"),
        ("POST", "/nacos/v1/ns/service"),
        ("PUT", "/nacos/v1/ns/service"),
        ("DELETE", "/nacos/v1/ns/service"),
        ("GET", "/nacos/v1/ns/service"),
        ("GET", "/nacos/v1/ns/service/list"),
        ("PATCH", "/nacos/v1/ns/instance"),
        ("GET", "/nacos/v1/ns/instance/statuses"),
        ("PUT", "/nacos/v1/ns/health/instance"),
        ("GET", "/nacos/v1/ns/service/names"),
        ("GET", "/nacos/v1/ns/catalog/services"),
        ("GET", "/nacos/v1/ns/catalog/instances"),
    ];
    let names = [
        "serviceName",
        "groupName",
        "namespaceId",
        "ip",
        "port",
        "weight",
        "healthy",
        "enabled",
        "enable",
        "ephemeral",
        "clusterName",
        "cluster",
        "clusters",
        "metadata",
        "beat",
        "healthyOnly",
        "protectThreshold",
        "selector",
        "pageNo",
        "pageSize",
        "key",
        "valid",
        "expr",
        "app",
        "serviceNameParam",
        "groupNameParam",
        "withInstances",
        "hasIpCount",
    ];
    let values = [
        "orders",
        "DEFAULT_GROUP%40%40orders",
        "10.0.0.1",
        "8080",
        "1",
        "0",
        "-1",
        "true",
        "False",
        "",
        "%20",
        "%00",
        "%FF%FE",
        "%40%40",
        "a%40%40b%40%40c",
        "%7B%7D",
        "%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A8080%7D",
        "%5B1%2C2%5D",
        "null",
        "1e400",
        "NaN",
        "18446744073709551616",
        "a%3Db",
        "%E2%9C%93",
        "hz",
        "a%2Cb",
        "%2A",
        "dev%23%23orders",
        "%23%23",
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..300 {
        for (method, path) in endpoints {
            let n = rng.usize(0..6);
            let query: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "{}={}",
                        names[rng.usize(..names.len())],
                        values[rng.usize(..values.len())]
                    )
                })
                .collect();
            let uri = format!("{path}?{}", query.join("&"));
            let (status, body) = api.call(method, &uri).await;
            assert!(
                matches!(status, 200 | 400 | 404),
                "round {round}: {method} {uri} answered {status}: {body}"
            );
            if status != 200 {
                assert!(!body.is_empty(), "{method} {uri}: an error needs a message");
            }
        }
    }
}

#[tokio::test]
async fn unknown_routes_answer_404_and_wrong_methods_405() {
    let api = api();
    assert_eq!(api.call("GET", "/nacos/v1/ns/nothing").await.0, 404);
    assert_eq!(api.call("PATCH", "/nacos/v1/ns/instance/list").await.0, 405);
    // A standalone node has no peer route.
    assert_eq!(api.call("POST", "/nacre/v1/peer").await.0, 404);
}
