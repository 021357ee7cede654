//! `PUT /nacos/v1/ns/cluster`: sets the settings of one cluster of a service in the control
//! plane (features `http` and `control`; [`crate::control::clusters`]) — how its persistent
//! instances are health-checked, on which port, and its metadata.
//!
//! | parameter | |
//! | --- | --- |
//! | `namespaceId` | default `public` |
//! | `serviceName` | required; `group@@service`, or with `groupName` |
//! | `clusterName` | required |
//! | `checkPort` | required, 0 to 65535 (at least 1 when the instance's port is not used) |
//! | `useInstancePort4Check` | required, `true` or `false` |
//! | `healthChecker` | required: `{"type":"TCP"}`, `{"type":"HTTP","path":"/health","headers":"","expectedResponseCode":200}` or `{"type":"NONE"}` |
//! | `metadata` | optional, a JSON object or `k1=v1,k2=v2` |
//!
//! It answers `ok`. Auth (with [`super::NacosApi::access`]): a write on the service, as in
//! Nacos (`@Secured(action = WRITE)`). The service must exist: 400 `service not found
//! groupName: G,serviceName: S` otherwise, Nacos' answer. A bad or missing parameter answers
//! 400 naming it; a router without a control plane ([`super::NacosApi::control`]) answers 501,
//! saying so; a control plane that takes no write (no leader, stopped) 503.
//!
//! The parameters and the checker's JSON are Nacos 2.x' (`naming/.../controllers/ClusterController.java`,
//! `api/.../naming/pojo/healthcheck/`).
//!
//! ## What differs from Nacos
//!
//! - The checker's `type` is read without regard to case; Nacos' JSON reader wants it in
//!   capitals. `MYSQL` is refused (nacre holds no database credentials).
//! - `checkPort` must be a port number; Nacos reads anything else as 0.
//! - The rules of [`crate::control::clusters`] (an HTTP path that is relative, bounded
//!   metadata) answer 400 naming the field; Nacos has none of them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use serde_json::Value;

use super::json::HealthCheckerJson;
use super::params::{parse_metadata, ParamError, Params};
use super::paths::CLUSTER_PATH;
use crate::control::{
    ClusterSettings, ControlCommand, ControlError, ControlPlane, ControlResponse,
    ControlWriteError, HealthChecker, HttpCheck,
};
use crate::front::Backend;
use crate::model::ClusterName;

/// Why `PUT /nacos/v1/ns/cluster` changed nothing.
#[derive(Debug, thiserror::Error)]
enum ClusterApiError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("service not found groupName: {group},serviceName: {service}")]
    ServiceNotFound { group: String, service: String },
    #[error("{0}")]
    Refused(ControlError),
    #[error(transparent)]
    Unavailable(#[from] ControlWriteError),
    #[error("cluster settings live in the control plane, which this node does not run (nacre-server runs it with --data-dir)")]
    NoControlPlane,
}

