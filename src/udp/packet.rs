//! The UDP push datagrams, both ways, as Nacos 1.x's `PushService` and its clients shape them:
//! pure encoding and decoding, no sockets.
//!
//! - **Push** (server → client): the JSON object
//!   `{"type":"dom","data":"<the ServiceInfo JSON, as a string>","lastRefTime":n}`, gzipped
//!   when the JSON is [`GZIP_AT`] bytes or more (clients recognise gzip by its magic bytes).
//!   `lastRefTime` names the push; the client echoes it in its ack.
//! - **Ack** (client → server): `{"type":"push-ack","lastRefTime":n,"data":""}`. Old Java
//!   clients send `lastRefTime` as a string, so both are read.
//!
//! A datagram holds at most [`MAX_DATAGRAM`] bytes; a push that does not fit even gzipped is
//! refused ([`PacketError::TooLarge`]) and the client learns of the change by its next pull.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Pushes of this many bytes or more are gzipped (1 KiB, as Nacos).
pub const GZIP_AT: usize = 1024;

/// The largest UDP payload over IPv4: 65 535 − 8 (UDP header) − 20 (IP header).
pub const MAX_DATAGRAM: usize = 65_507;

/// The `type` of a push of a service's data.
pub const TYPE_DOM: &str = "dom";
/// The `type` of an ack.
pub const TYPE_ACK: &str = "push-ack";

/// Why a datagram could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The push does not fit in one datagram, even gzipped.
    #[error("the push is {0} bytes, more than a datagram holds ({MAX_DATAGRAM}) even gzipped")]
    TooLarge(usize),
    /// Not gzip and not JSON, or gzip that does not inflate.
    #[error("the datagram is not a push packet: {0}")]
    Malformed(String),
    /// JSON, but not of the expected `type`.
    #[error("the datagram is of type `{0}`, not the one expected")]
    UnexpectedType(String),
}

#[derive(Serialize)]
struct PushOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a str,
    #[serde(rename = "lastRefTime")]
    last_ref_time: u64,
}

#[derive(Deserialize)]
struct PushIn {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: String,
    #[serde(rename = "lastRefTime", default, deserialize_with = "number_or_string")]
    last_ref_time: u64,
}

#[derive(Serialize, Deserialize)]
struct AckJson {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "lastRefTime", deserialize_with = "number_or_string")]
    last_ref_time: u64,
    #[serde(default)]
    data: String,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(t) => t.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// An encoded push datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDatagram {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Whether they are gzipped.
    pub gzipped: bool,
}

