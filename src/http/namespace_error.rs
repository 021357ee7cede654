//! [`NamespaceApiError`]: why a namespace call failed, with the HTTP status and the Nacos v2
//! error code it answers with.
//!
//! The v1 routes answer the status and the message as plain text, as the rest of the v1 API
//! does; the v2 routes answer Nacos' `Result` JSON, `{"code","message","data"}`, with the
//! code and its message from Nacos' `ErrorCode` (`api/.../model/v2/ErrorCode.java`) and the
//! reason as `data`, as Nacos' `NacosApiExceptionHandler` does.
//!
//! A write the control group cannot take because it has no leader (a minority, an election)
//! or did not confirm in time answers as Nacos' does when its Raft group has none: HTTP 500;
//! on v1 the text `caused: errCode: 500, errMsg: The Raft Group [nacre-control] did not find
//! the Leader node (<reason>) ;` (`ConsoleExceptionHandler` over a `NacosRuntimeException`
//! whose cause is JRaft's `NoLeaderException`), on v2 `{"code":30000,"message":"server
//! error","data":"errCode: 500, errMsg: ..."}`. Nacos' text also carries the Java exception
//! classes it went through (`ExecutionException`, `ConsistencyException`) and names its own
//! group (`nacos_config`); nacre's names its group and says why instead.

use axum::http::StatusCode;

use crate::control::{ControlError, ControlWriteError, CONTROL_GROUP};
use crate::model::excerpt;

/// Nacos' `ErrorCode.PARAMETER_MISSING`.
const PARAMETER_MISSING: (u32, &str) = (10000, "parameter missing");
/// Nacos' `ErrorCode.ILLEGAL_NAMESPACE`.
const ILLEGAL_NAMESPACE: (u32, &str) = (22000, "illegal namespace");
/// Nacos' `ErrorCode.NAMESPACE_NOT_EXIST`.
const NAMESPACE_NOT_EXIST: (u32, &str) = (22001, "namespace not exist");
/// Nacos' `ErrorCode.NAMESPACE_ALREADY_EXIST`.
const NAMESPACE_ALREADY_EXIST: (u32, &str) = (22002, "namespace already exist");
/// Nacos' `ErrorCode.ACCESS_DENIED`.
const ACCESS_DENIED: (u32, &str) = (40000, "access denied");
/// Nacos' `ErrorCode.SERVER_ERROR`.
const SERVER_ERROR: (u32, &str) = (30000, "server error");

