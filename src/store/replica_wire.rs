//! How an [`InstanceRecord`] serializes. Two forms, chosen by the format's
//! [`is_human_readable`](serde::Serializer::is_human_readable):
//!
//! - **human-readable** (JSON, for debugging and tests): an object with the struct's field
//!   names, `evicted` left out when `None`.
//! - **binary** (the peer wire format, [`crate::cluster::encode_message`]): the tuple
//!   `(key, written.stamp, written.origin, version, last_beat, evicted, data)` where
//!   - `written.origin` is 8 little-endian bytes (a hash: a varint would take 9 or 10);
//!   - `version` is `None` when it equals `written` (a registration, an update), else the
//!     stamp as a signed difference from `written.stamp` and the origin as 8 bytes;
//!   - `last_beat` and `evicted` are signed differences from `written.stamp` (a few bytes,
//!     where an absolute time in microseconds takes eight);
//!   - `data` is the instance without the endpoint and cluster that `key` already names
//!     ([`InstanceBody`]), so a record can never name two different instances.
//!
//!   Differences wrap (two's complement), so every `u64` round-trips exactly, whatever the
//!   values.
//!
//! A registration's record is about 50 bytes this way, against about 350 as JSON.

use super::replica::InstanceRecord;
use super::version::Version;
use crate::clock::Timestamp;
use crate::model::{Instance, InstanceBody, InstanceKey};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The object form, as written.
#[derive(Serialize)]
struct JsonRef<'a> {
    key: &'a InstanceKey,
    written: Version,
    version: Version,
    last_beat: Timestamp,
    data: &'a Option<Instance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evicted: Option<Timestamp>,
}

/// The object form, as read.
#[derive(Deserialize)]
struct JsonOwned {
    key: InstanceKey,
    written: Version,
    version: Version,
    last_beat: Timestamp,
    data: Option<Instance>,
    #[serde(default)]
    evicted: Option<Timestamp>,
}

/// The binary form.
type Compact = (
    InstanceKey,
    u64,
    [u8; 8],
    Option<(i64, [u8; 8])>,
    i64,
    Option<i64>,
    Option<InstanceBody>,
);

/// `t - base`, wrapping: `base + diff(t, base) == t` for every pair.
fn diff(t: u64, base: u64) -> i64 {
    t.wrapping_sub(base) as i64
}

fn undiff(d: i64, base: u64) -> u64 {
    base.wrapping_add(d as u64)
}

impl Serialize for InstanceRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return JsonRef {
                key: &self.key,
                written: self.written,
                version: self.version,
                last_beat: self.last_beat,
                data: &self.data,
                evicted: self.evicted,
            }
            .serialize(s);
        }
        let base = self.written.stamp;
        let version = (self.version != self.written).then(|| {
            (
                diff(self.version.stamp, base),
                self.version.origin.to_le_bytes(),
            )
        });
        let compact: Compact = (
            self.key.clone(),
            base,
            self.written.origin.to_le_bytes(),
            version,
            diff(self.last_beat.as_micros(), base),
            self.evicted.map(|e| diff(e.as_micros(), base)),
            self.data.as_ref().map(InstanceBody::of),
        );
        compact.serialize(s)
    }
}

impl<'de> Deserialize<'de> for InstanceRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let j = JsonOwned::deserialize(d)?;
            return Ok(InstanceRecord {
                key: j.key,
                written: j.written,
                version: j.version,
                last_beat: j.last_beat,
                data: j.data,
                evicted: j.evicted,
            });
        }
        let (key, base, origin, version, last_beat, evicted, data) = Compact::deserialize(d)?;
        let written = Version {
            stamp: base,
            origin: u64::from_le_bytes(origin),
        };
        let version = match version {
            None => written,
            Some((stamp, origin)) => Version {
                stamp: undiff(stamp, base),
                origin: u64::from_le_bytes(origin),
            },
        };
        let data = match data {
            Some(body) => Some(body.into_instance(&key).map_err(D::Error::custom)?),
            None => None,
        };
        Ok(InstanceRecord {
            written,
            version,
            last_beat: Timestamp::from_micros(undiff(last_beat, base)),
            evicted: evicted.map(|e| Timestamp::from_micros(undiff(e, base))),
            data,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stamp: u64) -> InstanceRecord {
        let data = Instance::builder("10.0.0.7", 8080)
            .metadata("zone", "a")
            .build()
            .unwrap();
        let written = Version {
            stamp,
            origin: 0xfeed_beef_dead_cafe,
        };
        InstanceRecord {
            key: data.key(),
            written,
            version: written,
            last_beat: Timestamp::from_micros(stamp.wrapping_add(3_000)),
            data: Some(data),
            evicted: None,
        }
    }

    fn round_trip(r: &InstanceRecord) -> usize {
        let bytes = postcard::to_allocvec(r).unwrap();
        assert_eq!(&postcard::from_bytes::<InstanceRecord>(&bytes).unwrap(), r);
        let json = serde_json::to_vec(r).unwrap();
        assert_eq!(&serde_json::from_slice::<InstanceRecord>(&json).unwrap(), r);
        bytes.len()
    }

    #[test]
    fn a_registration_record_is_about_fifty_bytes() {
        let len = round_trip(&record(1_780_000_000_000_000));
        // key 19 (cluster 8, ip 9, port 2), written 16 (stamp 8, origin 8), version 1,
        // last beat 2, evicted 1, data 18 (tag 1, weight 8, flags 1, metadata 8).
        assert_eq!(len, 57);
    }

    #[test]
    fn every_shape_and_extreme_value_round_trips() {
        for stamp in [0, 1, u64::MAX, u64::MAX / 2, 1_780_000_000_000_000] {
            let mut r = record(stamp);
            round_trip(&r);
            r.version = Version {
                stamp: stamp.wrapping_sub(7),
                origin: u64::MAX,
            };
            r.evicted = Some(Timestamp::from_micros(u64::MAX));
            round_trip(&r);
            r.data = None;
            r.last_beat = Timestamp::ZERO;
            round_trip(&r);
        }
    }

    #[test]
    fn json_leaves_out_an_absent_eviction() {
        let json = serde_json::to_string(&record(5)).unwrap();
        assert!(!json.contains("evicted"), "{json}");
        assert!(json.contains(r#""clusterName":"DEFAULT""#), "{json}");
    }
}
