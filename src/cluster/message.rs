//! What peers say to each other: [`PeerRequest`] and [`PeerResponse`], plain serde types so the
//! host can pick any codec and any wire.

use super::node_id::NodeId;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::node::BeatReply;
use crate::registry::{InstanceUpdate, ServiceRecord, ServiceSettings};
use serde::{Deserialize, Serialize};

/// A request from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// "I am alive"; `ready` says whether the sender serves yet.
    Ping {
        /// Whether the sender has loaded its snapshot and serves.
        ready: bool,
    },
    /// Changed instances (and tombstones) of some services, to merge.
    Sync {
        /// The changes.
        records: Vec<ServiceRecord>,
    },
    /// Checksums of the services the sender is responsible for.
    Verify {
        /// `(service, checksum)` pairs.
        checksums: Vec<(ServiceKey, u64)>,
    },
    /// "Send me these services in full."
    Fetch {
        /// The services wanted.
        services: Vec<ServiceKey>,
    },
    /// "Send me everything": a starting node loading its first snapshot.
    Snapshot,
    /// A client write or beat for a service the receiver is responsible for.
    Forward(ForwardedWrite),
}

/// A client operation forwarded to the responsible node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ForwardedWrite {
    /// `register_instance`.
    Register {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: Instance,
    },
    /// `batch_register_instance`.
    BatchRegister {
        /// The service.
        service: ServiceKey,
        /// The instances.
        instances: Vec<Instance>,
    },
    /// `deregister_instance`.
    Deregister {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
    },
    /// `update_instance`.
    Update {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// The change.
        update: InstanceUpdate,
    },
    /// A heartbeat, light (`data: None`) or carrying the instance to re-register it.
    Beat {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// The instance's data, if the client sent it.
        data: Option<Instance>,
    },
    /// `create_service`.
    CreateService {
        /// The service.
        service: ServiceKey,
        /// Its settings.
        settings: ServiceSettings,
    },
    /// `update_service`.
    UpdateService {
        /// The service.
        service: ServiceKey,
        /// Its settings.
        settings: ServiceSettings,
    },
    /// `remove_service`.
    RemoveService {
        /// The service.
        service: ServiceKey,
    },
}

impl ForwardedWrite {
    /// `register_instance`.
    pub fn register(service: &ServiceKey, instance: Instance) -> Self {
        ForwardedWrite::Register {
            service: service.clone(),
            instance,
        }
    }

    /// `deregister_instance`.
    pub fn deregister(service: &ServiceKey, instance: &InstanceKey) -> Self {
        ForwardedWrite::Deregister {
            service: service.clone(),
            instance: instance.clone(),
        }
    }

    /// A light beat (no instance data).
    pub fn light_beat(service: &ServiceKey, instance: &InstanceKey) -> Self {
        ForwardedWrite::Beat {
            service: service.clone(),
            instance: instance.clone(),
            data: None,
        }
    }

    /// A beat carrying the instance's data, which re-registers it if it is unknown.
    pub fn beat_with(service: &ServiceKey, instance: &Instance) -> Self {
        ForwardedWrite::Beat {
            service: service.clone(),
            instance: instance.key(),
            data: Some(instance.clone()),
        }
    }

    /// The service the operation is about (which decides who is responsible).
    pub fn service(&self) -> &ServiceKey {
        match self {
            ForwardedWrite::Register { service, .. }
            | ForwardedWrite::BatchRegister { service, .. }
            | ForwardedWrite::Deregister { service, .. }
            | ForwardedWrite::Update { service, .. }
            | ForwardedWrite::Beat { service, .. }
            | ForwardedWrite::CreateService { service, .. }
            | ForwardedWrite::UpdateService { service, .. }
            | ForwardedWrite::RemoveService { service } => service,
        }
    }
}

/// What a forwarded operation returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOutcome {
    /// The service's revision after a write.
    Revision(u64),
    /// Whether a deregistered instance was there.
    Deregistered(bool),
    /// A beat's answer.
    Beat(BeatReply),
}

impl WriteOutcome {
    fn unexpected(self) -> super::error::ClusterError {
        super::error::ClusterError::UnexpectedAnswer(format!("{self:?}"))
    }

    /// The revision of a write, or an error if this answers something else.
    pub fn into_revision(self) -> Result<u64, super::error::ClusterError> {
        match self {
            WriteOutcome::Revision(r) => Ok(r),
            other => Err(other.unexpected()),
        }
    }

    /// Whether a deregistered instance was there, or an error if this answers something else.
    pub fn into_deregistered(self) -> Result<bool, super::error::ClusterError> {
        match self {
            WriteOutcome::Deregistered(was) => Ok(was),
            other => Err(other.unexpected()),
        }
    }

    /// A beat's answer, or an error if this answers something else.
    pub fn into_beat(self) -> Result<BeatReply, super::error::ClusterError> {
        match self {
            WriteOutcome::Beat(b) => Ok(b),
            other => Err(other.unexpected()),
        }
    }
}

/// Why a forwarded operation failed, in a form that crosses the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RemoteFailure {
    /// The instance is not registered (Nacos code 20404): the client should re-register.
    InstanceNotFound(crate::model::InstanceId),
    /// Anything else, as the responsible node's error message.
    Refused(String),
}

/// An answer to a [`PeerRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerResponse {
    /// Answer to `Ping`.
    Pong {
        /// Whether the answering node serves.
        ready: bool,
    },
    /// Received and applied.
    Ack,
    /// Services in full, for `Fetch` and `Snapshot`.
    Records(Vec<ServiceRecord>),
    /// The answering node is still loading and has no snapshot to give.
    NotReady,
    /// The result of a forwarded operation.
    Forwarded(Result<WriteOutcome, RemoteFailure>),
    /// The request was not understood or not allowed (say, from a stranger).
    Rejected(String),
}

/// An envelope with the sender's id, for transports that carry bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Who sends.
    pub from: NodeId,
    /// What.
    pub request: PeerRequest,
}
