//! The v1 router (`NacosApi::new(registry).router()`, driven in process with `oneshot`):
//! arbitrary methods, paths, query strings and bodies against a registry that already holds
//! data. The answer is never a 5xx; after a 4xx the registry holds exactly what it held
//! before (nothing stored is lost, nothing half-written); whatever a 2xx stored is valid
//! (the structure is sound and every instance fits the registry's limits).

use crate::check;
use crate::gen::{self, PARAM_NAMES};
use axum::body::Body;
use axum::http::Request;
use nacre::http::NacosApi;
use nacre::{Instance, ManualClock, Registry, ServiceKey, ServiceSettings};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tower::ServiceExt;

const PATHS: &[&str] = &[
    "/nacos/v1/ns/instance",
    "/nacos/v1/ns/instance/beat",
    "/nacos/v1/ns/instance/list",
    "/nacos/v1/ns/instance/statuses",
    "/nacos/v1/ns/health/instance",
    "/nacos/v1/ns/health",
    "/nacos/v1/ns/service",
    "/nacos/v1/ns/service/list",
    "/nacos/v1/ns/service/subscribers",
    "/nacos/v1/ns/service/names",
    "/nacos/v1/ns/catalog/services",
    "/nacos/v1/ns/catalog/instances",
    "/nacos/v1/ns/operator/metrics",
    "/nacos/v1/console/health/liveness",
    "/nacos/v1/console/health/readiness",
];

/// Methods, the ones the v1 API serves most often.
const METHODS: &[&str] = &[
    "GET", "GET", "GET", "POST", "POST", "PUT", "PUT", "DELETE", "DELETE", "PATCH", "HEAD",
    "OPTIONS",
];

/// A path: a v1 path, sometimes bent (trailing slash, doubled slash, other case, a suffix,
/// percent-encoded), or garbage.
fn path() -> impl Strategy<Value = String> {
    let bend = prop_oneof![
        12 => Just(""),
        1 => prop::sample::select(vec!["/", "//", "/x", "%2F", "/..", "?"]),
    ];
    prop_oneof![
        12 => (prop::sample::select(PATHS), bend, prop::bool::weighted(0.05)).prop_map(|(p, b, upper)| {
            let p = if upper { p.to_uppercase() } else { p.to_owned() };
            format!("{p}{b}")
        }),
        1 => "/[a-z/%.]{0,30}",
    ]
}

#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    path: String,
    /// Pairs after the base parameters in the query string (the first value of a name wins,
    /// so those placed before override the base).
    before: Vec<(String, String)>,
    after: Vec<(String, String)>,
    /// Raw garbage appended to the query.
    raw: Option<String>,
    /// Whether the parameters go in a form body rather than the query string.
    in_body: bool,
    content_type: Option<&'static str>,
    base: usize,
}

/// Parameters naming what the registry holds, so that a bad request sits next to real data.
const BASES: &[&[(&str, &str)]] = &[
    &[
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
    ],
    &[
        ("serviceName", "shop@@pay"),
        ("namespaceId", "dev"),
        ("ip", "10.0.0.2"),
        ("port", "9090"),
        ("clusterName", "hz-a"),
    ],
    &[
        ("serviceName", "orders"),
        ("pageNo", "1"),
        ("pageSize", "10"),
        ("key", "orders"),
    ],
    &[],
];

fn pair() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![8 => prop::sample::select(PARAM_NAMES).prop_map(str::to_owned), 1 => gen::hostile_text()],
        gen::hostile_text(),
    )
}

/// The routes that write, with their methods.
const WRITES: &[(&str, &str)] = &[
    ("POST", "/nacos/v1/ns/instance"),
    ("PUT", "/nacos/v1/ns/instance"),
    ("PATCH", "/nacos/v1/ns/instance"),
    ("DELETE", "/nacos/v1/ns/instance"),
    ("PUT", "/nacos/v1/ns/instance/beat"),
    ("PUT", "/nacos/v1/ns/health/instance"),
    ("POST", "/nacos/v1/ns/service"),
    ("PUT", "/nacos/v1/ns/service"),
    ("DELETE", "/nacos/v1/ns/service"),
];