impl IntoResponse for ClusterApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ClusterApiError::Param(p) => p.status(),
            ClusterApiError::Refused(ControlError::TooManyClusterSettings { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ClusterApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ClusterApiError::NoControlPlane => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

#[derive(Debug, Clone)]
struct Shared {
    control: Option<Arc<dyn ControlPlane>>,
    backend: Backend,
}

/// The route over `control` (none: it answers 501), for the services `backend` holds.
pub(crate) fn router(control: Option<Arc<dyn ControlPlane>>, backend: Backend) -> Router {
    Router::new()
        .route(CLUSTER_PATH, put(update))
        .with_state(Shared { control, backend })
}

async fn update(State(shared): State<Shared>, p: Params) -> Response {
    match set(&shared, &p).await {
        Ok(()) => "ok".into_response(),
        Err(e) => e.into_response(),
    }
}

async fn set(shared: &Shared, p: &Params) -> Result<(), ClusterApiError> {
    let settings = settings_from(p)?;
    settings.check().map_err(ClusterApiError::Refused)?;
    let Some(control) = &shared.control else {
        return Err(ClusterApiError::NoControlPlane);
    };
    if shared
        .backend
        .registry()
        .service(&settings.service)
        .is_none()
    {
        return Err(ClusterApiError::ServiceNotFound {
            group: settings.service.group().to_string(),
            service: settings.service.service().to_string(),
        });
    }
    match control
        .write(ControlCommand::SetClusterSettings(settings))
        .await?
    {
        ControlResponse::Rejected(e) => Err(ClusterApiError::Refused(e)),
        _ => Ok(()),
    }
}

/// The settings the parameters describe (see the module documentation).
fn settings_from(p: &Params) -> Result<ClusterSettings, ParamError> {
    let service = p.service_key()?;
    let cluster =
        ClusterName::new(p.required("clusterName")?).map_err(|source| ParamError::Invalid {
            name: "clusterName",
            source,
        })?;
    let raw_port = p.required("checkPort")?;
    let check_port = raw_port
        .trim()
        .parse::<u16>()
        .map_err(|_| ParamError::malformed("checkPort", raw_port, "a port number (0-65535)"))?;
    let use_instance_port = p
        .optional_flag("useInstancePort4Check")?
        .ok_or(ParamError::Missing("useInstancePort4Check"))?;
    let checker = checker_from(p.required("healthChecker")?)?;
    let metadata = match p.get("metadata").filter(|m| !m.trim().is_empty()) {
        Some(raw) => parse_metadata("metadata", raw)?,
        None => Default::default(),
    };
    Ok(ClusterSettings {
        service,
        cluster,
        checker,
        check_port,
        use_instance_port,
        metadata,
    })
}

/// Reads Nacos' checker JSON: `{"type":"TCP"|"HTTP"|"NONE", ...}`; unknown fields are ignored,
/// as Nacos' reader does.
fn checker_from(raw: &str) -> Result<HealthChecker, ParamError> {
    const SHAPE: &str = r#"a JSON object with "type" TCP, HTTP or NONE"#;
    let bad = |expected| ParamError::malformed("healthChecker", raw, expected);
    let object: serde_json::Map<String, Value> =
        serde_json::from_str(raw.trim()).map_err(|_| bad(SHAPE))?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(SHAPE))?;
    match kind.to_ascii_uppercase().as_str() {
        "TCP" => Ok(HealthChecker::Tcp),
        "NONE" => Ok(HealthChecker::None),
        "HTTP" => {
            let text = |name: &str| match object.get(name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(bad("an HTTP checker whose path and headers are strings")),
            };
            let expected_code = match object.get("expectedResponseCode") {
                None | Some(Value::Null) => Some(200),
                Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
                Some(_) => None,
            }
            .ok_or_else(|| bad("an HTTP checker whose expectedResponseCode is a status code"))?;
            Ok(HealthChecker::Http(HttpCheck {
                path: text("path")?,
                headers: text("headers")?,
                expected_code,
            }))
        }
        _ => Err(bad(
            "a checker nacre runs: TCP, HTTP or NONE (not MYSQL or another)",
        )),
    }
}

/// The checker as Nacos' service detail shows it.
pub(crate) fn checker_json(checker: &HealthChecker) -> HealthCheckerJson {
    let http = match checker {
        HealthChecker::Http(http) => Some(http),
        _ => None,
    };
    HealthCheckerJson {
        kind: checker.type_name().to_owned(),
        path: http.map(|h| h.path.clone()),
        headers: http.map(|h| h.headers.clone()),
        expected_response_code: http.map(|h| h.expected_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query), b"")
    }

    #[test]
    fn an_http_checker_is_read_with_nacos_defaults_and_unknown_fields_ignored() {
        let checker = checker_from(r#"{"type":"HTTP","path":"/health","extra":1}"#);
        assert_eq!(
            checker,
            Ok(HealthChecker::Http(HttpCheck {
                path: "/health".into(),
                headers: String::new(),
                expected_code: 200,
            }))
        );
        let checker = checker_from(r#"{"type":"http","expectedResponseCode":"204"}"#);
        assert!(matches!(checker, Ok(HealthChecker::Http(h)) if h.expected_code == 204));
        assert_eq!(checker_from(r#"{"type":"TCP"}"#), Ok(HealthChecker::Tcp));
        assert_eq!(checker_from(r#"{"type":"NONE"}"#), Ok(HealthChecker::None));
        for bad in [
            "TCP",
            "{}",
            r#"{"type":"MYSQL"}"#,
            r#"{"type":"HTTP","expectedResponseCode":70000}"#,
            r#"{"type":"HTTP","path":7}"#,
        ] {
            assert!(
                matches!(
                    checker_from(bad),
                    Err(ParamError::Malformed {
                        name: "healthChecker",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_required_parameter_is_named_when_missing() {
        let full = "serviceName=orders&clusterName=DEFAULT&checkPort=80&useInstancePort4Check=true&healthChecker=%7B%22type%22%3A%22TCP%22%7D";
        assert!(settings_from(&params(full)).is_ok());
        for name in [
            "serviceName",
            "clusterName",
            "checkPort",
            "useInstancePort4Check",
            "healthChecker",
        ] {
            let without: Vec<&str> = full
                .split('&')
                .filter(|pair| !pair.starts_with(&format!("{name}=")))
                .collect();
            match settings_from(&params(&without.join("&"))) {
                Err(ParamError::Missing(missing)) => assert_eq!(missing, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
