//! [`ClientError`]: why a [`crate::client::NamingClient`] call failed.

use super::failover::FailoverError;
use crate::model::{ClusterName, ServiceKey, ValidationError};
use crate::protocol::TransportError;

/// Why a [`crate::client::NamingClient`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A name or value given to the client broke a validation rule; nothing was sent.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The transport failed, or the server refused the request.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// No server could be reached, and neither the cache nor the failover directory holds the
    /// service.
    #[error("service {service} is unavailable: no server answered and no cached copy exists")]
    Unavailable {
        /// The service.
        service: ServiceKey,
        /// Why the servers could not be asked (boxed: it is large, and rare).
        #[source]
        cause: Box<TransportError>,
    },
    /// No healthy, enabled instance with weight above 0 to pick from.
    #[error("service {service} has no healthy instance to select (clusters: {clusters:?})")]
    NoHealthyInstance {
        /// The service.
        service: ServiceKey,
        /// The clusters asked for (empty: all).
        clusters: Vec<ClusterName>,
    },
    /// The failover directory could not be used.
    #[error(transparent)]
    Failover(#[from] FailoverError),
    /// [`crate::client::NamingClientBuilder::build`] was called outside a tokio runtime; the
    /// client runs its beats and pulls as tokio tasks.
    #[error("a NamingClient must be built inside a tokio runtime")]
    NoRuntime,
    /// [`crate::client::NamingClient::wait_until`]'s condition did not hold within its
    /// timeout.
    #[error("the condition did not hold within {timeout:?} (counters then: {stats:?})")]
    WaitTimedOut {
        /// The timeout given.
        timeout: std::time::Duration,
        /// The counters when it passed.
        stats: Box<super::ClientStats>,
    },
    /// The client was shut down ([`crate::client::NamingClient::shutdown`]).
    #[error("the NamingClient was shut down")]
    Closed,
}
