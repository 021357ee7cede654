//! The JSON bodies of Nacos 2.x gRPC messages, as serde types, and the helpers that put them
//! into a [`Payload`].
//!
//! Parsing is lenient the way Jackson is: unknown fields are ignored, and every field may be
//! missing or `null` (the Rust client sends `null`s, the Python one empty strings). Answers are
//! strict the way the clients need them: `resultCode` and `errorCode` always, strings never
//! `null`, `"headers":{}` in every request the server sends.

use super::proto::Payload;
use crate::model::{ClusterName, ServiceKey, ValidationError, DEFAULT_GROUP};
use crate::protocol::InstanceIn;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Nacos' "success" result code.
pub(crate) const RESULT_OK: i32 = 200;
/// Nacos' "failure" result code.
pub(crate) const RESULT_FAIL: i32 = 500;
/// The server is starting (a cluster member still loading): `INVALID_SERVER_STATUS`.
pub(crate) const CODE_STARTING: i32 = 300;
/// The connection has not sent its `ConnectionSetupRequest` (or was dropped): `UN_REGISTER`.
pub(crate) const CODE_UNREGISTERED: i32 = 301;
/// No handler for the message type: `NO_HANDLER`.
pub(crate) const CODE_NO_HANDLER: i32 = 302;
/// A request the server refused for what it asked: `INVALID_PARAM`.
pub(crate) const CODE_BAD_REQUEST: i32 = 400;
/// The body could not be read: `BAD_GATEWAY`, as Nacos answers it.
pub(crate) const CODE_BAD_BODY: i32 = 502;
/// The node (or the member responsible for the service) cannot serve now.
pub(crate) const CODE_UNAVAILABLE: i32 = 503;

/// The fields every naming request carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct NamingHead {
    /// The namespace (`""`/`null` mean `public`).
    pub namespace: Option<String>,
    /// The service (plain, or `group@@service`).
    pub service_name: Option<String>,
    /// The group (`""`/`null` mean `DEFAULT_GROUP`).
    pub group_name: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl NamingHead {
    /// The namespace, `public` when none is given.
    pub(crate) fn namespace(&self) -> &str {
        non_empty(&self.namespace).unwrap_or(crate::model::DEFAULT_NAMESPACE)
    }

    /// The group, `DEFAULT_GROUP` when none is given.
    pub(crate) fn group(&self) -> &str {
        non_empty(&self.group_name).unwrap_or(DEFAULT_GROUP)
    }

    /// The service key, checked. A `group@@service` name brings its own group.
    pub(crate) fn service_key(&self) -> Result<ServiceKey, ValidationError> {
        let name = non_empty(&self.service_name).unwrap_or("");
        match name.split_once("@@") {
            Some((group, service)) => ServiceKey::new(self.namespace(), group, service),
            None => ServiceKey::new(self.namespace(), self.group(), name),
        }
    }
}

/// `InstanceRequest` and `PersistentInstanceRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct InstanceRequest {
    /// Namespace, group, service.
    #[serde(flatten)]
    pub head: NamingHead,
    /// `registerInstance` or `deregisterInstance`.
    pub r#type: Option<String>,
    /// The instance.
    pub instance: Option<InstanceIn>,
    /// nacre's drain (`deregisterInstance` only): wait up to this many milliseconds for
    /// every subscriber to take a push without the instance (see [`crate::front::drain`]).
    pub drain_millis: Option<u64>,
}

/// `BatchInstanceRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct BatchInstanceRequest {
    /// Namespace, group, service.
    #[serde(flatten)]
    pub head: NamingHead,
    /// `batchRegisterInstance`.
    pub r#type: Option<String>,
    /// The instances.
    pub instances: Option<Vec<InstanceIn>>,
}

/// `ServiceQueryRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServiceQueryRequest {
    /// Namespace, group, service.
    #[serde(flatten)]
    pub head: NamingHead,
    /// Clusters, comma-separated (`""`: all).
    pub cluster: Option<String>,
    /// Only healthy instances.
    pub healthy_only: Option<bool>,
}

/// `SubscribeServiceRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SubscribeServiceRequest {
    /// Namespace, group, service.
    #[serde(flatten)]
    pub head: NamingHead,
    /// Subscribe (`true`) or unsubscribe.
    pub subscribe: Option<bool>,
    /// Clusters, comma-separated (`""`: all).
    pub clusters: Option<String>,
}

/// `ServiceListRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServiceListRequest {
    /// Namespace and group (the service name is unused).
    #[serde(flatten)]
    pub head: NamingHead,
    /// Page, from 1.
    pub page_no: Option<i64>,
    /// Names per page.
    pub page_size: Option<i64>,
}

