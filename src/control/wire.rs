//! How the control plane's messages become the bodies of
//! [`ControlRequest`](crate::cluster::ControlRequest)s and
//! [`ControlReply::Answer`](crate::cluster::ControlReply::Answer)s: openraft's requests and
//! responses (serde, with openraft's `serde` feature) and forwarded writes, in postcard, the
//! format of the peer codec around them ([`crate::cluster::encode_message`]).
//!
//! A body is at most [`MAX_CONTROL_BODY_BYTES`] both ways: the sender refuses to send a larger
//! one ([`WireError::TooLarge`]), and the receiver refuses to decode one. openraft's batches
//! are sized below it ([`max_payload_entries`]), so a refusal means a bug, not a load.
//!
//! Decoding never panics: bytes that are not one whole value of the expected type are a
//! [`WireError::Malformed`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::group::Written;
use crate::cluster::MAX_CONTROL_BODY_BYTES;

/// Why a control message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    /// A body over [`MAX_CONTROL_BODY_BYTES`].
    #[error("a control message body of {0} bytes is over the limit of {MAX_CONTROL_BODY_BYTES}")]
    TooLarge(usize),
    /// The bytes are not a value of the expected type.
    #[error("a malformed control message body: {0}")]
    Malformed(String),
    /// The value could not be encoded.
    #[error("a control message could not be encoded: {0}")]
    Encode(String),
}

/// Why a forwarded write was not taken by the member it was sent to, as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ForwardFailure {
    /// The receiver does not lead (any more), or could not commit in time.
    NoLeader(String),
    /// The receiver leads, but the write was not committed in time: it may still be.
    Unconfirmed(String),
    /// The receiver's Raft stopped.
    Stopped(String),
}

/// The answer to a forwarded write.
pub(crate) type ForwardAnswer = Result<Written, ForwardFailure>;

/// Encodes `value` as a body.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    let bytes = postcard::to_allocvec(value).map_err(|e| WireError::Encode(e.to_string()))?;
    if bytes.len() > MAX_CONTROL_BODY_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes one whole body.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_CONTROL_BODY_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} bytes left over after the value",
            rest.len()
        )));
    }
    Ok(value)
}

/// How many log entries one `AppendEntries` may carry so that its body stays under
/// [`MAX_CONTROL_BODY_BYTES`] with entries of up to `max_entry_bytes` (one entry's worth is
/// kept for the message's own fields), between 1 and openraft's default of 300.
pub(crate) fn max_payload_entries(max_entry_bytes: usize) -> u64 {
    let fit = (MAX_CONTROL_BODY_BYTES / max_entry_bytes.max(1)).saturating_sub(1);
    u64::try_from(fit).unwrap_or(u64::MAX).clamp(1, 300)
}