/// Why a namespace call failed. The messages are Nacos' where it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceApiError {
    /// A required parameter was not sent.
    #[error("required parameter '{0}' is missing")]
    Missing(&'static str),
    /// The id is not Nacos' `[A-Za-z0-9_-]+`, or is not a valid nacre namespace id.
    #[error("namespaceId [{id}] mismatch the pattern: {rule}")]
    BadId {
        /// The first bytes of the id.
        id: String,
        /// The rule it broke.
        rule: String,
    },
    /// The name holds one of `@#$%^&*` (Nacos' rule), or breaks nacre's.
    #[error("namespaceName [{name}] {rule}")]
    BadName {
        /// The first bytes of the name.
        name: String,
        /// The rule it broke.
        rule: String,
    },
    /// The command was refused when applied (exists, not found, `public`, a limit, a field).
    #[error("{}", refused_message(.0))]
    Refused(ControlError),
    /// No such namespace.
    #[error("namespaceId [ {0} ] not exist")]
    NotFound(String),
    /// The caller may not see the namespace.
    #[error("authorization failed: {caller} may not read namespace {namespace}")]
    Hidden {
        /// The caller.
        caller: String,
        /// The namespace.
        namespace: String,
    },
    /// The control plane did not take the write (no leader, stopped).
    #[error("{}", unavailable_message(.0))]
    Unavailable(#[from] ControlWriteError),
}

/// Nacos' message for a write its Raft group could not take: `errCode: 500, errMsg: ...`
/// (`NacosRuntimeException`), around `NoLeaderException`'s sentence, with nacre's reason.
fn unavailable_message(error: &ControlWriteError) -> String {
    match error {
        ControlWriteError::NoLeader(why) | ControlWriteError::Unconfirmed(why) => format!(
            "errCode: 500, errMsg: The Raft Group [{CONTROL_GROUP}] did not find the Leader node ({why}) "
        ),
        other => other.to_string(),
    }
}

fn refused_message(error: &ControlError) -> String {
    match error {
        ControlError::NamespaceExists(id) => format!("namespaceId [{id}] already exist."),
        ControlError::NamespaceNotFound(id) => format!("namespaceId [ {id} ] not exist"),
        other => other.to_string(),
    }
}

impl NamespaceApiError {
    /// The HTTP status it answers with: 400 for what the caller sent, 404 for an unknown
    /// namespace, 403 for one the caller may not see, 429 over the namespace limit, 500 (as
    /// Nacos) when the group has no leader or did not confirm the write in time, 503 when the
    /// control plane has stopped.
    pub fn status(&self) -> StatusCode {
        match self {
            NamespaceApiError::NotFound(_)
            | NamespaceApiError::Refused(ControlError::NamespaceNotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            NamespaceApiError::Refused(ControlError::TooManyNamespaces { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            NamespaceApiError::Hidden { .. } => StatusCode::FORBIDDEN,
            NamespaceApiError::Unavailable(
                ControlWriteError::NoLeader(_) | ControlWriteError::Unconfirmed(_),
            ) => StatusCode::INTERNAL_SERVER_ERROR,
            NamespaceApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Nacos' v2 error code and its message.
    pub fn code(&self) -> (u32, &'static str) {
        match self {
            NamespaceApiError::Missing(_) => PARAMETER_MISSING,
            NamespaceApiError::NotFound(_)
            | NamespaceApiError::Refused(ControlError::NamespaceNotFound(_)) => NAMESPACE_NOT_EXIST,
            NamespaceApiError::Refused(ControlError::NamespaceExists(_))
            | NamespaceApiError::Refused(ControlError::DefaultNamespaceReserved(_)) => {
                NAMESPACE_ALREADY_EXIST
            }
            NamespaceApiError::Hidden { .. } => ACCESS_DENIED,
            NamespaceApiError::Unavailable(_) => SERVER_ERROR,
            _ => ILLEGAL_NAMESPACE,
        }
    }

    /// The v1 routes' plain-text body: the message, and for a write the group could not take,
    /// in Nacos' console form (`caused: <message>;`, `ExceptionUtil.getAllExceptionMsg`).
    pub fn v1_body(&self) -> String {
        match self {
            NamespaceApiError::Unavailable(
                ControlWriteError::NoLeader(_) | ControlWriteError::Unconfirmed(_),
            ) => format!("caused: {self};"),
            _ => self.to_string(),
        }
    }

    pub(super) fn bad_id(id: &str, rule: impl Into<String>) -> Self {
        NamespaceApiError::BadId {
            id: excerpt(id),
            rule: rule.into(),
        }
    }

    pub(super) fn bad_name(name: &str, rule: impl Into<String>) -> Self {
        NamespaceApiError::BadName {
            name: excerpt(name),
            rule: rule.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_without_a_leader_answers_as_nacos_does_and_a_stopped_plane_503() {
        let no_leader = NamespaceApiError::Unavailable(ControlWriteError::NoLeader("alone".into()));
        assert_eq!(no_leader.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(no_leader.code(), SERVER_ERROR);
        assert_eq!(
            no_leader.v1_body(),
            "caused: errCode: 500, errMsg: The Raft Group [nacre-control] did not find the \
             Leader node (alone) ;"
        );
        assert_eq!(
            no_leader.to_string(),
            "errCode: 500, errMsg: The Raft Group [nacre-control] did not find the Leader node \
             (alone) "
        );
        let unconfirmed =
            NamespaceApiError::Unavailable(ControlWriteError::Unconfirmed("slow".into()));
        assert_eq!(unconfirmed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(unconfirmed
            .v1_body()
            .contains("did not find the Leader node (slow)"));
        let stopped = NamespaceApiError::Unavailable(ControlWriteError::Stopped("closed".into()));
        assert_eq!(stopped.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(stopped.v1_body(), stopped.to_string());
    }
}
