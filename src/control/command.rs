//! What a control-plane write says ([`ControlCommand`]) and what applying it answers
//! ([`ControlResponse`]): the application data of every Raft log entry.
//!
//! A command is checked where it is built ([`Namespace::new`]) and again where it is applied
//! ([`super::ControlState::apply`]): the log is what every member replays, so the apply step
//! is the one that decides, and it decides the same way on every member. A command that breaks
//! a rule is still committed; it answers [`ControlResponse::Rejected`] with a
//! [`ControlError`] and changes nothing.

use serde::{Deserialize, Serialize};

use super::clusters::ClusterSettings;
use super::overrides::InstanceOverride;
use super::persistent::PersistentWrite;
use super::users::UserCommand;
use crate::model::{ClusterName, InstanceKey, NamespaceId, ServiceKey};

/// The longest namespace name, in bytes: Nacos' `tenant_name` column.
pub const MAX_NAMESPACE_NAME_LEN: usize = 128;
/// The longest namespace description, in bytes: Nacos' `tenant_desc` column.
pub const MAX_NAMESPACE_DESC_LEN: usize = 256;
/// The most namespaces the control plane holds, `public` not counted.
pub const MAX_NAMESPACES: usize = 10_000;
/// The quota Nacos gives a namespace created without one (configurations per namespace).
pub const DEFAULT_NAMESPACE_QUOTA: u32 = 200;

/// A namespace as an operator creates it: Nacos' `namespace`, `namespaceShowName`,
/// `namespaceDesc` and `quota`.
///
/// ```
/// use nacre::control::Namespace;
/// use nacre::NamespaceId;
///
/// let dev = Namespace::new(NamespaceId::new("dev")?, "Development", "", 200)?;
/// assert_eq!(dev.name, "Development");
/// assert!(Namespace::new(NamespaceId::new("dev")?, "", "", 200).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// The id clients name (`namespace` / `tenant`).
    pub id: NamespaceId,
    /// The name shown to operators: non-empty, at most [`MAX_NAMESPACE_NAME_LEN`] bytes, no
    /// control characters.
    pub name: String,
    /// Free text, at most [`MAX_NAMESPACE_DESC_LEN`] bytes, no control characters but
    /// line breaks and tabs.
    pub description: String,
    /// The configuration quota: at least 1.
    pub quota: u32,
}

impl Namespace {
    /// A namespace, checked: see [`Namespace::check`].
    pub fn new(
        id: NamespaceId,
        name: impl Into<String>,
        description: impl Into<String>,
        quota: u32,
    ) -> Result<Namespace, ControlError> {
        let namespace = Namespace {
            id,
            name: name.into(),
            description: description.into(),
            quota,
        };
        namespace.check()?;
        Ok(namespace)
    }

    /// Checks every field's rule; the id's rules are [`NamespaceId`]'s, checked when it was
    /// made (and when it was decoded).
    pub fn check(&self) -> Result<(), ControlError> {
        let bad = |field: &str, rule: String| {
            Err(ControlError::InvalidNamespace {
                id: self.id.clone(),
                field: field.to_owned(),
                rule,
            })
        };
        if self.name.is_empty() {
            return bad("name", "must not be empty".into());
        }
        if self.name.len() > MAX_NAMESPACE_NAME_LEN {
            return bad(
                "name",
                format!("must be at most {MAX_NAMESPACE_NAME_LEN} bytes"),
            );
        }
        if self.name.chars().any(char::is_control) {
            return bad("name", "must not contain control characters".into());
        }
        if self.description.len() > MAX_NAMESPACE_DESC_LEN {
            return bad(
                "description",
                format!("must be at most {MAX_NAMESPACE_DESC_LEN} bytes"),
            );
        }
        if self
            .description
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return bad(
                "description",
                "must not contain control characters other than line breaks and tabs".into(),
            );
        }
        if self.quota == 0 {
            return bad("quota", "must be at least 1".into());
        }
        Ok(())
    }
}

