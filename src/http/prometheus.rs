//! Prometheus HTTP service discovery, as Nacos 2.4+ serves it: `GET /nacos/prometheus` (every
//! namespace), `/nacos/prometheus/namespaceId/{namespaceId}` (one namespace) and
//! `/nacos/prometheus/namespaceId/{namespaceId}/service/{service}` (the services of that name,
//! in every group). Point Prometheus' `http_sd_configs` at one of them.
//!
//! The answer is Prometheus' HTTP SD format: a JSON array with one element per instance,
//! `{"targets":["ip:port"],"labels":{"__meta_clusterName":"DEFAULT", ...metadata}}`. As in
//! Nacos, every instance is listed, healthy or not, enabled or not, ephemeral or persistent:
//! an unhealthy target shows as down in Prometheus, which is what a scrape is for.
//!
//! Differences from Nacos, each because Prometheus would otherwise refuse the answer or be
//! steered by a registering client:
//! - Metadata keys become label names by Prometheus' rule (`[a-zA-Z_][a-zA-Z0-9_]*`): every
//!   other character becomes `_` and a leading digit gets a `_` before it (Nacos changes only
//!   `.` and `-`, so a key such as `a/b` makes Prometheus drop the whole answer). Two keys
//!   that become the same name keep the first in key order (Nacos answers 500).
//! - Keys that would start with `__` are left out: Prometheus reserves those labels, and
//!   `__address__`, `__scheme__`, `__metrics_path__` or `__param_*` from an instance's metadata
//!   would make Prometheus scrape whatever address or path the registering client chose.
//!   Nacos copies them.
//! - nacre adds `__meta_nacos_namespace`, `__meta_nacos_group`, `__meta_nacos_service`,
//!   `__meta_nacos_healthy`, `__meta_nacos_enabled` and `__meta_nacos_ephemeral`, for
//!   `relabel_configs` (keep healthy targets only, name the job after the service...);
//!   Prometheus drops `__meta_` labels after relabelling.
//! - An IPv6 target is written `[addr]:port` (Nacos leaves out the brackets, which Prometheus
//!   cannot read).
//! - Elements come in namespace, group, service, cluster and address order (Nacos': hash
//!   order).
//! - Access: with auth on, every route needs a caller who may list what it shows: the token of
//!   a login or of `nacre-server issue-token` (`Authorization: Bearer`, Prometheus'
//!   `authorization`), or a username and password (`Authorization: Basic`, Prometheus'
//!   `basic_auth`); the answer holds the services that caller may read. Nacos asks for Basic
//!   credentials of any user on `/nacos/prometheus` only, and leaves the namespace routes
//!   open.
//!
//! An unknown namespace or service answers `[]`, as in Nacos.

use super::error::ApiError;
use super::state::Api;
use crate::front::access::Viewer;
use crate::front::catalog::{self, ServiceFilter, TextFilter};
use crate::model::{Instance, NamespaceId, ServiceKey};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use std::collections::BTreeMap;

/// `GET`: every namespace's instances.
pub const PROMETHEUS_PATH: &str = "/nacos/prometheus";
/// `GET`: one namespace's instances.
pub const PROMETHEUS_NAMESPACE_PATH: &str = "/nacos/prometheus/namespaceId/{namespace}";
/// `GET`: the instances of the services of one name in a namespace.
pub const PROMETHEUS_SERVICE_PATH: &str =
    "/nacos/prometheus/namespaceId/{namespace}/service/{service}";

/// What a discovery path names: every namespace, one, or one service name in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every namespace.
    All,
    /// One namespace, and in it the services of one name (in every group) when given.
    Namespace(NamespaceId, Option<String>),
}

/// The scope of a request path under [`PROMETHEUS_PATH`], for the access check: `None` when
/// the path is not one of the discovery routes, `Some(Err)` when its namespace is not a valid
/// name.
pub(crate) fn scope_of(path: &str) -> Option<Result<Scope, String>> {
    let rest = path.strip_prefix(PROMETHEUS_PATH)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Ok(Scope::All));
    }
    let rest = rest.strip_prefix("/namespaceId/")?;
    let (namespace, service) = match rest.split_once("/service/") {
        Some((ns, s)) if !s.contains('/') => (ns, Some(s.to_owned())),
        Some(_) => return None,
        None if !rest.contains('/') => (rest, None),
        None => return None,
    };
    Some(
        decode(namespace)
            .parse::<NamespaceId>()
            .map(|ns| Scope::Namespace(ns, service.map(|s| decode(&s))))
            .map_err(|e| format!("namespaceId: {e}")),
    )
}

/// `%XX` escapes undone (a path segment as axum's `Path` reads it).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One target group of the answer: one instance.
#[derive(Debug, Serialize)]
struct TargetGroup {
    targets: [String; 1],
    labels: BTreeMap<String, String>,
}

