//! The connection's background tasks: reading the bi-stream (pushes, detection probes) and
//! the keep-alive that notices a dead connection and connects again.

use super::wire::call;
use super::{GrpcClientTransport, Inner};
use crate::grpc::messages::ClientAnswer;
use crate::grpc::proto::Payload;
use crate::protocol::json::ServiceInfoJson;
use crate::util::lock;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::transport::Channel;

pub(super) async fn read_stream(
    inner: std::sync::Weak<Inner>,
    mut inbound: tonic::Streaming<Payload>,
    outbound: mpsc::WeakSender<Payload>,
    alive: Arc<AtomicBool>,
) {
    while let Ok(Some(payload)) = inbound.message().await {
        let Some(inner) = inner.upgrade() else {
            break;
        };
        let request: ClientAnswer = serde_json::from_slice(payload.json()).unwrap_or_default();
        let id = request.request_id.unwrap_or_default();
        let reply = |kind: &str| {
            let body = json!({"resultCode": 200, "errorCode": 0, "message": "", "requestId": id});
            Payload::new(kind, body.to_string().into_bytes())
        };
        match payload.kind() {
            "NotifySubscriberRequest" => {
                // Acked once every client fed by the push took it (see `TAKE_PATIENCE`).
                let taken = deliver(&inner, payload.json());
                let ack = reply("NotifySubscriberResponse");
                let outbound = outbound.clone();
                let send = move || {
                    if let Some(out) = outbound.upgrade() {
                        let _ = out.try_send(ack);
                    }
                };
                if taken.is_empty() {
                    send();
                } else {
                    tokio::spawn(async move {
                        let all = async {
                            for t in taken {
                                t.await;
                            }
                        };
                        let _ = tokio::time::timeout(TAKE_PATIENCE, all).await;
                        send();
                    });
                }
            }
            "ClientDetectionRequest" => {
                if let Some(out) = outbound.upgrade() {
                    let _ = out.try_send(reply("ClientDetectionResponse"));
                }
            }
            _ => {}
        }
    }
    alive.store(false, Ordering::Release);
}

/// How long the ack of a push waits for the clients to take it (apply it, their listeners
/// return) at most: within the server's ack timeout (5 s). The ack says "acted on", so a
/// server's drain ([`crate::front::drain`]) returns once consumers stopped using the
/// instance; Nacos' clients ack once the cache is updated, before their listeners run.
const TAKE_PATIENCE: Duration = Duration::from_secs(3);

/// Hands a pushed `serviceInfo` to the sinks subscribed to its service; what resolves once
/// they took it.
pub(super) fn deliver(inner: &Inner, json: &[u8]) -> Vec<crate::protocol::Taken> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Notify {
        service_info: ServiceInfoJson,
    }
    let mut taken = Vec::new();
    let Ok(notify) = serde_json::from_slice::<Notify>(json) else {
        return taken;
    };
    let info = notify.service_info;
    let group = if info.group_name.is_empty() {
        crate::model::DEFAULT_GROUP
    } else {
        &info.group_name
    };
    let published = lock(&inner.published);
    for (service, sinks) in &published.subscriptions {
        let same = service.group().as_str() == group
            && (service.service().as_str() == info.name || info.name == service.grouped_name());
        if !same {
            continue;
        }
        if let Ok(converted) = info.to_info(service.clone(), Vec::new(), 0) {
            for sink in sinks.values() {
                taken.extend(sink.push_taken(converted.clone()));
            }
        }
    }
    taken
}

pub(super) async fn keep_alive(
    inner: std::sync::Weak<Inner>,
    mut grpc: tonic::client::Grpc<Channel>,
    alive: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if !alive.load(Ordering::Acquire) {
            // Connect again (elsewhere if need be) and publish everything again.
            let transport = GrpcClientTransport { inner: strong };
            let _ = transport.connection().await;
            return;
        }
        let body = json!({"headers": {}, "requestId": "0"});
        let ping = Payload::new("HealthCheckRequest", body.to_string().into_bytes());
        let healthy = matches!(
            call(&mut grpc, strong.timeout, ping).await,
            Ok(answer) if answer.kind() == "HealthCheckResponse"
        );
        if !healthy {
            alive.store(false, Ordering::Release);
        }
    }
}
