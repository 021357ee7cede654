//! [`Dispatch`]: where a [`Command`] goes on a cluster member — applied here, forwarded to the
//! member responsible for its service, or refused because this member does not serve yet —
//! and what the forwarded answer means. Sans-IO: the caller does the one thing it is for,
//! sending [`Forwarding::request`] to [`Forwarding::owner`], and hands the answer back.
//!
//! [`super::ClusterNode::execute`] (tokio) and [`crate::transport::memory::Simulation`]
//! (discrete events) are the two callers; neither decides anything about routing itself. The
//! receiving side is [`answer_forward`], which [`super::DistroCore::handle`] calls.
//!
//! ```
//! use nacre::cluster::{Dispatch, NodeId, Route};
//! use nacre::{Command, Instance, Registry, ServiceKey};
//!
//! let registry = Registry::default();
//! let me = NodeId::new("n1")?;
//! let orders = ServiceKey::named("orders")?;
//! let cmd = Command::register(&orders, Instance::new("10.0.0.1", 8080)?);
//! // Responsible here: applied at once.
//! match Dispatch::begin(Route::Local, &me, &registry, cmd.clone()) {
//!     Dispatch::Done(out) => assert!(out.is_ok()),
//!     Dispatch::Forward(_) => unreachable!(),
//! }
//! // Responsible elsewhere: the caller sends the request and completes with the answer.
//! let n2 = NodeId::new("n2")?;
//! let Dispatch::Forward(fwd) = Dispatch::begin(Route::Forward(n2.clone()), &me, &registry, cmd)
//! else { unreachable!() };
//! assert_eq!(fwd.owner(), &n2);
//! // n2 could not be reached: AP, so the write is applied here.
//! let out = fwd.complete(&registry, Err(nacre::cluster::PeerError::Unreachable(n2)));
//! assert!(out.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
    /// Send [`Forwarding::request`] to [`Forwarding::owner`], then call
    /// [`Forwarding::complete`] with the answer.
    Forward(Forwarding),
}

impl Dispatch {
    /// Routes `command` as `route` (from [`super::RoutingView::route`]) says, on member `me`
    /// whose registry is `registry`.
    pub fn begin(route: Route, me: &NodeId, registry: &Registry, command: Command) -> Dispatch {
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
    pub fn complete(
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
