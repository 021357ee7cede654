//! [`Limits`]: the sizes a registry accepts, checked when an instance is registered.

use super::error::ValidationError;
use super::instance::Instance;

/// Size limits a registry enforces on what it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest metadata of one instance, keys plus values, in bytes (default 4 KiB).
    pub max_metadata_bytes: usize,
    /// Most instances one service may hold (default 1,000,000).
    pub max_instances_per_service: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_metadata_bytes: 4 * 1024,
            max_instances_per_service: 1_000_000,
        }
    }
}

impl Limits {
    /// Checks what [`Instance`]'s builder cannot know: the sizes this registry accepts.
    pub fn check_instance(&self, instance: &Instance) -> Result<(), ValidationError> {
        let size = instance.metadata_size();
        if size > self.max_metadata_bytes {
            return Err(ValidationError::MetadataTooLarge {
                size,
                max: self.max_metadata_bytes,
            });
        }
        Ok(())
    }
}
