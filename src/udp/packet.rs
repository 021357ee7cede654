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
//!
//! [`encode_push`] makes one datagram; [`PushTemplate`] makes the datagrams of one push round
//! (the same data to every subscriber, each under its own `lastRefTime`) serializing and
//! deflating the data once.

use flate2::read::GzDecoder;
use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::{Compression, Crc};
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
    gzip(&json)
}

/// The 10-byte gzip member header flate2 writes: deflate, no flags, no time, no extra flags,
/// unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The push datagrams of one `ServiceInfo` JSON, for any `lastRefTime`: what
/// [`encode_push`] makes, without serializing and gzipping the whole packet for each one.
///
/// A push round sends the same data to every subscriber, and the datagrams differ only in the
/// number at their end. The template holds the packet up to that number
/// (`{"type":"dom","data":"…","lastRefTime":`), serialized once, and, when the packet is to be
/// gzipped, that head deflated once and sync-flushed (which ends the deflate data on a byte
/// boundary). A datagram is then the gzip header, the deflated head, one final *stored* deflate
/// block holding the number and the closing brace, and the gzip trailer (CRC-32 and length of
/// the whole packet, continued from the head's over the tail): one gzip member, valid for
/// any inflater, 10 to 15 bytes longer than gzipping the packet whole. Each datagram costs
/// a copy of the compressed head, not a deflate (nor a checksum) of the packet.
///
/// ```
/// use nacre::udp::packet::{decode_push, PushTemplate};
/// let data = format!(r#"{{"name":"DEFAULT_GROUP@@orders","hosts":["{}"]}}"#, "x".repeat(2000));
/// let template = PushTemplate::new(&data)?;
/// for id in [7, 1_000_000] {
///     let datagram = template.datagram(id)?;
///     assert!(datagram.gzipped);
///     let push = decode_push(&datagram.bytes)?;
///     assert_eq!((push.data.as_str(), push.last_ref_time), (data.as_str(), id));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PushTemplate {
    /// The packet's JSON up to its `lastRefTime` value.
    head: Vec<u8>,
    /// `head` deflated and sync-flushed, when every datagram is gzipped (the packet is
    /// [`GZIP_AT`] bytes or more with the shortest number).
    deflated: Option<Vec<u8>>,
    /// The CRC-32 of `head`.
    head_crc: u32,
}

impl PushTemplate {
    /// The template of the pushes carrying `service_info_json`.
    pub fn new(service_info_json: &str) -> Result<Self, PacketError> {
        let packet = PushOut {
            kind: TYPE_DOM,
            data: service_info_json,
            last_ref_time: 0,
        };
        let mut head =
            serde_json::to_vec(&packet).map_err(|e| PacketError::Malformed(e.to_string()))?;
        // `...,"lastRefTime":0}`: `lastRefTime` is the last field; cut its value and the brace.
        if !head.ends_with(b":0}") {
            return Err(PacketError::Malformed("unexpected packet layout".into()));
        }
        head.truncate(head.len() - 2);
        let deflated = if head.len() + 2 >= GZIP_AT {
            let mut z =
                DeflateEncoder::new(Vec::with_capacity(head.len() / 4), Compression::default());
            // Writing to a Vec cannot fail; `flush_finish` sync-flushes without ending the
            // stream.
            let done = z.write_all(&head).and_then(|()| z.flush_finish());
            Some(done.map_err(|e| PacketError::Malformed(e.to_string()))?)
        } else {
            None
        };
        let mut crc = Crc::new();
        crc.update(&head);
        Ok(Self {
            head_crc: crc.sum(),
            head,
            deflated,
        })
    }

    /// The datagram of the push named `last_ref_time`: the same bytes as
    /// [`encode_push`]'s when not gzipped, the same packet when gzipped.
    pub fn datagram(&self, last_ref_time: u64) -> Result<PushDatagram, PacketError> {
        let tail = format!("{last_ref_time}}}");
        let len = self.head.len() + tail.len();
        let Some(deflated) = &self.deflated else {
            let mut json = Vec::with_capacity(len);
            json.extend_from_slice(&self.head);
            json.extend_from_slice(tail.as_bytes());
            // A head just short of the threshold, and a long number: gzip it whole.
            return if len >= GZIP_AT {
                gzip(&json)
            } else {
                Ok(PushDatagram {
                    bytes: json,
                    gzipped: false,
                })
            };
        };
        let stored = u16::try_from(tail.len()).unwrap_or(u16::MAX);
        let mut bytes = Vec::with_capacity(GZIP_HEADER.len() + deflated.len() + tail.len() + 13);
        bytes.extend_from_slice(&GZIP_HEADER);
        bytes.extend_from_slice(deflated);
        // The final block, stored: BFINAL = 1 and BTYPE = 00 in a byte of its own (the flush
        // left the stream byte-aligned), then LEN and its complement, little-endian.
        bytes.push(0x01);
        bytes.extend_from_slice(&stored.to_le_bytes());
        bytes.extend_from_slice(&(!stored).to_le_bytes());
        bytes.extend_from_slice(tail.as_bytes());
        let crc = crc32_continue(self.head_crc, tail.as_bytes());
        bytes.extend_from_slice(&crc.to_le_bytes());
        // ISIZE: the length modulo 2^32 (a datagram's packet is far below it).
        bytes.extend_from_slice(&(len as u32).to_le_bytes());
        if bytes.len() > MAX_DATAGRAM {
            return Err(PacketError::TooLarge(bytes.len()));
        }
        Ok(PushDatagram {
            bytes,
            gzipped: true,
        })
    }
}

