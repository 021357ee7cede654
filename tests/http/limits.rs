//! Refusals by the registry's limits, as the v1 API answers them: 429 for a cap (the message
//! names it), 400 for a metadata size or a `preserved.*` timing out of range; nothing stored
//! changes.

use crate::env::{Api, ORDERS_10_0_0_1};
use nacre::http::NacosApi;
use nacre::{Limits, ManualClock, Registry};

fn api_with(limits: Limits) -> Api {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .limits(limits)
        .build();
    Api {
        app: NacosApi::new(registry.clone()).router(),
        registry,
        clock,
    }
}

#[tokio::test]
async fn a_new_service_over_the_namespace_cap_answers_429_naming_the_limit() {
    let api = api_with(Limits {
        max_services_per_namespace: 1,
        ..Limits::default()
    });
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    for (method, uri) in [
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=billing&ip=10.0.0.1&port=8080",
        ),
        ("POST", "/nacos/v1/ns/service?serviceName=billing"),
    ] {
        let (status, body) = api.call(method, uri).await;
        assert_eq!(status, 429, "{method} {uri}: {body}");
        assert!(body.contains("max_services_per_namespace"), "{body}");
    }
    // What was there is untouched and still takes writes.
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.2&port=8080",
    )
    .await;
    let list = api.list("serviceName=orders").await;
    assert_eq!(list["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(api.registry.store().service_count(), 1);
}

#[tokio::test]
async fn a_new_namespace_over_the_cap_answers_429() {
    let api = api_with(Limits {
        max_namespaces: 1,
        ..Limits::default()
    });
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let (status, body) = api
        .call(
            "POST",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&namespaceId=dev"),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("max_namespaces"), "{body}");
}

#[tokio::test]
async fn oversized_service_metadata_and_out_of_range_timings_answer_400() {
    let api = api_with(Limits {
        max_service_metadata_bytes: 8,
        ..Limits::default()
    });
    let (status, body) = api
        .call(
            "POST",
            "/nacos/v1/ns/service?serviceName=orders&metadata=owner%3Dteam-abcdef",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("max_service_metadata_bytes"), "{body}");

    let (status, body) = api
        .call(
            "POST",
            &format!(
                "/nacos/v1/ns/instance?{ORDERS_10_0_0_1}\
                 &metadata=preserved.ip.delete.timeout%3D99999999999"
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("preserved.ip.delete.timeout"), "{body}");
    assert_eq!(api.registry.store().service_count(), 0);
}