/// One control-plane write: the application data of a Raft log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ControlCommand {
    /// Creates a namespace; its id must be new.
    CreateNamespace(Namespace),
    /// Replaces the name, description and quota of an existing namespace.
    UpdateNamespace(Namespace),
    /// Deletes a namespace.
    DeleteNamespace {
        /// The namespace to delete.
        id: NamespaceId,
    },
    /// Merges an operator's override into the one kept for an instance id (made if there is
    /// none): see [`InstanceOverride`].
    SetOverride {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// What it sets.
        change: InstanceOverride,
    },
    /// Removes the override kept for an instance id.
    ClearOverride {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
    },
    /// Removes metadata keys from the override kept for an instance id (the whole override
    /// when nothing is left of it); nothing when it keeps none of them, or there is none.
    DropOverrideMetadata {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
        /// The keys.
        keys: Vec<String>,
    },
    /// A user, role binding or permission write.
    Users(UserCommand),
    /// Sets (replaces) the settings of one cluster of a service: see [`super::clusters`].
    SetClusterSettings(ClusterSettings),
    /// A write of a persistent instance (see [`super::persistent`]).
    Persistent {
        /// When it was proposed: microseconds on the proposer's clock (the log raises it to
        /// one past the last stamp given).
        at: u64,
        /// The write.
        write: PersistentWrite,
    },
    /// Changes nothing: a read barrier. Once it is applied here, this member's state holds
    /// every write committed before it was proposed ([`super::ControlPlane::barrier`]).
    Barrier,
    /// Several writes in one entry, applied in order as if each were an entry of its own
    /// (group commit: the leader's batcher makes these; a batch inside a batch is refused).
    Batch(Vec<ControlCommand>),
}

/// What applying a [`ControlCommand`] answered, the same on every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ControlResponse {
    /// The command was applied (or the entry carried no command: a blank or membership
    /// entry).
    Done,
    /// The command broke a rule and changed nothing.
    Rejected(ControlError),
    /// The command changes nothing by design ([`ControlCommand::Barrier`]).
    Unchanged,
    /// The answers of a [`ControlCommand::Batch`], one per command, in order.
    Batch(Vec<ControlResponse>),
}

/// What applied entries may have changed that the registry shows: some services' persistent
/// instances or overrides, or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// These services.
    Services(std::collections::BTreeSet<ServiceKey>),
    /// Any service (a snapshot installed, the state loaded, an import applied).
    All,
}

impl Default for Changes {
    fn default() -> Self {
        Changes::Services(Default::default())
    }
}

impl Changes {
    /// Whether nothing is noted.
    pub fn is_empty(&self) -> bool {
        matches!(self, Changes::Services(s) if s.is_empty())
    }

    fn note(&mut self, service: Option<&ServiceKey>) {
        match (self, service) {
            (Changes::All, _) => {}
            (Changes::Services(set), Some(service)) => {
                set.insert(service.clone());
            }
            (this, None) => *this = Changes::All,
        }
    }
}

impl ControlCommand {
    /// Notes in `changes` what applying this command may change that the registry shows.
    pub fn note_changes(&self, changes: &mut Changes) {
        match self {
            ControlCommand::Persistent { write, .. } => changes.note(write.service()),
            ControlCommand::SetOverride { service, .. }
            | ControlCommand::ClearOverride { service, .. }
            | ControlCommand::DropOverrideMetadata { service, .. } => changes.note(Some(service)),
            ControlCommand::Batch(commands) => {
                for c in commands {
                    c.note_changes(changes);
                }
            }
            _ => {}
        }
    }
}

impl ControlResponse {
    /// Whether applying the command may have changed the state: it was applied, or some
    /// command of its batch was.
    pub fn changed_state(&self) -> bool {
        match self {
            ControlResponse::Done => true,
            ControlResponse::Rejected(_) | ControlResponse::Unchanged => false,
            ControlResponse::Batch(answers) => answers.iter().any(ControlResponse::changed_state),
        }
    }
}