/// The CRC-32 (gzip's, reflected polynomial 0xEDB88320) of some bytes whose CRC-32 is `crc`
/// followed by `more`, bit by bit: for the few bytes of a datagram's tail.
fn crc32_continue(crc: u32, more: &[u8]) -> u32 {
    let mut c = !crc;
    for &byte in more {
        c ^= u32::from(byte);
        for _ in 0..8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

/// `json` gzipped whole, refused when it does not fit in a datagram.
fn gzip(json: &[u8]) -> Result<PushDatagram, PacketError> {
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    // Writing to a Vec cannot fail.
    let zipped = gz.write_all(json).and_then(|()| gz.finish());
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
    fn a_template_makes_encode_push_s_datagrams_plain_and_the_same_packets_gzipped() {
        let small = r#"{"name":"DEFAULT_GROUP@@orders","hosts":[]}"#;
        let large = format!(r#"{{"hosts":["{}"]}}"#, "ab\"c".repeat(3000));
        for data in [small, large.as_str()] {
            let template = PushTemplate::new(data).unwrap();
            for id in [0, 7, 1_234_567, u64::MAX] {
                let ours = template.datagram(id).unwrap();
                let reference = encode_push(data, id).unwrap();
                assert_eq!(ours.gzipped, reference.gzipped, "{id}");
                if ours.gzipped {
                    assert_eq!(&ours.bytes[..2], &[0x1f, 0x8b]);
                    // One stored block more than gzipping the packet whole.
                    assert!(ours.bytes.len() <= reference.bytes.len() + 16, "{id}");
                    let a = inflate(&ours.bytes).unwrap();
                    assert_eq!(a, inflate(&reference.bytes).unwrap(), "{id}");
                } else {
                    assert_eq!(ours.bytes, reference.bytes, "{id}");
                }
                let push = decode_push(&ours.bytes).unwrap();
                assert_eq!((push.data.as_str(), push.last_ref_time), (data, id));
            }
        }
    }

    #[test]
    fn crc32_continues_flate2_s() {
        let (a, b) = (
            &b"{\"type\":\"dom\",\"lastRefTime\":"[..],
            &b"18446744073709551615}"[..],
        );
        let mut head = Crc::new();
        head.update(a);
        let mut whole = Crc::new();
        whole.update(a);
        whole.update(b);
        assert_eq!(crc32_continue(head.sum(), b), whole.sum());
        assert_eq!(crc32_continue(0, b"123456789"), 0xCBF4_3926); // the CRC-32 check value
    }

    #[test]
    fn a_template_gzips_exactly_when_encode_push_does_at_the_threshold() {
        // The packet around `data` is 46 bytes with a one-digit number: walk the head's
        // length across the threshold, with short and long numbers.
        for pad in (GZIP_AT - 80)..(GZIP_AT - 20) {
            let data = "x".repeat(pad);
            let template = PushTemplate::new(&data).unwrap();
            for id in [1, 12_345, u64::MAX] {
                let ours = template.datagram(id).unwrap();
                let reference = encode_push(&data, id).unwrap();
                assert_eq!(ours.gzipped, reference.gzipped, "pad {pad}, id {id}");
                assert_eq!(decode_push(&ours.bytes).unwrap().last_ref_time, id);
            }
        }
    }

    #[test]
    fn a_template_refuses_a_push_too_large_for_a_datagram() {
        let mut seed = 7u64;
        let noise: String = (0..200_000)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                char::from(b'a' + (seed >> 59) as u8)
            })
            .collect();
        let template = PushTemplate::new(&noise).unwrap();
        assert!(matches!(
            template.datagram(1),
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