/// `ConnectionSetupRequest`, the first message on the bi-stream.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ConnectionSetupRequest {
    /// `Nacos-Java-Client:v2.x`, `Nacos-Rust-Client:0.8`...
    pub client_version: Option<String>,
    /// The client's abilities (Nacos 2.3+ clients): only whether it sent a table is read (a
    /// client that sends one waits for the server's in a `SetupAckRequest`). `IgnoredAny`
    /// keeps nothing of it.
    pub ability_table: Option<serde::de::IgnoredAny>,
    // `tenant` and `labels` are not read: nothing is kept of them, and what serde skips
    // allocates nothing.
}

/// What the server can do, as it answers a client's `abilityTable` (`SetupAckRequest`): by
/// Nacos' ability names, `true` for what nacre serves.
pub(crate) const SERVER_ABILITIES: [(&str, bool); 4] = [
    // `PersistentInstanceRequest`: the Java client sends persistent instances over gRPC
    // only when the server says so (over v1 HTTP otherwise).
    ("supportPersistentInstanceByGrpc", true),
    ("fuzzyWatch", false),
    ("lock", false),
    ("mcp", false),
];

/// `SetupAckRequest`: the server's abilities, sent on the bi-stream once, without a request
/// id (the client answers nothing), as Nacos does.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetupAckRequest {
    headers: BTreeMap<String, String>,
    ability_table: BTreeMap<&'static str, bool>,
    module: &'static str,
}

impl SetupAckRequest {
    /// The ack with [`SERVER_ABILITIES`].
    pub(crate) fn new() -> Self {
        SetupAckRequest {
            headers: BTreeMap::new(),
            ability_table: SERVER_ABILITIES.into_iter().collect(),
            module: "internal",
        }
    }
}

/// What a client answers on the bi-stream to a request the server sent (push acks,
/// detection answers).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ClientAnswer {
    /// The id of the server's request.
    pub request_id: Option<String>,
    /// 200 when it went well.
    pub result_code: Option<i32>,
}

/// Splits `"a,b"` into cluster names; blank parts are skipped.
pub(crate) fn clusters(list: Option<&str>) -> Result<Vec<ClusterName>, ValidationError> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(ClusterName::new)
        .collect()
}

/// A response body: the common fields, then the type's own.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Answer<T: Serialize> {
    result_code: i32,
    error_code: i32,
    success: bool,
    message: String,
    request_id: String,
    #[serde(flatten)]
    body: T,
}

/// No fields of its own.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

impl<T: Serialize> Answer<T> {
    /// A success carrying `body`.
    pub(crate) fn ok(body: T) -> Self {
        Self {
            result_code: RESULT_OK,
            error_code: 0,
            success: true,
            message: String::new(),
            request_id: String::new(),
            body,
        }
    }

    /// Sets the message (Nacos answers `success` to a subscription).
    pub(crate) fn set_message(&mut self, message: &str) {
        message.clone_into(&mut self.message);
    }
}

/// `ErrorResponse`: `resultCode` is `code` for a refused request (as Nacos' handlers answer),
/// 500 for the connection-level codes.
pub(crate) fn error_payload(code: i32, message: &str) -> Payload {
    let result_code = if (300..400).contains(&code) || code == CODE_BAD_BODY {
        RESULT_FAIL
    } else {
        code
    };
    let body = Answer {
        result_code,
        error_code: code,
        success: false,
        message: message.to_owned(),
        request_id: String::new(),
        body: Empty {},
    };
    to_payload("ErrorResponse", &body)
}

/// A refusal answered as the request's own response type `kind` (`InstanceResponse`...)
/// with `errorCode` `code`, as Nacos answers an auth failure, so clients report it as one;
/// `fields` (a JSON object) are the type's own fields a client needs to read the answer at
/// all (see `access.rs`).
pub(crate) fn refusal_payload(
    kind: &str,
    code: i32,
    message: &str,
    fields: serde_json::Value,
) -> Payload {
    let body = Answer {
        result_code: RESULT_FAIL,
        error_code: code,
        success: false,
        message: message.to_owned(),
        request_id: String::new(),
        body: fields,
    };
    to_payload(kind, &body)
}

