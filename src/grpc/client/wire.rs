//! The client's side of the wire: request bodies, one unary call, and reading an answer.

use super::unreachable;
use crate::grpc::messages::RESULT_OK;
use crate::grpc::proto::Payload;
use crate::grpc::service::REQUEST_PATH;
use crate::model::{Instance, ServiceKey};
use crate::protocol::TransportError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use tonic::transport::Channel;

/// A request the server refused: its error code and message.
pub(super) struct Refused {
    pub(super) code: i32,
    pub(super) message: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Envelope {
    result_code: i32,
    error_code: i32,
    message: Option<String>,
}

pub(super) fn decode(answer: &Payload, expect: &str) -> Result<Value, Refused> {
    let value: Value = serde_json::from_slice(answer.json()).map_err(|e| Refused {
        code: 500,
        message: format!("{} could not be read: {e}", answer.kind()),
    })?;
    let env: Envelope = serde_json::from_value(value.clone()).unwrap_or_default();
    if answer.kind() != expect || env.result_code != RESULT_OK {
        return Err(Refused {
            code: if env.error_code != 0 {
                env.error_code
            } else {
                500
            },
            message: env
                .message
                .unwrap_or_else(|| format!("the server answered {}", answer.kind())),
        });
    }
    Ok(value)
}

pub(super) async fn call(
    grpc: &mut tonic::client::Grpc<Channel>,
    timeout: Duration,
    payload: Payload,
) -> Result<Payload, TransportError> {
    let attempt = async {
        grpc.ready()
            .await
            .map_err(|e| unreachable(format!("not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(REQUEST_PATH);
        grpc.unary(tonic::Request::new(payload), path, codec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|e| unreachable(format!("{e}")))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
}

pub(super) fn naming_head(service: &ServiceKey) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("namespace".into(), json!(service.namespace().as_str()));
    m.insert("groupName".into(), json!(service.group().as_str()));
    m.insert("serviceName".into(), json!(service.service().as_str()));
    m
}

pub(super) fn instance_json(service: &ServiceKey, instance: &Instance) -> Value {
    json!({
        "ip": instance.ip().as_str(),
        "port": instance.port(),
        "weight": instance.weight(),
        "healthy": instance.healthy(),
        "enabled": instance.enabled(),
        "ephemeral": instance.ephemeral(),
        "clusterName": instance.cluster().as_str(),
        "serviceName": service.grouped_name(),
        "metadata": instance.metadata(),
    })
}

pub(super) fn instance_body(service: &ServiceKey, kind: &str, instance: &Instance) -> Value {
    let mut m = naming_head(service);
    m.insert("type".into(), json!(kind));
    m.insert("instance".into(), instance_json(service, instance));
    Value::Object(m)
}

pub(super) fn batch_body(service: &ServiceKey, instances: &[Instance]) -> Value {
    let mut m = naming_head(service);
    m.insert("type".into(), json!("batchRegisterInstance"));
    let list: Vec<Value> = instances
        .iter()
        .map(|i| instance_json(service, i))
        .collect();
    m.insert("instances".into(), Value::Array(list));
    Value::Object(m)
}

pub(super) fn subscribe_body(service: &ServiceKey, subscribe: bool) -> Value {
    let mut m = naming_head(service);
    m.insert("subscribe".into(), json!(subscribe));
    m.insert("clusters".into(), json!(""));
    Value::Object(m)
}