/// Prometheus' label name for a metadata key (see the module docs), or `None` for one it
/// reserves.
pub(crate) fn label_name(key: &str) -> Option<String> {
    let mut name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    (!name.is_empty() && !name.starts_with("__")).then_some(name)
}

fn target_group(service: &ServiceKey, instance: &Instance) -> TargetGroup {
    let mut labels = BTreeMap::new();
    labels.insert(
        "__meta_clusterName".to_owned(),
        instance.cluster().to_string(),
    );
    let nacre = [
        ("namespace", service.namespace().to_string()),
        ("group", service.group().to_string()),
        ("service", service.service().to_string()),
        ("healthy", instance.healthy().to_string()),
        ("enabled", instance.enabled().to_string()),
        ("ephemeral", instance.ephemeral().to_string()),
    ];
    for (name, value) in nacre {
        labels.insert(format!("__meta_nacos_{name}"), value);
    }
    for (key, value) in instance.metadata() {
        if let Some(name) = label_name(key) {
            labels.entry(name).or_insert_with(|| value.clone());
        }
    }
    TargetGroup {
        targets: [instance.endpoint().to_string()],
        labels,
    }
}

fn answer(api: &super::state::ApiState, scope: Scope, viewer: Option<Viewer>) -> Response {
    let filter = match scope {
        Scope::All => ServiceFilter {
            namespace: None,
            group: TextFilter::Any,
            service: TextFilter::Any,
            with_instances_only: true,
            viewer,
        },
        Scope::Namespace(namespace, service) => ServiceFilter {
            namespace: Some(namespace),
            group: TextFilter::Any,
            service: service.map_or(TextFilter::Any, TextFilter::Exact),
            with_instances_only: true,
            viewer,
        },
    };
    let mut groups = Vec::new();
    for snapshot in catalog::list_services(api.backend.registry(), &filter) {
        let mut instances: Vec<_> = snapshot.entries().map(|e| e.instance().clone()).collect();
        instances.sort_by_key(|i| i.key());
        groups.extend(instances.iter().map(|i| target_group(snapshot.key(), i)));
    }
    match serde_json::to_vec(&groups) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::Encode(e.to_string()).into_response(),
    }
}

/// `GET /nacos/prometheus`.
pub(crate) async fn all(State(api): Api, viewer: Option<Extension<Viewer>>) -> Response {
    answer(&api, Scope::All, viewer.map(|Extension(v)| v))
}

/// `GET /nacos/prometheus/namespaceId/{namespace}`.
pub(crate) async fn namespace(
    State(api): Api,
    viewer: Option<Extension<Viewer>>,
    Path(namespace): Path<String>,
) -> Result<Response, ApiError> {
    let namespace = parse_namespace(&namespace)?;
    Ok(answer(
        &api,
        Scope::Namespace(namespace, None),
        viewer.map(|Extension(v)| v),
    ))
}

/// `GET /nacos/prometheus/namespaceId/{namespace}/service/{service}`.
pub(crate) async fn service(
    State(api): Api,
    viewer: Option<Extension<Viewer>>,
    Path((namespace, service)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let namespace = parse_namespace(&namespace)?;
    Ok(answer(
        &api,
        Scope::Namespace(namespace, Some(service)),
        viewer.map(|Extension(v)| v),
    ))
}

fn parse_namespace(text: &str) -> Result<NamespaceId, ApiError> {
    text.parse::<NamespaceId>().map_err(|source| {
        ApiError::Param(super::params::ParamError::Invalid {
            name: "namespaceId",
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_follow_prometheus_rules_and_reserved_ones_are_left_out() {
        assert_eq!(label_name("version").as_deref(), Some("version"));
        assert_eq!(label_name("app.name-x/y").as_deref(), Some("app_name_x_y"));
        assert_eq!(label_name("9lives").as_deref(), Some("_9lives"));
        assert_eq!(label_name("__address__"), None);
        assert_eq!(label_name("..scheme"), None, "becomes __scheme");
        assert_eq!(label_name(""), None);
        assert_eq!(label_name("zoné").as_deref(), Some("zon_"));
    }

    #[test]
    fn scopes_are_read_from_the_path() {
        assert_eq!(scope_of("/nacos/prometheus"), Some(Ok(Scope::All)));
        assert_eq!(scope_of("/nacos/prometheus/"), Some(Ok(Scope::All)));
        let public: NamespaceId = "public".parse().unwrap();
        assert_eq!(
            scope_of("/nacos/prometheus/namespaceId/public"),
            Some(Ok(Scope::Namespace(public.clone(), None)))
        );
        assert_eq!(
            scope_of("/nacos/prometheus/namespaceId/public/service/or%20ders"),
            Some(Ok(Scope::Namespace(public, Some("or ders".to_owned()))))
        );
        assert_eq!(scope_of("/nacos/prometheusx"), None);
        assert_eq!(scope_of("/nacos/prometheus/namespaceId/a/b"), None);
        assert!(matches!(
            scope_of("/nacos/prometheus/namespaceId/%00"),
            Some(Err(_))
        ));
    }
}
