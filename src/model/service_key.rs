//! [`ServiceKey`]: the address of a service, namespace → group → service, and the Nacos
//! `group@@service` string form.

use super::error::{excerpt, ValidationError};
use super::name::{GroupName, NamespaceId, ServiceName};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a service lives: namespace → group → service.
///
/// Cheap to clone (three reference counts). Build it once and reuse it on hot paths such as
/// heartbeats.
///
/// ```
/// use nacre::ServiceKey;
/// let key = ServiceKey::named("orders").unwrap();
/// assert_eq!(key.namespace().as_str(), "public");
/// assert_eq!(key.grouped_name(), "DEFAULT_GROUP@@orders");
/// let other = ServiceKey::from_grouped("public", "billing@@invoices").unwrap();
/// assert_eq!(other.group().as_str(), "billing");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceKey {
    namespace: NamespaceId,
    group: GroupName,
    service: ServiceName,
}

impl ServiceKey {
    /// A key from its three parts, each checked.
    pub fn new(namespace: &str, group: &str, service: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            namespace: NamespaceId::new(namespace)?,
            group: GroupName::new(group)?,
            service: ServiceName::new(service)?,
        })
    }

    /// A key from parts that are already valid names.
    pub fn from_parts(namespace: NamespaceId, group: GroupName, service: ServiceName) -> Self {
        Self {
            namespace,
            group,
            service,
        }
    }

    /// `service` in namespace `public`, group `DEFAULT_GROUP`.
    pub fn named(service: &str) -> Result<Self, ValidationError> {
        Ok(Self::from_parts(
            NamespaceId::default(),
            GroupName::default(),
            ServiceName::new(service)?,
        ))
    }

    /// Parses the Nacos grouped form: `group@@service`, or a bare `service` meaning
    /// `DEFAULT_GROUP`, as Nacos does.
    pub fn from_grouped(namespace: &str, grouped: &str) -> Result<Self, ValidationError> {
        let (group, service) = split_grouped_name(grouped)?;
        Ok(Self::from_parts(
            NamespaceId::new(namespace)?,
            group,
            service,
        ))
    }

    /// The namespace id.
    pub fn namespace(&self) -> &NamespaceId {
        &self.namespace
    }

    /// The group name.
    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// The service name.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }

    /// The Nacos grouped form `group@@service`.
    pub fn grouped_name(&self) -> String {
        format!("{}@@{}", self.group, self.service)
    }
}

/// Splits `group@@service` (or a bare `service`, which means `DEFAULT_GROUP`) into checked parts.
pub fn split_grouped_name(grouped: &str) -> Result<(GroupName, ServiceName), ValidationError> {
    let bad = |reason| ValidationError::BadGroupedName {
        input: excerpt(grouped),
        reason,
    };
    match grouped.split_once("@@") {
        None => Ok((GroupName::default(), ServiceName::new(grouped)?)),
        Some((group, service)) => {
            if group.is_empty() {
                return Err(bad("the group before `@@` is empty"));
            }
            if service.is_empty() {
                return Err(bad("the service after `@@` is empty"));
            }
            if service.contains("@@") {
                return Err(bad("it contains `@@` more than once"));
            }
            Ok((GroupName::new(group)?, ServiceName::new(service)?))
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@@{}", self.namespace, self.group, self.service)
    }
}

impl fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceKey({self})")
    }
}
