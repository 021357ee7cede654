//! [`ApiError`]: why a v1 call failed, and the HTTP status it answers with.
//!
//! As in Nacos, an error answers with a status code and the message as plain text:
//!
//! | error | status |
//! | --- | --- |
//! | bad or missing parameter ([`ParamError`]) | 400 |
//! | a health set by hand on a cluster whose active check runs | 400 |
//! | a body over the size cap / one that took too long to arrive ([`super::serve`]) | 413 / 408 |
//! | refused by the registry (validation, metadata too large, a `preserved.*` timing out of range, service exists, not empty, unknown instance on update), here or on the responsible node | 400 |
//! | over a cap of [`crate::Limits`] (instances per service, services per namespace, namespaces), here or on the responsible node; the message names the limit | 429 |
//! | instance or service asked for by `GET` does not exist | 404 |
//! | the node is starting, or the responsible node is unreachable | 503 |
//! | a peer answered something that does not fit (a version mismatch), or an answer could not be encoded | 500 |
//! | an operator's override refused by the control plane (a field's rule; over [`crate::control::MAX_OVERRIDES`]: 429) | 400 / 429 |
//! | the control plane takes no write (no leader, stopped) | 503 |

use super::params::ParamError;
use crate::cluster::ClusterError;
use crate::front::ErrorClass;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a v1 call failed. See the module documentation for the status of each case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request's parameters were refused.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The node (or the responsible node) refused or could not carry out the operation.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// What a read asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The cluster's health is set by its active health check, not by hand (Nacos' message).
    #[error("health check is still working, service: {service}, cluster: {cluster}")]
    HealthCheckRunning {
        /// The service, `group@@name`.
        service: String,
        /// The cluster.
        cluster: String,
    },
    /// A drain cannot be made as asked (`drainMillis` too long, too many in progress).
    #[error(transparent)]
    Drain(#[from] crate::front::drain::DrainError),
    /// An answer could not be encoded (a bug; answered with 500).
    #[error("the answer could not be encoded: {0}")]
    Encode(String),
    /// The control plane refused an operator's override.
    #[cfg(feature = "control")]
    #[error(transparent)]
    Refused(crate::control::ControlError),
    /// The control plane took no write (no leader, stopped).
    #[cfg(feature = "control")]
    #[error(transparent)]
    Control(#[from] crate::control::ControlWriteError),
}

impl ApiError {
    /// The HTTP status this error answers with (from [`ErrorClass`], shared by every front).
    pub fn status(&self) -> StatusCode {
        if let ApiError::Param(p) = self {
            return p.status();
        }
        let class = match self {
            ApiError::Param(_) => ErrorClass::BadRequest,
            ApiError::NotFound(_) => ErrorClass::NotFound,
            ApiError::HealthCheckRunning { .. } => ErrorClass::BadRequest,
            ApiError::Drain(e) => e.class(),
            ApiError::Encode(_) => ErrorClass::Internal,
            ApiError::Cluster(e) => ErrorClass::of(e),
            #[cfg(feature = "control")]
            ApiError::Refused(crate::control::ControlError::TooManyOverrides { .. }) => {
                ErrorClass::OverLimit
            }
            #[cfg(feature = "control")]
            ApiError::Refused(_) => ErrorClass::BadRequest,
            #[cfg(feature = "control")]
            ApiError::Control(_) => ErrorClass::Unavailable,
        };
        StatusCode::from_u16(class.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}

impl IntoResponse for ParamError {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}

/// The error of a request body that took too long to arrive: a server that bounds body reads
/// (`nacre-server`'s accept loop) fails the body with it, and the handlers answer 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body took too long to arrive")]
pub struct BodyTimeout;
