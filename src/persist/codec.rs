//! The on-disk encoding of rows: a format version byte, then the row as JSON.
//!
//! This is the only place that knows the bytes. A store of format 2 ([`FORMAT_VERSION`]) has
//! a row per service ([`encode_service`]: its key and its service-level state) and a row per
//! instance ([`encode_instance`]: the [`InstanceRecord`], live or tombstone), so a write
//! rewrites only what it changed. Format 1, which nacre wrote before, had one row per service
//! holding the whole [`ServiceRecord`]; [`decode_format1`] still reads it, to migrate such a
//! store when it is opened (see `FileStore`).
//!
//! JSON, not a compact binary format, because the records are the replication types, whose
//! fields grow: serde reads a row written before a field was added (with the field's
//! `#[serde(default)]`), where a positional format would need a migration. The price is size,
//! which is small next to the database's pages. A change that old rows cannot be read under
//! bumps [`FORMAT_VERSION`]; a build refuses rows of a version it does not know
//! ([`PersistError::UnknownFormat`]) rather than guess.
//!
//! ```
//! use nacre::persist::codec;
//! use nacre::store::{ServiceMeta, Version};
//! use nacre::ServiceKey;
//! let key = ServiceKey::named("db")?;
//! let meta = ServiceMeta {
//!     settings: Default::default(),
//!     removed: false,
//!     explicit: true,
//!     version: Version::default(),
//! };
//! let bytes = codec::encode_service(&key, &meta)?;
//! assert_eq!(bytes[0], codec::FORMAT_VERSION);
//! assert_eq!(codec::decode_service(&bytes, "test")?, (key, meta));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::PersistError;
use crate::model::{InstanceKey, ServiceKey};
use crate::store::{InstanceRecord, ServiceMeta, ServiceRecord};
use serde::{Deserialize, Serialize};

/// The format version this build writes, and reads (it also reads format 1 to migrate it).
pub const FORMAT_VERSION: u8 = 2;

/// The format of a store with one row per service, written before instances had rows of
/// their own.
pub const FORMAT_1: u8 = 1;

/// A service's row, as written.
#[derive(Serialize)]
struct ServiceRowOut<'a> {
    key: &'a ServiceKey,
    meta: &'a ServiceMeta,
}

/// A service's row, as read.
#[derive(Deserialize)]
struct ServiceRowIn {
    key: ServiceKey,
    meta: ServiceMeta,
}

fn encode(value: &impl Serialize, what: impl FnOnce() -> String) -> Result<Vec<u8>, PersistError> {
    let mut out = vec![FORMAT_VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| PersistError::io(what(), e))?;
    Ok(out)
}

fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    location: &str,
    expected: u8,
) -> Result<T, PersistError> {
    let Some((&version, json)) = bytes.split_first() else {
        return Err(PersistError::Corrupt {
            location: location.to_owned(),
            reason: "the row is empty".to_owned(),
        });
    };
    if version > FORMAT_VERSION {
        return Err(PersistError::UnknownFormat {
            location: location.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version != expected {
        return Err(PersistError::Corrupt {
            location: location.to_owned(),
            reason: format!("a row of format {version} where format {expected} belongs"),
        });
    }
    serde_json::from_slice(json).map_err(|e| PersistError::Corrupt {
        location: location.to_owned(),
        reason: format!("the row does not decode ({e})"),
    })
}

/// The bytes of a service's row: its key and its service-level state.
pub fn encode_service(key: &ServiceKey, meta: &ServiceMeta) -> Result<Vec<u8>, PersistError> {
    encode(&ServiceRowOut { key, meta }, || {
        format!("encoding the row of {key}")
    })
}

/// The service and its service-level state in a service's row; `location` names the row in
/// errors.
pub fn decode_service(
    bytes: &[u8],
    location: &str,
) -> Result<(ServiceKey, ServiceMeta), PersistError> {
    let row: ServiceRowIn = decode(bytes, location, FORMAT_VERSION)?;
    Ok((row.key, row.meta))
}

/// The bytes of an instance's row: its record.
pub fn encode_instance(record: &InstanceRecord) -> Result<Vec<u8>, PersistError> {
    encode(record, || {
        format!("encoding the row of instance {}", instance_key(&record.key))
    })
}

/// The instance record in an instance's row; `location` names the row in errors.
pub fn decode_instance(bytes: &[u8], location: &str) -> Result<InstanceRecord, PersistError> {
    decode(bytes, location, FORMAT_VERSION)
}

/// The whole record in a service's row of a format-1 store, for its migration.
pub fn decode_format1(bytes: &[u8], location: &str) -> Result<ServiceRecord, PersistError> {
    decode(bytes, location, FORMAT_1)
}

/// The key of a service's row: its `namespace/group@@service` form, which names are
/// validated to keep unambiguous.
pub fn row_key(key: &ServiceKey) -> String {
    key.to_string()
}

/// The key of an instance's row within its service: `ip:port#cluster` (an address holds no
/// `#`).
pub fn instance_key(key: &InstanceKey) -> String {
    format!("{}#{}", key.endpoint, key.cluster.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_row_is_corrupt_not_a_panic() {
        assert!(matches!(
            decode_instance(&[], "f"),
            Err(PersistError::Corrupt { .. })
        ));
    }

    #[test]
    fn newer_format_version_is_refused_by_name() {
        let err = decode_service(&[9, b'{', b'}'], "f row x").unwrap_err();
        assert!(matches!(
            err,
            PersistError::UnknownFormat {
                found: 9,
                supported: FORMAT_VERSION,
                ..
            }
        ));
        assert!(err.to_string().contains("f row x"));
    }

    #[test]
    fn a_format_1_row_is_not_read_as_a_format_2_row() {
        let err = decode_instance(&[FORMAT_1, b'{', b'}'], "f").unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn truncated_json_is_corrupt() {
        let err = decode_instance(&[FORMAT_VERSION, b'{', b'"', b'k'], "f").unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn instance_keys_name_address_and_cluster() {
        let key = InstanceKey::new("east", "::1", 80).unwrap();
        assert_eq!(instance_key(&key), "[::1]:80#east");
    }
}