/// The push datagram carrying `service_info_json` (a `ServiceInfo`'s JSON text), named
/// `last_ref_time`.
pub fn encode_push(
    service_info_json: &str,
    last_ref_time: u64,
) -> Result<PushDatagram, PacketError> {
    let packet = PushOut {
        kind: TYPE_DOM,
        data: service_info_json,
        last_ref_time,
    };
    let json = serde_json::to_vec(&packet).map_err(|e| PacketError::Malformed(e.to_string()))?;
    if json.len() < GZIP_AT {
        return Ok(PushDatagram {
            bytes: json,
            gzipped: false,
        });
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    // Writing to a Vec cannot fail.
    let zipped = gz.write_all(&json).and_then(|()| gz.finish());
    let bytes = zipped.map_err(|e| PacketError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_DATAGRAM {
        return Err(PacketError::TooLarge(bytes.len()));
    }
    Ok(PushDatagram {
        bytes,
        gzipped: true,
    })
}

/// A push as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The packet type: [`TYPE_DOM`] for a service's data (Nacos also sends `dump`, asking
    /// for the client's cache, which nacre never sends).
    pub kind: String,
    /// The `ServiceInfo` JSON text.
    pub data: String,
    /// The push's name, to echo in the ack.
    pub last_ref_time: u64,
}

/// Reads a push datagram (gzipped or not).
pub fn decode_push(datagram: &[u8]) -> Result<Push, PacketError> {
    let json = inflate(datagram)?;
    let p: PushIn =
        serde_json::from_slice(&json).map_err(|e| PacketError::Malformed(e.to_string()))?;
    Ok(Push {
        kind: p.kind,
        data: p.data,
        last_ref_time: p.last_ref_time,
    })
}

/// The ack of push `last_ref_time`.
pub fn encode_ack(last_ref_time: u64) -> Vec<u8> {
    let ack = AckJson {
        kind: TYPE_ACK.to_owned(),
        last_ref_time,
        data: String::new(),
    };
    // A struct of plain fields always serializes.
    serde_json::to_vec(&ack).unwrap_or_default()
}

/// Reads an ack datagram; returns the `lastRefTime` it acks.
pub fn decode_ack(datagram: &[u8]) -> Result<u64, PacketError> {
    let json = inflate(datagram)?;
    let ack: AckJson =
        serde_json::from_slice(&json).map_err(|e| PacketError::Malformed(e.to_string()))?;
    if ack.kind != TYPE_ACK {
        return Err(PacketError::UnexpectedType(ack.kind));
    }
    Ok(ack.last_ref_time)
}

/// `datagram`, inflated if it is gzip; at most [`MAX_DATAGRAM`] × 64 bytes come out (a bomb
/// is refused).
fn inflate(datagram: &[u8]) -> Result<Vec<u8>, PacketError> {
    if !datagram.starts_with(&[0x1f, 0x8b]) {
        return Ok(datagram.to_vec());
    }
    let limit = (MAX_DATAGRAM * 64) as u64;
    let mut out = Vec::with_capacity(datagram.len() * 4);
    GzDecoder::new(datagram)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| PacketError::Malformed(format!("bad gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(PacketError::Malformed("inflates past the limit".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_push_is_plain_json_with_nacos_field_names() {
        let d = encode_push(r#"{"name":"DEFAULT_GROUP@@orders","hosts":[]}"#, 7).unwrap();
        assert!(!d.gzipped);
        let v: serde_json::Value = serde_json::from_slice(&d.bytes).unwrap();
        assert_eq!(v["type"], "dom");
        assert_eq!(v["lastRefTime"], 7);
        assert_eq!(v["data"], r#"{"name":"DEFAULT_GROUP@@orders","hosts":[]}"#);
        let back = decode_push(&d.bytes).unwrap();
        assert_eq!((back.kind.as_str(), back.last_ref_time), ("dom", 7));
    }

    #[test]
    fn a_push_of_a_kibibyte_or_more_is_gzipped_and_reads_back() {
        let data = format!(r#"{{"hosts":["{}"]}}"#, "x".repeat(2000));
        let d = encode_push(&data, 42).unwrap();
        assert!(d.gzipped);
        assert_eq!(&d.bytes[..2], &[0x1f, 0x8b]);
        assert!(d.bytes.len() < 200, "{} bytes", d.bytes.len());
        let back = decode_push(&d.bytes).unwrap();
        assert_eq!((back.data, back.last_ref_time), (data, 42));
    }

    #[test]
    fn a_push_too_large_for_a_datagram_is_refused() {
        // Random-looking text does not compress below the limit.
        let mut seed = 1u64;
        let noise: String = (0..200_000)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                char::from(b'a' + (seed >> 59) as u8)
            })
            .collect();
        assert!(matches!(
            encode_push(&noise, 1),
            Err(PacketError::TooLarge(_))
        ));
    }

    #[test]
    fn acks_read_numbers_and_strings_and_refuse_garbage() {
        assert_eq!(decode_ack(&encode_ack(99)).unwrap(), 99);
        let old_java = br#"{"type": "push-ack", "lastRefTime":"12345", "data":""}"#;
        assert_eq!(decode_ack(old_java).unwrap(), 12345);
        assert!(matches!(
            decode_ack(br#"{"type":"dom","lastRefTime":1}"#),
            Err(PacketError::UnexpectedType(_))
        ));
        assert!(decode_ack(b"\x1f\x8bnot gzip").is_err());
        assert!(decode_ack(b"hello").is_err());
        assert!(decode_ack(br#"{"type":"push-ack","lastRefTime":"x"}"#).is_err());
    }
}
