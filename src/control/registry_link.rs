//! The link between the control plane and a member's registry for persistent instances and
//! service settings:
//! [`ControlRoute`] takes their writes to the log, [`RegistrySink`] applies the log to the
//! registry, and [`import_legacy`] proposes what the member's store held from before.
//!
//! [`attach_persistent`] wires all three on one member: on every member of a group, so that
//! every member's registry shows the same persistent instances at the same versions, pushes
//! its subscribers each change, and never takes them from Distro (see
//! [`crate::store::ControlledInstance`]).
//!
//! ## What differs from Nacos
//!
//! - Nacos keeps persistent instances in a JRaft group of their own, and a write on a follower
//!   is forwarded to the leader the same way. Its answer comes once the leader applied it;
//!   nacre's route also waits (a few seconds at most, [`super::SEEN_WAIT`]) for the member
//!   that took the write to apply it, so a read right after it on that member sees it.
//! - The health of a persistent instance (a check's verdict or an operator's) is a log entry
//!   here; Nacos 2.x keeps check verdicts in each member's memory and syncs them apart from
//!   Raft. A verdict is written only when it changes the health, so the log grows with flips,
//!   not with check rounds.
//! - A batch that mixes persistent and ephemeral instances is refused; Nacos' batch
//!   registration takes ephemeral instances only.

use std::sync::Arc;

use super::command::{Changes, ControlCommand, ControlError, ControlResponse};
use super::node::ControlWriteError;
use super::persistent::PersistentWrite;
use super::plane::ControlPlane;
use super::state::ControlState;
use super::view::ControlSink;
use crate::registry::{
    Command, CommandOutput, PersistentRoute, Registry, RouteError, WeakRegistry,
};
use crate::store::{ControlledSettings, StoreError};

/// Takes writes of persistent instances to the control plane: see the module documentation.
#[derive(Debug, Clone)]
pub struct ControlRoute {
    control: Arc<dyn ControlPlane>,
    registry: WeakRegistry,
    /// Whether [`ControlRoute::catch_up`] succeeded once.
    caught_up: Arc<std::sync::atomic::AtomicBool>,
}

impl ControlRoute {
    /// A route to `control` for `registry`'s persistent writes (it holds the registry weakly:
    /// the registry holds the route).
    pub fn new(control: Arc<dyn ControlPlane>, registry: &Registry) -> Self {
        ControlRoute {
            control,
            registry: registry.downgrade(),
            caught_up: Arc::default(),
        }
    }

