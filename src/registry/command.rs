//! [`Command`]: every write a node takes, as one value, and [`Command::apply`], the one place
//! that runs it on a [`Registry`].
//!
//! ## The route of a write
//!
//! Whatever front a write arrives through, it becomes a `Command` and takes one route:
//!
//! ```text
//!  v1 HTTP handler ─┐
//!  2.x gRPC handler ├─> front::Backend::execute(Command)
//!  memory transport ┘          │
//!                    standalone │ cluster member
//!            ┌─────────────────┴──────────────────┐
//!            v                                    v
//!   Command::apply(&Registry)        ClusterNode::execute(Command)
//!            ^                          cluster::Dispatch::begin
//!            │                      Local │      │ Forward(owner)
//!            │<───────────────────────────┘      v
//!            │                       PeerRequest::Forward(Command) ── owner:
//!            │                        DistroCore::handle -> Command::apply
//!            │                       answer ─> Forwarding::complete
//!            └──── (owner unreachable: AP fallback, applied here)
//! ```
//!
//! With a control plane attached ([`Registry::attach_persistent_route`]), `Backend::execute`
//! first asks its [`crate::registry::PersistentRoute`] whether it takes the command (a write of
//! a persistent instance): those go to the control plane's Raft log instead, on either kind of
//! node, and every member's registry applies them from there.
//!
//! [`crate::transport::memory::Simulation`] drives the same `Dispatch`/`Forwarding` pair
//! without tokio, so the simulator cannot route differently from a real node.
//!
//! The friendly methods ([`Registry::register_instance`], [`crate::cluster::ClusterNode`]'s
//! `register_instance`, ...) stay for callers who want typed answers; the cluster node's are
//! one-line wrappers over its `execute`.
//!
//! ```
//! use nacre::{Command, CommandOutput, Instance, Registry, ServiceKey};
//! let registry = Registry::default();
//! let orders = ServiceKey::named("orders")?;
//! let inst = Instance::new("10.0.0.1", 8080)?;
//! let out = Command::register(&orders, inst.clone()).apply(&registry)?;
//! assert!(matches!(out, CommandOutput::Revision(_)));
//! let out = Command::deregister(&orders, &inst.key()).apply(&registry)?;
//! assert_eq!(out.into_deregistered()?, true);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::handle::{BeatReply, Registry};
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::store::{InstanceUpdate, ServiceSettings, StoreError};
use serde::{Deserialize, Serialize};

/// One write a node takes: the registry's write operations as data.
///
/// It is `serde`, because a cluster member forwards it unchanged to the member responsible for
/// its service (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// [`Registry::register_instance`].
    Register {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: Instance,
    },
    /// [`Registry::batch_register_instance`].
    BatchRegister {
        /// The service.
        service: ServiceKey,
        /// The instances.
        instances: Vec<Instance>,
    },
    /// [`Registry::deregister_instance`].
    Deregister {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
    },
    /// [`Registry::update_instance`].
    Update {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// The change.
        update: InstanceUpdate,
    },
    /// [`Registry::set_instance_health`]: the health of a persistent instance, set by hand
    /// (Nacos' `PUT /nacos/v1/ns/health/instance`). Like every write it is applied by the
    /// member responsible for the service and replicated from there.
    SetHealth {
        /// The service.
        service: ServiceKey,
        /// The instance (a persistent one; an ephemeral one is refused).
        instance: InstanceKey,
        /// Its new health.
        healthy: bool,
    },
    /// A heartbeat, light (`data: None`, [`Registry::heartbeat`]) or carrying the instance to
    /// register it again if it is unknown ([`Registry::heartbeat_with`]).
    Beat {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// The instance's data, if the client sent it.
        data: Option<Instance>,
    },
    /// [`Registry::create_service`].
    CreateService {
        /// The service.
        service: ServiceKey,
        /// Its settings.
        settings: ServiceSettings,
    },
    /// [`Registry::update_service`].
    UpdateService {
        /// The service.
        service: ServiceKey,
        /// Its settings.
        settings: ServiceSettings,
    },
    /// [`Registry::remove_service`].
    RemoveService {
        /// The service.
        service: ServiceKey,
    },
    /// [`Registry::register_for`]: instances published by one client connection.
    RegisterFor {
        /// The service.
        service: ServiceKey,
        /// The instances.
        instances: Vec<Instance>,
        /// The connection's tag.
        owner: u64,
    },
    /// [`Registry::deregister_for`]: a connection withdrawing what it published, unless
    /// another connection published it since.
    DeregisterFor {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// The connection's tag.
        owner: u64,
    },
}

