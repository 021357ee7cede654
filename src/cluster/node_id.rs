//! [`NodeId`]: how cluster members name each other.

use crate::model::ValidationError;
use crate::store::Fnv;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A cluster member's name, usually its `host:port` as in Nacos' `cluster.conf`. Any non-empty
/// text without white space or control characters, at most 255 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Checks and makes a node id.
    pub fn new(id: &str) -> Result<Self, ValidationError> {
        if id.is_empty() {
            return Err(ValidationError::BadHost(String::new()));
        }
        if id.len() > 255 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::BadHost(crate::model::excerpt(id)));
        }
        Ok(Self(Arc::from(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stable 64-bit number for this id: the origin stamped on this node's writes.
    pub fn origin(&self) -> u64 {
        let mut h = Fnv::new();
        h.bytes(self.0.as_bytes());
        crate::store::origin_of_node(h.finish())
    }
}

impl TryFrom<String> for NodeId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<NodeId> for String {
    fn from(n: NodeId) -> String {
        n.0.to_string()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