/// [`to_payload`] of `value` (a JSON object) with one more field, `key`, whose value is the
/// JSON text `raw` (already encoded: a kept service info), written last. The object is
/// serialized once and the field appended to those bytes.
pub(crate) fn to_payload_with<T: Serialize>(
    kind: &str,
    value: &T,
    key: &str,
    raw: &[u8],
) -> Payload {
    let mut json = match serde_json::to_vec(value) {
        Ok(json) => json,
        Err(_) => return to_payload(kind, value),
    };
    if json.pop() != Some(b'}') {
        return to_payload(kind, value);
    }
    if json.len() > 1 {
        json.push(b',');
    }
    json.push(b'"');
    json.extend_from_slice(key.as_bytes());
    json.extend_from_slice(b"\":");
    json.extend_from_slice(raw);
    json.push(b'}');
    Payload::new(kind, json)
}

/// `value` as a payload of type `kind`. A body that cannot be serialized (it cannot happen
/// with these types) becomes an `ErrorResponse`.
pub(crate) fn to_payload<T: Serialize>(kind: &str, value: &T) -> Payload {
    match serde_json::to_vec(value) {
        Ok(json) => Payload::new(kind, json),
        Err(e) => Payload::new(
            "ErrorResponse",
            format!(
                r#"{{"resultCode":500,"errorCode":500,"success":false,"message":"encoding failed: {e}","requestId":""}}"#
            )
            .into_bytes(),
        ),
    }
}

/// A request the server sends on the bi-stream: `"headers":{}`, `requestId`, `module`, then
/// the type's own fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerRequest<T: Serialize> {
    headers: BTreeMap<String, String>,
    request_id: String,
    module: &'static str,
    #[serde(flatten)]
    body: T,
}

impl<T: Serialize> ServerRequest<T> {
    /// A request with id `request_id` for `module` (`naming` or `internal`).
    pub(crate) fn new(request_id: u64, module: &'static str, body: T) -> Self {
        Self {
            headers: BTreeMap::new(),
            request_id: request_id.to_string(),
            module,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_added_to_an_encoded_answer_reads_as_if_serialized_whole() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct With {
            service_info: serde_json::Value,
        }
        // Keys in sorted order: `Value` keeps them so.
        let info = br#"{"cacheMillis":10000,"hosts":[{"ip":"10.0.0.1"}],"name":"orders"}"#;
        let mut whole = Answer::ok(With {
            service_info: serde_json::from_slice(info).unwrap(),
        });
        whole.set_message("success");
        let whole = to_payload("QueryServiceResponse", &whole);
        let mut envelope = Answer::ok(Empty {});
        envelope.set_message("success");
        let added = to_payload_with("QueryServiceResponse", &envelope, "serviceInfo", info);
        assert_eq!(added.kind(), "QueryServiceResponse");
        assert_eq!(
            String::from_utf8_lossy(added.json()),
            String::from_utf8_lossy(whole.json())
        );
    }

    #[test]
    fn nulls_missing_fields_and_unknown_fields_are_all_fine() {
        let json = r#"{"headers":{},"requestId":null,"namespace":null,"serviceName":"orders",
            "groupName":null,"type":"registerInstance","whatever":[1,2],
            "instance":{"ip":"10.0.0.1","port":8080,"instanceId":null,"clusterName":"DEFAULT",
                        "serviceName":null,"metadata":{"v":"1","n":2},"weight":1.0}}"#;
        let r: InstanceRequest = serde_json::from_str(json).unwrap();
        let key = r.head.service_key().unwrap();
        assert_eq!(
            key.to_string(),
            ServiceKey::named("orders").unwrap().to_string()
        );
        let inst = r.instance.unwrap().into_instance(Some(true)).unwrap();
        assert_eq!(inst.port(), 8080);
        assert_eq!(inst.metadata()["n"], "2");
    }

    #[test]
    fn a_grouped_service_name_brings_its_group() {
        let head = NamingHead {
            namespace: Some(String::new()),
            service_name: Some("shop@@orders".into()),
            group_name: None,
        };
        let key = head.service_key().unwrap();
        assert_eq!(key.group().as_str(), "shop");
        assert_eq!(key.namespace().as_str(), "public");
    }

    #[test]
    fn answers_always_carry_the_codes_and_no_nulls() {
        let p = to_payload("HealthCheckResponse", &Answer::ok(Empty {}));
        let v: serde_json::Value = serde_json::from_slice(p.json()).unwrap();
        assert_eq!(v["resultCode"], 200);
        assert_eq!(v["errorCode"], 0);
        assert_eq!(v["message"], "");
        assert_eq!(v["requestId"], "");
        let e = error_payload(CODE_UNREGISTERED, "Connection is unregistered.");
        assert_eq!(e.kind(), "ErrorResponse");
        let v: serde_json::Value = serde_json::from_slice(e.json()).unwrap();
        assert_eq!(
            (v["resultCode"].as_i64(), v["errorCode"].as_i64()),
            (Some(500), Some(301))
        );
    }
}
