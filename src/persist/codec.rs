//! The on-disk encoding of one row: a format version byte, then the [`ServiceRecord`] as JSON.
//!
//! This is the only place that knows the bytes. JSON, not a compact binary format, because the
//! records are the replication types, whose fields grow: serde reads a row written before a
//! field was added (with the field's `#[serde(default)]`), where a positional format would
//! need a migration. The price is size, which is small next to the database's pages. A change
//! that old rows cannot be read under bumps [`FORMAT_VERSION`]; a build refuses rows of a
//! version it does not know ([`PersistError::UnknownFormat`]) rather than guess.
//!
//! ```
//! use nacre::persist::codec;
//! use nacre::store::{ServiceMeta, ServiceRecord, Version};
//! use nacre::ServiceKey;
//! let record = ServiceRecord {
//!     key: ServiceKey::named("db")?,
//!     meta: ServiceMeta {
//!         settings: Default::default(),
//!         removed: false,
//!         explicit: true,
//!         version: Version::default(),
//!     },
//!     instances: Vec::new(),
//! };
//! let bytes = codec::encode(&record)?;
//! assert_eq!(bytes[0], codec::FORMAT_VERSION);
//! assert_eq!(codec::decode(&bytes, "test")?, record);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::PersistError;
use crate::model::ServiceKey;
use crate::store::ServiceRecord;

/// The format version this build writes, and the only one it reads.
pub const FORMAT_VERSION: u8 = 1;

/// The bytes of one row.
pub fn encode(record: &ServiceRecord) -> Result<Vec<u8>, PersistError> {
    let mut out = vec![FORMAT_VERSION];
    serde_json::to_writer(&mut out, record)
        .map_err(|e| PersistError::io(format!("encoding the row of {}", record.key), e))?;
    Ok(out)
}

/// The record in `bytes`; `location` names the row in errors.
pub fn decode(bytes: &[u8], location: &str) -> Result<ServiceRecord, PersistError> {
    let Some((&version, json)) = bytes.split_first() else {
        return Err(PersistError::Corrupt {
            location: location.to_owned(),
            reason: "the row is empty".to_owned(),
        });
    };
    if version != FORMAT_VERSION {
        return Err(PersistError::UnknownFormat {
            location: location.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_slice(json).map_err(|e| PersistError::Corrupt {
        location: location.to_owned(),
        reason: format!("the row does not decode ({e})"),
    })
}

/// The key of a service's row: its `namespace/group@@service` form, which names are
/// validated to keep unambiguous.
pub fn row_key(key: &ServiceKey) -> String {
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_row_is_corrupt_not_a_panic() {
        assert!(matches!(
            decode(&[], "f"),
            Err(PersistError::Corrupt { .. })
        ));
    }

    #[test]
    fn other_format_version_is_refused_by_name() {
        let err = decode(&[9, b'{', b'}'], "f row x").unwrap_err();
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
    fn truncated_json_is_corrupt() {
        let err = decode(&[FORMAT_VERSION, b'{', b'"', b'k'], "f").unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
    }
}