impl Command {
    /// Registers (or replaces) `instance`.
    pub fn register(service: &ServiceKey, instance: Instance) -> Self {
        Command::Register {
            service: service.clone(),
            instance,
        }
    }

    /// Registers several instances in one step.
    pub fn batch_register(service: &ServiceKey, instances: Vec<Instance>) -> Self {
        Command::BatchRegister {
            service: service.clone(),
            instances,
        }
    }

    /// Removes an instance.
    pub fn deregister(service: &ServiceKey, instance: &InstanceKey) -> Self {
        Command::Deregister {
            service: service.clone(),
            instance: instance.clone(),
        }
    }

    /// Changes an instance's weight, enabled flag or metadata.
    pub fn update(service: &ServiceKey, instance: &InstanceKey, update: InstanceUpdate) -> Self {
        Command::Update {
            service: service.clone(),
            instance: instance.clone(),
            update,
        }
    }

    /// Sets the health of a persistent instance.
    pub fn set_health(service: &ServiceKey, instance: &InstanceKey, healthy: bool) -> Self {
        Command::SetHealth {
            service: service.clone(),
            instance: instance.clone(),
            healthy,
        }
    }

    /// A light beat (no instance data).
    pub fn light_beat(service: &ServiceKey, instance: &InstanceKey) -> Self {
        Command::Beat {
            service: service.clone(),
            instance: instance.clone(),
            data: None,
        }
    }

    /// A beat carrying the instance's data, which registers it again if it is unknown.
    pub fn beat_with(service: &ServiceKey, instance: &Instance) -> Self {
        Command::Beat {
            service: service.clone(),
            instance: instance.key(),
            data: Some(instance.clone()),
        }
    }

    /// Creates an empty service with settings.
    pub fn create_service(service: &ServiceKey, settings: ServiceSettings) -> Self {
        Command::CreateService {
            service: service.clone(),
            settings,
        }
    }

    /// Replaces a service's settings.
    pub fn update_service(service: &ServiceKey, settings: ServiceSettings) -> Self {
        Command::UpdateService {
            service: service.clone(),
            settings,
        }
    }

    /// Registers `instances` as published by the connection `owner`.
    pub fn register_for(service: &ServiceKey, instances: Vec<Instance>, owner: u64) -> Self {
        Command::RegisterFor {
            service: service.clone(),
            instances,
            owner,
        }
    }

    /// Removes `instance` for the connection `owner`, unless another connection published it
    /// since.
    pub fn deregister_for(service: &ServiceKey, instance: &InstanceKey, owner: u64) -> Self {
        Command::DeregisterFor {
            service: service.clone(),
            instance: instance.clone(),
            owner,
        }
    }

    /// Removes an empty service.
    pub fn remove_service(service: &ServiceKey) -> Self {
        Command::RemoveService {
            service: service.clone(),
        }
    }

    /// The service the command is about (which decides the member responsible for it).
    pub fn service(&self) -> &ServiceKey {
        match self {
            Command::Register { service, .. }
            | Command::BatchRegister { service, .. }
            | Command::Deregister { service, .. }
            | Command::Update { service, .. }
            | Command::SetHealth { service, .. }
            | Command::Beat { service, .. }
            | Command::CreateService { service, .. }
            | Command::UpdateService { service, .. }
            | Command::RemoveService { service }
            | Command::RegisterFor { service, .. }
            | Command::DeregisterFor { service, .. } => service,
        }
    }

