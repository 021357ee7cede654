//! The peer wire format: how an [`Envelope`] and a [`PeerResponse`] become bytes, for
//! transports that carry bytes (the `http` feature's peer route and [`HttpPeerTransport`]), and
//! for traffic accounting ([`crate::transport::memory`] counts what these functions would
//! send).
//!
//! A message is a three-byte header, [`WIRE_MAGIC`] then [`WIRE_VERSION`], followed by the
//! value in [postcard](https://docs.rs/postcard): serde's data model with no field names,
//! integers as LEB128 varints (signed ones zigzagged), strings and sequences with a varint
//! length prefix, enum variants as a varint index.
//!
//! ```
//! use nacre::cluster::{decode_message, encode_message, CodecError, PeerRequest, WIRE_VERSION};
//!
//! let bytes = encode_message(&PeerRequest::Ping { ready: true })?;
//! assert_eq!(bytes.len(), 5); // header, variant index, bool
//! assert_eq!(decode_message::<PeerRequest>(&bytes)?, PeerRequest::Ping { ready: true });
//!
//! let mut newer = bytes.clone();
//! newer[2] = WIRE_VERSION + 1;
//! assert!(matches!(
//!     decode_message::<PeerRequest>(&newer),
//!     Err(CodecError::Version { .. })
//! ));
//! assert!(decode_message::<PeerRequest>(b"{\"Ping\":{\"ready\":true}}").is_err());
//! # Ok::<(), CodecError>(())
//! ```
//!
//! ## Why postcard
//!
//! JSON spent 841 bytes per registration in a 3-node cluster (BENCHMARKS.md, "Distro
//! replication cost"): field names, decimal numbers of 16 digits for every microsecond time
//! and 20 for every version origin, and each instance's endpoint twice. Postcard drops the
//! names and writes numbers as varints. The rest is done in the types' own serde impls, which
//! take a compact shape when the format is not human-readable ([`crate::Instance`]:
//! a tuple with its booleans as bits; [`crate::store::InstanceRecord`]: no endpoint twice,
//! times as differences, see its module), so JSON stays the readable Nacos shape. Together
//! that makes a replicated registration about 50 bytes per peer.
//!
//! Postcard was chosen over a hand-written codec because every peer type (commands, their
//! answers, settings, limits) already has serde impls that validate as they decode: a
//! hand-written codec would repeat all of them and their checks. Over bincode, because its
//! format is specified and stable within 1.x and it is small: it adds two crates (`postcard`,
//! `cobs`) with no default features. The cost of a non-self-describing format is that every
//! serde impl on the path must write the same shape it reads (no `flatten`, no
//! `skip_serializing_if`, no `deserialize_any`): the round-trip tests here and in
//! `tests/fuzz/peer.rs` hold every message variant to that.
//!
//! ## Versions
//!
//! The format is not compatible across nacre versions: every member of a cluster must run the
//! same build's [`WIRE_VERSION`]. A message with another version is refused
//! ([`CodecError::Version`]) before a byte of its body is read, rather than misread; the HTTP
//! peer route answers it with `415 Unsupported Media Type` naming both versions, and the
//! sending node, which sees a refusal, logs the peer at `warn` as one that refuses it.
//!
//! ## Garbage
//!
//! Decoding never panics: anything that is not one whole message of this version is a
//! [`CodecError`]. A length prefix can claim more elements than the bytes hold; serde
//! preallocates at most about a megabyte on such a claim and the decoder stops at the end of
//! the input. Names and instance fields go through the model's checks as they decode.
//!
//! Differences from Nacos: Nacos' Distro sends its data in a Hessian or JSON serialization
//! chosen per type, with no version in the message.
//!
//! [`HttpPeerTransport`]: https://docs.rs/nacre/latest/nacre/http/struct.HttpPeerTransport.html

use super::message::PeerRequest;
use super::node_id::NodeId;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The first two bytes of every binary peer message.
pub const WIRE_MAGIC: [u8; 2] = *b"Nc";

/// The version of the binary peer format this build speaks: the third byte of every message.
/// Bumped whenever the shape of any peer message changes.
pub const WIRE_VERSION: u8 = 3;

const HEADER_LEN: usize = WIRE_MAGIC.len() + 1;

/// Why bytes could not be decoded as a peer message, or a value encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Fewer bytes than the header.
    #[error("a peer message of {0} bytes is shorter than its 3-byte header")]
    Truncated(usize),
    /// The bytes do not start with [`WIRE_MAGIC`]: not a binary nacre peer message at all.
    #[error(
        "not a nacre peer message: it starts with {found:02x?}, not {WIRE_MAGIC:02x?} (\"Nc\")"
    )]
    NotPeerMessage {
        /// The first two bytes.
        found: [u8; 2],
    },
    /// A peer message of another format version: the sender runs another nacre version.
    #[error(
        "the peer speaks wire format version {found}, this node speaks {expected}: every member \
         of a cluster must run the same nacre version"
    )]
    Version {
        /// The version in the message.
        found: u8,
        /// [`WIRE_VERSION`].
        expected: u8,
    },
    /// The body is not a valid value of the expected type (cut short, a bad variant index, a
    /// name or instance field that fails its check...).
    #[error("a malformed peer message: {0}")]
    Malformed(String),
    /// A whole value was decoded but bytes are left over.
    #[error("a peer message with {0} bytes left over after its value")]
    TrailingBytes(usize),
    /// The value could not be encoded (a serde impl this format cannot express).
    #[error("a peer message could not be encoded: {0}")]
    Encode(String),
}

