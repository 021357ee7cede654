//! Applying a client operation to a local registry, whether it came from a local caller or was
//! forwarded by a peer.

use super::message::{ForwardedWrite, RemoteFailure, WriteOutcome};
use crate::node::Registry;
use crate::registry::RegistryError;

/// Applies `write` to `registry`.
pub fn apply_write(
    registry: &Registry,
    write: ForwardedWrite,
) -> Result<WriteOutcome, RegistryError> {
    match write {
        ForwardedWrite::Register { service, instance } => registry
            .register_instance(&service, instance)
            .map(WriteOutcome::Revision),
        ForwardedWrite::BatchRegister { service, instances } => registry
            .batch_register_instance(&service, instances)
            .map(WriteOutcome::Revision),
        ForwardedWrite::Deregister { service, instance } => Ok(WriteOutcome::Deregistered(
            registry.deregister_instance(&service, &instance),
        )),
        ForwardedWrite::Update {
            service,
            instance,
            update,
        } => registry
            .update_instance(&service, &instance, update)
            .map(WriteOutcome::Revision),
        ForwardedWrite::Beat {
            service,
            instance,
            data,
        } => match data {
            Some(data) => registry.heartbeat_with(&service, &data),
            None => registry.heartbeat(&service, &instance),
        }
        .map(WriteOutcome::Beat),
        ForwardedWrite::CreateService { service, settings } => registry
            .create_service(&service, settings)
            .map(WriteOutcome::Revision),
        ForwardedWrite::UpdateService { service, settings } => registry
            .update_service(&service, settings)
            .map(WriteOutcome::Revision),
        ForwardedWrite::RemoveService { service } => registry
            .remove_service(&service)
            .map(WriteOutcome::Revision),
    }
}

/// Called after the responsible node took a forwarded operation: a relayed beat is noted in the
/// local copy too (see [`Registry::note_relayed_beat`]).
pub fn after_forward(registry: &Registry, write: &ForwardedWrite) {
    if let ForwardedWrite::Beat {
        service, instance, ..
    } = write
    {
        registry.note_relayed_beat(service, instance);
    }
}

/// The wire form of a registry error.
pub fn to_remote(err: RegistryError) -> RemoteFailure {
    match err {
        RegistryError::InstanceNotFound(id) => RemoteFailure::InstanceNotFound(id),
        other => RemoteFailure::Refused(other.to_string()),
    }
}

/// What the answer to a forwarded operation means for the caller: `Some(result)` to return,
/// or `None` when the responsible node did not take it (unreachable, starting, refused the
/// sender) and the caller should apply it locally instead (AP).
pub fn forwarded_result(
    owner: &super::node_id::NodeId,
    answer: Result<super::message::PeerResponse, super::transport::TransportError>,
) -> Option<Result<WriteOutcome, super::error::ClusterError>> {
    use super::error::ClusterError;
    use super::message::PeerResponse;
    match answer {
        Ok(PeerResponse::Forwarded(Ok(outcome))) => Some(Ok(outcome)),
        Ok(PeerResponse::Forwarded(Err(RemoteFailure::InstanceNotFound(id)))) => Some(Err(
            ClusterError::Registry(RegistryError::InstanceNotFound(id)),
        )),
        Ok(PeerResponse::Forwarded(Err(RemoteFailure::Refused(message)))) => {
            Some(Err(ClusterError::Remote {
                node: owner.clone(),
                message,
            }))
        }
        _ => None,
    }
}