    /// The command's name, as its variant spells it (`"Register"`, `"Beat"`, ...): for
    /// messages and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Register { .. } => "Register",
            Command::BatchRegister { .. } => "BatchRegister",
            Command::Deregister { .. } => "Deregister",
            Command::Update { .. } => "Update",
            Command::SetHealth { .. } => "SetHealth",
            Command::Beat { .. } => "Beat",
            Command::CreateService { .. } => "CreateService",
            Command::UpdateService { .. } => "UpdateService",
            Command::RemoveService { .. } => "RemoveService",
            Command::RegisterFor { .. } => "RegisterFor",
            Command::DeregisterFor { .. } => "DeregisterFor",
        }
    }

    /// The instance a beat is about, if this is a beat: a member that relayed a beat to the
    /// responsible one notes it locally too ([`Registry::note_relayed_beat`]).
    pub fn beat_target(&self) -> Option<&InstanceKey> {
        match self {
            Command::Beat { instance, .. } => Some(instance),
            _ => None,
        }
    }

    /// Whether the command may change what [`crate::persist`] keeps on disk, so that its
    /// answer waits for the commit ([`Registry::persisted`]): `false` only for what cannot, a
    /// registration of ephemeral instances only, or a beat that carries no persistent
    /// instance. A deregistration or update may be about a persistent instance, and service
    /// writes are always persistent.
    ///
    /// ```
    /// use nacre::{Command, Instance, ServiceKey};
    /// let s = ServiceKey::named("db")?;
    /// let eph = Instance::new("10.0.0.1", 80)?;
    /// let per = Instance::builder("10.0.0.9", 5432).ephemeral(false).build()?;
    /// assert!(!Command::register(&s, eph.clone()).touches_persistent_data());
    /// assert!(Command::register(&s, per).touches_persistent_data());
    /// assert!(!Command::light_beat(&s, &eph.key()).touches_persistent_data());
    /// assert!(Command::deregister(&s, &eph.key()).touches_persistent_data());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn touches_persistent_data(&self) -> bool {
        match self {
            Command::Register { instance, .. } => !instance.ephemeral(),
            Command::BatchRegister { instances, .. } | Command::RegisterFor { instances, .. } => {
                instances.iter().any(|i| !i.ephemeral())
            }
            Command::Beat { data, .. } => data.as_ref().is_some_and(|d| !d.ephemeral()),
            Command::Deregister { .. }
            | Command::DeregisterFor { .. }
            | Command::Update { .. }
            | Command::SetHealth { .. }
            | Command::CreateService { .. }
            | Command::UpdateService { .. }
            | Command::RemoveService { .. } => true,
        }
    }

    /// Runs the command on `registry`, here and now. This is the only place a command meets a
    /// registry: a standalone front, a cluster member responsible for the service, and a
    /// member falling back to a local write all come here.
    pub fn apply(self, registry: &Registry) -> Result<CommandOutput, StoreError> {
        match self {
            Command::Register { service, instance } => registry
                .register_instance(&service, instance)
                .map(CommandOutput::Revision),
            Command::BatchRegister { service, instances } => registry
                .batch_register_instance(&service, instances)
                .map(CommandOutput::Revision),
            Command::Deregister { service, instance } => Ok(CommandOutput::Deregistered(
                registry.deregister_instance(&service, &instance),
            )),
            Command::Update {
                service,
                instance,
                update,
            } => registry
                .update_instance(&service, &instance, update)
                .map(CommandOutput::Revision),
            Command::SetHealth {
                service,
                instance,
                healthy,
            } => registry
                .set_instance_health(&service, &instance, healthy)
                .map(CommandOutput::Revision),
            Command::Beat {
                service,
                instance,
                data,
            } => match data {
                Some(data) => registry.heartbeat_with(&service, &data),
                None => registry.heartbeat(&service, &instance),
            }
            .map(CommandOutput::Beat),
            Command::CreateService { service, settings } => registry
                .create_service(&service, settings)
                .map(CommandOutput::Revision),
            Command::UpdateService { service, settings } => registry
                .update_service(&service, settings)
                .map(CommandOutput::Revision),
            Command::RemoveService { service } => registry
                .remove_service(&service)
                .map(CommandOutput::Revision),
            Command::RegisterFor {
                service,
                instances,
                owner,
            } => registry
                .register_for(&service, instances, owner)
                .map(CommandOutput::Revision),
            Command::DeregisterFor {
                service,
                instance,
                owner,
            } => Ok(CommandOutput::Deregistered(
                registry.deregister_for(&service, &instance, owner),
            )),
        }
    }
}

/// What a [`Command`] returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandOutput {
    /// The service's revision after a write.
    Revision(u64),
    /// Whether a deregistered instance was there.
    Deregistered(bool),
    /// A beat's answer.
    Beat(BeatReply),
}

/// A [`CommandOutput`] of another kind than the command asked for: only a peer speaking
/// another protocol version can cause it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a command answered {0}, which does not fit it")]
pub struct UnexpectedOutput(pub String);

impl CommandOutput {
    fn unexpected(self) -> UnexpectedOutput {
        UnexpectedOutput(format!("{self:?}"))
    }

    /// The revision of a write.
    pub fn into_revision(self) -> Result<u64, UnexpectedOutput> {
        match self {
            CommandOutput::Revision(r) => Ok(r),
            other => Err(other.unexpected()),
        }
    }

    /// Whether a deregistered instance was there.
    pub fn into_deregistered(self) -> Result<bool, UnexpectedOutput> {
        match self {
            CommandOutput::Deregistered(was) => Ok(was),
            other => Err(other.unexpected()),
        }
    }

    /// A beat's answer.
    pub fn into_beat(self) -> Result<BeatReply, UnexpectedOutput> {
        match self {
            CommandOutput::Beat(b) => Ok(b),
            other => Err(other.unexpected()),
        }
    }
}
