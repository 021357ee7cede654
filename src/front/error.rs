//! [`ErrorClass`]: what kind of failure a front reports, decided once for every front. Each
//! protocol turns the class into its own status: HTTP into a status code
//! ([`ErrorClass::http_status`]), the in-memory client transport into a
//! [`crate::protocol::TransportError`], gRPC (next) into Nacos' error codes.
//!
//! | error | class |
//! | --- | --- |
//! | refused by the registry (validation, metadata too large, a `preserved.*` timing out of range, service exists, not empty, unknown instance on update), here or on the responsible member | [`ErrorClass::BadRequest`] |
//! | over a cap of [`crate::Limits`] (instances per service, services per namespace, namespaces: [`crate::model::LimitExceeded`]), here or on the responsible member | [`ErrorClass::OverLimit`] |
//! | what a read asked for does not exist | [`ErrorClass::NotFound`] (fronts raise it themselves) |
//! | the node is starting, or the responsible member is unreachable | [`ErrorClass::Unavailable`] |
//! | a peer answered something that does not fit (a version mismatch) | [`ErrorClass::Internal`] |
//! | a write applied in memory whose commit to disk failed or did not finish in time ([`crate::persist::NotPersisted`]) | [`ErrorClass::Unavailable`] |

use crate::cluster::ClusterError;
use crate::store::StoreError;

/// The kind of a front's failure. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request was refused for what it asked: the caller must change it.
    BadRequest,
    /// What a read asked for does not exist.
    NotFound,
    /// The write would take the registry over one of its caps ([`crate::model::LimitExceeded`]):
    /// nothing is wrong with the request itself, but the registry holds as much of that as it
    /// accepts. HTTP 429, as Nacos answers its config quotas.
    OverLimit,
    /// The node cannot serve now; another node, or a later try, may.
    Unavailable,
    /// Something that should not happen (a protocol mismatch, an encoding failure).
    Internal,
}

impl ErrorClass {
    /// The class of a failed write.
    pub fn of(err: &ClusterError) -> ErrorClass {
        match err {
            ClusterError::Registry(StoreError::Limit(_)) => ErrorClass::OverLimit,
            ClusterError::Registry(_) | ClusterError::Remote { .. } => ErrorClass::BadRequest,
            ClusterError::NotReady(_)
            | ClusterError::Unreachable(_)
            | ClusterError::NotPersisted(_)
            | ClusterError::RemoteNotPersisted { .. }
            | ClusterError::NoLeader(_) => ErrorClass::Unavailable,
            _ => ErrorClass::Internal,
        }
    }

    /// The HTTP status code of the class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::BadRequest => 400,
            ErrorClass::NotFound => 404,
            ErrorClass::OverLimit => 429,
            ErrorClass::Unavailable => 503,
            ErrorClass::Internal => 500,
        }
    }
}