    /// Waits until this member has applied every write its group committed before the call
    /// (a [`ControlPlane::barrier`]); from then on [`PersistentRoute::ready`] is `Ok`.
    pub async fn catch_up(&self) -> Result<(), ControlWriteError> {
        self.control.barrier().await?;
        self.caught_up
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    fn registry(&self) -> Result<Registry, RouteError> {
        self.registry.upgrade().ok_or_else(|| {
            RouteError::NoLeader("the registry this route served is gone".to_owned())
        })
    }

    async fn write(&self, write: PersistentWrite) -> Result<ControlResponse, RouteError> {
        let command = ControlCommand::Persistent {
            at: self.registry()?.clock().now().as_micros(),
            write,
        };
        self.control.write_seen(command).await.map_err(no_leader)
    }
}

fn no_leader(e: ControlWriteError) -> RouteError {
    RouteError::NoLeader(e.to_string())
}

impl ControlRoute {
    /// What this member's registry says of a write before it goes to the log, as Nacos'
    /// leader checks its own view: the registry's configured [`crate::Limits`] (the log's own
    /// bounds are fixed, the same on every member, so a stricter flag holds here), whether a
    /// service exists (through its ephemeral instances too) and is empty.
    fn check_here(&self, command: &Command) -> Result<(), RouteError> {
        let registry = self.registry()?;
        let service = command.service();
        let state = self.control.state();
        let held = state.persistent().settings(service).is_some();
        let live = || registry.service(service).filter(|s| !s.is_removed());
        let refused = match command {
            Command::Register { instance, .. }
            | Command::Beat {
                data: Some(instance),
                ..
            } => registry.check_registration(service, std::slice::from_ref(instance)),
            Command::BatchRegister { instances, .. } | Command::RegisterFor { instances, .. }
                if instances.iter().any(|i| i.ephemeral()) =>
            {
                Err(StoreError::ControlRefused(
                    "a batch must not mix persistent and ephemeral instances: register the \
                     persistent ones apart"
                        .to_owned(),
                ))
            }
            Command::BatchRegister { instances, .. } | Command::RegisterFor { instances, .. } => {
                registry.check_registration(service, instances)
            }
            Command::Update {
                instance, update, ..
            } => match state.persistent().get(service, instance) {
                // One the log does not hold: the log refuses it.
                None => Ok(()),
                Some(held) => update
                    .apply_to(&mut held.clone(), registry.limits())
                    .map_err(StoreError::from),
            },
            Command::CreateService { .. } if live().is_some() || held => {
                Err(StoreError::ServiceExists(service.clone()))
            }
            Command::UpdateService { .. } if live().is_none() && !held => {
                Err(StoreError::ServiceNotFound(service.clone()))
            }
            Command::CreateService { settings, .. } | Command::UpdateService { settings, .. } => {
                settings.check(registry.limits()).map_err(StoreError::from)
            }
            Command::RemoveService { .. } => match live().map_or(0, |s| s.instance_count()) {
                0 => Ok(()),
                instances => Err(StoreError::ServiceNotEmpty {
                    service: service.clone(),
                    instances,
                }),
            },
            _ => Ok(()),
        };
        refused.map_err(RouteError::Refused)
    }
}

/// A write the control plane refused, as the registry would have refused it.
fn refused(error: ControlError, command: &Command) -> RouteError {
    match (error, command) {
        (
            ControlError::PersistentNotFound(_),
            Command::Update { instance, .. } | Command::SetHealth { instance, .. },
        ) => RouteError::Refused(StoreError::InstanceNotFound(
            instance.instance_id(command.service()),
        )),
        (ControlError::ServiceExists(s), _) => RouteError::Refused(StoreError::ServiceExists(s)),
        (ControlError::ServiceNotFound(s), _) => {
            RouteError::Refused(StoreError::ServiceNotFound(s))
        }
        (ControlError::ServiceNotEmpty { service, instances }, _) => {
            RouteError::Refused(StoreError::ServiceNotEmpty { service, instances })
        }
        (other, _) => RouteError::Refused(StoreError::ControlRefused(other.to_string())),
    }
}

#[async_trait::async_trait]
impl PersistentRoute for ControlRoute {
    fn takes(&self, command: &Command) -> bool {
        // Every write of the node asks, ephemeral ones included: the state is loaded only for
        // the commands that depend on it.
        let held = |service, instance| {
            let state = self.control.state();
            state.persistent().get(service, instance).is_some()
        };
        match command {
            Command::Register { instance, .. } => !instance.ephemeral(),
            Command::BatchRegister { instances, .. } | Command::RegisterFor { instances, .. } => {
                instances.iter().any(|i| !i.ephemeral())
            }
            Command::Beat {
                service,
                instance,
                data: Some(data),
            } => !data.ephemeral() && !held(service, instance),
            Command::Deregister { service, instance }
            | Command::DeregisterFor {
                service, instance, ..
            }
            | Command::Update {
                service, instance, ..
            }
            | Command::SetHealth {
                service, instance, ..
            } => held(service, instance),
            Command::CreateService { .. } | Command::UpdateService { .. } => true,
            Command::RemoveService { service } => self
                .control
                .state()
                .persistent()
                .settings(service)
                .is_some(),
            _ => false,
        }
    }

    fn ready(&self) -> Result<(), String> {
        if self.caught_up.load(std::sync::atomic::Ordering::Acquire) {
            Ok(())
        } else {
            Err(
                "the control plane has not caught up with its leader since the start \
                 (persistent instances may be behind)"
                    .to_owned(),
            )
        }
    }

