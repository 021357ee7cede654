//! [`Dispatch`]: where a [`Command`] goes on a cluster member — applied here, forwarded to the
//! member responsible for its service, or refused because this member does not serve yet —
//! and what the forwarded answer means. Sans-IO: the caller does the one thing it is for,
//! sending [`Forwarding::request`] to [`Forwarding::owner`], and hands the answer back.
//!
//! A write enters it only through [`super::DistroCore::dispatch`] and leaves through
//! [`super::DistroCore::complete`], so it is routed with the core's own registry and mapper:
//! no caller holds the registry's writes. [`super::ClusterNode::execute`] (tokio),
//! [`crate::transport::memory::Simulation`] (discrete events) and a host driving the core
//! itself are the callers; none decides anything about routing. The receiving side is
//! [`answer_forward`], which [`super::DistroCore::handle`] calls.

use super::core::Route;
use super::error::ClusterError;
use super::message::{PeerRequest, PeerResponse, RemoteFailure};
use super::node_id::NodeId;
use super::transport::PeerError;
use crate::registry::{Command, CommandOutput, Registry};
use crate::store::StoreError;

/// The first step of executing a command on a cluster member.
#[derive(Debug)]
pub enum Dispatch {
    /// Finished here: applied locally, or refused because the member does not serve yet.
    Done(Result<CommandOutput, ClusterError>),
    /// Send [`Forwarding::request`] to [`Forwarding::owner`], then hand the answer to
    /// [`super::DistroCore::complete`].
    Forward(Forwarding),
}

impl Dispatch {
    /// Routes `command` as `route` (from [`super::RoutingView::route`]) says, on member `me`
    /// whose registry is `registry`.
    pub(crate) fn begin(
        route: Route,
        me: &NodeId,
        registry: &Registry,
        command: Command,
    ) -> Dispatch {
        match route {
            Route::NotReady => Dispatch::Done(Err(ClusterError::NotReady(me.clone()))),
            Route::Local => Dispatch::Done(command.apply(registry).map_err(ClusterError::from)),
            Route::Forward(owner) => Dispatch::Forward(Forwarding { owner, command }),
        }
    }
}

/// A command on its way to the member responsible for its service.
#[derive(Debug)]
pub struct Forwarding {
    owner: NodeId,
    command: Command,
}

impl Forwarding {
    /// The member to send to.
    pub fn owner(&self) -> &NodeId {
        &self.owner
    }

    /// The command being forwarded.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The request to send.
    pub fn request(&self) -> PeerRequest {
        PeerRequest::Forward(self.command.clone())
    }

    /// Finishes with the owner's `answer`:
    /// - its result, when it took the command (a relayed beat is also noted here, see
    ///   [`Registry::note_relayed_beat`]);
    /// - otherwise (unreachable, timed out, starting, refused the sender) the command is
    ///   applied here: AP, reconciled by the next sync.
    pub(crate) fn complete(
        self,
        registry: &Registry,
        answer: Result<PeerResponse, PeerError>,
    ) -> Result<CommandOutput, ClusterError> {
        let result = match answer {
            Ok(PeerResponse::Forwarded(Ok(output))) => Ok(output),
            Ok(PeerResponse::Forwarded(Err(RemoteFailure::InstanceNotFound(id)))) => {
                Err(ClusterError::Registry(StoreError::InstanceNotFound(id)))
            }
            Ok(PeerResponse::Forwarded(Err(RemoteFailure::Limit(limit)))) => {
                Err(ClusterError::Registry(StoreError::Limit(limit)))
            }
            Ok(PeerResponse::Forwarded(Err(RemoteFailure::Refused(message)))) => {
                Err(ClusterError::Remote {
                    node: self.owner,
                    message,
                })
            }
            Ok(PeerResponse::Forwarded(Err(RemoteFailure::NotPersisted(message)))) => {
                Err(ClusterError::RemoteNotPersisted {
                    node: self.owner,
                    message,
                })
            }
            _ => return Ok(self.command.apply(registry)?),
        };
        if result.is_ok() {
            if let Some(instance) = self.command.beat_target() {
                registry.note_relayed_beat(self.command.service(), instance);
            }
        }
        result
    }
}

/// The responsible member's side: applies a forwarded command, if this member serves.
pub(crate) fn answer_forward(registry: &Registry, ready: bool, command: Command) -> PeerResponse {
    if !ready {
        return PeerResponse::NotReady;
    }
    PeerResponse::Forwarded(command.apply(registry).map_err(|err| match err {
        StoreError::InstanceNotFound(id) => RemoteFailure::InstanceNotFound(id),
        StoreError::Limit(limit) => RemoteFailure::Limit(limit),
        other => RemoteFailure::Refused(other.to_string()),
    }))
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
