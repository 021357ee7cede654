//! The wire messages of Nacos 2.x's gRPC protocol, written by hand with `prost` (no `protoc`
//! at build time). Every call carries one [`Payload`]: a [`Metadata`] naming the message type
//! and the client's ip, and an `Any` whose value is the message as JSON.

use std::collections::HashMap;

/// `Metadata`: the message type (`"InstanceRequest"`...), the client's ip and headers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    /// The message type, the Java class's simple name.
    #[prost(string, tag = "3")]
    pub r#type: String,
    /// The client's ip, as the client reports it.
    #[prost(string, tag = "8")]
    pub client_ip: String,
    /// Headers (`app`, `client-version`, tokens...).
    #[prost(map = "string, string", tag = "7")]
    pub headers: HashMap<String, String>,
}

/// `google.protobuf.Any`; Nacos leaves `type_url` empty and puts JSON in `value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    /// Unused by Nacos.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The message, as JSON bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `Payload`: one request or response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// What the body is.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Metadata>,
    /// The body.
    #[prost(message, optional, tag = "3")]
    pub body: Option<Any>,
}

impl Payload {
    /// A payload of type `kind` holding `json`.
    pub fn new(kind: &str, json: Vec<u8>) -> Self {
        Self {
            metadata: Some(Metadata {
                r#type: kind.to_owned(),
                client_ip: String::new(),
                headers: HashMap::new(),
            }),
            body: Some(Any {
                type_url: String::new(),
                value: json,
            }),
        }
    }

    /// The message type, or `""`.
    pub fn kind(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| m.r#type.as_str())
    }

    /// The JSON body, or `b""`.
    pub fn json(&self) -> &[u8] {
        self.body.as_ref().map_or(&[], |b| b.value.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_payload_round_trips_with_the_nacos_field_numbers() {
        let p = Payload::new("HealthCheckRequest", br#"{"requestId":"1"}"#.to_vec());
        let bytes = p.encode_to_vec();
        // Field 2 (metadata, length-delimited) comes first: tag byte 0x12.
        assert_eq!(bytes[0], 0x12);
        let back = Payload::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.kind(), "HealthCheckRequest");
        assert_eq!(back.json(), br#"{"requestId":"1"}"#);
    }
}