    async fn execute(&self, command: Command) -> Result<CommandOutput, RouteError> {
        let service = command.service().clone();
        self.check_here(&command)?;
        let writes: Vec<Command> = match &command {
            Command::Beat {
                data: Some(instance),
                ..
            } => vec![Command::register(&service, instance.clone())],
            Command::BatchRegister { instances, .. } | Command::RegisterFor { instances, .. } => {
                instances
                    .iter()
                    .map(|i| Command::register(&service, i.clone()))
                    .collect()
            }
            Command::DeregisterFor { instance, .. } => {
                vec![Command::deregister(&service, instance)]
            }
            // Register, Deregister, Update and SetHealth go as they are; the log refuses the
            // rest.
            other => vec![other.clone()],
        };
        for write in writes {
            match self.write(PersistentWrite::Write(write)).await? {
                ControlResponse::Rejected(ControlError::PersistentNotFound(_))
                    if matches!(
                        command,
                        Command::Deregister { .. } | Command::DeregisterFor { .. }
                    ) =>
                {
                    return Ok(CommandOutput::Deregistered(false));
                }
                ControlResponse::Rejected(error) => return Err(refused(error, &command)),
                _ => {}
            }
        }
        let registry = self.registry()?;
        Ok(match &command {
            Command::Deregister { .. } | Command::DeregisterFor { .. } => {
                CommandOutput::Deregistered(true)
            }
            Command::Beat { instance, .. } => registry
                .heartbeat(&service, instance)
                .map(CommandOutput::Beat)
                .map_err(RouteError::Refused)?,
            _ => CommandOutput::Revision(registry.service(&service).map_or(0, |s| s.revision())),
        })
    }
}

/// Applies the log's persistent instances (and the overrides laid over them) to a registry:
/// see the module documentation.
#[derive(Debug)]
pub struct RegistrySink {
    registry: WeakRegistry,
}

impl RegistrySink {
    /// A sink applying to `registry` (held weakly, as by [`ControlRoute`]).
    pub fn new(registry: &Registry) -> Self {
        RegistrySink {
            registry: registry.downgrade(),
        }
    }
}

impl ControlSink for RegistrySink {
    fn applied(&self, state: &Arc<ControlState>, changes: &Changes) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let held = state.persistent();
        let purge = held.imported();
        let services: Vec<_> = match changes {
            Changes::Services(services) => services.iter().cloned().collect(),
            Changes::All => {
                let mut all: std::collections::BTreeSet<_> = held.services().cloned().collect();
                all.extend(held.services_with_settings().cloned());
                all.extend(registry.services_with_persistent());
                all.into_iter().collect()
            }
        };
        for service in services {
            let settings = match held.settings(&service) {
                Some((settings, version)) => ControlledSettings::Held(settings.clone(), version),
                None => ControlledSettings::NotHeld,
            };
            registry.apply_controlled(
                &service,
                held.of_service(&service),
                &settings,
                purge,
                held.stamp(),
            );
        }
    }
}

/// Proposes, once, the persistent instances `registry` holds from before the control plane
/// (see [`super::persistent`]'s import): does nothing once an import was applied (this
/// member's, or another's). Answers whether this call's import was the one applied.
pub async fn import_legacy(
    control: &Arc<dyn ControlPlane>,
    registry: &Registry,
) -> Result<bool, ControlWriteError> {
    if control.state().persistent().imported() {
        return Ok(false);
    }
    let instances = registry.legacy_persistent();
    let settings = registry.legacy_settings();
    let (count, services) = (instances.len(), settings.len());
    let command = ControlCommand::Persistent {
        at: registry.clock().now().as_micros(),
        write: PersistentWrite::Import {
            instances,
            settings,
        },
    };
    let applied = matches!(control.write_seen(command).await?, ControlResponse::Done);
    if applied {
        tracing::info!(
            instances = count,
            services = services,
            "persistent instances and service settings from before the control plane imported"
        );
    }
    Ok(applied)
}

/// Wires `registry` to `control` for persistent instances (see the module documentation):
/// the route for their writes, and the sink that applies the log, which at once applies the
/// whole current state. Call it once per member, after its persistence is loaded; the node is
/// not ready until [`ControlRoute::catch_up`] has succeeded on the route it returns.
pub fn attach_persistent(
    control: &Arc<dyn ControlPlane>,
    registry: &Registry,
) -> Arc<ControlRoute> {
    let route = Arc::new(ControlRoute::new(control.clone(), registry));
    registry.attach_persistent_route(route.clone());
    control.attach_sink(Arc::new(RegistrySink::new(registry)));
    route
}
