//! The one metadata rule: how a metadata value a client sends as JSON becomes the text nacre
//! stores. Every front reads metadata through [`from_json`] (the v1 `metadata` parameter and
//! beat, the 2.x instance object, the console's edits), so the same payload is stored the
//! same whichever way it came.
//!
//! Nacos reads metadata with Jackson into a `Map<String, String>` (v1:
//! `UtilsAndCommons.parseMetadata`; 2.x: the `Instance` of an `InstanceRequest`), and nacre
//! follows what that stores:
//!
//! | JSON value | nacre stores | Nacos stores |
//! | --- | --- | --- |
//! | text | the text | the same |
//! | number | its text (`2`, `2.5`) | the number's text as sent: `2.50` stays `2.50`, `1e3` stays `1e3`; nacre writes `2.5` and `1000.0` |
//! | `true` / `false` | `"true"` / `"false"` | the same |
//! | `null` | nothing: the key is left out | a Java `null` value; the 2.x answers and the v1 detail leave the key out, the v1 list shows `"k":null` |
//! | array, object | refused with the key named ([`ValidationError::BadMetadataValue`]): 400 over v1, code 400 over 2.x | refused: v1 answers 500 `metadata format incorrect` (400 with its parameter check off), 2.x answers code 502 `Nacos deserialize failed` |
//!
//! A `null` is left out because nacre stores text only: a client reading the map with
//! `get("k")` sees no value either way, as it does from Nacos. Nacos' default check of the
//! metadata's size (1,024 characters) is [`crate::Limits::max_metadata_bytes`] here (4 KiB).

use crate::model::ValidationError;
use serde_json::Value;
use std::collections::BTreeMap;

/// The stored text of one metadata value (`None` for `null`: the key is left out), or why it
/// cannot be stored.
///
/// ```
/// use nacre::protocol::metadata::value_text;
/// use serde_json::json;
/// assert_eq!(value_text("v", json!("1.0")).unwrap().as_deref(), Some("1.0"));
/// assert_eq!(value_text("n", json!(2)).unwrap().as_deref(), Some("2"));
/// assert_eq!(value_text("b", json!(true)).unwrap().as_deref(), Some("true"));
/// assert_eq!(value_text("z", json!(null)).unwrap(), None);
/// assert!(value_text("a", json!([1])).is_err());
/// ```
pub fn value_text(key: &str, value: Value) -> Result<Option<String>, ValidationError> {
    match value {
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Null => Ok(None),
        Value::Array(_) => Err(bad(key, "array")),
        Value::Object(_) => Err(bad(key, "object")),
    }
}

fn bad(key: &str, found: &'static str) -> ValidationError {
    ValidationError::BadMetadataValue {
        key: key.to_owned(),
        found,
    }
}

/// A metadata map read from a JSON object, each value through [`value_text`].
pub fn from_json<I>(object: I) -> Result<BTreeMap<String, String>, ValidationError>
where
    I: IntoIterator<Item = (String, Value)>,
{
    let mut out = BTreeMap::new();
    for (k, v) in object {
        if let Some(text) = value_text(&k, v)? {
            out.insert(k, text);
        }
    }
    Ok(out)
}

/// The JSON object of a stored metadata map (every value text), as a client sends it.
pub fn to_json(metadata: &BTreeMap<String, String>) -> BTreeMap<String, Value> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}