/// Why a [`ControlCommand`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// A namespace with this id exists already.
    #[error("namespace `{0}` exists already")]
    NamespaceExists(NamespaceId),
    /// No namespace has this id.
    #[error("namespace `{0}` does not exist")]
    NamespaceNotFound(NamespaceId),
    /// `public` always exists and cannot be created, changed or deleted (as in Nacos).
    #[error("namespace `{0}` is the default namespace: it cannot be created, changed or deleted")]
    DefaultNamespaceReserved(NamespaceId),
    /// A field broke its rule.
    #[error("namespace `{id}`: {field} {rule}")]
    InvalidNamespace {
        /// The namespace.
        id: NamespaceId,
        /// The field.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// The control plane holds [`MAX_NAMESPACES`] namespaces already.
    #[error("there are {limit} namespaces already, the most the control plane holds")]
    TooManyNamespaces {
        /// The limit.
        limit: usize,
    },
    /// An override broke a rule.
    #[error("instance override: {field} {rule}")]
    InvalidOverride {
        /// The field.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// The control plane holds [`super::MAX_OVERRIDES`] overrides already.
    #[error("there are {limit} instance overrides already, the most the control plane holds")]
    TooManyOverrides {
        /// The limit.
        limit: usize,
    },
    /// No override is kept for this instance id.
    #[error("no override is kept for instance {0}")]
    OverrideNotFound(String),
    /// A username, role, resource, action or password hash broke its rule.
    #[error("{field} {rule}")]
    InvalidUserData {
        /// The field.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// A user with this name exists already (Nacos' words).
    #[error("user '{0}' already exist!")]
    UserExists(String),
    /// No user has this name (Nacos' words).
    #[error("user {0} not exist!")]
    UserNotFound(String),
    /// `ROLE_ADMIN` is the users file's to grant.
    #[error("role 'ROLE_ADMIN' is not permitted to be bound or unbound through the API: the global admin comes from the users file")]
    AdminRoleReserved,
    /// The user holds the role already (Nacos' words).
    #[error("user '{username}' already bound to the role '{role}'!")]
    RoleBound {
        /// The role.
        role: String,
        /// The user.
        username: String,
    },
    /// No user holds the role (Nacos' words).
    #[error("role {0} not found!")]
    RoleNotFound(String),
    /// The permission exists already.
    #[error("the permission exists already")]
    PermissionExists,
    /// A cluster setting broke its rule (see [`super::clusters`]).
    #[error("cluster `{cluster}` of service `{}`: {field} {rule}", service.grouped_name())]
    InvalidClusterSettings {
        /// The service.
        service: ServiceKey,
        /// The cluster.
        cluster: ClusterName,
        /// The field, as Nacos' parameter names it.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// The control plane holds [`super::MAX_CLUSTER_SETTINGS`] cluster settings already.
    #[error("there are {limit} cluster settings already, the most the control plane holds")]
    TooManyClusterSettings {
        /// The limit.
        limit: usize,
    },
    /// No persistent instance with this id is held.
    #[error("no persistent instance {0} is held")]
    PersistentNotFound(String),
    /// A persistent instance, or a change to one, broke a rule.
    #[error("{0}")]
    InvalidInstance(String),
    /// The control plane holds as many persistent instances as it may (in all, or in the
    /// service).
    #[error(
        "there are {limit} persistent instances already, the most the control plane holds here"
    )]
    TooManyPersistent {
        /// The limit.
        limit: usize,
    },
    /// The control plane holds this service's settings already (Nacos' words).
    #[error("specified service {0} already exists")]
    ServiceExists(ServiceKey),
    /// The control plane holds no settings of this service.
    #[error("specified service {0} does not exist")]
    ServiceNotFound(ServiceKey),
    /// The service still holds persistent instances.
    #[error(
        "service {service} still has {instances} persistent instance(s); deregister them first"
    )]
    ServiceNotEmpty {
        /// The service.
        service: ServiceKey,
        /// How many persistent instances it holds.
        instances: usize,
    },
    /// The persistent instances from before the control plane were imported already.
    #[error("the persistent instances from before the control plane were imported already")]
    AlreadyImported,
    /// A batch inside a batch: never made by nacre.
    #[error("a batch of control writes holds another batch")]
    NestedBatch,
    /// The control plane holds as many users, role bindings or permissions as it may.
    #[error("there are {limit} {what} already, the most the control plane holds")]
    TooManyAuthEntries {
        /// Users, role bindings or permissions.
        what: String,
        /// The limit.
        limit: usize,
    },
}