/// Encodes `value` with the header: what a transport sends.
pub fn encode_message<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&WIRE_MAGIC);
    out.push(WIRE_VERSION);
    postcard::to_extend(value, out).map_err(|e| CodecError::Encode(e.to_string()))
}

/// An [`Envelope`](super::Envelope) by reference: the same bytes, in JSON as in binary.
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    from: &'a NodeId,
    request: &'a PeerRequest,
}

/// Encodes the [`Envelope`](super::Envelope) of `request` from `from` without building it
/// (the same bytes as [`encode_message`] of the envelope).
pub fn encode_request(from: &NodeId, request: &PeerRequest) -> Result<Vec<u8>, CodecError> {
    encode_message(&EnvelopeRef { from, request })
}

/// What [`encode_request`] would send, in bytes.
pub fn request_len(from: &NodeId, request: &PeerRequest) -> u64 {
    encoded_len(&EnvelopeRef { from, request })
}

/// The length of the JSON form of the same envelope, for comparisons (see
/// [`crate::transport::memory::NetStats::json_bytes`]).
pub fn request_json_len(from: &NodeId, request: &PeerRequest) -> u64 {
    serde_json::to_vec(&EnvelopeRef { from, request }).map_or(0, |v| v.len() as u64)
}

/// Checks the header of `bytes` and decodes the one value after it.
pub fn decode_message<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let body = check_header(bytes)?;
    let (value, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Checks the header alone and returns the body after it.
pub fn check_header(bytes: &[u8]) -> Result<&[u8], CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::Truncated(bytes.len()));
    }
    let found = [bytes[0], bytes[1]];
    if found != WIRE_MAGIC {
        return Err(CodecError::NotPeerMessage { found });
    }
    if bytes[2] != WIRE_VERSION {
        return Err(CodecError::Version {
            found: bytes[2],
            expected: WIRE_VERSION,
        });
    }
    Ok(&bytes[HEADER_LEN..])
}

/// The length [`encode_message`] would give `value`, without building it (0 if it cannot be
/// encoded). For traffic accounting.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> u64 {
    postcard::serialize_with_flavor::<T, postcard::ser_flavors::Size, usize>(
        value,
        postcard::ser_flavors::Size::default(),
    )
    .map_or(0, |n| (n + HEADER_LEN) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Envelope, NodeId, PeerRequest, PeerResponse};

    #[test]
    fn the_header_is_checked_before_the_body() {
        let bytes = encode_message(&PeerResponse::Ack).unwrap();
        assert_eq!(&bytes[..3], &[b'N', b'c', WIRE_VERSION]);
        assert_eq!(
            decode_message::<PeerResponse>(&bytes),
            Ok(PeerResponse::Ack)
        );
        assert_eq!(
            decode_message::<PeerResponse>(b"Nc"),
            Err(CodecError::Truncated(2))
        );
        assert_eq!(
            decode_message::<PeerResponse>(b"{\"Ack\":1}"),
            Err(CodecError::NotPeerMessage { found: *b"{\"" })
        );
        let mut other = bytes.clone();
        other[2] = 0;
        assert_eq!(
            decode_message::<PeerResponse>(&other),
            Err(CodecError::Version {
                found: 0,
                expected: WIRE_VERSION
            })
        );
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(
            decode_message::<PeerResponse>(&longer),
            Err(CodecError::TrailingBytes(1))
        );
    }

    #[test]
    fn encoded_len_is_the_length_encode_gives() {
        let envelope = Envelope {
            from: NodeId::new("10.0.0.1:8848").unwrap(),
            request: PeerRequest::Fetch {
                services: vec![crate::ServiceKey::named("orders").unwrap()],
            },
        };
        let bytes = encode_message(&envelope).unwrap();
        assert_eq!(encoded_len(&envelope), bytes.len() as u64);
        let by_ref = encode_request(&envelope.from, &envelope.request).unwrap();
        assert_eq!(by_ref, bytes);
        assert_eq!(
            request_len(&envelope.from, &envelope.request),
            bytes.len() as u64
        );
        assert_eq!(
            request_json_len(&envelope.from, &envelope.request),
            serde_json::to_vec(&envelope).unwrap().len() as u64
        );
        assert_eq!(decode_message::<Envelope>(&bytes).unwrap(), envelope);
    }

    #[test]
    fn a_body_cut_anywhere_is_an_error() {
        let envelope = Envelope {
            from: NodeId::new("10.0.0.1:8848").unwrap(),
            request: PeerRequest::Fetch {
                services: vec![crate::ServiceKey::named("orders").unwrap()],
            },
        };
        let bytes = encode_message(&envelope).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                decode_message::<Envelope>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