/// A method and a path: half the time a route that writes, else anything.
fn route() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        prop::sample::select(WRITES).prop_map(|(m, p)| (m, p.to_owned())),
        (prop::sample::select(METHODS), path()),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    (
        route(),
        vec(pair(), 0..3),
        vec(pair(), 0..3),
        prop::option::weighted(0.2, gen::raw_query()),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "application/json",
            "text/plain",
        ])),
        prop_oneof![3 => 0..2usize, 1 => 2..BASES.len()],
    )
        .prop_map(
            |((method, path), before, after, raw, in_body, content_type, base)| Call {
                method,
                path,
                before,
                after,
                raw,
                in_body,
                content_type,
                base,
            },
        )
}

impl Call {
    fn request(&self) -> Option<Request<Body>> {
        let mut pairs = self.before.clone();
        pairs.extend(
            BASES[self.base]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        pairs.extend(self.after.iter().cloned());
        let mut params = gen::encode_pairs(&pairs, false);
        if let Some(raw) = &self.raw {
            params.push('&');
            params.push_str(raw);
        }
        let (uri, body) = if self.in_body {
            (self.path.clone(), params)
        } else {
            (format!("{}?{params}", self.path), String::new())
        };
        let mut req = Request::builder().method(self.method).uri(uri);
        if let Some(ct) = self.content_type {
            req = req.header("content-type", ct);
        }
        // A path the generator bent past what a URI holds is not a request at all.
        req.body(Body::from(body)).ok()
    }
}

/// A registry holding two services with instances, settings and a tombstone.
fn seeded(clock: &ManualClock) -> Registry {
    let registry = Registry::builder().clock(clock.clone()).build();
    let orders = ServiceKey::named("orders").unwrap();
    let pay = ServiceKey::new("dev", "shop", "pay").unwrap();
    registry
        .create_service(
            &orders,
            ServiceSettings {
                protect_threshold: 0.5,
                metadata: BTreeMap::from([("team".into(), "a".into())]),
            },
        )
        .unwrap();
    for ip in ["10.0.0.1", "10.0.0.3", "10.0.0.4"] {
        registry
            .register_instance(
                &orders,
                Instance::builder(ip, 8080)
                    .metadata("v", "1")
                    .build()
                    .unwrap(),
            )
            .unwrap();
    }
    registry.deregister_instance(
        &orders,
        &nacre::InstanceKey::in_default_cluster("10.0.0.4", 8080).unwrap(),
    );
    registry
        .register_instance(
            &pay,
            Instance::builder("10.0.0.2", 9090)
                .cluster("hz-a")
                .ephemeral(false)
                .build()
                .unwrap(),
        )
        .unwrap();
    registry
}

/// What the registry holds, with every service's revision: equal exactly when nothing changed.
fn held(registry: &Registry) -> Result<(check::State, Vec<(ServiceKey, u64)>), TestCaseError> {
    let state = check::state(registry.store()).map_err(TestCaseError::fail)?;
    let revisions = state
        .keys()
        .filter_map(|k| {
            registry
                .store()
                .load_any(k)
                .map(|s| (k.clone(), s.revision()))
        })
        .collect();
    Ok((state, revisions))
}

proptest! {
    #![proptest_config(crate::config(128))]

    #[test]
    fn the_router_never_fails_and_a_refusal_changes_nothing(calls in vec(call(), 1..12)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = ManualClock::new();
            let registry = seeded(&clock);
            let limits = *registry.limits();
            let app = NacosApi::new(registry.clone()).router();
            for call in calls {
                let Some(req) = call.request() else { continue };
                let what = format!("{} {}", req.method(), req.uri());
                let before = held(&registry)?;
                let answer = app.clone().oneshot(req).await.unwrap();
                let status = answer.status();
                let body = axum::body::to_bytes(answer.into_body(), usize::MAX).await.unwrap();
                let body = String::from_utf8_lossy(&body);
                prop_assert!(!status.is_server_error(), "{} ({:?}) answered {}: {}", what, call, status, body);
                if status.is_client_error() {
                    let after = held(&registry)?;
                    prop_assert!(after == before, "{} ({:?}) answered {} and changed the registry: {}", what, call, status, body);
                }
                check::servable(registry.store(), Some(&limits)).map_err(TestCaseError::fail)?;
            }
            Ok(())
        })?;
    }
}
